package computetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/agent"
	"github.com/novakit/novakit/compute/agent/agenttest"
)

// AgentFlows lists the agent-flow tests [RunAgentFlows] runs: the
// compute agent (package compute/agent) driving the driver through the
// flows of a cloud, over RPC, with a real store behind a harness
// conductor (package compute/agent/agenttest).
func AgentFlows() []Test {
	return []Test{
		{"TestAgentBuildGoesActiveWithGuestRunning", flowBuild},
		{"TestAgentStopThenStartRoundTrips", flowStopStart},
		{"TestAgentRebootSoftAndHardLeaveInstanceActive", flowReboot},
		{"TestAgentPauseUnpauseAndSuspendResume", flowPauseSuspend},
		{"TestAgentDeleteRemovesGuestAndAllocations", flowDelete},
		{"TestAgentRestartReattachesGuests", flowRestart},
		{"TestAgentReportsNodeToPlacement", flowNode},
	}
}

// RunAgentFlows runs the agent-flow suite on the driver the harness
// makes, then the extra tests. Each flow starts a fresh control plane (an
// SQLite store in memory, a placement index, a mem:// queue) and one
// agent on a driver from Harness.NewHypervisor; flows that restart the
// agent reopen the driver with Harness.Reopen. Images come from
// Harness.NewSpec (its image is registered in the harness's image
// service); guests boot with its flavor.
func RunAgentFlows(t *testing.T, h Harness, f Features, extra ...Test) {
	if h.NewHypervisor == nil {
		t.Fatal("computetest: Harness.NewHypervisor is required")
	}
	f.setDefaults()
	e := &Env{Harness: h, Features: f}
	for _, tc := range append(AgentFlows(), extra...) {
		t.Run(tc.Name, func(t *testing.T) { tc.Run(t, e) })
	}
}

// flowHost is the agent's host name in the flows.
const flowHost = "computetest"

// flowEnv is one flow's control plane and agent.
type flowEnv struct {
	*Env
	t     *testing.T
	ctx   context.Context
	cloud *agenttest.Cloud
	hv    compute.Hypervisor
	agent *agenttest.Running
	boot  agenttest.BootOptions
}

func (e *Env) flow(t *testing.T) *flowEnv {
	t.Helper()
	ctx := e.Ctx(t, 4*e.Features.BootTimeout)
	c, err := agenttest.Open(ctx, "")
	Must(t, "open the harness control plane", err)
	t.Cleanup(func() { _ = c.Close() })
	spec := e.Spec(t)
	bo := agenttest.BootOptions{Flavor: spec.Flavor}
	if spec.Image.ID != "" {
		_, err := c.Images.CreateImage(ctx, spec.Image, "computetest")
		Must(t, "register the image", err)
		bo.ImageRef = spec.Image.ID
	}
	fe := &flowEnv{Env: e, t: t, ctx: ctx, cloud: c, hv: e.Hypervisor(t), boot: bo}
	fe.start()
	return fe
}

// start starts an agent on fe.hv.
func (fe *flowEnv) start() {
	fe.t.Helper()
	o := fe.cloud.Options(flowHost, fe.hv)
	o.ShutdownTimeout = max(fe.Features.CleanShutdownTimeout, time.Second)
	r, err := fe.cloud.StartAgent(fe.ctx, o)
	Must(fe.t, "start the agent", err)
	fe.agent = r
}

// build boots an instance through the agent and waits for it to settle
// active; the guest is destroyed at the end of the test.
func (fe *flowEnv) build() *compute.Instance {
	fe.t.Helper()
	inst, err := fe.cloud.Boot(fe.ctx, fe.agent.Agent, fe.boot)
	Must(fe.t, "boot", err)
	fe.t.Cleanup(func() { fe.destroyQuietly(fe.t, fe.hv, inst.UUID) })
	got := fe.settle(inst.UUID, agenttest.Settled)
	if got.VMState != compute.VMActive {
		fe.t.Fatalf("build: instance %s is %s, want active; faults: %v", got.UUID, got.VMState, fe.faults(got.UUID))
	}
	return got
}

