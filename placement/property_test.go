package placement

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

// world is a plain description of a small random provider forest.
type world struct {
	n      int
	parent []int
	inv    []map[string]Inventory
	used   []map[string]int64
	traits [][]string
	aggs   [][]string
}

var (
	propClasses = []string{"VCPU", "DISK_GB", "SRIOV_NET_VF"}
	propTraits  = []string{"CUSTOM_A", "CUSTOM_B", TraitSharesViaAggregate}
	propAggs    = []string{"a1", "a2"}
)

func pname(i int) string { return fmt.Sprint("p", i) }

func randomWorld(r *rand.Rand) *world {
	w := &world{n: 1 + r.IntN(7)}
	for i := 0; i < w.n; i++ {
		p := -1
		if i > 0 && r.IntN(2) == 0 {
			p = r.IntN(i)
		}
		w.parent = append(w.parent, p)
		inv := map[string]Inventory{}
		for _, c := range propClasses {
			if r.IntN(2) == 0 {
				in := NewInventory(int64(1 + r.IntN(5)))
				in.Reserved = int64(r.IntN(2))
				in.MaxUnit = int64(1 + r.IntN(5))
				in.StepSize = int64(1 + r.IntN(2))
				in.MinUnit = int64(1 + r.IntN(2))
				if r.IntN(4) == 0 {
					in.AllocationRatio = 1.5
				}
				inv[c] = in
			}
		}
		w.inv = append(w.inv, inv)
		var ts, as []string
		for _, t := range propTraits {
			if r.IntN(3) == 0 {
				ts = append(ts, t)
			}
		}
		for _, a := range propAggs {
			if r.IntN(2) == 0 {
				as = append(as, a)
			}
		}
		w.traits = append(w.traits, ts)
		w.aggs = append(w.aggs, as)
		w.used = append(w.used, map[string]int64{})
	}
	return w
}

func (w *world) load(t *testing.T, r *rand.Rand) *fixture {
	f := newFixture(t)
	for _, tr := range propTraits {
		if IsCustomName(tr) {
			f.ix.CreateTrait(f.ctx, tr)
		}
	}
	for i := 0; i < w.n; i++ {
		par := ""
		if w.parent[i] >= 0 {
			par = pname(w.parent[i])
		}
		f.rp(pname(i), par, w.inv[i], w.traits[i]...)
		f.aggs(pname(i), w.aggs[i]...)
	}
	// Random usage through real claims.
	for i := 0; i < w.n; i++ {
		for c, in := range w.inv[i] {
			amt := in.MinUnit * int64(1+r.IntN(2))
			amt -= amt % in.StepSize
			if amt < in.MinUnit || r.IntN(2) == 0 {
				continue
			}
			ca := alloc("p", nil, pname(i), c, int(amt))
			if f.ix.SetAllocations(f.ctx, map[string]ConsumerAllocations{uid(fmt.Sprint("u", i, c)): ca}) == nil {
				w.used[i][c] = amt
			}
		}
	}
	return f
}

func randomRequest(r *rand.Rand, w *world) *CandidateRequest {
	req := &CandidateRequest{Seed: r.Uint64()}
	var sfx []string
	if r.IntN(5) < 3 {
		sfx = append(sfx, "")
	}
	for i := 1; i <= r.IntN(3); i++ {
		sfx = append(sfx, fmt.Sprint(i))
	}
	if len(sfx) == 0 {
		sfx = []string{""}
	}
	for _, s := range sfx {
		g := RequestGroup{Suffix: s, Resources: map[string]int64{}}
		for _, c := range propClasses {
			if r.IntN(3) == 0 {
				g.Resources[c] = int64(1 + r.IntN(2))
			}
		}
		if len(g.Resources) == 0 {
			g.Resources[propClasses[r.IntN(3)]] = 1
		}
		if r.IntN(3) == 0 {
			g.RequiredTraits = append(g.RequiredTraits, []string{"CUSTOM_A"})
		}
		if r.IntN(4) == 0 {
			g.RequiredTraits = append(g.RequiredTraits, []string{"CUSTOM_A", "CUSTOM_B"})
		}
		if r.IntN(4) == 0 {
			g.ForbiddenTraits = []string{"CUSTOM_B"}
		}
		if r.IntN(4) == 0 {
			g.MemberOf = [][]string{{uid("agg:a1")}}
		}
		if r.IntN(5) == 0 {
			g.MemberOf = append(g.MemberOf, []string{uid("agg:a1"), uid("agg:a2")})
		}
		if r.IntN(5) == 0 {
			g.ForbiddenAggregates = []string{uid("agg:a2")}
		}
		if r.IntN(7) == 0 {
			g.InTree = uid(pname(r.IntN(w.n)))
		}
		req.Groups = append(req.Groups, g)
	}
	req.GroupPolicy = []string{GroupPolicyNone, GroupPolicyIsolate}[r.IntN(2)]
	var gran []string
	for _, s := range sfx {
		if s != "" {
			gran = append(gran, s)
		}
	}
	if len(gran) == 2 && r.IntN(3) == 0 {
		req.SameSubtree = [][]string{gran}
		if r.IntN(2) == 0 { // make one of them resourceless
			for i := range req.Groups {
				if req.Groups[i].Suffix == gran[1] {
					req.Groups[i].Resources = nil
				}
			}
		}
	}
	if r.IntN(5) == 0 {
		req.RootRequired = []string{"CUSTOM_A"}
	}
	if r.IntN(5) == 0 {
		req.RootForbidden = []string{"CUSTOM_B"}
	}
	req.ExcludeNested = r.IntN(5) == 0
	return req
}

