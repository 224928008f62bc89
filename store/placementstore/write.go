package placementstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/store"
)

// loaded is what a write read (and locked) from the database.
type loaded struct {
	provs map[string]*provRow
	cons  map[string]*consRow
	// asked are the consumers the write concerns (found or not).
	asked []string
	// trees: the loaded providers include whole trees, so the scratch
	// index's roots are right and may be written.
	trees bool
}

// writeSpec describes one write.
type writeSpec struct {
	what string
	load func(t *tx) (*loaded, error)
	op   func(ctx context.Context, scratch *placement.Index) error
	// Allocation writes name their consumers and the providers they
	// allocate on (or reshape), so that a batch can lock the rows of all
	// its writes at once; the providers of the consumers' current
	// allocations are added once the consumers are read.
	batchable bool
	consumers []string
	providers []string
	// onCreate adjusts the provider the write created (root id).
}

// maxAttempts bounds the retries of a transaction the database rolled
// back for a deadlock or a serialisation failure.
const maxAttempts = 8

// maxBatch bounds the writes one transaction carries.
const maxBatch = 64

// job is one write waiting for, or done by, a batch.
type job struct {
	ctx  context.Context
	spec writeSpec
	done chan struct{}
	// groupID is the change log entry of the batch the write runs in
	// (0: it logs its own).
	groupID int64
	// results
	ld       *loaded
	sy       placement.Sync
	changeID int64
	entities string
	applied  bool // the leader applied it to the Index
	err      error
}

// write runs spec: read and lock, check with the Index's code on a scratch
// index, write the difference, commit, then update the Index.
//
// Writes are group-committed: the first writer to arrive leads, taking
// every write queued meanwhile (up to maxBatch) into one transaction, each
// inside its own savepoint so that one write's failure rolls back only
// that write. Each write still sees the ones before it in the batch, locks
// its rows and gets its own change log entry; the commit (a WAL append and
// an fsync) is shared. One batch runs at a time per Service, so batches of
// one process never deadlock each other.
func (s *Service) write(ctx context.Context, spec writeSpec) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		j := s.submit(ctx, spec)
		err = j.err
		if err != nil {
			if j.ld != nil && isConflict(err) {
				s.applyLoaded(ctx, j.ld)
			}
		} else if j.changeID > 0 && !j.applied {
			s.applyOwn(ctx, j.sy, j.changeID)
		}
		if err == nil || !isRetryable(err) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * time.Millisecond)
	}
	return err
}

// submit queues a write and returns it done, leading batches while the
// queue is not empty if no other writer leads.
func (s *Service) submit(ctx context.Context, spec writeSpec) *job {
	j := &job{ctx: ctx, spec: spec, done: make(chan struct{})}
	s.bmu.Lock()
	s.queue = append(s.queue, j)
	if s.leading >= s.maxLeaders {
		s.bmu.Unlock()
		<-j.done
		return j
	}
	s.leading++
	for len(s.queue) > 0 {
		n := min(len(s.queue), maxBatch)
		batch := slices.Clone(s.queue[:n])
		s.queue = slices.Delete(s.queue, 0, n)
		s.bmu.Unlock()
		s.runBatch(batch)
		for _, b := range batch {
			close(b.done)
		}
		s.bmu.Lock()
	}
	s.leading--
	s.bmu.Unlock()
	<-j.done
	return j
}

// runBatch runs jobs in one transaction. The allocation writes of the
// batch (with distinct consumers) lock all their rows up front — every
// consumer in uuid order, then every provider in id order, the order each
// single write follows too — so that concurrent batches and processes
// never deadlock, and are then checked and written one after the other,
// each seeing the ones before it. A write refused by the checks has
// written nothing and leaves the others alone; a statement that fails
// (the transaction's state is then unknown) aborts the batch, and every
// write of it runs again in a transaction of its own. Other writes run
// alone.
func (s *Service) runBatch(jobs []*job) {
	var group, alone []*job
	taken := map[string]bool{}
	for _, j := range jobs {
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		ok := j.spec.batchable
		for _, c := range j.spec.consumers {
			if taken[c] {
				ok = false
			}
		}
		if !ok {
			alone = append(alone, j)
			continue
		}
		for _, c := range j.spec.consumers {
			taken[c] = true
		}
		group = append(group, j)
	}
	if len(group) == 1 {
		alone = append(alone, group[0])
		group = nil
	}
	if len(group) > 1 {
		err := s.db.writeTx(context.WithoutCancel(group[0].ctx), func(t *tx) error { return s.runGroup(t, group) })
		if err != nil {
			s.log.Debug("placementstore: batch aborted; running its writes one by one", "writes", len(group), "error", err)
			for _, j := range group {
				j.ld, j.sy, j.changeID, j.groupID, j.err = nil, placement.Sync{}, 0, 0, nil
			}
			alone = append(alone, group...)
		} else {
			// The writes share one change id: apply them in their order.
			for _, j := range group {
				if j.err == nil && j.changeID > 0 {
					s.applyOwn(j.ctx, j.sy, j.changeID)
					j.applied = true
				}
			}
		}
	}
	for _, j := range alone {
		s.runAlone(j)
	}
}

