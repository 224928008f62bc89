package placement

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// AnyGeneration, passed as a provider generation to SetAggregates, skips the
// generation check and leaves the generation alone (Placement below 1.19).
const AnyGeneration int64 = -1

// DefaultMaxCandidates is the MaxCandidates an Index uses when Options leaves
// it zero; it matches the value Placement's documentation suggests for
// [placement]max_allocation_candidates.
const DefaultMaxCandidates = 100000

// Options configure an Index.
type Options struct {
	// MaxCandidates caps the allocation requests one Candidates call
	// generates, whatever the request's limit (≤ 0: DefaultMaxCandidates).
	MaxCandidates int
	// Now returns the time stamped on providers (nil: time.Now).
	Now func() time.Time
}

// Index is the exact in-memory Placement engine: resource providers and their
// trees, inventories, usages, traits, aggregates, consumers and allocations,
// and the allocation-candidate search over them.
//
// Concurrency: every method is safe for concurrent use. Writers are
// serialised by one mutex and hold it only while they build the next
// immutable snapshot (copy-on-write of the touched providers, O(touched +
// providers/256)); the snapshot is then published atomically. Reads of
// providers, inventories, usages and allocation candidates load the current
// snapshot without locking, so a long candidate search never blocks a claim
// and always sees one consistent state. Consumer reads (Consumer,
// ProviderAllocations, Usages) take the read side of the writers' lock.
//
// Writes check and bump generations as Placement does and are atomic: either
// every change of a call becomes visible at once or none does.
type Index struct {
	opts Options

	snap atomic.Pointer[snapshot]

	// mu serialises writers; readers of consumers hold it shared.
	mu        sync.RWMutex
	names     map[string]int32        // provider name → id; guarded by mu
	consumers map[string]*consumerRec // guarded by mu

	// idMu guards ids, the uuid → id map. It only grows: a deleted uuid
	// keeps its id and gets it back if re-created, so an old snapshot never
	// resolves a uuid to a foreign node.
	idMu sync.RWMutex
	ids  map[string]int32
}

type consumerRec struct {
	uuid, project, user, ctype string
	gen                        int64
	allocs                     []allocRow
}

type allocRow struct {
	prov int32
	rc   int32
	used int64
}

