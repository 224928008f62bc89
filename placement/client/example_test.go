package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
	"github.com/novakit/novakit/placement/client"
)

// Talk to a Placement service (here novakit's, in-process over loopback):
// register a compute node, find candidates, claim, and see a second claim
// refused with the same error the in-process Index returns.
func Example() {
	srv := httptest.NewServer(api.New(placement.New(placement.Options{}), api.Options{Authenticator: api.NoAuth()}))
	defer srv.Close()
	pc, err := client.New(srv.URL, client.Options{Token: client.StaticToken("admin")})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	const rp = "4e8e5957-649f-477b-9e5b-f1f75b21c03c"
	if _, err := pc.CreateProvider(ctx, placement.ProviderSpec{UUID: rp, Name: "compute1"}); err != nil {
		panic(err)
	}
	gen, _, err := pc.SetInventories(ctx, rp, 0, map[string]placement.Inventory{"VCPU": placement.NewInventory(4)})
	fmt.Println("generation:", gen, err)

	res, err := pc.Candidates(ctx, &placement.CandidateRequest{Groups: []placement.RequestGroup{{Resources: map[string]int64{"VCPU": 3}}}})
	fmt.Println("candidates:", len(res.AllocationRequests), err)

	claim := func(consumer string) error {
		return pc.SetAllocations(ctx, map[string]placement.ConsumerAllocations{consumer: {
			Project: "demo", User: "alice", ConsumerType: placement.ConsumerTypeInstance,
			Allocations: map[string]map[string]int64{rp: {"VCPU": 3}},
		}})
	}
	fmt.Println("first claim:", claim("c0000000-0000-4000-8000-000000000001"))
	err = claim("c0000000-0000-4000-8000-000000000002")
	fmt.Println("second claim over capacity:", errors.Is(err, placement.ErrCapacityExceeded))
	// Output:
	// generation: 1 <nil>
	// candidates: 1 <nil>
	// first claim: <nil>
	// second claim over capacity: true
}