// runGroup locks the rows of a group of allocation writes and runs them.
func (s *Service) runGroup(t *tx, group []*job) error {
	var cu, pu []string
	for _, j := range group {
		cu = append(cu, j.spec.consumers...)
		pu = append(pu, j.spec.providers...)
	}
	cu = uniq(cu)
	cons, err := t.loadConsumers(cu, true)
	if err != nil {
		return err
	}
	for _, c := range cons {
		for p := range c.c.Allocations {
			pu = append(pu, p)
		}
	}
	provs, err := t.lockProviders(pu, false)
	if err != nil {
		return err
	}
	gid, err := t.logChange("", s.now())
	if err != nil {
		return err
	}
	if t.d.dialect == store.Postgres {
		// Every write of the batch goes to the server in one round trip
		// at the end: nothing in the batch reads what another wrote (the
		// rows were read above and are kept current in memory).
		t.pipe = &pipeline{}
	}
	var entities []string
	for _, j := range group {
		j.groupID = gid
		ld := &loaded{provs: map[string]*provRow{}, cons: map[string]*consRow{}, asked: j.spec.consumers}
		add := func(u string) {
			if p := provs[u]; p != nil {
				ld.provs[u] = p
			}
		}
		for _, u := range j.spec.providers {
			add(u)
		}
		for _, c := range j.spec.consumers {
			if row := cons[c]; row != nil {
				ld.cons[c] = row
				for p := range row.c.Allocations {
					add(p)
				}
			}
		}
		if err := s.runJobOn(t, j, ld); err != nil {
			return err
		}
		if j.err != nil || j.changeID == 0 {
			continue
		}
		entities = append(entities, j.entities)
		// Later writes of the batch see this one's providers as written.
		for _, p := range j.sy.Counts {
			row := provs[p.UUID]
			row.gen, row.inv, row.used, row.updated, row.changeID = p.Generation, p.Inventories, nonZero(p.Usages), p.UpdatedAt, j.changeID
		}
		for _, u := range j.sy.DeletedProviders {
			delete(provs, u)
		}
	}
	if _, err := t.exec("UPDATE placement_changes SET entities = ? WHERE id = ?", strings.Join(entities, " "), gid); err != nil {
		return t.d.wrap(err, "writing the change log")
	}
	return t.flush()
}

// runAlone runs one write in its own transaction.
func (s *Service) runAlone(j *job) {
	err := s.db.writeTx(j.ctx, func(t *tx) error {
		if err := s.runJob(t, j); err != nil {
			return err
		}
		return j.err
	})
	if err != nil {
		j.err, j.changeID = err, 0
	}
}

// runJob does one write inside t, recording its results in j: a write the
// checks refuse sets j.err and writes nothing; a returned error (a failed
// statement) means the transaction must roll back.
func (s *Service) runJob(t *tx, j *job) error {
	ld, err := j.spec.load(t)
	if err != nil {
		return err
	}
	return s.runJobOn(t, j, ld)
}

// runJobOn is runJob on rows already read and locked.
func (s *Service) runJobOn(t *tx, j *job, ld *loaded) error {
	ctx, spec := j.ctx, j.spec
	now := s.now()
	var err error
	j.ld = ld
	var (
		scratch *placement.Index
		opErr   error
	)
	for fresh := false; ; fresh = true {
		rcs, traits := s.customNames()
		if fresh {
			if rcs, err = t.customNames("resource_classes"); err != nil {
				return err
			}
			if traits, err = t.customNames("traits"); err != nil {
				return err
			}
		}
		scratch, err = buildScratch(ctx, now, rcs, traits, j.ld)
		if err == nil {
			opErr = spec.op(ctx, scratch)
		}
		if fresh || (err == nil && !errors.Is(opErr, placement.ErrInvalid)) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("placementstore: %s: the database holds a state the index refuses: %w", spec.what, err)
	}
	if opErr != nil {
		j.err = opErr // refused by the checks: nothing was written
		return nil
	}
	after, err := scratch.ExportSync(ctx)
	if err != nil {
		return err
	}
	d := diff(j.ld, after)
	if d.empty() {
		return nil
	}
	j.entities = d.entities()
	if j.groupID > 0 {
		j.changeID = j.groupID
	} else if j.changeID, err = t.logChange(j.entities, now); err != nil {
		return err
	}
	if err := t.writeDiff(j.ld, d, j.changeID, now); err != nil {
		j.changeID = 0
		return err
	}
	j.sy = d.sync(j.ld)
	return nil
}

func isConflict(err error) bool {
	return errors.Is(err, placement.ErrGenerationConflict) || errors.Is(err, placement.ErrConsumerGenerationConflict) ||
		errors.Is(err, placement.ErrCapacityExceeded) || errors.Is(err, placement.ErrInventoryInUse) ||
		errors.Is(err, placement.ErrProviderInUse) || errors.Is(err, placement.ErrCannotDeleteParent) ||
		errors.Is(err, placement.ErrDuplicateName)
}

// buildScratch makes a private Index holding exactly the loaded rows;
// providers whose parent was not loaded become roots there.
func buildScratch(ctx context.Context, now time.Time, rcs, traits []string, ld *loaded) (*placement.Index, error) {
	ix := placement.New(placement.Options{Now: func() time.Time { return now }})
	sy := placement.Sync{SetResourceClasses: true, CustomResourceClasses: rcs, SetTraits: true, CustomTraits: traits}
	for _, p := range ld.provs {
		ps := p.sync()
		if ld.provs[ps.Provider.ParentUUID] == nil {
			ps.Provider.ParentUUID = ""
		}
		sy.Providers = append(sy.Providers, ps)
	}
	sort.Slice(sy.Providers, func(i, j int) bool { return sy.Providers[i].Provider.UUID < sy.Providers[j].Provider.UUID })
	for _, c := range ld.cons {
		sy.Consumers = append(sy.Consumers, c.c)
	}
	return ix, ix.Apply(ctx, sy)
}

