package placement

import (
	"context"
	"slices"
	"sort"
	"time"
)

// This file lets a store keep an Index in step with a database: Apply
// upserts and removes providers and consumers as the database holds them,
// with the usages the database counted, and ExportSync reads an Index back
// in the same form. Neither checks or bumps generations: the database is
// the truth.

// ProviderSync is one provider's complete state as a store holds it.
type ProviderSync struct {
	// Provider gives UUID, Name, Generation, ParentUUID and the
	// timestamps; RootUUID is derived from the parents and ignored.
	Provider    ResourceProvider
	Inventories map[string]Inventory
	// Usages is the total allocated per class of Inventories (absent = 0).
	Usages     map[string]int64
	Traits     []string
	Aggregates []string
}

// ProviderCounts replaces only a provider's generation, update time,
// inventories and usages, keeping its name, parent, traits and aggregates:
// what an allocation or inventory write changes.
type ProviderCounts struct {
	UUID        string
	Generation  int64
	UpdatedAt   time.Time
	Inventories map[string]Inventory
	Usages      map[string]int64
}

// Sync is a batch of database states to apply to an Index at once.
type Sync struct {
	// SetResourceClasses replaces the custom resource classes with
	// CustomResourceClasses; SetTraits the custom traits with CustomTraits.
	SetResourceClasses    bool
	CustomResourceClasses []string
	SetTraits             bool
	CustomTraits          []string
	// Providers are created or replaced whole; Counts update existing
	// providers' counters; DeletedProviders are removed (unknown ones are
	// ignored).
	Providers        []ProviderSync
	Counts           []ProviderCounts
	DeletedProviders []string
	// Consumers replace the Index's records of those consumers (no
	// allocations = the consumer is removed); ProviderAllocation.Generation
	// is ignored. DeletedConsumers are removed.
	Consumers        []Consumer
	DeletedConsumers []string
}

