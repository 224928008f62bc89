package placement

import (
	"context"
	"slices"
	"sort"
)

// ProviderState is everything an Index holds about one provider, in the form
// a store reads it back from its tables.
type ProviderState struct {
	// Provider gives UUID, Name, Generation, ParentUUID and the timestamps;
	// RootUUID is derived and ignored.
	Provider    ResourceProvider
	Inventories map[string]Inventory
	Traits      []string
	Aggregates  []string
}

// State is the complete content of an Index: what a store loads at start-up
// or after it lost track (for example when another process wrote).
type State struct {
	// CustomResourceClasses and CustomTraits are the CUSTOM_* names that
	// exist; standard ones always do.
	CustomResourceClasses []string
	CustomTraits          []string
	Providers             []ProviderState
	// Consumers carry their allocations; ProviderAllocation.Generation is
	// ignored.
	Consumers []Consumer
}

// Load atomically replaces the whole content of the Index with st, keeping
// the generations st gives (it does not bump or check them). Usages are
// recomputed from the consumers' allocations and are not checked against
// capacity: the store is the truth. Errors (nothing changes): ErrInvalid for
// a malformed name or uuid, an unknown parent, a cycle, a duplicate name or
// uuid, an unknown resource class or trait, or an allocation against a class
// the provider has no inventory of. Load takes the writers' lock for O(size
// of st); searches keep running on the previous snapshot meanwhile.
func (ix *Index) Load(ctx context.Context, st State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := &snapshot{rcIDs: map[string]int32{}, customTraits: map[string]struct{}{}, share: &shareCache{}}
	for i, rc := range standardResourceClasses {
		s.rcNames = append(s.rcNames, rc)
		s.rcIDs[rc] = int32(i)
	}
	for _, rc := range st.CustomResourceClasses {
		if !IsCustomName(rc) {
			return invalid("resource_classes", "invalid custom resource class %q", rc)
		}
		if _, dup := s.rcIDs[rc]; !dup {
			s.rcIDs[rc] = int32(len(s.rcNames))
			s.rcNames = append(s.rcNames, rc)
		}
	}
	s.byRC = make([][]int32, len(s.rcNames))
	for _, t := range st.CustomTraits {
		if !IsCustomName(t) {
			return invalid("traits", "invalid custom trait %q", t)
		}
		s.customTraits[t] = struct{}{}
	}

	ix.mu.Lock()
	defer ix.mu.Unlock()
	// Keep ids stable for uuids the Index already knows, so that searches
	// still running on the old snapshot never meet a foreign node.
	ix.idMu.RLock()
	ids := make(map[string]int32, len(ix.ids)+len(st.Providers))
	next := int32(0)
	for u, id := range ix.ids {
		ids[u] = id
		next = max(next, id+1)
	}
	ix.idMu.RUnlock()
	names := make(map[string]int32, len(st.Providers))
	nodes := make([]*node, 0, len(st.Providers))
	byUUID := make(map[string]*node, len(st.Providers))
	for _, ps := range st.Providers {
		p := ps.Provider
		if !isUUIDLike(p.UUID) || p.Name == "" || len(p.Name) > 200 || p.Generation < 0 {
			return invalid("providers", "invalid provider %q (%q)", p.UUID, p.Name)
		}
		u := normUUID(p.UUID)
		if _, dup := byUUID[u]; dup {
			return invalid("providers", "provider %s given twice", u)
		}
		id, ok := ids[u]
		if !ok {
			id = next
			next++
			ids[u] = id
		}
		if _, dup := names[p.Name]; dup {
			return invalid("providers", "provider name %q given twice", p.Name)
		}
		names[p.Name] = id
		n := &node{id: id, uuid: u, name: p.Name, generation: p.Generation, parent: -1, created: p.CreatedAt, updated: p.UpdatedAt}
		for class, inv := range ps.Inventories {
			rc, ok := s.rcIDs[class]
			if !ok {
				return invalid("inventories", "unknown resource class %q on provider %s", class, u)
			}
			if err := inv.Validate(class); err != nil {
				return err
			}
			n.inv = append(n.inv, invRec{rc: rc, inv: inv})
		}
		sort.Slice(n.inv, func(i, j int) bool { return n.inv[i].rc < n.inv[j].rc })
		n.traits = slices.Clone(ps.Traits)
		sort.Strings(n.traits)
		n.traits = slices.Compact(n.traits)
		for _, t := range n.traits {
			if !s.traitExists(t) {
				return invalid("traits", "unknown trait %q on provider %s", t, u)
			}
		}
		n.sharing = n.hasTrait(TraitSharesViaAggregate)
		for _, a := range ps.Aggregates {
			if !isUUIDLike(a) {
				return invalid("aggregates", "invalid aggregate %q on provider %s", a, u)
			}
			n.aggs = append(n.aggs, normUUID(a))
		}
		sort.Strings(n.aggs)
		n.aggs = slices.Compact(n.aggs)
		byUUID[u] = n
		nodes = append(nodes, n)
	}
	for i, ps := range st.Providers {
		if ps.Provider.ParentUUID == "" {
			continue
		}
		par := byUUID[normUUID(ps.Provider.ParentUUID)]
		if par == nil {
			return invalid("providers", "provider %s has unknown parent %s", nodes[i].uuid, ps.Provider.ParentUUID)
		}
		nodes[i].parent = par.id
		par.children = append(par.children, nodes[i].id)
	}
	byID := make(map[int32]*node, len(nodes))
	for _, n := range nodes {
		byID[n.id] = n
	}
	// Roots, refusing cycles.
	for _, n := range nodes {
		r, steps := n, 0
		for r.parent >= 0 {
			r = byID[r.parent]
			if steps++; steps > len(nodes) {
				return invalid("providers", "provider %s is in a parent cycle", n.uuid)
			}
		}
		n.root = r.id
	}
	consumers := make(map[string]*consumerRec, len(st.Consumers))
	for _, c := range st.Consumers {
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
			n := byUUID[normUUID(pu)]
			if n == nil {
				return invalid("consumers", "consumer %s has allocations on unknown provider %s", c.UUID, pu)
			}
			for class, amt := range c.Allocations[pu].Resources {
				rc, ok := s.rcIDs[class]
				r := n.invFor(rc)
				if !ok || r == nil || amt < 1 {
					return invalid("consumers", "consumer %s allocates %d %s on provider %s, which has no such inventory", c.UUID, amt, class, pu)
				}
				r.used += amt
				rec.allocs = append(rec.allocs, allocRow{prov: n.id, rc: rc, used: amt})
			}
		}
		if len(rec.allocs) > 0 {
			consumers[rec.uuid] = rec
		}
	}
	// Build the snapshot.
	s.n = next
	s.chunks = make([]*[chunkSize]*node, (int(next)+chunkSize-1)/chunkSize)
	for i := range s.chunks {
		s.chunks[i] = new([chunkSize]*node)
	}
	for _, n := range nodes {
		s.chunks[n.id>>chunkShift][n.id&(chunkSize-1)] = n
		for _, r := range n.inv {
			s.byRC[r.rc] = append(s.byRC[r.rc], n.id)
		}
		if n.sharing {
			s.nSharing++
		}
	}
	s.live = len(nodes)
	ix.idMu.Lock()
	ix.ids = ids
	ix.idMu.Unlock()
	ix.names = names
	ix.consumers = consumers
	ix.snap.Store(s)
	return nil
}

