package scheduler_test

import (
	"context"
	"fmt"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/scheduler"
)

// hosts is a fixed HostSource: what a cell database would say.
type hosts struct{ nodes []*compute.ComputeNode }

func (h hosts) ComputeNodes(context.Context) ([]*compute.ComputeNode, error) { return h.nodes, nil }
func (h hosts) ComputeServices(context.Context) ([]*compute.Service, error) {
	var out []*compute.Service
	for _, n := range h.nodes {
		out = append(out, &compute.Service{Host: n.Host, Binary: "nova-compute", LastSeenUp: time.Now()})
	}
	return out, nil
}
func (hosts) Aggregates(context.Context) ([]*compute.Aggregate, error)          { return nil, nil }
func (hosts) Instances(context.Context, time.Time) ([]*compute.Instance, error) { return nil, nil }

// Two compute nodes, one busier than the other: the scheduler picks the
// one with more free RAM, claims it in placement and offers the other as
// an alternate.
func Example() {
	ctx := context.Background()
	ix := placement.New(placement.Options{})
	var src hosts
	for i, used := range []int{12288, 2048} {
		uuid := fmt.Sprintf("c0000000-0000-4000-8000-00000000000%d", i)
		name := fmt.Sprintf("compute%d", i)
		p, _ := ix.CreateProvider(ctx, placement.ProviderSpec{UUID: uuid, Name: name})
		ix.SetInventories(ctx, uuid, p.Generation, map[string]placement.Inventory{
			"VCPU": placement.NewInventory(8), "MEMORY_MB": placement.NewInventory(16384), "DISK_GB": placement.NewInventory(100)})
		src.nodes = append(src.nodes, &compute.ComputeNode{UUID: uuid, Host: name, HypervisorHostname: name,
			VCPUs: 8, MemoryMB: 16384, MemoryMBUsed: used, LocalGB: 100})
	}

	s, err := scheduler.New(scheduler.Config{Placement: ix, Hosts: src})
	if err != nil {
		panic(err)
	}
	spec := &compute.RequestSpec{ProjectID: "demo", UserID: "alice", NumInstances: 1,
		Flavor: compute.Flavor{Name: "m1.small", VCPUs: 1, MemoryMB: 2048, RootGB: 20}}
	sels, err := s.SelectDestinations(ctx, spec, []string{"a0000000-0000-4000-8000-000000000001"})
	if err != nil {
		panic(err)
	}
	for _, sel := range sels[0] {
		fmt.Println(sel.ServiceHost, string(sel.AllocationRequest))
	}
	usage, _, _ := ix.ProviderUsages(ctx, sels[0][0].ComputeNodeUUID)
	fmt.Println("claimed:", usage["MEMORY_MB"], "MB")
	// Output:
	// compute1 {"allocations":{"c0000000-0000-4000-8000-000000000001":{"resources":{"DISK_GB":20,"MEMORY_MB":2048,"VCPU":1}}},"mappings":{"":["c0000000-0000-4000-8000-000000000001"]}}
	// compute0 {"allocations":{"c0000000-0000-4000-8000-000000000000":{"resources":{"DISK_GB":20,"MEMORY_MB":2048,"VCPU":1}}},"mappings":{"":["c0000000-0000-4000-8000-000000000000"]}}
	// claimed: 2048 MB
}