// New returns an empty Index knowing the standard resource classes and
// traits.
func New(opts Options) *Index {
	if opts.MaxCandidates <= 0 {
		opts.MaxCandidates = DefaultMaxCandidates
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ix := &Index{
		opts:      opts,
		names:     map[string]int32{},
		consumers: map[string]*consumerRec{},
		ids:       map[string]int32{},
	}
	s := &snapshot{
		rcIDs:        map[string]int32{},
		customTraits: map[string]struct{}{},
		share:        &shareCache{},
	}
	for i, rc := range standardResourceClasses {
		s.rcNames = append(s.rcNames, rc)
		s.rcIDs[rc] = int32(i)
		s.byRC = append(s.byRC, nil)
	}
	ix.snap.Store(s)
	return ix
}

// ---------------------------------------------------------------------------
// Snapshot

const (
	chunkShift = 8
	chunkSize  = 1 << chunkShift
)

type node struct {
	id         int32
	uuid, name string
	generation int64
	parent     int32 // -1 for a root
	root       int32
	children   []int32  // immutable once published
	inv        []invRec // sorted by rc; immutable once published
	traits     []string // sorted; immutable once published
	aggs       []string // sorted; immutable once published
	sharing    bool
	created    time.Time
	updated    time.Time
}

type invRec struct {
	rc   int32
	inv  Inventory
	used int64
}

func (n *node) invFor(rc int32) *invRec {
	for i := range n.inv {
		if n.inv[i].rc == rc {
			return &n.inv[i]
		}
	}
	return nil
}

func (n *node) hasTrait(t string) bool {
	i := sort.SearchStrings(n.traits, t)
	return i < len(n.traits) && n.traits[i] == t
}

func (n *node) inAgg(a string) bool {
	i := sort.SearchStrings(n.aggs, a)
	return i < len(n.aggs) && n.aggs[i] == a
}

func (n *node) inUse() bool {
	for i := range n.inv {
		if n.inv[i].used > 0 {
			return true
		}
	}
	return false
}

// snapshot is an immutable view; a write builds the next one.
type snapshot struct {
	chunks   []*[chunkSize]*node
	n        int32 // ids allocated
	live     int
	nSharing int
	byRC     [][]int32 // rc → providers with inventory of it (unordered)
	rcNames  []string  // rc → name ("" once deleted)
	rcIDs    map[string]int32
	// customTraits is the set of custom traits that exist.
	customTraits map[string]struct{}
	share        *shareCache
}

func (s *snapshot) get(id int32) *node {
	if id < 0 || id >= s.n {
		return nil
	}
	return s.chunks[id>>chunkShift][id&(chunkSize-1)]
}

func (s *snapshot) traitExists(t string) bool {
	if IsStandardTrait(t) {
		return true
	}
	_, ok := s.customTraits[t]
	return ok
}

// shareCache holds what sharing providers share with, computed on first use
// per snapshot and carried over by writes that change no trait, aggregate or
// tree shape.
type shareCache struct {
	once    sync.Once
	anchors map[int32][]int32 // sharing provider → roots it is anchored to (incl. its own)
	byRoot  map[int32][]int32 // root → sharing providers of other trees anchored to it
}

func (s *snapshot) sharing() *shareCache {
	c := s.share
	c.once.Do(func() {
		c.anchors = map[int32][]int32{}
		c.byRoot = map[int32][]int32{}
		if s.nSharing == 0 {
			return
		}
		members := map[string][]int32{}
		var sharers []*node
		for _, ch := range s.chunks {
			for _, n := range ch {
				if n == nil {
					continue
				}
				for _, a := range n.aggs {
					members[a] = append(members[a], n.id)
				}
				if n.sharing {
					sharers = append(sharers, n)
				}
			}
		}
		for _, p := range sharers {
			seen := map[int32]bool{p.root: true}
			roots := []int32{p.root}
			for _, a := range p.aggs {
				for _, q := range members[a] {
					r := s.get(q).root
					if !seen[r] {
						seen[r] = true
						roots = append(roots, r)
						c.byRoot[r] = append(c.byRoot[r], p.id)
					}
				}
			}
			c.anchors[p.id] = roots
		}
	})
	return c
}

// ---------------------------------------------------------------------------
// Write transactions

type txn struct {
	ix           *Index
	old, s       *snapshot
	copiedChunk  map[int32]bool
	mutNodes     map[int32]*node
	byRCCopied   bool
	shareChanged bool
	now          time.Time
	newIDs       map[string]int32 // uuid → id registered by this txn
	nameChanges  map[string]int32 // name → id (-1 = removed)
}

// begin starts a write; the caller holds ix.mu.
func (ix *Index) begin() *txn {
	old := ix.snap.Load()
	s := *old
	s.chunks = slices.Clone(old.chunks)
	return &txn{ix: ix, old: old, s: &s, copiedChunk: map[int32]bool{}, mutNodes: map[int32]*node{}, now: ix.opts.Now().UTC()}
}

func (t *txn) get(id int32) *node {
	if n, ok := t.mutNodes[id]; ok {
		return n
	}
	return t.s.get(id)
}

func (t *txn) setNode(id int32, n *node) {
	c := id >> chunkShift
	for int(c) >= len(t.s.chunks) {
		t.s.chunks = append(t.s.chunks, new([chunkSize]*node))
		t.copiedChunk[int32(len(t.s.chunks)-1)] = true
	}
	if !t.copiedChunk[c] {
		cp := *t.s.chunks[c]
		t.s.chunks[c] = &cp
		t.copiedChunk[c] = true
	}
	t.s.chunks[c][id&(chunkSize-1)] = n
	if n != nil {
		t.mutNodes[id] = n
	} else {
		delete(t.mutNodes, id)
	}
}

// mut returns a private copy of node id, writable until commit.
func (t *txn) mut(id int32) *node {
	if n, ok := t.mutNodes[id]; ok {
		return n
	}
	o := t.s.get(id)
	n := *o
	n.inv = slices.Clone(o.inv)
	t.setNode(id, &n)
	return &n
}

func (t *txn) rcList(rc int32) []int32 { return t.s.byRC[rc] }

func (t *txn) setRCList(rc int32, l []int32) {
	if !t.byRCCopied {
		t.s.byRC = slices.Clone(t.s.byRC)
		t.byRCCopied = true
	}
	t.s.byRC[rc] = l
}

func (t *txn) commit() {
	if t.shareChanged {
		t.s.share = &shareCache{}
	}
	ix := t.ix
	if len(t.newIDs) > 0 {
		ix.idMu.Lock()
		for u, id := range t.newIDs {
			ix.ids[u] = id
		}
		ix.idMu.Unlock()
	}
	for name, id := range t.nameChanges {
		if id < 0 {
			delete(ix.names, name)
		} else {
			ix.names[name] = id
		}
	}
	ix.snap.Store(t.s)
}

func (ix *Index) idOf(u string) (int32, bool) {
	ix.idMu.RLock()
	id, ok := ix.ids[u]
	ix.idMu.RUnlock()
	return id, ok
}

// lookup resolves a provider uuid in snapshot s.
func (ix *Index) lookup(s *snapshot, u string) *node {
	id, ok := ix.idOf(u)
	if !ok {
		return nil
	}
	return s.get(id)
}

func (t *txn) lookup(u string) *node {
	if id, ok := t.newIDs[u]; ok {
		return t.get(id)
	}
	id, ok := t.ix.idOf(u)
	if !ok {
		return nil
	}
	return t.get(id)
}

func (t *txn) nameOwner(name string) (int32, bool) {
	if id, ok := t.nameChanges[name]; ok {
		return id, id >= 0
	}
	id, ok := t.ix.names[name]
	return id, ok
}

func (t *txn) setName(name string, id int32) {
	if t.nameChanges == nil {
		t.nameChanges = map[string]int32{}
	}
	t.nameChanges[name] = id
}

func providerNotFound(u string) *Error {
	return notFound(CodeProviderNotFound, "no resource provider with uuid %s", u)
}

func (ix *Index) provider(s *snapshot, n *node) ResourceProvider {
	rp := ResourceProvider{UUID: n.uuid, Name: n.name, Generation: n.generation,
		RootUUID: s.get(n.root).uuid, CreatedAt: n.created, UpdatedAt: n.updated}
	if n.parent >= 0 {
		rp.ParentUUID = s.get(n.parent).uuid
	}
	return rp
}

// ---------------------------------------------------------------------------
// Providers

// CreateProvider creates a provider with generation 0; a child joins its
// parent's tree. An empty spec.UUID is generated. It fails with ErrInvalid
// (bad name or uuid, unknown parent), ErrDuplicateName (name or uuid taken).
// Not idempotent: a second call with the same uuid is ErrDuplicateName.
func (ix *Index) CreateProvider(ctx context.Context, spec ProviderSpec) (ResourceProvider, error) {
	if err := ctx.Err(); err != nil {
		return ResourceProvider{}, err
	}
	if spec.Name == "" || len(spec.Name) > 200 {
		return ResourceProvider{}, invalid("name", "name must be 1 to 200 characters")
	}
	if spec.UUID == "" {
		spec.UUID = uuid.NewString()
	} else if !isUUIDLike(spec.UUID) {
		return ResourceProvider{}, invalid("uuid", "invalid uuid %q", spec.UUID)
	}
	spec.UUID = normUUID(spec.UUID)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.begin()
	if t.lookup(spec.UUID) != nil {
		return ResourceProvider{}, newErr(ErrDuplicateName, CodeDuplicateName, "uuid", "conflicting resource provider uuid %s already exists", spec.UUID)
	}
	if _, ok := t.nameOwner(spec.Name); ok {
		return ResourceProvider{}, newErr(ErrDuplicateName, CodeDuplicateName, "name", "conflicting resource provider name %q already exists", spec.Name)
	}
	n := &node{uuid: spec.UUID, name: spec.Name, parent: -1, created: t.now, updated: t.now}
	if spec.ParentUUID != "" {
		p := t.lookup(normUUID(spec.ParentUUID))
		if p == nil {
			return ResourceProvider{}, invalid("parent_provider_uuid", "parent provider uuid %s does not exist", spec.ParentUUID)
		}
		n.parent, n.root = p.id, p.root
	}
	id, reused := ix.idOf(spec.UUID)
	if !reused {
		id = t.s.n
		t.s.n++
		t.newIDs = map[string]int32{spec.UUID: id}
	}
	n.id = id
	if n.parent < 0 {
		n.root = id
	} else {
		p := t.mut(n.parent)
		p.children = append(slices.Clone(p.children), id)
	}
	t.setNode(id, n)
	t.s.live++
	t.setName(spec.Name, id)
	t.commit()
	return ix.provider(t.s, n), nil
}

func normUUID(u string) string {
	if len(u) == 32 {
		u = u[0:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:]
	}
	return strings.ToLower(u)
}

// UpdateProvider renames and optionally reparents a provider (PUT
// /resource_providers/{uuid}); the generation is unchanged, as in Placement.
// Without AllowReparenting only a root may gain a parent; with it (1.37) a
// provider may move anywhere except into its own subtree, or become a root.
// Errors: ErrNotFound, ErrDuplicateName, ErrInvalid.
func (ix *Index) UpdateProvider(ctx context.Context, u string, up ProviderUpdate) (ResourceProvider, error) {
	if err := ctx.Err(); err != nil {
		return ResourceProvider{}, err
	}
	if up.Name == "" || len(up.Name) > 200 {
		return ResourceProvider{}, invalid("name", "name must be 1 to 200 characters")
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.begin()
	n := t.lookup(normUUID(u))
	if n == nil {
		return ResourceProvider{}, providerNotFound(u)
	}
	if owner, ok := t.nameOwner(up.Name); ok && owner != n.id {
		return ResourceProvider{}, newErr(ErrDuplicateName, CodeDuplicateName, "name", "conflicting resource provider name %q already exists", up.Name)
	}
	if up.Name != n.name {
		t.setName(n.name, -1)
		t.setName(up.Name, n.id)
		m := t.mut(n.id)
		m.name = up.Name
		m.updated = t.now
	}
	if up.SetParent {
		newParent := int32(-1)
		if up.ParentUUID != "" {
			p := t.lookup(normUUID(up.ParentUUID))
			if p == nil {
				return ResourceProvider{}, invalid("parent_provider_uuid", "parent provider uuid %s does not exist", up.ParentUUID)
			}
			newParent = p.id
		}
		if newParent != n.parent {
			switch {
			case !up.AllowReparenting && newParent < 0:
				return ResourceProvider{}, invalid("parent_provider_uuid", "un-parenting a provider is not allowed before microversion 1.37")
			case !up.AllowReparenting && n.parent >= 0:
				return ResourceProvider{}, invalid("parent_provider_uuid", "re-parenting a provider is not allowed before microversion 1.37")
			}
			sub := t.subtree(n.id)
			if newParent >= 0 && slices.Contains(sub, newParent) {
				return ResourceProvider{}, invalid("parent_provider_uuid", "creating a loop in the provider tree is not allowed")
			}
			if n.parent >= 0 {
				op := t.mut(n.parent)
				op.children = slices.DeleteFunc(slices.Clone(op.children), func(c int32) bool { return c == n.id })
			}
			newRoot := n.id
			if newParent >= 0 {
				np := t.mut(newParent)
				np.children = append(slices.Clone(np.children), n.id)
				newRoot = np.root
			}
			m := t.mut(n.id)
			m.parent = newParent
			m.updated = t.now
			for _, id := range sub {
				t.mut(id).root = newRoot
			}
			t.shareChanged = true
		}
	}
	t.commit()
	return ix.provider(t.s, t.get(n.id)), nil
}

// subtree returns id and all its descendants.
func (t *txn) subtree(id int32) []int32 {
	out := []int32{id}
	for i := 0; i < len(out); i++ {
		out = append(out, t.get(out[i]).children...)
	}
	return out
}

// DeleteProvider removes a provider with its inventories, traits and
// aggregates. Errors: ErrNotFound, ErrCannotDeleteParent (it has children),
// ErrProviderInUse (it has allocations).
func (ix *Index) DeleteProvider(ctx context.Context, u string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.begin()
	n := t.lookup(normUUID(u))
	if n == nil {
		return providerNotFound(u)
	}
	if len(n.children) > 0 {
		return newErr(ErrCannotDeleteParent, CodeCannotDeleteParent, "", "unable to delete parent resource provider %s: it has child resource providers", n.uuid)
	}
	if n.inUse() {
		return newErr(ErrProviderInUse, CodeProviderInUse, "", "unable to delete resource provider %s: it has allocations", n.uuid)
	}
	for _, r := range n.inv {
		t.setRCList(r.rc, without(t.rcList(r.rc), n.id))
	}
	if n.parent >= 0 {
		p := t.mut(n.parent)
		p.children = slices.DeleteFunc(slices.Clone(p.children), func(c int32) bool { return c == n.id })
	}
	if n.sharing {
		t.s.nSharing--
	}
	if n.sharing || len(n.aggs) > 0 {
		t.shareChanged = true
	}
	t.setNode(n.id, nil)
	t.s.live--
	t.setName(n.name, -1)
	t.commit()
	return nil
}

func without(l []int32, id int32) []int32 {
	out := make([]int32, 0, len(l))
	for _, x := range l {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// Provider returns one provider. Errors: ErrNotFound. Lock-free.
func (ix *Index) Provider(ctx context.Context, u string) (ResourceProvider, error) {
	if err := ctx.Err(); err != nil {
		return ResourceProvider{}, err
	}
	s := ix.snap.Load()
	n := ix.lookup(s, normUUID(u))
	if n == nil {
		return ResourceProvider{}, providerNotFound(u)
	}
	return ix.provider(s, n), nil
}

// ProviderFilter selects providers for Providers (GET /resource_providers).
// Zero fields do not filter.
type ProviderFilter struct {
	Name, UUID, InTree  string
	MemberOf            [][]string
	ForbiddenAggregates []string
	RequiredTraits      [][]string
	ForbiddenTraits     []string
	// Resources keeps providers with room for each amount (capacity, min,
	// max, step), as GET /resource_providers?resources= does.
	Resources map[string]int64
}

// Providers lists the providers matching f, ordered by uuid, from one
// snapshot. Unknown resource classes are ErrInvalid; an unknown InTree
// provider gives an empty list. Lock-free.
func (ix *Index) Providers(ctx context.Context, f ProviderFilter) ([]ResourceProvider, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := ix.snap.Load()
	treeRoot := int32(-1)
	if f.InTree != "" {
		n := ix.lookup(s, normUUID(f.InTree))
		if n == nil {
			return nil, nil
		}
		treeRoot = n.root
	}
	res, err := resolveResources(s, f.Resources, "resources")
	if err != nil {
		return nil, err
	}
	g := &pgroup{req: f.RequiredTraits, forb: f.ForbiddenTraits, memberOf: normAggSets(f.MemberOf), forbAggs: normAggs(f.ForbiddenAggregates), res: res, granular: true}
	var out []ResourceProvider
	for _, ch := range s.chunks {
		for _, n := range ch {
			if n == nil || f.Name != "" && n.name != f.Name || f.UUID != "" && n.uuid != normUUID(f.UUID) ||
				treeRoot >= 0 && n.root != treeRoot || !g.providerMatches(n) {
				continue
			}
			out = append(out, ix.provider(s, n))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UUID < out[j].UUID })
	return out, nil
}

// ---------------------------------------------------------------------------
// Inventories, traits, aggregates

// Inventories returns a provider's inventories by resource class and its
// generation. Errors: ErrNotFound. Lock-free.
func (ix *Index) Inventories(ctx context.Context, u string) (map[string]Inventory, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	s := ix.snap.Load()
	n := ix.lookup(s, normUUID(u))
	if n == nil {
		return nil, 0, providerNotFound(u)
	}
	out := make(map[string]Inventory, len(n.inv))
	for _, r := range n.inv {
		out[s.rcNames[r.rc]] = r.inv
	}
	return out, n.generation, nil
}

// ProviderUsages returns a provider's usage of every class it has inventory
// of (0 included) and its generation. Errors: ErrNotFound. Lock-free.
func (ix *Index) ProviderUsages(ctx context.Context, u string) (map[string]int64, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	s := ix.snap.Load()
	n := ix.lookup(s, normUUID(u))
	if n == nil {
		return nil, 0, providerNotFound(u)
	}
	out := make(map[string]int64, len(n.inv))
	for _, r := range n.inv {
		out[s.rcNames[r.rc]] = r.used
	}
	return out, n.generation, nil
}

// SetInventories replaces all inventories of a provider if generation is
// current, and bumps the generation. As in Placement, removing a class that
// has allocations fails with ErrInventoryInUse, while shrinking a class below
// its usage is accepted and reported in the returned overCapacity list (the
// provider reports reality). Errors: ErrNotFound, ErrGenerationConflict,
// ErrInvalid (bad field, unknown resource class), ErrInventoryInUse.
func (ix *Index) SetInventories(ctx context.Context, u string, generation int64, invs map[string]Inventory) (newGeneration int64, overCapacity []string, err error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.begin()
	over, err := t.setInventories(normUUID(u), generation, invs)
	if err != nil {
		return 0, nil, err
	}
	t.commit()
	return t.lookup(normUUID(u)).generation, over, nil
}

func (t *txn) setInventories(u string, generation int64, invs map[string]Inventory) ([]string, error) {
	n := t.lookup(u)
	if n == nil {
		return nil, providerNotFound(u)
	}
	if n.generation != generation {
		return nil, genConflict(u, generation, n.generation)
	}
	recs := make([]invRec, 0, len(invs))
	for class, inv := range invs {
		rc, ok := t.s.rcIDs[class]
		if !ok {
			return nil, invalid("inventories."+class, "unknown resource class %q", class)
		}
		if err := inv.Validate(class); err != nil {
			return nil, err
		}
		recs = append(recs, invRec{rc: rc, inv: inv})
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].rc < recs[j].rc })
	var over []string
	for i := range recs {
		if old := n.invFor(recs[i].rc); old != nil {
			recs[i].used = old.used
			if old.used > recs[i].inv.Capacity() {
				over = append(over, t.s.rcNames[recs[i].rc])
			}
		}
	}
	var inUse []string
	for _, old := range n.inv {
		if !slices.ContainsFunc(recs, func(r invRec) bool { return r.rc == old.rc }) {
			if old.used > 0 {
				inUse = append(inUse, t.s.rcNames[old.rc])
				continue
			}
			t.setRCList(old.rc, without(t.rcList(old.rc), n.id))
		}
	}
	if len(inUse) > 0 {
		sort.Strings(inUse)
		return nil, newErr(ErrInventoryInUse, CodeInventoryInUse, "inventories",
			"inventory for %s on resource provider %s in use", strings.Join(inUse, ", "), u)
	}
	for _, r := range recs {
		if n.invFor(r.rc) == nil {
			t.setRCList(r.rc, append(t.rcList(r.rc), n.id))
		}
	}
	m := t.mut(n.id)
	m.inv = recs
	m.generation++
	m.updated = t.now
	sort.Strings(over)
	return over, nil
}

// Traits returns a provider's traits (sorted) and generation. Errors:
// ErrNotFound. Lock-free.
func (ix *Index) Traits(ctx context.Context, u string) ([]string, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	s := ix.snap.Load()
	n := ix.lookup(s, normUUID(u))
	if n == nil {
		return nil, 0, providerNotFound(u)
	}
	return slices.Clone(n.traits), n.generation, nil
}

// SetTraits replaces a provider's traits if generation is current and bumps
// it. Errors: ErrNotFound, ErrGenerationConflict, ErrInvalid (a trait that
// does not exist).
func (ix *Index) SetTraits(ctx context.Context, u string, generation int64, traits []string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.begin()
	n := t.lookup(normUUID(u))
	if n == nil {
		return 0, providerNotFound(u)
	}
	if n.generation != generation {
		return 0, genConflict(n.uuid, generation, n.generation)
	}
	ts := slices.Clone(traits)
	sort.Strings(ts)
	ts = slices.Compact(ts)
	for _, tr := range ts {
		if !t.s.traitExists(tr) {
			return 0, invalid("traits", "no such trait %q", tr)
		}
	}
	m := t.mut(n.id)
	m.traits = ts
	m.generation++
	m.updated = t.now
	sharing := m.hasTrait(TraitSharesViaAggregate)
	if sharing != m.sharing {
		if sharing {
			t.s.nSharing++
		} else {
			t.s.nSharing--
		}
		m.sharing = sharing
		t.shareChanged = true
	} else if sharing || len(m.aggs) > 0 {
		t.shareChanged = true
	}
	t.commit()
	return m.generation, nil
}

// Aggregates returns a provider's aggregate uuids (sorted) and generation.
// Errors: ErrNotFound. Lock-free.
func (ix *Index) Aggregates(ctx context.Context, u string) ([]string, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	s := ix.snap.Load()
	n := ix.lookup(s, normUUID(u))
	if n == nil {
		return nil, 0, providerNotFound(u)
	}
	return slices.Clone(n.aggs), n.generation, nil
}

// SetAggregates replaces a provider's aggregates. With a generation it is
// checked and bumped (1.19+); with AnyGeneration neither happens (older
// microversions). Errors: ErrNotFound, ErrGenerationConflict, ErrInvalid
// (not a uuid).
func (ix *Index) SetAggregates(ctx context.Context, u string, generation int64, aggs []string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	as := make([]string, 0, len(aggs))
	for _, a := range aggs {
		if !isUUIDLike(a) {
			return 0, invalid("aggregates", "invalid aggregate uuid %q", a)
		}
		as = append(as, normUUID(a))
	}
	sort.Strings(as)
	as = slices.Compact(as)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.begin()
	n := t.lookup(normUUID(u))
	if n == nil {
		return 0, providerNotFound(u)
	}
	if generation != AnyGeneration && n.generation != generation {
		return 0, genConflict(n.uuid, generation, n.generation)
	}
	m := t.mut(n.id)
	m.aggs = as
	if generation != AnyGeneration {
		m.generation++
	}
	m.updated = t.now
	t.shareChanged = true
	t.commit()
	return m.generation, nil
}

// ---------------------------------------------------------------------------
// Resource classes and traits

// ResourceClasses lists every resource class (standard and custom), sorted.
// Lock-free.
func (ix *Index) ResourceClasses(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := ix.snap.Load()
	out := make([]string, 0, len(s.rcIDs))
	for name := range s.rcIDs {
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// CreateResourceClass creates a custom resource class. Errors: ErrInvalid
// (not CUSTOM_*), ErrDuplicateName (exists).
func (ix *Index) CreateResourceClass(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !IsCustomName(name) {
		return invalid("name", "custom resource class names must match CUSTOM_[A-Z0-9_]+, got %q", name)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.begin()
	if _, ok := t.s.rcIDs[name]; ok {
		return newErr(ErrDuplicateName, CodeDuplicateName, "name", "resource class %s already exists", name)
	}
	ids := make(map[string]int32, len(t.s.rcIDs)+1)
	for k, v := range t.s.rcIDs {
		ids[k] = v
	}
	ids[name] = int32(len(t.s.rcNames))
	t.s.rcIDs = ids
	t.s.rcNames = append(slices.Clip(t.s.rcNames), name)
	t.s.byRC = append(slices.Clip(t.s.byRC), nil)
	t.byRCCopied = true
	t.commit()
	return nil
}

// DeleteResourceClass deletes a custom resource class. Errors: ErrNotFound,
// ErrInvalid (standard class), ErrInUse (some provider has inventory of it).
func (ix *Index) DeleteResourceClass(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.begin()
	rc, ok := t.s.rcIDs[name]
	if !ok {
		return notFound(CodeUndefined, "no such resource class %s", name)
	}
	if IsStandardResourceClass(name) {
		return invalid("name", "cannot delete standard resource class %s", name)
	}
	if len(t.s.byRC[rc]) > 0 {
		return newErr(ErrInUse, CodeUndefined, "name", "resource class %s is in use in inventory", name)
	}
	ids := make(map[string]int32, len(t.s.rcIDs))
	for k, v := range t.s.rcIDs {
		if k != name {
			ids[k] = v
		}
	}
	t.s.rcIDs = ids
	t.s.rcNames = slices.Clone(t.s.rcNames)
	t.s.rcNames[rc] = ""
	t.commit()
	return nil
}

// TraitNames lists every trait (standard and custom), sorted. Lock-free.
func (ix *Index) TraitNames(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := ix.snap.Load()
	out := StandardTraits()
	for t := range s.customTraits {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

// CreateTrait creates a custom trait; it reports whether it was created
// (false: it already existed, which is not an error, as PUT /traits/{name}).
// Errors: ErrInvalid (not CUSTOM_*).
func (ix *Index) CreateTrait(ctx context.Context, name string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if !IsCustomName(name) {
		return false, invalid("name", "custom trait names must match CUSTOM_[A-Z0-9_]+, got %q", name)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.begin()
	if _, ok := t.s.customTraits[name]; ok {
		return false, nil
	}
	m := make(map[string]struct{}, len(t.s.customTraits)+1)
	for k := range t.s.customTraits {
		m[k] = struct{}{}
	}
	m[name] = struct{}{}
	t.s.customTraits = m
	t.commit()
	return true, nil
}

// DeleteTrait deletes a custom trait. Errors: ErrNotFound, ErrInvalid
// (standard trait), ErrInUse (a provider has it).
func (ix *Index) DeleteTrait(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.begin()
	if IsStandardTrait(name) {
		return invalid("name", "cannot delete standard trait %s", name)
	}
	if _, ok := t.s.customTraits[name]; !ok {
		return notFound(CodeUndefined, "no such trait %s", name)
	}
	for _, ch := range t.s.chunks {
		for _, n := range ch {
			if n != nil && n.hasTrait(name) {
				return newErr(ErrInUse, CodeUndefined, "name", "trait %s is in use", name)
			}
		}
	}
	m := make(map[string]struct{}, len(t.s.customTraits))
	for k := range t.s.customTraits {
		if k != name {
			m[k] = struct{}{}
		}
	}
	t.s.customTraits = m
	t.commit()
	return nil
}
