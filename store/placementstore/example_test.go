package placementstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/store/placementstore"
)

// Open a Placement database, describe a compute node and claim resources
// for an instance: the claim is checked against the database, and the
// Index in front of it answers reads and candidates at once.
func Example() {
	ctx := context.Background()
	s, err := placementstore.Open(ctx, "sqlite://:memory:", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	cn, _ := s.CreateProvider(ctx, placement.ProviderSpec{UUID: "7d1c5c1e-3b3e-4c0e-9a86-0b1a4c9e0001", Name: "compute-1"})
	gen, _, _ := s.SetInventories(ctx, cn.UUID, cn.Generation, map[string]placement.Inventory{
		"VCPU": placement.NewInventory(8), "MEMORY_MB": placement.NewInventory(16384)})
	fmt.Println("generation after inventory:", gen)

	vm := placement.ConsumerAllocations{Project: "demo", User: "alice", ConsumerType: placement.ConsumerTypeInstance,
		Allocations: map[string]map[string]int64{cn.UUID: {"VCPU": 6, "MEMORY_MB": 4096}}}
	err = s.SetAllocations(ctx, map[string]placement.ConsumerAllocations{"0e5a2f7c-0000-4000-8000-000000000001": vm})
	fmt.Println("first claim:", err)
	err = s.SetAllocations(ctx, map[string]placement.ConsumerAllocations{"0e5a2f7c-0000-4000-8000-000000000002": vm})
	fmt.Println("second claim exceeds capacity:", errors.Is(err, placement.ErrCapacityExceeded))
	used, _, _ := s.ProviderUsages(ctx, cn.UUID)
	fmt.Println("VCPU used:", used["VCPU"])
	// Output:
	// generation after inventory: 1
	// first claim: <nil>
	// second claim exceeds capacity: true
	// VCPU used: 6
}