// Export returns the complete content of the Index (providers ordered by
// uuid, consumers by uuid) such that Load(Export()) reproduces it. It takes
// the read lock for O(size).
func (ix *Index) Export(ctx context.Context) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := ix.snap.Load()
	var st State
	for name := range s.rcIDs {
		if !IsStandardResourceClass(name) {
			st.CustomResourceClasses = append(st.CustomResourceClasses, name)
		}
	}
	sort.Strings(st.CustomResourceClasses)
	for t := range s.customTraits {
		st.CustomTraits = append(st.CustomTraits, t)
	}
	sort.Strings(st.CustomTraits)
	for _, ch := range s.chunks {
		for _, n := range ch {
			if n == nil {
				continue
			}
			ps := ProviderState{Provider: ix.provider(s, n), Inventories: map[string]Inventory{}}
			if len(n.traits) > 0 {
				ps.Traits = slices.Clone(n.traits)
			}
			if len(n.aggs) > 0 {
				ps.Aggregates = slices.Clone(n.aggs)
			}
			for _, r := range n.inv {
				ps.Inventories[s.rcNames[r.rc]] = r.inv
			}
			st.Providers = append(st.Providers, ps)
		}
	}
	sort.Slice(st.Providers, func(i, j int) bool { return st.Providers[i].Provider.UUID < st.Providers[j].Provider.UUID })
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
		st.Consumers = append(st.Consumers, co)
	}
	sort.Slice(st.Consumers, func(i, j int) bool { return st.Consumers[i].UUID < st.Consumers[j].UUID })
	return st, nil
}