// Apply applies sy atomically: either all of it becomes visible at once or,
// on error, nothing changes. Usages are taken from sy as they are (Providers
// and Counts), not recomputed from consumers; generations are set, not
// checked. Errors (ErrInvalid) mean sy does not fit the Index — a provider
// whose parent is unknown, a parent cycle, a deleted provider that keeps
// children or allocations, a consumer allocating on an unknown provider or
// resource class, a removed resource class still in an inventory; a store
// then reloads everything with Load. Apply holds the writers' lock for
// O(size of sy + providers/256), plus O(consumers) when providers are
// deleted.
func (ix *Index) Apply(ctx context.Context, sy Sync) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.begin()
	var removedRCs []int32
	if sy.SetResourceClasses {
		want := map[string]bool{}
		for _, rc := range sy.CustomResourceClasses {
			if !IsCustomName(rc) {
				return invalid("resource_classes", "invalid custom resource class %q", rc)
			}
			want[rc] = true
		}
		ids := make(map[string]int32, len(t.s.rcIDs)+len(want))
		names := slices.Clone(t.s.rcNames)
		byRC := slices.Clone(t.s.byRC)
		for name, id := range t.s.rcIDs {
			if IsStandardResourceClass(name) || want[name] {
				ids[name] = id
			} else {
				names[id] = ""
				removedRCs = append(removedRCs, id)
			}
		}
		add := make([]string, 0, len(want))
		for rc := range want {
			if _, ok := ids[rc]; !ok {
				add = append(add, rc)
			}
		}
		sort.Strings(add)
		for _, rc := range add {
			ids[rc] = int32(len(names))
			names = append(names, rc)
			byRC = append(byRC, nil)
		}
		t.s.rcIDs, t.s.rcNames, t.s.byRC, t.byRCCopied = ids, names, byRC, true
	}
	if sy.SetTraits {
		m := make(map[string]struct{}, len(sy.CustomTraits))
		for _, tr := range sy.CustomTraits {
			if !IsCustomName(tr) {
				return invalid("traits", "invalid custom trait %q", tr)
			}
			m[tr] = struct{}{}
		}
		t.s.customTraits = m
	}

	// Providers, pass A: ids and node values, parents by id.
	type moved struct {
		id, oldParent int32
		isNew         bool
	}
	var moves []moved
	seen := make(map[string]bool, len(sy.Providers))
	ids := make([]int32, len(sy.Providers))
	for i, ps := range sy.Providers {
		p := ps.Provider
		if !isUUIDLike(p.UUID) || p.Name == "" || p.Generation < 0 {
			return invalid("providers", "invalid provider %q (%q)", p.UUID, p.Name)
		}
		u := normUUID(p.UUID)
		if seen[u] {
			return invalid("providers", "provider %s given twice", u)
		}
		seen[u] = true
		id, ok := t.newIDs[u]
		if !ok {
			id, ok = ix.idOf(u)
		}
		if !ok {
			id = t.s.n
			t.s.n++
			if t.newIDs == nil {
				t.newIDs = map[string]int32{}
			}
			t.newIDs[u] = id
		}
		ids[i] = id
	}
	byUUID := make(map[string]int32, len(ids))
	for i, ps := range sy.Providers {
		byUUID[normUUID(ps.Provider.UUID)] = ids[i]
	}
	for i, ps := range sy.Providers {
		p := ps.Provider
		id := ids[i]
		old := t.safeGet(id)
		n := &node{id: id, uuid: normUUID(p.UUID), name: p.Name, generation: p.Generation, parent: -1, root: id,
			created: p.CreatedAt, updated: p.UpdatedAt}
		if p.ParentUUID != "" {
			pid, ok := byUUID[normUUID(p.ParentUUID)]
			if !ok {
				par := t.lookup(normUUID(p.ParentUUID))
				if par == nil {
					return invalid("providers", "provider %s has unknown parent %s", n.uuid, p.ParentUUID)
				}
				pid = par.id
			}
			n.parent = pid
		}
		inv, err := syncInventories(t.s, n.uuid, ps.Inventories, ps.Usages)
		if err != nil {
			return err
		}
		n.inv = inv
		n.traits = slices.Clone(ps.Traits)
		sort.Strings(n.traits)
		n.traits = slices.Compact(n.traits)
		for _, tr := range n.traits {
			if !t.s.traitExists(tr) {
				return invalid("traits", "unknown trait %q on provider %s", tr, n.uuid)
			}
		}
		n.sharing = n.hasTrait(TraitSharesViaAggregate)
		for _, a := range ps.Aggregates {
			if !isUUIDLike(a) {
				return invalid("aggregates", "invalid aggregate %q on provider %s", a, n.uuid)
			}
			n.aggs = append(n.aggs, normUUID(a))
		}
		sort.Strings(n.aggs)
		n.aggs = slices.Compact(n.aggs)
		if old == nil {
			moves = append(moves, moved{id: id, oldParent: -1, isNew: true})
			t.s.live++
			if n.sharing {
				t.s.nSharing++
			}
			t.shareChanged = true
		} else {
			n.children = old.children
			n.root = old.root
			if old.parent != n.parent {
				moves = append(moves, moved{id: id, oldParent: old.parent})
				t.shareChanged = true
			}
			if old.sharing != n.sharing {
				if n.sharing {
					t.s.nSharing++
				} else {
					t.s.nSharing--
				}
			}
			if old.sharing != n.sharing || !slices.Equal(old.aggs, n.aggs) || (n.sharing && !slices.Equal(old.traits, n.traits)) {
				t.shareChanged = true
			}
			if old.name != n.name {
				if owner, ok := t.nameOwner(old.name); ok && owner == id {
					t.setName(old.name, -1)
				}
			}
			t.unindexRCs(old, n)
		}
		t.indexRCs(old, n)
		t.setNode(id, n)
	}
	for i, ps := range sy.Providers {
		t.setName(ps.Provider.Name, ids[i])
	}
	// Pass B: children lists.
	for _, m := range moves {
		n := t.get(m.id)
		if !m.isNew && m.oldParent >= 0 && t.get(m.oldParent) != nil {
			op := t.mut(m.oldParent)
			op.children = slices.DeleteFunc(slices.Clone(op.children), func(c int32) bool { return c == m.id })
		}
		if n.parent >= 0 {
			np := t.mut(n.parent)
			np.children = append(slices.Clone(np.children), m.id)
		}
	}
	// Roots of moved subtrees, refusing cycles.
	for _, m := range moves {
		r, steps := t.get(m.id), 0
		for r.parent >= 0 {
			r = t.get(r.parent)
			if steps++; steps > int(t.s.n) {
				return invalid("providers", "provider %s is in a parent cycle", t.get(m.id).uuid)
			}
		}
		for _, id := range t.subtree(m.id) {
			if t.get(id).root != r.id {
				t.mut(id).root = r.id
			}
		}
	}

	for _, c := range sy.Counts {
		n := t.lookup(normUUID(c.UUID))
		if n == nil {
			return invalid("providers", "counts for unknown provider %s", c.UUID)
		}
		inv, err := syncInventories(t.s, n.uuid, c.Inventories, c.Usages)
		if err != nil {
			return err
		}
		m := t.mut(n.id)
		old := *m
		m.inv = inv
		m.generation = c.Generation
		m.updated = c.UpdatedAt
		t.unindexRCs(&old, m)
		t.indexRCs(&old, m)
	}

	// Deleted providers: every child must go too.
	var deleted map[int32]bool
	for _, u := range sy.DeletedProviders {
		n := t.lookup(normUUID(u))
		if n == nil {
			continue
		}
		if deleted == nil {
			deleted = map[int32]bool{}
		}
		deleted[n.id] = true
	}
	for id := range deleted {
		n := t.get(id)
		for _, c := range n.children {
			if !deleted[c] {
				return invalid("providers", "deleted provider %s keeps child %s", n.uuid, t.get(c).uuid)
			}
		}
		for _, r := range n.inv {
			t.setRCList(r.rc, without(t.rcList(r.rc), id))
		}
		if n.parent >= 0 && !deleted[n.parent] {
			p := t.mut(n.parent)
			p.children = slices.DeleteFunc(slices.Clone(p.children), func(c int32) bool { return c == id })
		}
		if n.sharing {
			t.s.nSharing--
		}
		t.shareChanged = true
		if owner, ok := t.nameOwner(n.name); ok && owner == id {
			t.setName(n.name, -1)
		}
		t.setNode(id, nil)
		t.s.live--
	}
	for _, rc := range removedRCs {
		if len(t.s.byRC[rc]) > 0 {
			return invalid("resource_classes", "removed resource class %s is in an inventory", t.old.rcNames[rc])
		}
	}

	// Consumers.
	recs := make([]*consumerRec, 0, len(sy.Consumers))
	gone := make(map[string]bool, len(sy.DeletedConsumers))
	for _, c := range sy.Consumers {
		if !isUUIDLike(c.UUID) {
			return invalid("consumers", "invalid consumer uuid %q", c.UUID)
		}
		rec := &consumerRec{uuid: normUUID(c.UUID), project: c.Project, user: c.User, ctype: c.ConsumerType, gen: c.Generation}
		if rec.ctype == "" {
			rec.ctype = ConsumerTypeUnknown
		}
		pus := make([]string, 0, len(c.Allocations))
		for pu := range c.Allocations {
			pus = append(pus, pu)
		}
		sort.Strings(pus)
		for _, pu := range pus {
			n := t.lookup(normUUID(pu))
			if n == nil {
				return invalid("consumers", "consumer %s has allocations on unknown provider %s", c.UUID, pu)
			}
			classes := make([]string, 0, len(c.Allocations[pu].Resources))
			for class := range c.Allocations[pu].Resources {
				classes = append(classes, class)
			}
			sort.Strings(classes)
			for _, class := range classes {
				amt := c.Allocations[pu].Resources[class]
				rc, ok := t.s.rcIDs[class]
				if !ok || amt < 1 {
					return invalid("consumers", "consumer %s allocates %d of unknown class %q", c.UUID, amt, class)
				}
				rec.allocs = append(rec.allocs, allocRow{prov: n.id, rc: rc, used: amt})
			}
		}
		if len(rec.allocs) == 0 {
			gone[rec.uuid] = true
			continue
		}
		recs = append(recs, rec)
	}
	for _, c := range sy.DeletedConsumers {
		gone[normUUID(c)] = true
	}
	if len(deleted) > 0 {
		replaced := make(map[string]bool, len(recs))
		for _, r := range recs {
			replaced[r.uuid] = true
		}
		for u, c := range ix.consumers {
			if gone[u] || replaced[u] {
				continue
			}
			for _, r := range c.allocs {
				if deleted[r.prov] {
					return invalid("providers", "deleted provider %s has allocations of consumer %s", t.old.get(r.prov).uuid, u)
				}
			}
		}
		for _, r := range recs {
			for _, a := range r.allocs {
				if deleted[a.prov] {
					return invalid("consumers", "consumer %s allocates on deleted provider %s", r.uuid, t.old.get(a.prov).uuid)
				}
			}
		}
	}
	t.commit()
	for u := range gone {
		delete(ix.consumers, u)
	}
	for _, r := range recs {
		ix.consumers[r.uuid] = r
	}
	return nil
}

