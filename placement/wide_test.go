package placement

import (
	"context"
	"net/url"
	"testing"
)

// runEngine is Candidates, returning the engine so tests can see the work.
func runEngine(t *testing.T, ix *Index, query string) *engine {
	t.Helper()
	q, _ := url.ParseQuery(query)
	req, err := ParseCandidateQuery(q, MaxVersion())
	if err != nil {
		t.Fatal(err)
	}
	e, err := ix.prepare(ix.snap.Load(), req)
	if err != nil || e == nil {
		t.Fatalf("prepare: %v", err)
	}
	if err := e.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// The shape of Placement bug 2126751: eight children with the same class and
// six granular groups. Work must stay far below the 8^6 = 262,144
// combinations a plain cartesian product walks.
func TestWideTreeWorkIsBounded(t *testing.T) {
	free5 := wideTree(t, 1, func(c int) int {
		if c < 5 {
			return 1
		}
		return 0
	})
	e := runEngine(t, free5, wideQuery+"&group_policy=none")
	if len(e.out) != 0 || e.visited > 2000 {
		t.Errorf("infeasible: %d candidates after %d partial combinations", len(e.out), e.visited)
	}
	t.Logf("infeasible: %d partial combinations", e.visited)
	roomy := wideTree(t, 1, func(int) int { return 8 })
	e = runEngine(t, roomy, wideQuery+"&group_policy=none&limit=1000")
	if len(e.out) != 1000 || e.visited > 2000 {
		t.Errorf("limit 1000: %d candidates after %d partial combinations", len(e.out), e.visited)
	}
	one := wideTree(t, 1, func(int) int { return 1 })
	e = runEngine(t, one, wideQuery+"&group_policy=isolate")
	if len(e.out) != 8*7*6*5*4*3 {
		t.Errorf("isolate: %d candidates", len(e.out))
	}
	t.Logf("isolate, all 20160: %d partial combinations", e.visited)
	checkFits(t, e.result())
}

func TestMaxCandidates(t *testing.T) {
	f := newFixture(t)
	f.ix = New(Options{MaxCandidates: 5})
	for i := 0; i < 20; i++ {
		f.rp("cn"+itoa(int64(i)), "", invs("VCPU", 1))
	}
	res, err := f.query("resources=VCPU:1&limit=10", v139)
	if err != nil || len(res.AllocationRequests) != 5 || !res.Truncated {
		t.Errorf("%v %d", err, len(res.AllocationRequests))
	}
	res, _ = f.query("resources=VCPU:1&limit=3", v139)
	if len(res.AllocationRequests) != 3 || len(res.ProviderSummaries) != 3 {
		t.Errorf("limit 3: %d candidates, %d summaries", len(res.AllocationRequests), len(res.ProviderSummaries))
	}
}
