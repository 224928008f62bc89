package placement

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func gen(g int64) *int64 { return &g }

func alloc(project string, g *int64, kv ...any) ConsumerAllocations {
	ca := ConsumerAllocations{Project: project, User: "u", ConsumerType: ConsumerTypeInstance, Generation: g,
		Allocations: map[string]map[string]int64{}}
	for i := 0; i < len(kv); i += 3 {
		rp := uid(kv[i].(string))
		if ca.Allocations[rp] == nil {
			ca.Allocations[rp] = map[string]int64{}
		}
		ca.Allocations[rp][kv[i+1].(string)] = int64(kv[i+2].(int))
	}
	return ca
}

func TestProviderLifecycle(t *testing.T) {
	f := newFixture(t)
	root := f.rp("root", "", nil)
	f.rp("child", "root", nil)
	f.rp("grandchild", "child", nil)
	if _, err := f.ix.CreateProvider(f.ctx, ProviderSpec{Name: "root"}); !errors.Is(err, ErrDuplicateName) || ErrorCode(err) != CodeDuplicateName {
		t.Errorf("duplicate name: %v", err)
	}
	if _, err := f.ix.CreateProvider(f.ctx, ProviderSpec{Name: "x", UUID: root}); !errors.Is(err, ErrDuplicateName) {
		t.Errorf("duplicate uuid: %v", err)
	}
	if _, err := f.ix.CreateProvider(f.ctx, ProviderSpec{Name: "x", ParentUUID: uid("nope")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown parent: %v", err)
	}
	gc, _ := f.ix.Provider(f.ctx, uid("grandchild"))
	if gc.RootUUID != root || gc.ParentUUID != uid("child") {
		t.Errorf("grandchild %+v", gc)
	}
	if err := f.ix.DeleteProvider(f.ctx, uid("child")); !errors.Is(err, ErrCannotDeleteParent) || ErrorCode(err) != CodeCannotDeleteParent {
		t.Errorf("delete parent: %v", err)
	}
	// Reparenting rules.
	if _, err := f.ix.UpdateProvider(f.ctx, uid("child"), ProviderUpdate{Name: "child", SetParent: true}); !errors.Is(err, ErrInvalid) {
		t.Errorf("un-parent before 1.37: %v", err)
	}
	if _, err := f.ix.UpdateProvider(f.ctx, uid("child"), ProviderUpdate{Name: "child", SetParent: true, ParentUUID: uid("grandchild"), AllowReparenting: true}); !errors.Is(err, ErrInvalid) {
		t.Errorf("loop: %v", err)
	}
	f.rp("other", "", nil)
	if _, err := f.ix.UpdateProvider(f.ctx, uid("child"), ProviderUpdate{Name: "child", SetParent: true, ParentUUID: uid("other")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("re-parent before 1.37: %v", err)
	}
	if _, err := f.ix.UpdateProvider(f.ctx, uid("child"), ProviderUpdate{Name: "child2", SetParent: true, ParentUUID: uid("other"), AllowReparenting: true}); err != nil {
		t.Fatal(err)
	}
	gc, _ = f.ix.Provider(f.ctx, uid("grandchild"))
	if gc.RootUUID != uid("other") {
		t.Errorf("subtree root after move: %+v", gc)
	}
	if _, err := f.ix.UpdateProvider(f.ctx, uid("child"), ProviderUpdate{Name: "child2", SetParent: true, AllowReparenting: true}); err != nil {
		t.Fatal(err)
	}
	gc, _ = f.ix.Provider(f.ctx, uid("grandchild"))
	if gc.RootUUID != uid("child") {
		t.Errorf("un-parented: %+v", gc)
	}
	// A root may gain a parent before 1.37.
	if _, err := f.ix.UpdateProvider(f.ctx, uid("child"), ProviderUpdate{Name: "child2", SetParent: true, ParentUUID: root}); err != nil {
		t.Errorf("parent a root: %v", err)
	}
	if _, err := f.ix.UpdateProvider(f.ctx, root, ProviderUpdate{Name: "other"}); !errors.Is(err, ErrDuplicateName) {
		t.Errorf("rename to a taken name: %v", err)
	}
	list, _ := f.ix.Providers(f.ctx, ProviderFilter{InTree: uid("grandchild")})
	if len(list) != 3 {
		t.Errorf("in_tree list: %+v", list)
	}
	if err := f.ix.DeleteProvider(f.ctx, uid("grandchild")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ix.Provider(f.ctx, uid("grandchild")); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted: %v", err)
	}
	// Re-creating a deleted uuid works and gets a fresh provider.
	if p, err := f.ix.CreateProvider(f.ctx, ProviderSpec{UUID: uid("grandchild"), Name: "gc2"}); err != nil || p.Generation != 0 || p.RootUUID != p.UUID {
		t.Errorf("re-create: %+v %v", p, err)
	}
}

func TestGenerations(t *testing.T) {
	f := newFixture(t)
	rp := f.rp("cn", "", nil)
	g, _, err := f.ix.SetInventories(f.ctx, rp, 0, invs("VCPU", 4))
	if err != nil || g != 1 {
		t.Fatalf("%d %v", g, err)
	}
	if _, _, err := f.ix.SetInventories(f.ctx, rp, 0, invs("VCPU", 8)); !errors.Is(err, ErrGenerationConflict) || ErrorCode(err) != CodeConcurrentUpdate {
		t.Errorf("stale inventory write: %v", err)
	}
	if _, err := f.ix.SetTraits(f.ctx, rp, 0, []string{"HW_CPU_X86_AVX2"}); !errors.Is(err, ErrGenerationConflict) {
		t.Errorf("stale traits: %v", err)
	}
	if g, err = f.ix.SetTraits(f.ctx, rp, 1, []string{"HW_CPU_X86_AVX2"}); err != nil || g != 2 {
		t.Errorf("traits: %d %v", g, err)
	}
	if _, err := f.ix.SetTraits(f.ctx, rp, 2, []string{"CUSTOM_MISSING"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown trait: %v", err)
	}
	if g, err = f.ix.SetAggregates(f.ctx, rp, AnyGeneration, []string{uid("a")}); err != nil || g != 2 {
		t.Errorf("pre-1.19 aggregates: %d %v", g, err)
	}
	if _, err := f.ix.SetAggregates(f.ctx, rp, 1, nil); !errors.Is(err, ErrGenerationConflict) {
		t.Errorf("stale aggregates: %v", err)
	}
	if g, err = f.ix.SetAggregates(f.ctx, rp, 2, nil); err != nil || g != 3 {
		t.Errorf("aggregates: %d %v", g, err)
	}
	// Allocations bump the generation of providers that receive them.
	if err := f.ix.SetAllocations(f.ctx, map[string]ConsumerAllocations{uid("c1"): alloc("p", nil, "cn", "VCPU", 2)}); err != nil {
		t.Fatal(err)
	}
	p, _ := f.ix.Provider(f.ctx, rp)
	if p.Generation != 4 {
		t.Errorf("generation after allocation: %d", p.Generation)
	}
	// Inventory in use cannot vanish; shrinking below usage is reported.
	if _, _, err := f.ix.SetInventories(f.ctx, rp, 4, invs("DISK_GB", 4)); !errors.Is(err, ErrInventoryInUse) || ErrorCode(err) != CodeInventoryInUse {
		t.Errorf("remove class in use: %v", err)
	}
	g, over, err := f.ix.SetInventories(f.ctx, rp, 4, invs("VCPU", 1))
	if err != nil || g != 5 || len(over) != 1 || over[0] != "VCPU" {
		t.Errorf("shrink below usage: %d %v %v", g, over, err)
	}
	if err := f.ix.DeleteProvider(f.ctx, rp); !errors.Is(err, ErrProviderInUse) || ErrorCode(err) != CodeProviderInUse {
		t.Errorf("delete in use: %v", err)
	}
	bad := inv(4)
	bad.Reserved = 5
	if _, _, err := f.ix.SetInventories(f.ctx, rp, 5, invs("VCPU", bad)); !errors.Is(err, ErrInvalid) {
		t.Errorf("reserved > total: %v", err)
	}
	if _, _, err := f.ix.SetInventories(f.ctx, rp, 5, invs("CUSTOM_X", 1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown class: %v", err)
	}
}

func TestConsumerGenerations(t *testing.T) {
	f := newFixture(t)
	f.rp("cn", "", invs("VCPU", 8, "MEMORY_MB", 1024))
	c := uid("c")
	set := func(ca ConsumerAllocations) error {
		return f.ix.SetAllocations(f.ctx, map[string]ConsumerAllocations{c: ca})
	}
	if err := set(alloc("p", gen(0), "cn", "VCPU", 1)); !errors.Is(err, ErrConsumerGenerationConflict) || ErrorCode(err) != CodeConcurrentUpdate {
		t.Errorf("generation for a new consumer: %v", err)
	}
	if err := set(alloc("p", nil, "cn", "VCPU", 1)); err != nil {
		t.Fatal(err)
	}
	if err := set(alloc("p", nil, "cn", "VCPU", 2)); !errors.Is(err, ErrConsumerGenerationConflict) {
		t.Errorf("null for an existing consumer: %v", err)
	}
	if err := set(alloc("p", gen(2), "cn", "VCPU", 2)); !errors.Is(err, ErrConsumerGenerationConflict) {
		t.Errorf("stale generation: %v", err)
	}
	if err := set(alloc("p", gen(1), "cn", "VCPU", 2, "cn", "MEMORY_MB", 512)); err != nil {
		t.Fatal(err)
	}
	co, err := f.ix.Consumer(f.ctx, c)
	if err != nil || co.Generation != 2 || co.Allocations[uid("cn")].Resources["VCPU"] != 2 || co.ConsumerType != ConsumerTypeInstance {
		t.Errorf("consumer: %+v %v", co, err)
	}
	u, _, _ := f.ix.ProviderUsages(f.ctx, uid("cn"))
	if u["VCPU"] != 2 || u["MEMORY_MB"] != 512 {
		t.Errorf("usages %v", u)
	}
	us, _ := f.ix.Usages(f.ctx, UsageFilter{Project: "p"})
	if len(us) != 1 || us[0].ConsumerCount != 1 || us[0].Resources["VCPU"] != 2 {
		t.Errorf("project usages %+v", us)
	}
	skip := alloc("p", nil, "cn", "VCPU", 3)
	skip.SkipGenerationCheck = true
	if err := set(skip); err != nil {
		t.Errorf("pre-1.28 write: %v", err)
	}
	// Empty allocations with the right generation delete the consumer.
	if err := set(alloc("p", gen(3))); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ix.Consumer(f.ctx, c); !errors.Is(err, ErrNotFound) {
		t.Errorf("consumer should be gone: %v", err)
	}
	u, _, _ = f.ix.ProviderUsages(f.ctx, uid("cn"))
	if u["VCPU"] != 0 {
		t.Errorf("usage after delete %v", u)
	}
}

func TestSetAllocationsAtomicAndChecked(t *testing.T) {
	f := newFixture(t)
	st := inv(8)
	st.StepSize = 2
	f.rp("a", "", invs("VCPU", 4, "MEMORY_MB", st))
	f.rp("b", "", invs("VCPU", 4))
	cases := []struct {
		name string
		req  map[string]ConsumerAllocations
		want error
	}{
		{"over capacity on the second provider", map[string]ConsumerAllocations{uid("x"): alloc("p", nil, "a", "VCPU", 1, "b", "VCPU", 5)}, ErrCapacityExceeded},
		{"sum over consumers", map[string]ConsumerAllocations{uid("x"): alloc("p", nil, "a", "VCPU", 3), uid("y"): alloc("p", nil, "a", "VCPU", 2)}, ErrCapacityExceeded},
		{"step", map[string]ConsumerAllocations{uid("x"): alloc("p", nil, "a", "MEMORY_MB", 3)}, ErrCapacityExceeded},
		{"no inventory", map[string]ConsumerAllocations{uid("x"): alloc("p", nil, "b", "MEMORY_MB", 2)}, ErrCapacityExceeded},
		{"unknown provider", map[string]ConsumerAllocations{uid("x"): alloc("p", nil, "zz", "VCPU", 1)}, ErrInvalid},
		{"unknown class", map[string]ConsumerAllocations{uid("x"): alloc("p", nil, "a", "CUSTOM_NO", 1)}, ErrInvalid},
		{"zero amount", map[string]ConsumerAllocations{uid("x"): alloc("p", nil, "a", "VCPU", 0)}, ErrInvalid},
		{"bad consumer", map[string]ConsumerAllocations{"nope": alloc("p", nil, "a", "VCPU", 1)}, ErrInvalid},
	}
	for _, tc := range cases {
		if err := f.ix.SetAllocations(f.ctx, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		for _, rp := range []string{"a", "b"} {
			u, g, _ := f.ix.ProviderUsages(f.ctx, uid(rp))
			if u["VCPU"] != 0 || g != 1 {
				t.Errorf("%s: partial write on %s: %v gen %d", tc.name, rp, u, g)
			}
		}
	}
	// Moving allocations between consumers atomically (the migration dance).
	if err := f.ix.SetAllocations(f.ctx, map[string]ConsumerAllocations{uid("inst"): alloc("p", nil, "a", "VCPU", 4)}); err != nil {
		t.Fatal(err)
	}
	mig := alloc("p", nil, "a", "VCPU", 4)
	mig.ConsumerType = ConsumerTypeMigration
	if err := f.ix.SetAllocations(f.ctx, map[string]ConsumerAllocations{uid("mig"): mig, uid("inst"): alloc("p", gen(1), "b", "VCPU", 4)}); err != nil {
		t.Fatalf("move: %v", err)
	}
	us, _ := f.ix.Usages(f.ctx, UsageFilter{Project: "p"})
	if len(us) != 2 || us[0].ConsumerType != ConsumerTypeInstance || us[1].ConsumerType != ConsumerTypeMigration {
		t.Errorf("usages by type %+v", us)
	}
	pa, _, _ := f.ix.ProviderAllocations(f.ctx, uid("a"))
	if len(pa) != 1 || pa[uid("mig")]["VCPU"] != 4 {
		t.Errorf("provider allocations %v", pa)
	}
	if err := f.ix.DeleteAllocations(f.ctx, uid("mig")); err != nil {
		t.Fatal(err)
	}
	if err := f.ix.DeleteAllocations(f.ctx, uid("mig")); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestReshape(t *testing.T) {
	f := newFixture(t)
	f.rp("cn", "", invs("VGPU", 4))
	f.rp("gpu", "cn", nil)
	if err := f.ix.SetAllocations(f.ctx, map[string]ConsumerAllocations{uid("c"): alloc("p", nil, "cn", "VGPU", 2)}); err != nil {
		t.Fatal(err)
	}
	// Move the VGPU inventory and its allocation from cn to its child.
	err := f.ix.Reshape(f.ctx, map[string]InventoryUpdate{
		uid("cn"):  {Generation: 2, Inventories: nil},
		uid("gpu"): {Generation: 0, Inventories: invs("VGPU", 4)},
	}, map[string]ConsumerAllocations{uid("c"): alloc("p", gen(1), "gpu", "VGPU", 2)})
	if err != nil {
		t.Fatal(err)
	}
	u, _, _ := f.ix.ProviderUsages(f.ctx, uid("gpu"))
	if u["VGPU"] != 2 {
		t.Errorf("reshaped usage %v", u)
	}
	// A failing reshape changes nothing.
	err = f.ix.Reshape(f.ctx, map[string]InventoryUpdate{uid("gpu"): {Generation: 2, Inventories: nil}}, nil)
	if !errors.Is(err, ErrInventoryInUse) {
		t.Errorf("reshape dropping used inventory: %v", err)
	}
}

// TestNoOvercommitUnderRace races 64 claimers for the last units of capacity.
func TestNoOvercommitUnderRace(t *testing.T) {
	f := newFixture(t)
	cap := int64(10)
	f.rp("cn", "", invs("VCPU", int(cap)+6))
	f.rp("shared", "", invs("DISK_GB", 100))
	// Use 6 units first so the race is for the last 10.
	if err := f.ix.SetAllocations(f.ctx, map[string]ConsumerAllocations{uid("pre"): alloc("p", nil, "cn", "VCPU", 6)}); err != nil {
		t.Fatal(err)
	}
	const claimers = 64
	var ok, full atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < claimers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			c := uid(fmt.Sprint("claimer", i))
			// Each claim also touches a second provider, so the claim is
			// atomic across providers.
			err := f.ix.SetAllocations(f.ctx, map[string]ConsumerAllocations{c: alloc("p", nil, "cn", "VCPU", 1, "shared", "DISK_GB", 1)})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrCapacityExceeded), errors.Is(err, ErrGenerationConflict):
				full.Add(1)
			default:
				t.Errorf("claimer %d: %v", i, err)
			}
			// A reader in the middle of the race always sees a consistent,
			// never overcommitted snapshot.
			if u, _, _ := f.ix.ProviderUsages(f.ctx, uid("cn")); u["VCPU"] > cap+6 {
				t.Errorf("overcommit seen: %d", u["VCPU"])
			}
		}(i)
	}
	close(start)
	wg.Wait()
	if ok.Load() != cap || full.Load() != claimers-cap {
		t.Errorf("%d claims succeeded and %d failed; want %d and %d", ok.Load(), full.Load(), cap, claimers-cap)
	}
	u, _, _ := f.ix.ProviderUsages(f.ctx, uid("cn"))
	d, _, _ := f.ix.ProviderUsages(f.ctx, uid("shared"))
	if u["VCPU"] != cap+6 || d["DISK_GB"] != cap {
		t.Errorf("final usage VCPU %d DISK_GB %d", u["VCPU"], d["DISK_GB"])
	}
	res, err := f.ix.Candidates(f.ctx, &CandidateRequest{Groups: []RequestGroup{{Resources: map[string]int64{"VCPU": 1}}}})
	if err != nil || len(res.AllocationRequests) != 0 {
		t.Errorf("candidates after the race: %v %d", err, len(res.AllocationRequests))
	}
}

// TestCandidatesDuringWrites runs searches while claims land: every answer
// comes from one snapshot, so no candidate exceeds capacity as of its own
// summaries.
func TestCandidatesDuringWrites(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 20; i++ {
		f.rp(fmt.Sprint("cn", i), "", invs("VCPU", 4))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 80; i++ {
			_ = f.ix.SetAllocations(f.ctx, map[string]ConsumerAllocations{uid(fmt.Sprint("w", i)): alloc("p", nil, fmt.Sprint("cn", i%20), "VCPU", 1)})
		}
		close(stop)
	}()
	for done := false; !done; {
		select {
		case <-stop:
			done = true
		default:
		}
		res, err := f.ix.Candidates(f.ctx, &CandidateRequest{Groups: []RequestGroup{{Resources: map[string]int64{"VCPU": 2}}}})
		if err != nil {
			t.Fatal(err)
		}
		checkFits(t, res)
	}
	wg.Wait()
}

// checkFits verifies each candidate against the summaries of its own answer.
func checkFits(t *testing.T, res *CandidateResult) {
	t.Helper()
	sum := map[string]map[string]SummaryResource{}
	for _, s := range res.ProviderSummaries {
		m := map[string]SummaryResource{}
		for _, r := range s.Resources {
			m[r.Class] = r
		}
		sum[s.UUID] = m
	}
	for _, ar := range res.AllocationRequests {
		for _, pr := range ar.Allocations {
			for _, r := range pr.Resources {
				s, ok := sum[pr.ProviderUUID][r.Class]
				if !ok || s.Used+r.Amount > s.Capacity {
					t.Fatalf("candidate exceeds capacity: %+v vs %+v", r, s)
				}
			}
		}
	}
}

func TestSameConsumerTwiceInOneWrite(t *testing.T) {
	f := newFixture(t)
	f.rp("cn", "", invs("VCPU", 4))
	c := uid("c")
	err := f.ix.SetAllocations(f.ctx, map[string]ConsumerAllocations{
		c: alloc("p", nil, "cn", "VCPU", 1), strings.ToUpper(c): alloc("p", nil, "cn", "VCPU", 1)})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("same consumer in two spellings: %v", err)
	}
}
