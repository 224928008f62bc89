package agent_test

import (
	"context"
	"fmt"
	"log"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/agent"
	"github.com/novakit/novakit/compute/agent/agenttest"
	"github.com/novakit/novakit/drivers/fake"
)

// An agent on a fake host joins a control plane (here the agenttest
// harness: SQLite in memory, a placement index, a mem:// queue), builds
// an instance cast to it over RPC, and stops it.
func Example() {
	ctx := context.Background()
	cloud, err := agenttest.Open(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	defer cloud.Close()
	hosts, err := fake.New(fake.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer hosts.Close()

	// In a deployment: agent.New(opts) and Run(ctx), with the conductor's
	// client as Conductor and placement's client as Placement.
	a, err := cloud.StartAgent(ctx, agent.Options{
		Host: "host1", Driver: hosts.Host("host1"),
		Conductor: cloud.Conductor, Placement: cloud.Placement, Images: cloud.Images,
		Transport: cloud.Transport, Errors: cloud.Errors,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Stop()

	inst, err := cloud.Boot(ctx, a.Agent, agenttest.BootOptions{})
	if err != nil {
		log.Fatal(err)
	}
	inst, err = cloud.Wait(ctx, inst.UUID, agenttest.Settled)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(inst.Status(), inst.Host, inst.PowerState)

	_, err = cloud.Act(ctx, inst.UUID, compute.ActionStop, func(ctx context.Context, i *compute.Instance) error {
		return cloud.Client.StopInstance(ctx, i, true)
	})
	if err != nil {
		log.Fatal(err)
	}
	inst, err = cloud.Wait(ctx, inst.UUID, agenttest.Settled)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(inst.Status(), inst.PowerState)
	// Output:
	// ACTIVE host1 running
	// SHUTOFF shutdown
}