// safeGet is get for an id that may lie beyond the allocated chunks.
func (t *txn) safeGet(id int32) *node {
	if int(id>>chunkShift) >= len(t.s.chunks) {
		return nil
	}
	return t.get(id)
}

func syncInventories(s *snapshot, u string, invs map[string]Inventory, usages map[string]int64) ([]invRec, error) {
	out := make([]invRec, 0, len(invs))
	for class, inv := range invs {
		rc, ok := s.rcIDs[class]
		if !ok {
			return nil, invalid("inventories", "unknown resource class %q on provider %s", class, u)
		}
		if err := inv.Validate(class); err != nil {
			return nil, err
		}
		out = append(out, invRec{rc: rc, inv: inv, used: usages[class]})
	}
	for class, used := range usages {
		if _, ok := invs[class]; !ok && used != 0 {
			return nil, invalid("inventories", "usage of %s on provider %s without inventory", class, u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rc < out[j].rc })
	return out, nil
}

// unindexRCs removes n's id from the per-class lists of classes old has
// and n has not.
func (t *txn) unindexRCs(old, n *node) {
	for _, r := range old.inv {
		if n.invFor(r.rc) == nil {
			t.setRCList(r.rc, without(t.rcList(r.rc), n.id))
		}
	}
}

// indexRCs adds n's id to the per-class lists of classes n has and old (nil
// for a new node) has not.
func (t *txn) indexRCs(old, n *node) {
	for _, r := range n.inv {
		if old == nil || old.invFor(r.rc) == nil {
			t.setRCList(r.rc, append(t.rcList(r.rc), n.id))
		}
	}
}

// ExportSync returns the complete content of the Index as a Sync with
// usages (providers ordered by uuid, consumers by uuid), such that Apply on
// an empty Index reproduces it. It takes the read lock for O(size).
func (ix *Index) ExportSync(ctx context.Context) (Sync, error) {
	if err := ctx.Err(); err != nil {
		return Sync{}, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := ix.snap.Load()
	sy := Sync{SetResourceClasses: true, SetTraits: true}
	for name := range s.rcIDs {
		if !IsStandardResourceClass(name) {
			sy.CustomResourceClasses = append(sy.CustomResourceClasses, name)
		}
	}
	sort.Strings(sy.CustomResourceClasses)
	for tr := range s.customTraits {
		sy.CustomTraits = append(sy.CustomTraits, tr)
	}
	sort.Strings(sy.CustomTraits)
	for _, ch := range s.chunks {
		for _, n := range ch {
			if n == nil {
				continue
			}
			ps := ProviderSync{Provider: ix.provider(s, n), Inventories: make(map[string]Inventory, len(n.inv)),
				Usages: make(map[string]int64, len(n.inv)), Traits: slices.Clone(n.traits), Aggregates: slices.Clone(n.aggs)}
			for _, r := range n.inv {
				ps.Inventories[s.rcNames[r.rc]] = r.inv
				ps.Usages[s.rcNames[r.rc]] = r.used
			}
			sy.Providers = append(sy.Providers, ps)
		}
	}
	sort.Slice(sy.Providers, func(i, j int) bool { return sy.Providers[i].Provider.UUID < sy.Providers[j].Provider.UUID })
	for _, c := range ix.consumers {
		co := Consumer{UUID: c.uuid, Project: c.project, User: c.user, ConsumerType: c.ctype, Generation: c.gen,
			Allocations: map[string]ProviderAllocation{}}
		for _, r := range c.allocs {
			n := s.get(r.prov)
			pa, ok := co.Allocations[n.uuid]
			if !ok {
				pa = ProviderAllocation{Generation: n.generation, Resources: map[string]int64{}}
				co.Allocations[n.uuid] = pa
			}
			pa.Resources[s.rcNames[r.rc]] += r.used
		}
		sy.Consumers = append(sy.Consumers, co)
	}
	sort.Slice(sy.Consumers, func(i, j int) bool { return sy.Consumers[i].UUID < sy.Consumers[j].UUID })
	return sy, nil
}
