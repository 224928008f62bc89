package placement

import (
	"context"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
)

// CandidateResult is the answer to GET /allocation_candidates, in domain
// form; the REST layer renders it for the requested microversion.
type CandidateResult struct {
	AllocationRequests []AllocationRequest
	// ProviderSummaries covers every provider of every tree that some
	// allocation request touches (all inventories, as from 1.27), tree by
	// tree in no defined order (the REST layer renders a JSON object).
	ProviderSummaries []ProviderSummary
	// Truncated reports that generation stopped at the limit or at the
	// Index's MaxCandidates: more candidates may exist.
	Truncated bool
}

// AllocationRequest is one way to satisfy a CandidateRequest.
type AllocationRequest struct {
	// Allocations are sorted by provider uuid; amounts are consolidated per
	// (provider, class) over all groups.
	Allocations []ProviderResources
	// Mappings give, per request group suffix ("" for the unsuffixed
	// group), the providers satisfying it, sorted; in group order.
	Mappings []Mapping
}

// ProviderResources is the part of an allocation request on one provider.
type ProviderResources struct {
	ProviderUUID string
	Resources    []ResourceAmount // sorted by class
}

// ResourceAmount is an amount of one resource class.
type ResourceAmount struct {
	Class  string
	Amount int64
}

// Mapping says which providers satisfy one request group.
type Mapping struct {
	Suffix    string
	Providers []string
}

// ProviderSummary describes one provider of an involved tree.
type ProviderSummary struct {
	UUID       string
	ParentUUID string // "" for a root
	RootUUID   string
	Resources  []SummaryResource // sorted by class
	// Traits is sorted and shared with the index: do not modify.
	Traits []string
}

// SummaryResource is capacity and usage of one class on one provider.
type SummaryResource struct {
	Class    string
	Capacity int64
	Used     int64
}

// Candidates answers GET /allocation_candidates over one consistent snapshot
// without taking any lock, so it never delays writes. Semantics are
// Placement's (see the package documentation); the search visits anchor trees
// in an order drawn from req.Seed, takes candidates breadth-first (one per
// tree, then a second per tree, …) and stops as soon as req.Limit (or the
// Index's MaxCandidates) candidates exist, so a limit bounds the work.
// Partial combinations that already exceed a capacity or max_unit are pruned.
//
// Errors: ErrInvalid for a malformed request or one naming an unknown
// resource class or trait; ctx.Err() if ctx ends first. An in_tree naming an
// unknown provider gives an empty result, as in Placement.
func (ix *Index) Candidates(ctx context.Context, req *CandidateRequest) (*CandidateResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := ix.snap.Load()
	e, err := ix.prepare(s, req)
	if err != nil || e == nil {
		return &CandidateResult{}, err
	}
	if err := e.run(ctx); err != nil {
		return nil, err
	}
	return e.result(), nil
}

type rcAmt struct {
	rc  int32
	amt int64
}

type pgroup struct {
	suffix   string
	granular bool
	res      []rcAmt
	req      [][]string
	forb     []string
	memberOf [][]string
	forbAggs []string
	inTree   int32 // root of the in_tree provider, or -1
}

