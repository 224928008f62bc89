package conductor_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/scheduler"
	"github.com/novakit/novakit/scheduler/storesource"
	"github.com/novakit/novakit/store"
)

// printingAgent stands for the compute agents: it prints the casts it
// gets.
type printingAgent struct{ testAgent }

func (*printingAgent) BuildAndRunInstance(_ context.Context, host string, inst *compute.Instance, _ *compute.BuildRequest, chosen compute.Selection, alts []compute.Selection) error {
	fmt.Printf("build_and_run_instance on %s (%s), %d alternate(s), task_state %s\n", host, chosen.Nodename, len(alts), inst.TaskState)
	return nil
}

// A conductor over SQLite, placement and the real scheduler builds an
// instance on one of two hosts, and puts an instance no host can take in
// ERROR with a fault.
func Example() {
	ctx := context.Background()
	st, _ := store.Open(ctx, "sqlite://:memory:", nil)
	defer st.Close()
	pl := placement.New(placement.Options{})
	for i, name := range []string{"compute1", "compute2"} {
		id := fmt.Sprintf("c0000000-0000-4000-8000-00000000000%d", i)
		ram := 8192 >> i // compute1 has more free RAM: the scheduler prefers it
		pl.CreateProvider(ctx, placement.ProviderSpec{UUID: id, Name: name})
		pl.SetInventories(ctx, id, 0, map[string]placement.Inventory{
			"VCPU": placement.NewInventory(8), "MEMORY_MB": placement.NewInventory(int64(ram)), "DISK_GB": placement.NewInventory(100)})
		st.ComputeNodes().Create(ctx, &compute.ComputeNode{UUID: id, Host: name, HypervisorHostname: name, VCPUs: 8, MemoryMB: ram, LocalGB: 100})
		st.Services().Create(ctx, &compute.Service{Host: name, Binary: "nova-compute"})
	}
	sched, _ := scheduler.New(scheduler.Config{Placement: pl, Hosts: storesource.New(st), Logger: slog.New(slog.DiscardHandler)})
	c := conductor.New(st, sched, pl, &printingAgent{}, conductor.Config{})

	// What the API does before it hands the request on.
	boot := func(f compute.Flavor) string {
		in, err := st.Instances().Create(ctx, &compute.Instance{Name: "vm", ProjectID: "demo", UserID: "alice", Flavor: f,
			VMState: compute.VMBuilding, TaskState: compute.TaskScheduling})
		if err != nil {
			panic(err)
		}
		req := &compute.BuildRequest{RequestID: "req-" + in.UUID, InstanceUUIDs: []string{in.UUID},
			Spec: &compute.RequestSpec{ProjectID: "demo", UserID: "alice", Flavor: f, NumInstances: 1}}
		st.InstanceActions().Start(ctx, &compute.InstanceAction{Action: "create", InstanceUUID: in.UUID, RequestID: req.RequestID})
		if err := c.ScheduleAndBuildInstances(ctx, req); err != nil {
			panic(err)
		}
		return in.UUID
	}
	boot(compute.Flavor{FlavorID: "2", Name: "m1.small", VCPUs: 1, MemoryMB: 2048, RootGB: 20})
	id := boot(compute.Flavor{FlavorID: "9", Name: "huge", VCPUs: 64, MemoryMB: 1 << 20})
	in, _ := st.Instances().Get(ctx, id)
	faults, _ := st.Faults().List(ctx, id)
	fmt.Println(in.Status(), faults[0].Message[:25])
	// Output:
	// build_and_run_instance on compute1 (compute1), 1 alternate(s), task_state scheduling
	// ERROR No valid host was found.
}