// ---------------------------------------------------------------------------
// Differences

type provChange struct {
	before   *provRow // nil: created
	after    *placement.ProviderSync
	deleted  bool
	rootSet  bool // root changed (trees loaded)
	rootUUID string
	// what changed
	row, inv, traits, aggs bool
}

type consChange struct {
	before *consRow // nil: created
	after  *placement.Consumer
}

type change struct {
	provs []*provChange
	cons  []*consChange
}

func (c *change) empty() bool { return len(c.provs) == 0 && len(c.cons) == 0 }

func (c *change) entities() string {
	var parts []string
	for _, p := range c.provs {
		u := ""
		if p.before != nil {
			u = p.before.uuid
		} else {
			u = p.after.Provider.UUID
		}
		parts = append(parts, "p:"+u)
	}
	for _, cc := range c.cons {
		u := ""
		if cc.before != nil {
			u = cc.before.c.UUID
		} else {
			u = cc.after.UUID
		}
		parts = append(parts, "c:"+u)
	}
	return strings.Join(parts, " ")
}

// diff compares the loaded rows with the scratch index after the write.
func diff(ld *loaded, after placement.Sync) *change {
	ch := &change{}
	ap := make(map[string]*placement.ProviderSync, len(after.Providers))
	for i := range after.Providers {
		ap[after.Providers[i].Provider.UUID] = &after.Providers[i]
	}
	uuids := slices.Sorted(maps.Keys(ld.provs))
	for _, u := range uuids {
		b := ld.provs[u]
		a := ap[u]
		if a == nil {
			ch.provs = append(ch.provs, &provChange{before: b, deleted: true})
			continue
		}
		pc := &provChange{before: b, after: a}
		parent := a.Provider.ParentUUID
		if parent == "" && b.parentUUID != "" && ld.provs[b.parentUUID] == nil {
			parent = b.parentUUID // not loaded: unchanged
		}
		pc.row = a.Provider.Name != b.name || a.Provider.Generation != b.gen || parent != b.parentUUID ||
			!a.Provider.UpdatedAt.Equal(b.updated)
		if ld.trees && a.Provider.RootUUID != b.rootUUID {
			pc.row, pc.rootSet, pc.rootUUID = true, true, a.Provider.RootUUID
		}
		pc.inv = !maps.Equal(a.Inventories, b.inv) || !maps.Equal(nonZero(a.Usages), b.used)
		if b.full {
			pc.traits = !slices.Equal(sorted(a.Traits), sorted(b.traits))
			pc.aggs = !slices.Equal(sorted(a.Aggregates), sorted(b.aggs))
		}
		if pc.row || pc.inv || pc.traits || pc.aggs {
			ch.provs = append(ch.provs, pc)
		}
	}
	for _, u := range slices.Sorted(maps.Keys(ap)) {
		if ld.provs[u] == nil {
			ch.provs = append(ch.provs, &provChange{after: ap[u], row: true, inv: len(ap[u].Inventories) > 0,
				traits: len(ap[u].Traits) > 0, aggs: len(ap[u].Aggregates) > 0})
		}
	}
	ac := make(map[string]*placement.Consumer, len(after.Consumers))
	for i := range after.Consumers {
		ac[after.Consumers[i].UUID] = &after.Consumers[i]
	}
	for _, u := range ld.asked {
		b, a := ld.cons[u], ac[u]
		switch {
		case b == nil && a == nil:
		case b == nil || a == nil:
			ch.cons = append(ch.cons, &consChange{before: b, after: a})
		case !sameConsumer(&b.c, a):
			ch.cons = append(ch.cons, &consChange{before: b, after: a})
		}
	}
	return ch
}