// bruteForce enumerates every combination of providers for every anchor and
// keeps those satisfying Placement's rules, as rendered keys.
func bruteForce(w *world, f *fixture, req *CandidateRequest) []string {
	root := func(p int) int {
		for w.parent[p] >= 0 {
			p = w.parent[p]
		}
		return p
	}
	has := func(p int, t string) bool { return slices.Contains(w.traits[p], t) }
	inAgg := func(p int, a string) bool { return slices.Contains(w.aggs[p], strings.TrimPrefix(a, "")) }
	aggName := map[string]string{uid("agg:a1"): "a1", uid("agg:a2"): "a2"}
	memberOK := func(p int, mo [][]string) bool {
		for _, any := range mo {
			ok := false
			for _, a := range any {
				ok = ok || inAgg(p, aggName[a])
			}
			if !ok {
				return false
			}
		}
		return true
	}
	forbAgg := func(p int, fa []string) bool {
		for _, a := range fa {
			if inAgg(p, aggName[a]) {
				return true
			}
		}
		return false
	}
	sharesWith := func(p, r int) bool {
		if !has(p, TraitSharesViaAggregate) {
			return false
		}
		for q := 0; q < w.n; q++ {
			if root(q) != r {
				continue
			}
			for _, a := range w.aggs[p] {
				if inAgg(q, a) {
					return true
				}
			}
		}
		return false
	}
	fitsAmt := func(p int, c string, amt int64) bool {
		in, ok := w.inv[p][c]
		return ok && in.Fits(w.used[p][c], amt)
	}
	treeRoot := func(u string) int {
		for p := 0; p < w.n; p++ {
			if uid(pname(p)) == u {
				return root(p)
			}
		}
		return -1
	}
	groups := slices.Clone(req.Groups)
	sort.Slice(groups, func(i, j int) bool { return groups[i].Suffix < groups[j].Suffix })
	// choice for one group: provider per class (sorted classes).
	type choice struct{ provs []int }
	classesOf := func(g RequestGroup) []string {
		var cs []string
		for c := range g.Resources {
			cs = append(cs, c)
		}
		sort.Strings(cs)
		return cs
	}
	seen := map[string]bool{}
	var out []string
	for R := 0; R < w.n; R++ {
		if w.parent[R] >= 0 {
			continue
		}
		okRoot := true
		for _, t := range req.RootRequired {
			okRoot = okRoot && has(R, t)
		}
		for _, t := range req.RootForbidden {
			okRoot = okRoot && !has(R, t)
		}
		if !okRoot {
			continue
		}
		var per [][]choice
		for _, g := range groups {
			cs := classesOf(g)
			tr := -1
			if g.InTree != "" {
				tr = treeRoot(g.InTree)
			}
			var chs []choice
			if g.Suffix != "" {
				for p := 0; p < w.n; p++ {
					if !(root(p) == R || sharesWith(p, R)) || g.InTree != "" && root(p) != tr {
						continue
					}
					ok := memberOK(p, g.MemberOf) && !forbAgg(p, g.ForbiddenAggregates)
					for _, c := range cs {
						ok = ok && fitsAmt(p, c, g.Resources[c])
					}
					for _, any := range g.RequiredTraits {
						a := false
						for _, t := range any {
							a = a || has(p, t)
						}
						ok = ok && a
					}
					for _, t := range g.ForbiddenTraits {
						ok = ok && !has(p, t)
					}
					if ok {
						chs = append(chs, choice{[]int{p}})
					}
				}
			} else {
				// every assignment of providers to classes
				idx := make([]int, len(cs))
				for {
					ok := true
					for i, c := range cs {
						p := idx[i]
						inTree := root(p) == R
						if !inTree && (!sharesWith(p, R) || g.InTree != "" || !memberOK(p, g.MemberOf)) {
							ok = false
						}
						if inTree && g.InTree != "" && tr != R {
							ok = false
						}
						if !(memberOK(p, g.MemberOf) || memberOK(R, g.MemberOf)) || forbAgg(p, g.ForbiddenAggregates) || forbAgg(R, g.ForbiddenAggregates) {
							ok = false
						}
						ok = ok && fitsAmt(p, c, g.Resources[c])
						for _, t := range g.ForbiddenTraits {
							ok = ok && !has(p, t)
						}
					}
					for _, any := range g.RequiredTraits {
						a := false
						for _, t := range any {
							for _, p := range idx {
								a = a || has(p, t)
							}
						}
						ok = ok && a
					}
					if ok {
						chs = append(chs, choice{slices.Clone(idx)})
					}
					k := 0
					for k < len(idx) {
						idx[k]++
						if idx[k] < w.n {
							break
						}
						idx[k] = 0
						k++
					}
					if k == len(idx) {
						break
					}
				}
			}
			per = append(per, chs)
		}
		// product
		pick := make([]int, len(groups))
		var rec func(gi int)
		rec = func(gi int) {
			if gi < len(groups) {
				for i := range per[gi] {
					pick[gi] = i
					rec(gi + 1)
				}
				return
			}
			amounts := map[[2]string]int64{}
			var granProvs []int
			mapped := map[string][]int{}
			for gi, g := range groups {
				ch := per[gi][pick[gi]]
				for i, c := range classesOf(g) {
					p := ch.provs[0]
					if g.Suffix == "" {
						p = ch.provs[i]
					}
					amounts[[2]string{pname(p), c}] += g.Resources[c]
					mapped[g.Suffix] = append(mapped[g.Suffix], p)
				}
				if g.Suffix != "" {
					granProvs = append(granProvs, ch.provs[0])
					if len(g.Resources) == 0 {
						mapped[g.Suffix] = []int{ch.provs[0]}
					}
				}
			}
			if req.GroupPolicy == GroupPolicyIsolate {
				s := slices.Clone(granProvs)
				slices.Sort(s)
				if len(slices.Compact(s)) != len(granProvs) {
					return
				}
			}
			var usedProvs []int
			for k, amt := range amounts {
				var p int
				fmt.Sscanf(k[0], "p%d", &p)
				in := w.inv[p][k[1]]
				if amt > in.MaxUnit || w.used[p][k[1]]+amt > in.Capacity() {
					return
				}
				usedProvs = append(usedProvs, p)
			}
			for _, set := range req.SameSubtree {
				var ps []int
				for _, s := range set {
					ps = append(ps, mapped[s]...)
				}
				anc := func(a, b int) bool {
					for ; b >= 0; b = w.parent[b] {
						if a == b {
							return true
						}
					}
					return false
				}
				ok := false
				for _, a := range ps {
					all := true
					for _, b := range ps {
						all = all && anc(a, b)
					}
					ok = ok || all
				}
				if !ok {
					return
				}
			}
			if req.ExcludeNested {
				for _, a := range usedProvs {
					for _, b := range usedProvs {
						if a != b && root(a) == root(b) {
							return
						}
					}
				}
			}
			ar := AllocationRequest{}
			byProv := map[string][]ResourceAmount{}
			for k, amt := range amounts {
				byProv[uid(k[0])] = append(byProv[uid(k[0])], ResourceAmount{k[1], amt})
			}
			for u, rs := range byProv {
				sort.Slice(rs, func(i, j int) bool { return rs[i].Class < rs[j].Class })
				ar.Allocations = append(ar.Allocations, ProviderResources{u, rs})
			}
			for _, g := range groups {
				var us []string
				for _, p := range mapped[g.Suffix] {
					us = append(us, uid(pname(p)))
				}
				slices.Sort(us)
				us = slices.Compact(us)
				ar.Mappings = append(ar.Mappings, Mapping{g.Suffix, us})
			}
			key := f.renderOne(ar)
			if !seen[key] {
				seen[key] = true
				out = append(out, key)
			}
		}
		rec(0)
	}
	sort.Strings(out)
	return out
}