func inAggs(n *node, memberOf [][]string) bool {
	for _, any := range memberOf {
		ok := false
		for _, a := range any {
			if n.inAgg(a) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func inAnyAgg(n *node, aggs []string) bool {
	for _, a := range aggs {
		if n.inAgg(a) {
			return true
		}
	}
	return false
}

func (g *pgroup) traitsOK(n *node) bool {
	for _, t := range g.forb {
		if n.hasTrait(t) {
			return false
		}
	}
	for _, any := range g.req {
		ok := false
		for _, t := range any {
			if n.hasTrait(t) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func fits(n *node, rc int32, amt int64) bool {
	r := n.invFor(rc)
	return r != nil && r.inv.Fits(r.used, amt)
}

// providerMatches: one provider satisfies the whole group by itself.
func (g *pgroup) providerMatches(n *node) bool {
	for _, ra := range g.res {
		if !fits(n, ra.rc, ra.amt) {
			return false
		}
	}
	return g.traitsOK(n) && inAggs(n, g.memberOf) && !inAnyAgg(n, g.forbAggs)
}

func resolveResources(s *snapshot, res map[string]int64, field string) ([]rcAmt, error) {
	out := make([]rcAmt, 0, len(res))
	for class, amt := range res {
		rc, ok := s.rcIDs[class]
		if !ok {
			return nil, invalid(field, "invalid resource class in resources parameter: no such resource class %s", class)
		}
		if amt < 1 {
			return nil, invalid(field, "requested resource %s requires amount >= 1, got %d", class, amt)
		}
		out = append(out, rcAmt{rc, amt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rc < out[j].rc })
	return out, nil
}

type engine struct {
	ix       *Index
	s        *snapshot
	req      *CandidateRequest
	groups   []*pgroup
	share    *shareCache
	rng      *rand.Rand
	sameSub  [][]int
	limit    int
	anchors  []int32
	rootReq  []string
	rootForb []string

	out       []AllocationRequest
	truncated bool
	visited   int // partial combinations tried (for tests of bounded work)
	seen      map[string]struct{}
	rootSeen  []bool
	roots     []int32 // roots of the trees the emitted candidates touch

	// scratch buffers, reused across anchors
	treeBuf  []int32
	perBuf   [][]int32
	idxBuf   []int
	accBuf   []accEntry
	levelBuf [][]option
}

// prepare validates req against snapshot s; a nil engine means "no
// candidates" (e.g. unknown in_tree provider).
func (ix *Index) prepare(s *snapshot, req *CandidateRequest) (*engine, error) {
	if req == nil || len(req.Groups) == 0 {
		return nil, invalid("resources", "at least one request group is required")
	}
	switch req.GroupPolicy {
	case "", GroupPolicyNone, GroupPolicyIsolate:
	default:
		return nil, invalid("group_policy", "invalid group_policy %q", req.GroupPolicy)
	}
	e := &engine{ix: ix, s: s, req: req, rng: rand.New(rand.NewPCG(req.Seed, 0x9e3779b97f4a7c15))}
	idx := map[string]int{}
	withRes := false
	fixed := int32(-2)
	if s.nSharing > 0 {
		e.share = s.sharing()
	}
	order := make([]int, len(req.Groups))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return req.Groups[order[a]].Suffix < req.Groups[order[b]].Suffix })
	for _, gi := range order {
		rg := &req.Groups[gi]
		if _, dup := idx[rg.Suffix]; dup {
			return nil, invalid("resources"+rg.Suffix, "request group %q given twice", rg.Suffix)
		}
		res, err := resolveResources(s, rg.Resources, "resources"+rg.Suffix)
		if err != nil {
			return nil, err
		}
		if len(res) > 0 {
			withRes = true
		} else if rg.Suffix == "" {
			return nil, invalid("resources", "the unsuffixed request group needs resources")
		}
		g := &pgroup{suffix: rg.Suffix, granular: rg.Suffix != "", res: res, memberOf: normAggSets(rg.MemberOf),
			forbAggs: normAggs(rg.ForbiddenAggregates), inTree: -1}
		for _, any := range rg.RequiredTraits {
			if len(any) == 0 {
				return nil, invalid("required"+rg.Suffix, "empty any-of trait set")
			}
			for _, t := range any {
				if !s.traitExists(t) {
					return nil, invalid("required"+rg.Suffix, "no such trait %s", t)
				}
			}
			g.req = append(g.req, any)
		}
		for _, t := range rg.ForbiddenTraits {
			if !s.traitExists(t) {
				return nil, invalid("required"+rg.Suffix, "no such trait %s", t)
			}
			g.forb = append(g.forb, t)
		}
		for _, any := range rg.MemberOf {
			if len(any) == 0 {
				return nil, invalid("member_of"+rg.Suffix, "empty aggregate set")
			}
		}
		if rg.InTree != "" {
			n := ix.lookup(s, normUUID(rg.InTree))
			if n == nil {
				return nil, nil
			}
			g.inTree = n.root
			if !g.granular || e.share == nil {
				if fixed >= 0 && fixed != n.root {
					return nil, nil
				}
				fixed = n.root
			}
		}
		idx[rg.Suffix] = len(e.groups)
		e.groups = append(e.groups, g)
	}
	if !withRes {
		return nil, invalid("resources", "at least one request group needs resources")
	}
	for _, set := range req.SameSubtree {
		var is []int
		for _, sfx := range set {
			i, ok := idx[sfx]
			if !ok || sfx == "" {
				return nil, invalid("same_subtree", "same_subtree names unknown group %q", sfx)
			}
			is = append(is, i)
		}
		e.sameSub = append(e.sameSub, is)
	}
	for _, t := range req.RootRequired {
		if !s.traitExists(t) {
			return nil, invalid("root_required", "no such trait %s", t)
		}
	}
	for _, t := range req.RootForbidden {
		if !s.traitExists(t) {
			return nil, invalid("root_required", "no such trait %s", t)
		}
	}
	e.rootReq, e.rootForb = req.RootRequired, req.RootForbidden
	e.limit = ix.opts.MaxCandidates
	if req.Limit > 0 && req.Limit < e.limit {
		e.limit = req.Limit
	}
	// Anchor trees: those able to supply the rarest requested class.
	if fixed >= 0 {
		e.anchors = []int32{fixed}
		return e, nil
	}
	best := int32(-1)
	for _, g := range e.groups {
		for _, ra := range g.res {
			if best < 0 || len(s.byRC[ra.rc]) < len(s.byRC[best]) {
				best = ra.rc
			}
		}
	}
	seen := make([]bool, s.n)
	for _, p := range s.byRC[best] {
		n := s.get(p)
		if !seen[n.root] {
			seen[n.root] = true
			e.anchors = append(e.anchors, n.root)
		}
		if n.sharing && e.share != nil {
			for _, r := range e.share.anchors[p] {
				if !seen[r] {
					seen[r] = true
					e.anchors = append(e.anchors, r)
				}
			}
		}
	}
	return e, nil
}

// normAggs returns aggregate uuids in the form SetAggregates stores them.
func normAggs(as []string) []string {
	if len(as) == 0 {
		return nil
	}
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = normUUID(a)
	}
	return out
}

func normAggSets(sets [][]string) [][]string {
	if len(sets) == 0 {
		return nil
	}
	out := make([][]string, len(sets))
	for i, set := range sets {
		out[i] = normAggs(set)
	}
	return out
}

func (e *engine) rootOK(n *node) bool {
	for _, t := range e.rootReq {
		if !n.hasTrait(t) {
			return false
		}
	}
	for _, t := range e.rootForb {
		if n.hasTrait(t) {
			return false
		}
	}
	return true
}

// option is one way to satisfy a group at an anchor: the provider of each
// of the group's resource entries (granular groups: a single provider).
type option []int32

type accEntry struct {
	prov, rc int32
	amt      int64
}

type anchorIter struct {
	root   int32
	levels [][]option
	pos    []int
	depth  int
	acc    []accEntry
	marks  []int // len(acc) before each level
	gran   []int32
	gmarks []int

	// inline storage for the common small cases (one allocation per tree)
	levelsArr [4][]option
	intsArr   [12]int
	accArr    [6]accEntry
	granArr   [4]int32
}

// treeOf appends root and its descendants to buf[:0].
func (e *engine) treeOf(root int32, buf []int32) []int32 {
	out := append(buf[:0], root)
	for i := 0; i < len(out); i++ {
		out = append(out, e.s.get(out[i]).children...)
	}
	return out
}

func (e *engine) build(r int32) *anchorIter {
	rn := e.s.get(r)
	if rn == nil || rn.parent >= 0 || !e.rootOK(rn) {
		return nil
	}
	e.treeBuf = e.treeOf(r, e.treeBuf)
	tree := e.treeBuf
	var shared []int32
	if e.share != nil {
		shared = e.share.byRoot[r]
	}
	L := len(e.groups)
	levels := e.levelBuf[:0]
	for _, g := range e.groups {
		var opts []option
		if g.granular {
			opts = e.granularOptions(g, r, tree, shared)
		} else {
			opts = e.unsuffixedOptions(g, r, tree, shared)
		}
		if len(opts) == 0 {
			e.levelBuf = levels
			return nil
		}
		if len(opts) > 1 {
			e.rng.Shuffle(len(opts), func(i, j int) { opts[i], opts[j] = opts[j], opts[i] })
		}
		levels = append(levels, opts)
	}
	e.levelBuf = levels
	nres := 0
	for _, g := range e.groups {
		nres += len(g.res)
	}
	it := &anchorIter{root: r}
	var ints []int
	if 3*L <= len(it.intsArr) {
		ints = it.intsArr[:3*L]
		it.levels = append(it.levelsArr[:0], levels...)
		it.gran = it.granArr[:0]
	} else {
		ints = make([]int, 3*L)
		it.levels = slices.Clone(levels)
		it.gran = make([]int32, 0, L)
	}
	if nres <= len(it.accArr) {
		it.acc = it.accArr[:0]
	} else {
		it.acc = make([]accEntry, 0, nres)
	}
	it.pos, it.marks, it.gmarks = ints[:L:L], ints[L:2*L:2*L], ints[2*L:]
	for i := range it.pos {
		it.pos[i] = -1
	}
	return it
}

func (e *engine) granularOptions(g *pgroup, r int32, tree, shared []int32) []option {
	var opts []option
	var backing []int32
	add := func(p int32) {
		if backing == nil {
			backing = make([]int32, 0, len(tree)+len(shared))
			opts = make([]option, 0, len(tree)+len(shared))
		}
		backing = append(backing, p)
		opts = append(opts, option(backing[len(backing)-1:len(backing):len(backing)]))
	}
	if g.inTree < 0 || g.inTree == r {
		for _, p := range tree {
			if g.providerMatches(e.s.get(p)) {
				add(p)
			}
		}
	}
	for _, p := range shared {
		n := e.s.get(p)
		if (g.inTree < 0 || n.root == g.inTree) && g.providerMatches(n) {
			add(p)
		}
	}
	return opts
}

// unsuffixedOptions: each resource class from one provider of the tree or a
// sharing provider anchored to it; traits collectively; member_of on the
// provider or the anchor root.
func (e *engine) unsuffixedOptions(g *pgroup, r int32, tree, shared []int32) []option {
	rn := e.s.get(r)
	rootIn := len(g.memberOf) == 0 || inAggs(rn, g.memberOf)
	if len(g.forbAggs) > 0 && inAnyAgg(rn, g.forbAggs) {
		return nil
	}
	k := len(g.res)
	for len(e.perBuf) < k {
		e.perBuf = append(e.perBuf, nil)
	}
	per := e.perBuf[:k]
	total := 1
	for i, ra := range g.res {
		l := per[i][:0]
		if g.inTree < 0 || g.inTree == r {
			for _, p := range tree {
				n := e.s.get(p)
				if fits(n, ra.rc, ra.amt) && (rootIn || inAggs(n, g.memberOf)) && !inAnyAgg(n, g.forbAggs) &&
					noForbidden(n, g.forb) {
					l = append(l, p)
				}
			}
		}
		if g.inTree < 0 {
			for _, p := range shared {
				n := e.s.get(p)
				if fits(n, ra.rc, ra.amt) && inAggs(n, g.memberOf) && !inAnyAgg(n, g.forbAggs) && noForbidden(n, g.forb) {
					l = append(l, p)
				}
			}
		}
		per[i] = l
		if len(l) == 0 {
			return nil
		}
		total *= len(l)
	}
	// Product over classes (odometer), keeping assignments whose providers
	// collectively have every required trait.
	backing := make([]int32, 0, total*k)
	opts := make([]option, 0, total)
	idx := e.idxBuf[:0]
	for range k {
		idx = append(idx, 0)
	}
	e.idxBuf = idx
	for {
		start := len(backing)
		for i := range k {
			backing = append(backing, per[i][idx[i]])
		}
		o := option(backing[start:len(backing):len(backing)])
		if len(g.req) == 0 || e.collectiveTraits(g, o) {
			opts = append(opts, o)
		} else {
			backing = backing[:start]
		}
		j := 0
		for ; j < k; j++ {
			idx[j]++
			if idx[j] < len(per[j]) {
				break
			}
			idx[j] = 0
		}
		if j == k {
			break
		}
	}
	return opts
}

func noForbidden(n *node, forb []string) bool {
	for _, t := range forb {
		if n.hasTrait(t) {
			return false
		}
	}
	return true
}

func (e *engine) collectiveTraits(g *pgroup, provs []int32) bool {
	for _, any := range g.req {
		ok := false
	search:
		for _, p := range provs {
			n := e.s.get(p)
			for _, t := range any {
				if n.hasTrait(t) {
					ok = true
					break search
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// apply adds group level gi's option to the consolidated amounts; on failure
// it leaves the state unchanged.
func (e *engine) apply(it *anchorIter, gi int, o option) bool {
	e.visited++
	g := e.groups[gi]
	it.marks[gi] = len(it.acc)
	it.gmarks[gi] = len(it.gran)
	if g.granular && e.req.GroupPolicy == GroupPolicyIsolate {
		if slices.Contains(it.gran, o[0]) {
			return false
		}
	}
	if g.granular {
		it.gran = append(it.gran, o[0])
	}
	for i, ra := range g.res {
		p := o[0]
		if !g.granular {
			p = o[i]
		}
		j := -1
		for k := range it.acc {
			if it.acc[k].prov == p && it.acc[k].rc == ra.rc {
				j = k
				break
			}
		}
		total := ra.amt
		if j >= 0 {
			total += it.acc[j].amt
		}
		if j >= 0 && total != ra.amt { // consolidated: re-check the joint amount
			r := e.s.get(p).invFor(ra.rc)
			if total > r.inv.MaxUnit || r.used+total > r.inv.Capacity() {
				e.undo(it, gi, i)
				return false
			}
		}
		if j >= 0 {
			it.acc[j].amt = total
		} else {
			it.acc = append(it.acc, accEntry{p, ra.rc, ra.amt})
		}
	}
	return true
}

// undo reverts the first n resource entries of level gi (all if n < 0).
func (e *engine) undo(it *anchorIter, gi, n int) {
	g := e.groups[gi]
	if n < 0 {
		n = len(g.res)
	}
	mark := it.marks[gi]
	o := it.levels[gi][it.pos[gi]]
	for i := 0; i < n; i++ {
		p := o[0]
		if !g.granular {
			p = o[i]
		}
		for k := 0; k < mark; k++ {
			if it.acc[k].prov == p && it.acc[k].rc == g.res[i].rc {
				it.acc[k].amt -= g.res[i].amt
				break
			}
		}
	}
	it.acc = it.acc[:mark]
	it.gran = it.gran[:it.gmarks[gi]]
}

// next advances to the next complete, valid combination.
func (e *engine) next(it *anchorIter) bool {
	L := len(e.groups)
	for {
		if it.depth == L {
			it.depth--
			e.undo(it, it.depth, -1)
		}
		lvl := it.depth
		it.pos[lvl]++
		if it.pos[lvl] >= len(it.levels[lvl]) {
			it.pos[lvl] = -1
			if lvl == 0 {
				return false
			}
			it.depth--
			e.undo(it, it.depth, -1)
			continue
		}
		if !e.apply(it, lvl, it.levels[lvl][it.pos[lvl]]) {
			continue
		}
		it.depth++
		if it.depth == L && e.leafOK(it) {
			return true
		}
	}
}

func (e *engine) mappedProviders(it *anchorIter, gi int) []int32 {
	o := it.levels[gi][it.pos[gi]]
	if e.groups[gi].granular {
		return o[:1]
	}
	return o
}

func (e *engine) isAncestorOrSelf(a, b int32) bool {
	for b >= 0 {
		if a == b {
			return true
		}
		b = e.s.get(b).parent
	}
	return false
}

func (e *engine) leafOK(it *anchorIter) bool {
	for _, set := range e.sameSub {
		var ps []int32
		for _, gi := range set {
			ps = append(ps, e.mappedProviders(it, gi)...)
		}
		ok := false
		for _, a := range ps {
			all := true
			for _, b := range ps {
				if !e.isAncestorOrSelf(a, b) {
					all = false
					break
				}
			}
			if all {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if e.req.ExcludeNested {
		for i := range it.acc {
			for j := range it.acc {
				pi, pj := it.acc[i].prov, it.acc[j].prov
				if pi != pj && e.s.get(pi).root == e.s.get(pj).root {
					return false
				}
			}
		}
	}
	return true
}

func (e *engine) run(ctx context.Context) error {
	var active []*anchorIter
	steps := 0
	check := func() error {
		steps++
		if steps&255 == 0 {
			return ctx.Err()
		}
		return nil
	}
	// Round 1: visit anchors in seeded random order (lazy Fisher–Yates).
	a := e.anchors
	for i := 0; i < len(a); i++ {
		if len(e.out) >= e.limit {
			e.truncated = true
			return nil
		}
		if err := check(); err != nil {
			return err
		}
		j := i + e.rng.IntN(len(a)-i)
		a[i], a[j] = a[j], a[i]
		it := e.build(a[i])
		if it == nil {
			continue
		}
		if e.emitNext(it) {
			active = append(active, it)
		}
	}
	// Further rounds: one more candidate per anchor tree each round.
	for len(active) > 0 {
		keep := active[:0]
		for _, it := range active {
			if len(e.out) >= e.limit {
				e.truncated = true
				return nil
			}
			if err := check(); err != nil {
				return err
			}
			if e.emitNext(it) {
				keep = append(keep, it)
			}
		}
		active = keep
	}
	return nil
}

// emitNext records the iterator's next distinct candidate; false when the
// iterator is exhausted.
func (e *engine) emitNext(it *anchorIter) bool {
	for e.next(it) {
		if e.dedup(it) {
			e.out = append(e.out, e.render(it))
			if e.rootSeen == nil {
				e.rootSeen = make([]bool, e.s.n)
			}
			for _, a := range it.acc {
				r := e.s.get(a.prov).root
				if !e.rootSeen[r] {
					e.rootSeen[r] = true
					e.roots = append(e.roots, r)
				}
			}
			return true
		}
	}
	return false
}

// dedup reports whether the current combination is new. Only combinations
// made of sharing providers alone can recur under another anchor.
func (e *engine) dedup(it *anchorIter) bool {
	if e.share == nil {
		return true
	}
	for _, a := range it.acc {
		if !e.s.get(a.prov).sharing {
			return true
		}
	}
	ar := e.render(it)
	var b strings.Builder
	for _, pr := range ar.Allocations {
		b.WriteString(pr.ProviderUUID)
		for _, r := range pr.Resources {
			b.WriteString("|" + r.Class + ":")
			b.WriteString(itoa(r.Amount))
		}
		b.WriteByte(';')
	}
	for _, m := range ar.Mappings {
		b.WriteString(m.Suffix + "=" + strings.Join(m.Providers, ",") + ";")
	}
	k := b.String()
	if e.seen == nil {
		e.seen = map[string]struct{}{}
	}
	if _, ok := e.seen[k]; ok {
		return false
	}
	e.seen[k] = struct{}{}
	return true
}

func itoa(n int64) string {
	var buf [20]byte
	i := len(buf)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}

func (e *engine) render(it *anchorIter) AllocationRequest {
	s := e.s
	acc := append(e.accBuf[:0], it.acc...)
	e.accBuf = acc
	slices.SortFunc(acc, func(a, b accEntry) int {
		if a.prov != b.prov {
			return strings.Compare(s.get(a.prov).uuid, s.get(b.prov).uuid)
		}
		return strings.Compare(s.rcNames[a.rc], s.rcNames[b.rc])
	})
	amounts := make([]ResourceAmount, len(acc))
	nprov := 0
	for i, a := range acc {
		amounts[i] = ResourceAmount{s.rcNames[a.rc], a.amt}
		if i == 0 || a.prov != acc[i-1].prov {
			nprov++
		}
	}
	allocs := make([]ProviderResources, 0, nprov)
	start := 0
	for i := 1; i <= len(acc); i++ {
		if i == len(acc) || acc[i].prov != acc[start].prov {
			allocs = append(allocs, ProviderResources{ProviderUUID: s.get(acc[start].prov).uuid, Resources: amounts[start:i:i]})
			start = i
		}
	}
	nmapped := 0
	for gi := range e.groups {
		nmapped += len(e.mappedProviders(it, gi))
	}
	names := make([]string, 0, nmapped)
	maps := make([]Mapping, len(e.groups))
	for gi, g := range e.groups {
		first := len(names)
		for _, p := range e.mappedProviders(it, gi) {
			names = append(names, s.get(p).uuid)
		}
		us := names[first:len(names):len(names)]
		if len(us) > 1 {
			slices.Sort(us)
			us = slices.Compact(us)
		}
		maps[gi] = Mapping{Suffix: g.suffix, Providers: us}
	}
	return AllocationRequest{Allocations: allocs, Mappings: maps}
}

func (e *engine) result() *CandidateResult {
	s := e.s
	res := &CandidateResult{AllocationRequests: e.out, Truncated: e.truncated}
	if len(e.out) == 0 {
		return res
	}
	var ids []int32
	nres := 0
	for _, r := range e.roots {
		e.treeBuf = e.treeOf(r, e.treeBuf)
		for _, p := range e.treeBuf {
			ids = append(ids, p)
			nres += len(s.get(p).inv)
		}
	}
	backing := make([]SummaryResource, 0, nres)
	sums := make([]ProviderSummary, len(ids))
	for i, p := range ids {
		n := s.get(p)
		start := len(backing)
		for _, r := range n.inv {
			backing = append(backing, SummaryResource{Class: s.rcNames[r.rc], Capacity: r.inv.Capacity(), Used: r.used})
		}
		rs := backing[start:len(backing):len(backing)]
		slices.SortFunc(rs, func(a, b SummaryResource) int { return strings.Compare(a.Class, b.Class) })
		ps := ProviderSummary{UUID: n.uuid, RootUUID: s.get(n.root).uuid, Resources: rs, Traits: n.traits}
		if n.parent >= 0 {
			ps.ParentUUID = s.get(n.parent).uuid
		}
		sums[i] = ps
	}
	res.ProviderSummaries = sums
	return res
}
