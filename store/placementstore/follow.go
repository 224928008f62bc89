package placementstore

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/novakit/novakit/placement"
)

// follower tracks which change log entries this Service has handled. Ids
// are handed out by the database's sequence when a write inserts its
// entry, a little before it commits, so entries can become visible out of
// order: an id below the highest one handled that is not visible yet is a
// hole, asked for again at every poll for HoleTimeout (then taken as
// rolled back). Writes insert their entry after taking their locks and
// commit within milliseconds, far below HoleTimeout.
type follower struct {
	mu          sync.Mutex
	next        int64 // every id below next is handled
	seen        map[int64]bool
	holes       map[int64]time.Time
	holeTimeout time.Duration
	lastPoll    time.Time
	lastPrune   time.Time
}

func newFollower(holeTimeout time.Duration) *follower {
	return &follower{seen: map[int64]bool{}, holes: map[int64]time.Time{}, holeTimeout: holeTimeout}
}

func (f *follower) reset(maxID int64, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next = maxID + 1
	clear(f.seen)
	clear(f.holes)
	f.lastPoll = now
}

// own records an entry this process wrote (and applies itself).
func (f *follower) own(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id >= f.next {
		f.seen[id] = true
	}
}

// maxSeen is the highest id handled (next-1 when none above it is).
func (f *follower) maxSeen() int64 {
	m := f.next - 1
	for id := range f.seen {
		m = max(m, id)
	}
	return m
}

// advance registers the ids below the highest handled one that are not
// visible yet as holes, forgets holes older than holeTimeout (rolled-back
// writes), and moves next over what is settled.
func (f *follower) advance(now time.Time) {
	top := f.maxSeen()
	for id := f.next; id <= top; id++ {
		if !f.seen[id] {
			if _, ok := f.holes[id]; !ok {
				f.holes[id] = now
			}
		}
	}
	for id, since := range f.holes {
		if f.seen[id] {
			delete(f.holes, id)
		} else if now.Sub(since) >= f.holeTimeout {
			delete(f.holes, id)
			f.seen[id] = true
		}
	}
	for f.seen[f.next] {
		delete(f.seen, f.next)
		f.next++
	}
}

// pending returns the ids to ask for: every id above the highest handled
// one, and the holes below it.
func (f *follower) pending() (above int64, holes []int64) {
	for id := range f.holes {
		holes = append(holes, id)
	}
	sort.Slice(holes, func(i, j int) bool { return holes[i] < holes[j] })
	if len(holes) > 500 {
		holes = holes[:500]
	}
	return f.maxSeen(), holes
}

func (s *Service) followLoop() {
	defer close(s.done)
	tick := time.NewTicker(s.opts.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.Refresh(ctx); err != nil && !s.closed.Load() {
			s.log.Warn("placementstore: following the change log", "error", err)
		}
		cancel()
	}
}

// Refresh reads the change log now and brings the Index up to date with
// every write other processes committed before the call (the background
// loop does the same every Options.PollInterval). Providers and consumers
// that changed are re-read; a Service that could not read the log for
// half of Options.Retention reloads everything. Safe for concurrent use;
// concurrent calls are serialised.
func (s *Service) Refresh(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	f := s.fol
	now := s.now()
	f.mu.Lock()
	stale := now.Sub(f.lastPoll) > s.opts.Retention/2
	above, holes := f.pending()
	f.mu.Unlock()
	if stale {
		return s.reloadAll(ctx)
	}
	type entry struct {
		id       int64
		entities string
	}
	var entries []entry
	err := s.db.readTx(ctx, func(t *tx) error {
		q := "SELECT id, entities FROM placement_changes WHERE id > ?"
		if len(holes) > 0 {
			q += " OR id IN (" + in(len(holes)) + ")"
		}
		rows, err := t.query(q+" ORDER BY id LIMIT 10000", append([]any{above}, anys(holes)...)...)
		if err != nil {
			return t.d.wrap(err, "reading the change log")
		}
		defer rows.Close()
		for rows.Next() {
			var e entry
			if err := rows.Scan(&e.id, &e.entities); err != nil {
				return t.d.wrap(err, "reading the change log")
			}
			entries = append(entries, e)
		}
		return t.d.wrap(rows.Err(), "reading the change log")
	})
	if err != nil {
		return err
	}
	// What changed, and the newest entry naming each entity.
	f.mu.Lock()
	latest := map[string]int64{}
	var ids []int64
	for _, e := range entries {
		if f.seen[e.id] || e.id < f.next {
			continue
		}
		ids = append(ids, e.id)
		for _, k := range strings.Fields(e.entities) {
			latest[k] = max(latest[k], e.id)
		}
	}
	f.mu.Unlock()
	if len(latest) > 0 {
		if err := s.reload(ctx, latest); err != nil {
			return err
		}
	}
	f.mu.Lock()
	for _, id := range ids {
		f.seen[id] = true
	}
	f.advance(now)
	f.lastPoll = now
	prune := now.Sub(f.lastPrune) > s.opts.Retention/10
	if prune {
		f.lastPrune = now
	}
	f.mu.Unlock()
	s.forgetTombstones(now)
	if prune {
		s.db.writeTx(ctx, func(t *tx) error {
			_, err := t.exec("DELETE FROM placement_changes WHERE created_at < ?", now.Add(-s.opts.Retention))
			return err
		})
	}
	return nil
}