func TestCandidatesMatchBruteForce(t *testing.T) {
	iters := 1500
	if testing.Short() {
		iters = 300
	}
	nonEmpty := 0
	for seed := 0; seed < iters; seed++ {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		w := randomWorld(r)
		f := w.load(t, r)
		for k := 0; k < 5; k++ {
			req := randomRequest(r, w)
			res, err := f.ix.Candidates(f.ctx, req)
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			checkFits(t, res)
			got := f.render(res)
			want := bruteForce(w, f, req)
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d request %d %+v:\n got  %q\n want %q", seed, k, req, got, want)
			}
			if len(want) > 0 {
				nonEmpty++
			}
			// A limit returns a subset of exactly min(limit, all) candidates.
			if len(want) > 1 {
				lim := *req
				lim.Limit = 1 + r.IntN(len(want)-1)
				lres, err := f.ix.Candidates(f.ctx, &lim)
				if err != nil {
					t.Fatal(err)
				}
				lgot := f.render(lres)
				if len(lgot) != lim.Limit || !lres.Truncated {
					t.Fatalf("seed %d: limit %d gave %d", seed, lim.Limit, len(lgot))
				}
				for _, c := range lgot {
					if _, ok := slices.BinarySearch(want, c); !ok {
						t.Fatalf("seed %d: limited candidate %s not in the full set", seed, c)
					}
				}
			}
		}
	}
	if nonEmpty < iters/4 {
		t.Errorf("only %d of %d random requests had candidates; the generator is too strict", nonEmpty, iters*5)
	}
	t.Logf("%d non-empty answers", nonEmpty)
}
