package placement

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestCandidatesDuringChurn queries while providers, trees, sharing and
// aggregates change underneath; every answer must be internally consistent.
func TestCandidatesDuringChurn(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 10; i++ {
		f.rp(fmt.Sprint("cn", i), "", invs("VCPU", 4))
		f.aggs(fmt.Sprint("cn", i), "s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 60 && ctx.Err() == nil; i++ {
			name := fmt.Sprint("ss", i%3)
			if _, err := f.ix.Provider(ctx, uid(name)); err == nil {
				_ = f.ix.DeleteProvider(ctx, uid(name))
				continue
			}
			must := func(err error) {
				// The queries may finish first and cancel ctx mid-iteration.
				if err != nil && ctx.Err() == nil {
					t.Errorf("churn %d: %v", i, err)
				}
			}
			_, err := f.ix.CreateProvider(ctx, ProviderSpec{UUID: uid(name), Name: name})
			must(err)
			_, _, err = f.ix.SetInventories(ctx, uid(name), 0, invs("DISK_GB", 100))
			must(err)
			_, err = f.ix.SetTraits(ctx, uid(name), 1, []string{TraitSharesViaAggregate})
			must(err)
			_, err = f.ix.SetAggregates(ctx, uid(name), 2, []string{uid("agg:s")})
			must(err)
			child := fmt.Sprint("c", i)
			_, err = f.ix.CreateProvider(ctx, ProviderSpec{UUID: uid(child), Name: child, ParentUUID: uid(fmt.Sprint("cn", i%10))})
			must(err)
			_, _, err = f.ix.SetInventories(ctx, uid(child), 0, invs("SRIOV_NET_VF", 2))
			must(err)
			_, _ = f.ix.UpdateProvider(ctx, uid(child), ProviderUpdate{Name: child, SetParent: true, ParentUUID: uid(fmt.Sprint("cn", (i+1)%10)), AllowReparenting: true})
		}
	}()
	queries := []*CandidateRequest{
		{Groups: []RequestGroup{{Resources: map[string]int64{"VCPU": 1, "DISK_GB": 10}}}},
		{Groups: []RequestGroup{{Resources: map[string]int64{"VCPU": 1}}, {Suffix: "1", Resources: map[string]int64{"SRIOV_NET_VF": 1}}, {Suffix: "2", Resources: map[string]int64{"DISK_GB": 1}}}, GroupPolicy: GroupPolicyIsolate},
	}
	for n := 0; ctx.Err() == nil && n < 300; n++ {
		res, err := f.ix.Candidates(ctx, queries[n%2])
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			t.Fatal(err)
		}
		checkFits(t, res)
	}
	cancel()
	wg.Wait()
}