func (fe *flowEnv) settle(uuid string, cond func(*compute.Instance) bool) *compute.Instance {
	fe.t.Helper()
	ctx, cancel := context.WithTimeout(fe.ctx, fe.Features.BootTimeout)
	defer cancel()
	inst, err := fe.cloud.Wait(ctx, uuid, cond)
	Must(fe.t, "wait for the instance", err)
	return inst
}

func (fe *flowEnv) faults(uuid string) []string {
	fs, _ := fe.cloud.Store.Faults().List(fe.ctx, uuid)
	var out []string
	for _, f := range fs {
		out = append(out, f.Message)
	}
	return out
}

// act runs an API action and waits for the instance to settle in want
// with the guest in power state ps.
func (fe *flowEnv) act(inst *compute.Instance, a compute.Action, want compute.VMState, ps compute.PowerState, cast func(context.Context, *compute.Instance) error) *compute.Instance {
	fe.t.Helper()
	_, err := fe.cloud.Act(fe.ctx, inst.UUID, a, cast)
	Must(fe.t, string(a), err)
	got := fe.settle(inst.UUID, agenttest.Settled)
	if got.VMState != want || got.PowerState != ps {
		fe.t.Fatalf("%s: instance is %s (power %v), want %s (power %v); faults: %v", a, got.VMState, got.PowerState, want, ps, fe.faults(inst.UUID))
	}
	fe.WaitPowerState(fe.t, fe.hv, compute.GuestOf(got), ps)
	return got
}

func flowBuild(t *testing.T, e *Env) {
	fe := e.flow(t)
	inst := fe.build()
	if inst.PowerState != compute.PowerRunning || inst.LaunchedAt.IsZero() || len(inst.DriverHandle) == 0 {
		t.Fatalf("built instance: power %v, launched_at %v, handle %d bytes", inst.PowerState, inst.LaunchedAt, len(inst.DriverHandle))
	}
	fe.WaitPowerState(t, fe.hv, compute.GuestOf(inst), compute.PowerRunning)
	c, err := fe.cloud.Placement.Consumer(fe.ctx, inst.UUID)
	Must(t, "instance allocations", err)
	if _, ok := c.Allocations[fe.agent.Node().UUID]; !ok {
		t.Fatalf("the instance's allocations %v are not on the node %s", c.Allocations, fe.agent.Node().UUID)
	}
}

func flowStopStart(t *testing.T, e *Env) {
	fe := e.flow(t)
	inst := fe.build()
	cl := fe.cloud.Client
	inst = fe.act(inst, compute.ActionStop, compute.VMStopped, compute.PowerShutdown, func(ctx context.Context, i *compute.Instance) error {
		return cl.StopInstance(ctx, i, fe.Features.CleanShutdownTimeout > 0)
	})
	fe.act(inst, compute.ActionStart, compute.VMActive, compute.PowerRunning, cl.StartInstance)
}

func flowReboot(t *testing.T, e *Env) {
	fe := e.flow(t)
	inst := fe.build()
	cl := fe.cloud.Client
	for _, hard := range []bool{false, true} {
		a := compute.ActionReboot
		if hard {
			a = compute.ActionRebootHard
		}
		inst = fe.act(inst, a, compute.VMActive, compute.PowerRunning, func(ctx context.Context, i *compute.Instance) error {
			return cl.RebootInstance(ctx, i, hard)
		})
	}
}

func flowPauseSuspend(t *testing.T, e *Env) {
	caps := e.Features.Capabilities
	if !caps.Pause && !caps.Suspend {
		t.Skip("driver declares neither Pause nor Suspend")
	}
	fe := e.flow(t)
	inst := fe.build()
	cl := fe.cloud.Client
	if caps.Pause {
		inst = fe.act(inst, compute.ActionPause, compute.VMPaused, compute.PowerPaused, cl.PauseInstance)
		inst = fe.act(inst, compute.ActionUnpause, compute.VMActive, compute.PowerRunning, cl.UnpauseInstance)
	}
	if caps.Suspend {
		inst = fe.act(inst, compute.ActionSuspend, compute.VMSuspended, compute.PowerSuspended, cl.SuspendInstance)
		fe.act(inst, compute.ActionResume, compute.VMActive, compute.PowerRunning, cl.ResumeInstance)
	}
}

