package placement_test

import (
	"context"
	"fmt"
	"net/url"

	"github.com/novakit/novakit/placement"
)

// A compute node with an SR-IOV NIC as a child provider, and a claim for
// the candidate the scheduler picked.
func Example() {
	ctx := context.Background()
	ix := placement.New(placement.Options{})

	cn, _ := ix.CreateProvider(ctx, placement.ProviderSpec{UUID: "c0000000-0000-4000-8000-000000000001", Name: "cn1"})
	nic, _ := ix.CreateProvider(ctx, placement.ProviderSpec{UUID: "c0000000-0000-4000-8000-000000000002", Name: "cn1-pf0", ParentUUID: cn.UUID})
	ix.SetInventories(ctx, cn.UUID, cn.Generation, map[string]placement.Inventory{
		"VCPU": {Total: 8, MinUnit: 1, MaxUnit: 8, StepSize: 1, AllocationRatio: 4},
	})
	ix.SetInventories(ctx, nic.UUID, nic.Generation, map[string]placement.Inventory{
		"SRIOV_NET_VF": placement.NewInventory(4),
	})

	q, _ := url.ParseQuery("resources=VCPU:2&resources_NET=SRIOV_NET_VF:1&limit=10")
	req, err := placement.ParseCandidateQuery(q, placement.Version{Major: 1, Minor: 39})
	if err != nil {
		fmt.Println(err)
		return
	}
	req.Seed = 42 // e.g. derived from the request id
	res, _ := ix.Candidates(ctx, req)
	for _, ar := range res.AllocationRequests {
		for _, pr := range ar.Allocations {
			fmt.Println(pr.ProviderUUID, pr.Resources)
		}
		fmt.Println("mappings:", ar.Mappings)
	}

	// Claim the first candidate for a new consumer (generation nil).
	claim := map[string]map[string]int64{}
	for _, pr := range res.AllocationRequests[0].Allocations {
		claim[pr.ProviderUUID] = map[string]int64{}
		for _, r := range pr.Resources {
			claim[pr.ProviderUUID][r.Class] = r.Amount
		}
	}
	err = ix.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
		"a0000000-0000-4000-8000-000000000001": {Project: "p", User: "u", ConsumerType: placement.ConsumerTypeInstance, Allocations: claim},
	})
	fmt.Println("claimed:", err == nil)
	usage, gen, _ := ix.ProviderUsages(ctx, cn.UUID)
	fmt.Println("cn1 usage:", usage, "generation:", gen)
	// Output:
	// c0000000-0000-4000-8000-000000000001 [{VCPU 2}]
	// c0000000-0000-4000-8000-000000000002 [{SRIOV_NET_VF 1}]
	// mappings: [{ [c0000000-0000-4000-8000-000000000001]} {_NET [c0000000-0000-4000-8000-000000000002]}]
	// claimed: true
	// cn1 usage: map[VCPU:2] generation: 2
}