// reload re-reads the entities in latest (key → newest change id naming
// it) and applies them to the Index.
func (s *Service) reload(ctx context.Context, latest map[string]int64) error {
	var pu, cu []string
	for k := range latest {
		switch {
		case strings.HasPrefix(k, "p:"):
			pu = append(pu, k[2:])
		case strings.HasPrefix(k, "c:"):
			cu = append(cu, k[2:])
		}
	}
	sort.Strings(pu)
	sort.Strings(cu)
	var (
		provs       map[string]*provRow
		cons        map[string]*consRow
		rcs, traits []string
	)
	err := s.db.readTx(ctx, func(t *tx) error {
		var err error
		if _, ok := latest["rc"]; ok {
			if rcs, err = t.customNames("resource_classes"); err != nil {
				return err
			}
		}
		if _, ok := latest["trait"]; ok {
			if traits, err = t.customNames("traits"); err != nil {
				return err
			}
		}
		provs = map[string]*provRow{}
		if len(pu) > 0 {
			if provs, err = t.loadProviders("p.uuid IN ("+in(len(pu))+")", anys(pu), false, true); err != nil {
				return err
			}
		}
		cons, err = t.loadConsumers(cu, false)
		return err
	})
	if err != nil {
		return err
	}
	s.applyMu.Lock()
	var sy placement.Sync
	keep := func(key string, v int64) bool {
		if s.versions[key] >= v {
			return false
		}
		s.versions[key] = v
		delete(s.tombs, key)
		return true
	}
	if v, ok := latest["rc"]; ok && keep("rc", v) {
		sy.SetResourceClasses, sy.CustomResourceClasses = true, nonNil(rcs)
		s.setNames(nonNil(rcs), nil)
	}
	if v, ok := latest["trait"]; ok && keep("trait", v) {
		sy.SetTraits, sy.CustomTraits = true, nonNil(traits)
		s.setNames(nil, nonNil(traits))
	}
	for _, u := range pu {
		if p := provs[u]; p != nil {
			if keep("p:"+u, p.changeID) {
				sy.Providers = append(sy.Providers, p.sync())
			}
		} else if keep("p:"+u, latest["p:"+u]) {
			sy.DeletedProviders = append(sy.DeletedProviders, u)
			s.tombs["p:"+u] = s.now()
		}
	}
	for _, u := range cu {
		if c := cons[u]; c != nil {
			if keep("c:"+u, c.changeID) {
				sy.Consumers = append(sy.Consumers, c.c)
			}
		} else if keep("c:"+u, latest["c:"+u]) {
			sy.DeletedConsumers = append(sy.DeletedConsumers, u)
			s.tombs["c:"+u] = s.now()
		}
	}
	// Parents before children does not matter to Apply; a parent created
	// by another process is in the same batch or an earlier one.
	err = s.ix.Apply(ctx, sy)
	s.applyMu.Unlock()
	if err != nil {
		s.recover(ctx, err)
	}
	return nil
}

// forgetTombstones drops the versions of entities deleted longer ago than
// HoleTimeout: by then no write of this process that ran before the
// deletion can still be waiting to apply, so the version map stays the
// size of what exists.
func (s *Service) forgetTombstones(now time.Time) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	for k, at := range s.tombs {
		if now.Sub(at) > s.opts.HoleTimeout {
			delete(s.tombs, k)
			delete(s.versions, k)
		}
	}
}