func flowDelete(t *testing.T, e *Env) {
	fe := e.flow(t)
	inst := fe.build()
	_, err := fe.cloud.Act(fe.ctx, inst.UUID, compute.ActionDelete, fe.cloud.Client.TerminateInstance)
	Must(t, "delete", err)
	got := fe.settle(inst.UUID, agenttest.Deleted)
	if got.VMState != compute.VMDeleted {
		t.Fatalf("deleted instance is %s", got.VMState)
	}
	_, err = fe.hv.Info(fe.ctx, compute.GuestOf(inst))
	MustBe(t, "Info of the deleted instance's guest", err, compute.ErrNotFound)
	if fe.listed(t, fe.hv, inst.UUID) {
		t.Fatal("the deleted instance's guest is still listed")
	}
	if c, err := fe.cloud.Placement.Consumer(fe.ctx, inst.UUID); err == nil && len(c.Allocations) > 0 {
		t.Fatalf("the deleted instance still holds %v", c.Allocations)
	}
}

func flowRestart(t *testing.T, e *Env) {
	fe := e.flow(t)
	inst := fe.build()
	Must(t, "stop the agent", fe.agent.Stop())
	fe.hv = e.reopen(t, fe.hv)
	fe.start()
	got, err := fe.cloud.Store.Instances().Get(fe.ctx, inst.UUID)
	Must(t, "read the instance", err)
	if got.VMState != compute.VMActive || got.TaskState != compute.TaskNone || got.PowerState != compute.PowerRunning {
		t.Fatalf("after a restart the instance is %s/%s power %v", got.VMState, got.TaskState, got.PowerState)
	}
	// The new agent operates the guest it found again.
	fe.act(got, compute.ActionStop, compute.VMStopped, compute.PowerShutdown, func(ctx context.Context, i *compute.Instance) error {
		return fe.cloud.Client.StopInstance(ctx, i, false)
	})
}

func flowNode(t *testing.T, e *Env) {
	fe := e.flow(t)
	n := fe.agent.Node()
	if n == nil || n.UUID == "" {
		t.Fatal("the agent reported no compute node")
	}
	res := fe.resources(t, fe.hv)
	invs, _, err := fe.cloud.Placement.Inventories(fe.ctx, n.UUID)
	Must(t, "inventories", err)
	if got := invs["VCPU"].Total; got != int64(res.VCPUs) {
		t.Fatalf("VCPU inventory %d, the host has %d", got, res.VCPUs)
	}
	if got := invs["MEMORY_MB"].Total; got != int64(res.MemoryMB) {
		t.Fatalf("MEMORY_MB inventory %d, the host has %d", got, res.MemoryMB)
	}
	traits, _, err := fe.cloud.Placement.Traits(fe.ctx, n.UUID)
	Must(t, "traits", err)
	want := append(e.Features.Capabilities.Traits(), agent.TraitComputeNode)
	for _, tr := range want {
		found := false
		for _, x := range traits {
			found = found || x == tr
		}
		if !found {
			t.Fatalf("trait %s missing from %v", tr, traits)
		}
	}
	svc, err := fe.cloud.Store.Services().GetByHostBinary(fe.ctx, flowHost, agent.Binary)
	Must(t, "service record", err)
	if svc.ReportCount < 1 {
		t.Fatal("the service never reported")
	}
	if _, err := fe.cloud.Store.ComputeNodes().Get(fe.ctx, n.UUID); errors.Is(err, compute.ErrNotFound) {
		t.Fatal("the compute node record is missing")
	}
}