func nonZero(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func sorted(l []string) []string {
	l = slices.Clone(l)
	sort.Strings(l)
	return slices.Compact(l)
}

func sameConsumer(b, a *placement.Consumer) bool {
	if b.Project != a.Project || b.User != a.User || b.ConsumerType != a.ConsumerType || b.Generation != a.Generation ||
		len(b.Allocations) != len(a.Allocations) {
		return false
	}
	for pu, pa := range a.Allocations {
		pb, ok := b.Allocations[pu]
		if !ok || !maps.Equal(pa.Resources, pb.Resources) {
			return false
		}
	}
	return true
}

// sync is what the Index must apply for ch: whole providers where their
// traits and aggregates were read (and for created ones), counters
// otherwise.
func (c *change) sync(ld *loaded) placement.Sync {
	var sy placement.Sync
	for _, p := range c.provs {
		switch {
		case p.deleted:
			sy.DeletedProviders = append(sy.DeletedProviders, p.before.uuid)
		case p.before == nil || p.before.full:
			ps := *p.after
			if ps.Provider.ParentUUID == "" && p.before != nil && p.before.parentUUID != "" && ld.provs[p.before.parentUUID] == nil {
				ps.Provider.ParentUUID = p.before.parentUUID
			}
			sy.Providers = append(sy.Providers, ps)
		default:
			sy.Counts = append(sy.Counts, placement.ProviderCounts{UUID: p.after.Provider.UUID, Generation: p.after.Provider.Generation,
				UpdatedAt: p.after.Provider.UpdatedAt, Inventories: p.after.Inventories, Usages: p.after.Usages})
		}
	}
	for _, cc := range c.cons {
		if cc.after == nil {
			sy.DeletedConsumers = append(sy.DeletedConsumers, cc.before.c.UUID)
		} else {
			sy.Consumers = append(sy.Consumers, *cc.after)
		}
	}
	return sy
}

// logChange appends a change log entry and returns its id.
func (t *tx) logChange(entities string, now time.Time) (int64, error) {
	if t.d.dialect == store.Postgres {
		var id int64
		err := t.tx.QueryRowContext(t.ctx, "INSERT INTO placement_changes (entities, created_at) VALUES ($1, $2) RETURNING id", entities, now).Scan(&id)
		return id, t.d.wrap(err, "writing the change log")
	}
	res, err := t.exec("INSERT INTO placement_changes (entities, created_at) VALUES (?, ?)", entities, now)
	if err != nil {
		return 0, t.d.wrap(err, "writing the change log")
	}
	id, err := res.LastInsertId()
	return id, t.d.wrap(err, "writing the change log")
}

func (t *tx) insertID(q string, args ...any) (int64, error) {
	if t.d.dialect == store.Postgres {
		var id int64
		err := t.tx.QueryRowContext(t.ctx, t.d.rebind(q)+" RETURNING id", args...).Scan(&id)
		return id, err
	}
	res, err := t.exec(q, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// writeDiff writes ch. Generations are compare-and-swapped against what
// was read (the rows are locked, so a failure means something is badly
// wrong and is reported as a conflict).
func (t *tx) writeDiff(ld *loaded, ch *change, changeID int64, now time.Time) error {
	idOf := func(u string) int64 {
		if p := ld.provs[u]; p != nil {
			return p.id
		}
		return 0
	}
	// Deletions first (children before parents), so names and uuids free up.
	var dels []*provChange
	for _, p := range ch.provs {
		if p.deleted {
			dels = append(dels, p)
		}
	}
	sort.Slice(dels, func(i, j int) bool { return dels[i].before.id > dels[j].before.id })
	for _, p := range dels {
		if _, err := t.exec("DELETE FROM resource_providers WHERE id = ?", p.before.id); err != nil {
			if isForeignKeyViolation(err) {
				return &placement.Error{Kind: placement.ErrProviderInUse, Code: placement.CodeProviderInUse,
					Detail: fmt.Sprintf("unable to delete resource provider %s: it has allocations or children", p.before.uuid)}
			}
			return t.d.wrap(err, "deleting resource provider "+p.before.uuid)
		}
	}
	for _, p := range ch.provs {
		if p.deleted {
			continue
		}
		a := p.after
		parentID := nullID(idOf(a.Provider.ParentUUID))
		if a.Provider.ParentUUID == "" && p.before != nil && p.before.parentUUID != "" && ld.provs[p.before.parentUUID] == nil {
			parentID = p.before.parentID.Int64
		}
		var pid int64
		if p.before == nil {
			var root any
			if par := ld.provs[a.Provider.ParentUUID]; par != nil {
				root = par.id
				if par.rootID.Valid {
					root = par.rootID.Int64
				}
			}
			id, err := t.insertID("INSERT INTO resource_providers (uuid, name, generation, parent_provider_id, root_provider_id, change_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
				a.Provider.UUID, a.Provider.Name, a.Provider.Generation, parentID, root, changeID, a.Provider.CreatedAt, a.Provider.UpdatedAt)
			if err != nil {
				if isUniqueViolation(err) {
					return &placement.Error{Kind: placement.ErrDuplicateName, Code: placement.CodeDuplicateName, Field: "name",
						Detail: fmt.Sprintf("conflicting resource provider name %q or uuid %s already exists", a.Provider.Name, a.Provider.UUID)}
				}
				if isForeignKeyViolation(err) {
					return &placement.Error{Kind: placement.ErrInvalid, Code: placement.CodeUndefined, Field: "parent_provider_id",
						Detail: fmt.Sprintf("parent provider uuid %s does not exist", a.Provider.ParentUUID)}
				}
				return t.d.wrap(err, "creating resource provider "+a.Provider.UUID)
			}
			pid = id
		} else {
			b := p.before
			pid = b.id
			root := any(b.rootID)
			if !b.rootID.Valid {
				root = nil
			}
			if p.rootSet {
				root = nil
				if p.rootUUID != b.uuid {
					root = idOf(p.rootUUID)
				}
			}
			n, err := t.execCAS("UPDATE resource_providers SET name = ?, generation = ?, parent_provider_id = ?, root_provider_id = ?, change_id = ?, updated_at = ? WHERE id = ? AND generation = ?",
				a.Provider.Name, a.Provider.Generation, parentID, root, changeID, a.Provider.UpdatedAt, b.id, b.gen)
			if err != nil {
				if isUniqueViolation(err) {
					return &placement.Error{Kind: placement.ErrDuplicateName, Code: placement.CodeDuplicateName, Field: "name",
						Detail: fmt.Sprintf("conflicting resource provider name %q already exists", a.Provider.Name)}
				}
				return t.d.wrap(err, "updating resource provider "+b.uuid)
			}
			if n != 1 {
				return &placement.Error{Kind: placement.ErrGenerationConflict, Code: placement.CodeConcurrentUpdate, Field: "resource_provider_generation",
					Detail: fmt.Sprintf("resource provider %s changed concurrently", b.uuid)}
			}
		}
		if p.inv {
			if err := t.writeInventories(pid, p.before, a); err != nil {
				return err
			}
		}
		if p.traits || p.aggs {
			var bt, ba []string
			if p.before != nil {
				bt, ba = p.before.traits, p.before.aggs
			}
			if p.traits {
				if err := t.replaceSet(pid, "resource_provider_traits", "trait", bt, a.Traits); err != nil {
					return err
				}
			}
			if p.aggs {
				if err := t.replaceSet(pid, "resource_provider_aggregates", "aggregate_uuid", ba, a.Aggregates); err != nil {
					return err
				}
			}
		}
	}
	for _, cc := range ch.cons {
		if err := t.writeConsumer(ld, cc, changeID, now); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) writeInventories(pid int64, b *provRow, a *placement.ProviderSync) error {
	var binv map[string]placement.Inventory
	var bused map[string]int64
	if b != nil {
		binv, bused = b.inv, b.used
	}
	for _, rc := range slices.Sorted(maps.Keys(binv)) {
		if _, ok := a.Inventories[rc]; !ok {
			if _, err := t.exec("DELETE FROM inventories WHERE resource_provider_id = ? AND resource_class = ?", pid, rc); err != nil {
				return t.d.wrap(err, "deleting inventory")
			}
		}
	}
	var usedOnly []string
	for _, rc := range slices.Sorted(maps.Keys(a.Inventories)) {
		inv, used := a.Inventories[rc], a.Usages[rc]
		old, had := binv[rc]
		switch {
		case !had:
			if _, err := t.exec("INSERT INTO inventories (resource_provider_id, resource_class, total, reserved, min_unit, max_unit, step_size, allocation_ratio, used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
				pid, rc, inv.Total, inv.Reserved, inv.MinUnit, inv.MaxUnit, inv.StepSize, inv.AllocationRatio, used); err != nil {
				if isForeignKeyViolation(err) {
					return &placement.Error{Kind: placement.ErrInvalid, Code: placement.CodeUndefined, Field: "inventories." + rc,
						Detail: fmt.Sprintf("unknown resource class %q", rc)}
				}
				return t.d.wrap(err, "writing inventory")
			}
		case old != inv:
			if _, err := t.exec("UPDATE inventories SET total = ?, reserved = ?, min_unit = ?, max_unit = ?, step_size = ?, allocation_ratio = ?, used = ? WHERE resource_provider_id = ? AND resource_class = ?",
				inv.Total, inv.Reserved, inv.MinUnit, inv.MaxUnit, inv.StepSize, inv.AllocationRatio, used, pid, rc); err != nil {
				return t.d.wrap(err, "writing inventory")
			}
		case bused[rc] != used:
			usedOnly = append(usedOnly, rc)
		}
	}
	switch len(usedOnly) {
	case 0:
	case 1:
		rc := usedOnly[0]
		if _, err := t.exec("UPDATE inventories SET used = ? WHERE resource_provider_id = ? AND resource_class = ?", a.Usages[rc], pid, rc); err != nil {
			return t.d.wrap(err, "writing usage")
		}
	default:
		// One statement for every class whose usage alone changed.
		then := " WHEN ? THEN ?"
		if t.d.dialect == store.Postgres {
			then = " WHEN ? THEN CAST(? AS BIGINT)"
		}
		q := "UPDATE inventories SET used = CASE resource_class" + strings.Repeat(then, len(usedOnly)) +
			" END WHERE resource_provider_id = ? AND resource_class IN (" + in(len(usedOnly)) + ")"
		args := make([]any, 0, 3*len(usedOnly)+1)
		for _, rc := range usedOnly {
			args = append(args, rc, a.Usages[rc])
		}
		args = append(args, pid)
		if _, err := t.exec(q, append(args, anys(usedOnly)...)...); err != nil {
			return t.d.wrap(err, "writing usage")
		}
	}
	return nil
}

func (t *tx) replaceSet(pid int64, table, col string, before, after []string) error {
	b, a := sorted(before), sorted(after)
	for _, v := range b {
		if !slices.Contains(a, v) {
			if _, err := t.exec("DELETE FROM "+table+" WHERE resource_provider_id = ? AND "+col+" = ?", pid, v); err != nil {
				return t.d.wrap(err, "writing "+table)
			}
		}
	}
	for _, v := range a {
		if !slices.Contains(b, v) {
			if _, err := t.exec("INSERT INTO "+table+" (resource_provider_id, "+col+") VALUES (?, ?)", pid, v); err != nil {
				if isForeignKeyViolation(err) {
					return &placement.Error{Kind: placement.ErrInvalid, Code: placement.CodeUndefined, Field: "traits",
						Detail: fmt.Sprintf("no such trait %q", v)}
				}
				return t.d.wrap(err, "writing "+table)
			}
		}
	}
	return nil
}

func consumerGenConflict(u string) error {
	return &placement.Error{Kind: placement.ErrConsumerGenerationConflict, Code: placement.CodeConcurrentUpdate, Field: "consumer_generation",
		Detail: fmt.Sprintf("consumer %s was written concurrently", u)}
}

func (t *tx) writeConsumer(ld *loaded, cc *consChange, changeID int64, now time.Time) error {
	b, a := cc.before, cc.after
	if a == nil {
		if _, err := t.exec("DELETE FROM consumers WHERE id = ?", b.id); err != nil {
			return t.d.wrap(err, "deleting consumer "+b.c.UUID)
		}
		return nil
	}
	var cid int64
	if b == nil {
		ins := "INSERT INTO consumers (uuid, project_id, user_id, consumer_type, generation, change_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
		if t.pipe != nil {
			// Pipelined: the id is not known yet; allocations find it by uuid.
			if _, err := t.exec(ins, a.UUID, a.Project, a.User, a.ConsumerType, a.Generation, changeID, now, now); err != nil {
				return err
			}
			return t.insertAllocations(ld, a, "(SELECT id FROM consumers WHERE uuid = ?)", a.UUID)
		}
		id, err := t.insertID(ins, a.UUID, a.Project, a.User, a.ConsumerType, a.Generation, changeID, now, now)
		if err != nil {
			if isUniqueViolation(err) {
				return consumerGenConflict(a.UUID)
			}
			return t.d.wrap(err, "creating consumer "+a.UUID)
		}
		cid = id
	} else {
		cid = b.id
		n, err := t.execCAS("UPDATE consumers SET project_id = ?, user_id = ?, consumer_type = ?, generation = ?, change_id = ?, updated_at = ? WHERE id = ? AND generation = ?",
			a.Project, a.User, a.ConsumerType, a.Generation, changeID, now, b.id, b.c.Generation)
		if err != nil {
			return t.d.wrap(err, "updating consumer "+a.UUID)
		}
		if n != 1 {
			return consumerGenConflict(a.UUID)
		}
		if _, err := t.exec("DELETE FROM allocations WHERE consumer_id = ?", b.id); err != nil {
			return t.d.wrap(err, "replacing allocations of "+a.UUID)
		}
	}
	return t.insertAllocations(ld, a, "?", cid)
}

// insertAllocations inserts a consumer's allocations; cidExpr (with its
// argument cidArg) gives the consumer id.
func (t *tx) insertAllocations(ld *loaded, a *placement.Consumer, cidExpr string, cidArg any) error {
	var args []any
	rows := 0
	for _, pu := range slices.Sorted(maps.Keys(a.Allocations)) {
		p := ld.provs[pu]
		if p == nil {
			return fmt.Errorf("placementstore: allocation on provider %s that was not read", pu)
		}
		res := a.Allocations[pu].Resources
		for _, rc := range slices.Sorted(maps.Keys(res)) {
			args = append(args, cidArg, p.id, rc, res[rc])
			rows++
		}
	}
	if rows == 0 {
		return nil
	}
	q := "INSERT INTO allocations (consumer_id, resource_provider_id, resource_class, used) VALUES " +
		strings.TrimSuffix(strings.Repeat("("+cidExpr+", ?, ?, ?),", rows), ",")
	if _, err := t.exec(q, args...); err != nil {
		return t.d.wrap(err, "writing allocations of "+a.UUID)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Applying to the Index

// applyOwn applies this process's committed write to the Index, skipping
// entities a newer change already replaced.
func (s *Service) applyOwn(ctx context.Context, sy placement.Sync, changeID int64) {
	s.fol.own(changeID)
	s.applyMu.Lock()
	sy = s.gate(sy, changeID)
	err := s.ix.Apply(context.WithoutCancel(ctx), sy)
	s.applyMu.Unlock()
	if err != nil {
		s.recover(ctx, err)
	}
}

// gate drops from sy what the Index holds in a newer version and records
// version id for the rest; the caller holds applyMu.
func (s *Service) gate(sy placement.Sync, id int64) placement.Sync {
	keep := func(key string) bool {
		if s.versions[key] > id {
			return false
		}
		s.versions[key] = id
		delete(s.tombs, key)
		return true
	}
	out := placement.Sync{}
	if sy.SetResourceClasses && keep("rc") {
		out.SetResourceClasses, out.CustomResourceClasses = true, sy.CustomResourceClasses
		s.setNames(sy.CustomResourceClasses, nil)
	}
	if sy.SetTraits && keep("trait") {
		out.SetTraits, out.CustomTraits = true, sy.CustomTraits
		s.setNames(nil, sy.CustomTraits)
	}
	for _, p := range sy.Providers {
		if keep("p:" + p.Provider.UUID) {
			out.Providers = append(out.Providers, p)
		}
	}
	for _, c := range sy.Counts {
		if keep("p:" + c.UUID) {
			out.Counts = append(out.Counts, c)
		}
	}
	for _, u := range sy.DeletedProviders {
		if keep("p:" + u) {
			out.DeletedProviders = append(out.DeletedProviders, u)
			s.tombs["p:"+u] = s.now()
		}
	}
	for _, c := range sy.Consumers {
		if keep("c:" + c.UUID) {
			out.Consumers = append(out.Consumers, c)
		}
	}
	for _, u := range sy.DeletedConsumers {
		if keep("c:" + u) {
			out.DeletedConsumers = append(out.DeletedConsumers, u)
			s.tombs["c:"+u] = s.now()
		}
	}
	return out
}

// applyLoaded puts the rows a failed write read into the Index: they are
// the database's current state of what the caller asked about.
func (s *Service) applyLoaded(ctx context.Context, ld *loaded) {
	s.applyMu.Lock()
	var sy placement.Sync
	for _, p := range ld.provs {
		if s.versions["p:"+p.uuid] > p.changeID {
			continue
		}
		s.versions["p:"+p.uuid] = p.changeID
		delete(s.tombs, "p:"+p.uuid)
		if p.full {
			sy.Providers = append(sy.Providers, p.sync())
		} else {
			sy.Counts = append(sy.Counts, placement.ProviderCounts{UUID: p.uuid, Generation: p.gen, UpdatedAt: p.updated,
				Inventories: p.inv, Usages: p.used})
		}
	}
	for _, c := range ld.cons {
		if s.versions["c:"+c.c.UUID] > c.changeID {
			continue
		}
		s.versions["c:"+c.c.UUID] = c.changeID
		delete(s.tombs, "c:"+c.c.UUID)
		sy.Consumers = append(sy.Consumers, c.c)
	}
	err := s.ix.Apply(context.WithoutCancel(ctx), sy)
	s.applyMu.Unlock()
	if err != nil {
		s.recover(ctx, err)
	}
}

// recover reloads everything after the Index refused a state.
func (s *Service) recover(ctx context.Context, cause error) {
	s.log.Warn("placementstore: index out of step with the database; reloading", "error", cause)
	if err := s.reloadAll(context.WithoutCancel(ctx)); err != nil {
		s.log.Error("placementstore: reloading the index failed", "error", err)
	}
}

// ---------------------------------------------------------------------------
// Write operations

func normUUID(u string) string {
	if len(u) == 32 {
		u = u[0:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:]
	}
	return strings.ToLower(u)
}

func uniq(l []string) []string {
	sort.Strings(l)
	return slices.Compact(l)
}

// lockProviders reads and locks providers by uuid (none: an empty map).
func (t *tx) lockProviders(uuids []string, full bool) (map[string]*provRow, error) {
	uuids = uniq(uuids)
	if len(uuids) == 0 {
		return map[string]*provRow{}, nil
	}
	return t.loadProviders("p.uuid IN ("+in(len(uuids))+")", anys(uuids), true, full)
}

// CreateProvider creates a provider (see placement.Index.CreateProvider);
// the row is inserted in the same transaction that checks the name, the
// uuid and the parent.
func (s *Service) CreateProvider(ctx context.Context, spec placement.ProviderSpec) (placement.ResourceProvider, error) {
	if spec.UUID == "" {
		spec.UUID = uuid.NewString()
	}
	var rp placement.ResourceProvider
	var parentRoot string
	err := s.write(ctx, writeSpec{what: "creating a resource provider",
		load: func(t *tx) (*loaded, error) {
			uuids := []string{normUUID(spec.UUID)}
			if spec.ParentUUID != "" {
				uuids = append(uuids, normUUID(spec.ParentUUID))
			}
			provs, err := t.loadProviders("p.uuid IN ("+in(len(uuids))+") OR p.name = ?", append(anys(uuids), spec.Name), true, false)
			if err != nil {
				return nil, err
			}
			if p := provs[normUUID(spec.ParentUUID)]; p != nil {
				parentRoot = p.rootUUID
			}
			return &loaded{provs: provs}, nil
		},
		op: func(ctx context.Context, ix *placement.Index) error {
			var err error
			rp, err = ix.CreateProvider(ctx, spec)
			return err
		}})
	if err != nil {
		return placement.ResourceProvider{}, err
	}
	if parentRoot != "" {
		rp.RootUUID = parentRoot
	}
	return rp, nil
}

// UpdateProvider renames or re-parents a provider (see
// placement.Index.UpdateProvider); both trees involved are locked.
func (s *Service) UpdateProvider(ctx context.Context, u string, up placement.ProviderUpdate) (placement.ResourceProvider, error) {
	var rp placement.ResourceProvider
	var roots map[string]string
	err := s.write(ctx, writeSpec{what: "updating a resource provider",
		load: func(t *tx) (*loaded, error) {
			uuids := []string{normUUID(u)}
			if up.SetParent && up.ParentUUID != "" {
				uuids = append(uuids, normUUID(up.ParentUUID))
			}
			first, err := t.loadProviders("p.uuid IN ("+in(len(uuids))+")", anys(uuids), false, false)
			if err != nil {
				return nil, err
			}
			var rootIDs []any
			for _, p := range first {
				r := p.id
				if p.rootID.Valid {
					r = p.rootID.Int64
				}
				rootIDs = append(rootIDs, r)
			}
			where := "p.uuid IN (" + in(len(uuids)) + ") OR p.name = ?"
			args := append(anys(uuids), up.Name)
			if len(rootIDs) > 0 {
				where += " OR p.id IN (" + in(len(rootIDs)) + ") OR p.root_provider_id IN (" + in(len(rootIDs)) + ")"
				args = append(append(args, rootIDs...), rootIDs...)
			}
			provs, err := t.loadProviders(where, args, true, true)
			if err != nil {
				return nil, err
			}
			roots = map[string]string{}
			return &loaded{provs: provs, trees: true}, nil
		},
		op: func(ctx context.Context, ix *placement.Index) error {
			var err error
			rp, err = ix.UpdateProvider(ctx, u, up)
			return err
		}})
	_ = roots
	if err != nil {
		return placement.ResourceProvider{}, err
	}
	if got, err := s.ix.Provider(ctx, rp.UUID); err == nil && got.Generation == rp.Generation {
		rp.RootUUID = got.RootUUID
	}
	return rp, nil
}

// DeleteProvider deletes a provider (see placement.Index.DeleteProvider).
func (s *Service) DeleteProvider(ctx context.Context, u string) error {
	return s.write(ctx, writeSpec{what: "deleting a resource provider",
		load: func(t *tx) (*loaded, error) {
			nu := normUUID(u)
			provs, err := t.loadProviders("p.uuid = ? OR p.parent_provider_id IN (SELECT x.id FROM (SELECT id FROM resource_providers WHERE uuid = ?) AS x)",
				[]any{nu, nu}, true, false)
			if err != nil {
				return nil, err
			}
			return &loaded{provs: provs}, nil
		},
		op: func(ctx context.Context, ix *placement.Index) error { return ix.DeleteProvider(ctx, u) }})
}

// SetInventories replaces a provider's inventories if generation is
// current (see placement.Index.SetInventories).
func (s *Service) SetInventories(ctx context.Context, u string, generation int64, invs map[string]placement.Inventory) (int64, []string, error) {
	var (
		gen  int64
		over []string
	)
	err := s.write(ctx, writeSpec{what: "setting inventories",
		load: func(t *tx) (*loaded, error) {
			provs, err := t.lockProviders([]string{normUUID(u)}, false)
			return &loaded{provs: provs}, err
		},
		op: func(ctx context.Context, ix *placement.Index) error {
			var err error
			gen, over, err = ix.SetInventories(ctx, u, generation, invs)
			return err
		}})
	return gen, over, err
}

// SetTraits replaces a provider's traits if generation is current (see
// placement.Index.SetTraits).
func (s *Service) SetTraits(ctx context.Context, u string, generation int64, traits []string) (int64, error) {
	var gen int64
	err := s.write(ctx, writeSpec{what: "setting traits",
		load: func(t *tx) (*loaded, error) {
			provs, err := t.lockProviders([]string{normUUID(u)}, true)
			return &loaded{provs: provs}, err
		},
		op: func(ctx context.Context, ix *placement.Index) error {
			var err error
			gen, err = ix.SetTraits(ctx, u, generation, traits)
			return err
		}})
	return gen, err
}

// SetAggregates replaces a provider's aggregates (see
// placement.Index.SetAggregates).
func (s *Service) SetAggregates(ctx context.Context, u string, generation int64, aggs []string) (int64, error) {
	var gen int64
	err := s.write(ctx, writeSpec{what: "setting aggregates",
		load: func(t *tx) (*loaded, error) {
			provs, err := t.lockProviders([]string{normUUID(u)}, true)
			return &loaded{provs: provs}, err
		},
		op: func(ctx context.Context, ix *placement.Index) error {
			var err error
			gen, err = ix.SetAggregates(ctx, u, generation, aggs)
			return err
		}})
	return gen, err
}

// SetAllocations replaces the allocations of the consumers in allocs
// atomically (see placement.Index.SetAllocations). Capacity, min_unit,
// max_unit and step_size are checked against the inventories and usages
// read, under lock, from the database; consumer generations likewise.
func (s *Service) SetAllocations(ctx context.Context, allocs map[string]placement.ConsumerAllocations) error {
	return s.Reshape(ctx, nil, allocs)
}

// Reshape replaces inventories and allocations atomically (see
// placement.Index.Reshape).
func (s *Service) Reshape(ctx context.Context, invs map[string]placement.InventoryUpdate, allocs map[string]placement.ConsumerAllocations) error {
	var cu, pu []string
	for c, ca := range allocs {
		cu = append(cu, normUUID(c))
		for p := range ca.Allocations {
			pu = append(pu, normUUID(p))
		}
	}
	for p := range invs {
		pu = append(pu, normUUID(p))
	}
	return s.write(ctx, writeSpec{what: "writing allocations", batchable: true, consumers: uniq(cu), providers: uniq(pu),
		load: func(t *tx) (*loaded, error) {
			var cu, pu []string
			for c, ca := range allocs {
				cu = append(cu, normUUID(c))
				for p := range ca.Allocations {
					pu = append(pu, normUUID(p))
				}
			}
			for p := range invs {
				pu = append(pu, normUUID(p))
			}
			cu = uniq(cu)
			cons, err := t.loadConsumers(cu, true)
			if err != nil {
				return nil, err
			}
			for _, c := range cons {
				for p := range c.c.Allocations {
					pu = append(pu, p)
				}
			}
			provs, err := t.lockProviders(pu, false)
			if err != nil {
				return nil, err
			}
			return &loaded{provs: provs, cons: cons, asked: cu}, nil
		},
		op: func(ctx context.Context, ix *placement.Index) error { return ix.Reshape(ctx, invs, allocs) }})
}

// DeleteAllocations removes a consumer and its allocations (see
// placement.Index.DeleteAllocations).
func (s *Service) DeleteAllocations(ctx context.Context, consumer string) error {
	return s.write(ctx, writeSpec{what: "deleting allocations", batchable: true, consumers: []string{normUUID(consumer)},
		load: func(t *tx) (*loaded, error) {
			cu := []string{normUUID(consumer)}
			cons, err := t.loadConsumers(cu, true)
			if err != nil {
				return nil, err
			}
			var pu []string
			for _, c := range cons {
				for p := range c.c.Allocations {
					pu = append(pu, p)
				}
			}
			provs, err := t.lockProviders(pu, false)
			if err != nil {
				return nil, err
			}
			return &loaded{provs: provs, cons: cons, asked: cu}, nil
		},
		op: func(ctx context.Context, ix *placement.Index) error { return ix.DeleteAllocations(ctx, consumer) }})
}
