package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/agent"
	"github.com/novakit/novakit/compute/agent/agenttest"
	"github.com/novakit/novakit/drivers/fake"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/store"
)

// env is one test's cloud: the harness control plane and a fake cloud
// of hosts.
type env struct {
	t     *testing.T
	ctx   context.Context
	cloud *agenttest.Cloud
	fake  *fake.Cloud
}

func newEnv(t *testing.T, hosts ...string) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	c, err := agenttest.Open(ctx, "")
	require.NoError(t, err)
	c.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	t.Cleanup(func() { _ = c.Close() })
	if len(hosts) == 0 {
		hosts = []string{"host1"}
	}
	fc, err := fake.New(fake.Config{Names: hosts})
	require.NoError(t, err)
	t.Cleanup(func() { _ = fc.Close() })
	return &env{t: t, ctx: ctx, cloud: c, fake: fc}
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func (e *env) start(host string, mod func(*agent.Options)) *agenttest.Running {
	e.t.Helper()
	o := e.cloud.Options(host, e.fake.Host(host))
	if mod != nil {
		mod(&o)
	}
	r, err := e.cloud.StartAgent(e.ctx, o)
	require.NoError(e.t, err)
	return r
}

func (e *env) boot(host *agenttest.Running, o agenttest.BootOptions) *compute.Instance {
	e.t.Helper()
	inst, err := e.cloud.Boot(e.ctx, host.Agent, o)
	require.NoError(e.t, err)
	return inst
}

func (e *env) wait(uuid string, cond func(*compute.Instance) bool) *compute.Instance {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	inst, err := e.cloud.Wait(ctx, uuid, cond)
	require.NoError(e.t, err)
	return inst
}

func (e *env) event(uuid, name string) compute.InstanceActionEvent {
	e.t.Helper()
	return e.eventOf(uuid, "", name)
}

// eventOf waits for the finished event name of the action reqID ("" for
// any action) of the instance: events finish after the state change.
func (e *env) eventOf(uuid, reqID, name string) compute.InstanceActionEvent {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	for {
		acts, err := e.cloud.Store.InstanceActions().List(ctx, uuid, store.ActionFilter{}, compute.ListOptions{})
		require.NoError(e.t, err)
		for _, a := range acts {
			if reqID != "" && a.RequestID != reqID {
				continue
			}
			full, err := e.cloud.Store.InstanceActions().Get(ctx, uuid, a.RequestID)
			require.NoError(e.t, err)
			for _, ev := range full.Events {
				if ev.Event == name && !ev.FinishTime.IsZero() {
					return ev
				}
			}
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("instance %s has no finished event %s", uuid, name)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (e *env) faults(uuid string) []*compute.InstanceFault {
	fs, err := e.cloud.Store.Faults().List(e.ctx, uuid)
	require.NoError(e.t, err)
	return fs
}

func (e *env) allocations(consumer string) map[string]placement.ProviderAllocation {
	c, err := e.cloud.Placement.Consumer(e.ctx, consumer)
	if errors.Is(err, placement.ErrNotFound) {
		return nil
	}
	require.NoError(e.t, err)
	return c.Allocations
}

func TestStartRegistersServiceNodeAndProvider(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)

	svc, err := e.cloud.Store.Services().GetByHostBinary(e.ctx, "host1", agent.Binary)
	require.NoError(t, err)
	assert.Equal(t, agent.Topic, svc.Topic)
	assert.GreaterOrEqual(t, svc.ReportCount, int64(1))
	assert.False(t, svc.LastSeenUp.IsZero())

	node := a.Node()
	require.NotNil(t, node)
	assert.Equal(t, fake.NodeUUID("host1"), node.UUID)
	stored, err := e.cloud.Store.ComputeNodes().Get(e.ctx, node.UUID)
	require.NoError(t, err)
	assert.Equal(t, "host1", stored.Host)
	assert.Equal(t, 4.0, stored.CPUAllocationRatio)
	assert.Equal(t, 1.0, stored.RAMAllocationRatio)
	assert.Equal(t, stored.MemoryMB-stored.MemoryMBUsed, stored.FreeRAMMB)
	assert.Equal(t, agent.DefaultReservedHostMemoryMB, stored.MemoryMBUsed, "reserved memory counts as used")

	rp, err := e.cloud.Placement.Provider(e.ctx, node.UUID)
	require.NoError(t, err)
	assert.Equal(t, node.HypervisorHostname, rp.Name)
	invs, _, err := e.cloud.Placement.Inventories(e.ctx, node.UUID)
	require.NoError(t, err)
	assert.Equal(t, placement.Inventory{Total: int64(stored.VCPUs), MinUnit: 1, MaxUnit: int64(stored.VCPUs), StepSize: 1, AllocationRatio: 4}, invs["VCPU"])
	assert.Equal(t, int64(512), invs["MEMORY_MB"].Reserved)
	assert.Equal(t, 1.0, invs["DISK_GB"].AllocationRatio)
	traits, _, err := e.cloud.Placement.Traits(e.ctx, node.UUID)
	require.NoError(t, err)
	assert.Contains(t, traits, agent.TraitComputeNode)
	for _, tr := range fake.DefaultCapabilities().Traits() {
		assert.Contains(t, traits, tr)
	}
	assert.NotContains(t, traits, agent.TraitStatusDisabled)
}

func TestResourceUpdateKeepsOperatorRatiosAndForeignTraits(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	u := a.Node().UUID
	// An operator edits the ratio in placement and adds a custom trait; a
	// stale capability trait is added too.
	invs, gen, err := e.cloud.Placement.Inventories(e.ctx, u)
	require.NoError(t, err)
	v := invs["VCPU"]
	v.AllocationRatio = 2
	invs["VCPU"] = v
	_, _, err = e.cloud.Placement.SetInventories(e.ctx, u, gen, invs)
	require.NoError(t, err)
	_, err = e.cloud.Placement.CreateTrait(e.ctx, "CUSTOM_GOLD")
	require.NoError(t, err)
	traits, gen, err := e.cloud.Placement.Traits(e.ctx, u)
	require.NoError(t, err)
	_, err = e.cloud.Placement.SetTraits(e.ctx, u, gen, append(traits, "CUSTOM_GOLD", "COMPUTE_IMAGE_TYPE_VMDK"))
	require.NoError(t, err)

	require.NoError(t, a.UpdateResources(e.ctx))
	invs, _, err = e.cloud.Placement.Inventories(e.ctx, u)
	require.NoError(t, err)
	assert.Equal(t, 2.0, invs["VCPU"].AllocationRatio, "an unset ratio keeps placement's")
	assert.Equal(t, 2.0, a.Node().CPUAllocationRatio)
	traits, _, err = e.cloud.Placement.Traits(e.ctx, u)
	require.NoError(t, err)
	assert.Contains(t, traits, "CUSTOM_GOLD")
	assert.NotContains(t, traits, "COMPUTE_IMAGE_TYPE_VMDK", "capability traits follow the driver")
}

func TestForcedRatioAndDisabledService(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", func(o *agent.Options) {
		o.CPUAllocationRatio = 8
		o.ReservedHostMemoryMB = -1
		o.ReportInterval = time.Millisecond
	})
	u := a.Node().UUID
	invs, _, err := e.cloud.Placement.Inventories(e.ctx, u)
	require.NoError(t, err)
	assert.Equal(t, 8.0, invs["VCPU"].AllocationRatio)
	assert.Zero(t, invs["MEMORY_MB"].Reserved)

	hasDisabled := func() bool {
		traits, _, err := e.cloud.Placement.Traits(e.ctx, u)
		require.NoError(t, err)
		return slices.Contains(traits, agent.TraitStatusDisabled)
	}
	require.False(t, hasDisabled())
	// An operator disables the service: the next heartbeat learns it and
	// the trait follows.
	_, err = e.cloud.Store.Services().Update(e.ctx, a.Service().UUID, store.ServiceUpdate{Disabled: compute.Ptr(true)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	for !hasDisabled() {
		select {
		case <-ctx.Done():
			t.Fatal("COMPUTE_STATUS_DISABLED never set")
		case <-time.After(time.Millisecond):
		}
	}
}

func TestBuildGoesActive(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	inst := e.boot(a, agenttest.BootOptions{})
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMActive, got.VMState)
	assert.Equal(t, compute.PowerRunning, got.PowerState)
	assert.Equal(t, "host1", got.Host)
	assert.False(t, got.LaunchedAt.IsZero())
	assert.NotEmpty(t, got.DriverHandle)
	ev := e.event(inst.UUID, "compute_build_and_run_instance")
	assert.Equal(t, compute.EventSuccess, ev.Result)
	assert.Equal(t, "host1", ev.Host)
	info, err := e.fake.Host("host1").Info(e.ctx, compute.GuestOf(got))
	require.NoError(t, err)
	assert.Equal(t, compute.PowerRunning, info.PowerState)
	assert.Len(t, e.allocations(inst.UUID), 1)
}

func TestRepeatedBuildMessageIsIgnored(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	inst := e.boot(a, agenttest.BootOptions{})
	got := e.wait(inst.UUID, agenttest.Settled)
	require.Equal(t, compute.VMActive, got.VMState)
	spawns := e.fake.Inject(fake.Fault{Method: fake.MethodSpawn}) // counts calls
	acts, err := e.cloud.Store.InstanceActions().List(e.ctx, inst.UUID, store.ActionFilter{}, compute.ListOptions{})
	require.NoError(t, err)
	require.Len(t, acts, 1)
	req := &compute.BuildRequest{RequestID: acts[0].RequestID, InstanceUUIDs: []string{inst.UUID}}
	sel := agenttest.Selection("host1", a.Node().UUID, a.Node().HypervisorHostname, got.Flavor)
	// A redelivered cast, then a stop; whichever the agent handles first,
	// the build finds the instance past building and does nothing.
	require.NoError(t, e.cloud.Client.BuildAndRunInstance(e.ctx, "host1", got, req, sel, nil))
	_, err = e.cloud.Act(e.ctx, inst.UUID, compute.ActionStop, func(ctx context.Context, i *compute.Instance) error {
		return e.cloud.Client.StopInstance(ctx, i, false)
	})
	require.NoError(t, err)
	e.wait(inst.UUID, agenttest.InState(compute.VMStopped))
	full, err := e.cloud.Store.InstanceActions().Get(e.ctx, inst.UUID, acts[0].RequestID)
	require.NoError(t, err)
	assert.Len(t, full.Events, 1, "no second build event")
	assert.Empty(t, full.Message)
	assert.Zero(t, spawns.Calls())
	assert.Empty(t, e.faults(inst.UUID))
}

func TestBuildRescheduledToAlternate(t *testing.T) {
	e := newEnv(t, "host1", "host2")
	a1, a2 := e.start("host1", nil), e.start("host2", nil)
	e.fake.Inject(fake.Fault{Host: "host1", Method: fake.MethodSpawn, Err: fake.ErrInjected})
	inst := e.boot(a1, agenttest.BootOptions{Alternates: []*agent.Agent{a2.Agent}})
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMActive, got.VMState)
	assert.Equal(t, "host2", got.Host)
	allocs := e.allocations(inst.UUID)
	assert.Len(t, allocs, 1)
	assert.Contains(t, allocs, a2.Node().UUID, "host1's claim was released, host2's made")
	assert.Zero(t, e.fake.Host("host1").GuestCount())
	assert.Equal(t, 1, e.fake.Host("host2").GuestCount())
	assert.Empty(t, e.faults(inst.UUID), "a reschedule records no fault")
	assert.Equal(t, "0", a1.Node().Stats["failed_builds"], "unchanged until the next resource update")
	require.NoError(t, a1.UpdateResources(e.ctx))
	assert.Equal(t, "1", a1.Node().Stats["failed_builds"])
}

func TestBuildFailureWithoutAlternatesErrors(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	e.fake.Inject(fake.Fault{Method: fake.MethodSpawn, Err: fake.ErrInjected})
	inst := e.boot(a, agenttest.BootOptions{})
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMError, got.VMState)
	fs := e.faults(inst.UUID)
	require.NotEmpty(t, fs)
	assert.Contains(t, fs[0].Message, "Exceeded maximum number of retries")
	assert.Empty(t, e.allocations(inst.UUID))
	assert.Equal(t, compute.EventError, e.event(inst.UUID, "compute_build_and_run_instance").Result)
}

func TestBuildAbortOnInvalidInputErrorsWithoutReschedule(t *testing.T) {
	e := newEnv(t, "host1", "host2")
	a1, a2 := e.start("host1", nil), e.start("host2", nil)
	e.fake.Inject(fake.Fault{Host: "host1", Method: fake.MethodSpawn, Err: compute.InvalidInput("image", "bad disk format")})
	inst := e.boot(a1, agenttest.BootOptions{Alternates: []*agent.Agent{a2.Agent}})
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMError, got.VMState)
	assert.Equal(t, "host1", got.Host)
	fs := e.faults(inst.UUID)
	require.Len(t, fs, 1)
	assert.Equal(t, 400, fs[0].Code)
	assert.Contains(t, fs[0].Message, "bad disk format")
	assert.Empty(t, e.allocations(inst.UUID), "an aborted build releases its claim")
	assert.Zero(t, e.fake.Host("host2").GuestCount())
}

func TestBuildOfUnknownImageAborts(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	inst := e.boot(a, agenttest.BootOptions{ImageRef: "no-such-image"})
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMError, got.VMState)
	fs := e.faults(inst.UUID)
	require.NotEmpty(t, fs)
	assert.Equal(t, 404, fs[0].Code)
}

func TestAgentRestartedMidBuildLeavesNothingStuck(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	slow := e.fake.Inject(fake.Fault{Method: fake.MethodSpawn, Delay: time.Hour})
	inst := e.boot(a, agenttest.BootOptions{})
	e.wait(inst.UUID, func(i *compute.Instance) bool { return i.TaskState == compute.TaskSpawning })
	for slow.Calls() == 0 { // the spawn is in the driver
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, a.Stop())
	slow.Remove()

	e.start("host1", nil)
	got, err := e.cloud.Store.Instances().Get(e.ctx, inst.UUID)
	require.NoError(t, err)
	assert.Equal(t, compute.VMError, got.VMState)
	assert.Equal(t, compute.TaskNone, got.TaskState)
	fs := e.faults(inst.UUID)
	require.NotEmpty(t, fs)
	assert.Contains(t, fs[0].Message, "restarted")
	assert.Zero(t, e.fake.Host("host1").GuestCount())
}

func TestPowerActions(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	inst := e.boot(a, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	c := e.cloud.Client
	steps := []struct {
		act   compute.Action
		cast  func(ctx context.Context, i *compute.Instance) error
		vm    compute.VMState
		power compute.PowerState
		event string
	}{
		{compute.ActionStop, func(ctx context.Context, i *compute.Instance) error { return c.StopInstance(ctx, i, true) }, compute.VMStopped, compute.PowerShutdown, "compute_stop_instance"},
		{compute.ActionStart, c.StartInstance, compute.VMActive, compute.PowerRunning, "compute_start_instance"},
		{compute.ActionReboot, func(ctx context.Context, i *compute.Instance) error { return c.RebootInstance(ctx, i, false) }, compute.VMActive, compute.PowerRunning, "compute_reboot_instance"},
		{compute.ActionPause, c.PauseInstance, compute.VMPaused, compute.PowerPaused, "compute_pause_instance"},
		{compute.ActionUnpause, c.UnpauseInstance, compute.VMActive, compute.PowerRunning, "compute_unpause_instance"},
		{compute.ActionSuspend, c.SuspendInstance, compute.VMSuspended, compute.PowerSuspended, "compute_suspend_instance"},
		{compute.ActionResume, c.ResumeInstance, compute.VMActive, compute.PowerRunning, "compute_resume_instance"},
		{compute.ActionStop, func(ctx context.Context, i *compute.Instance) error { return c.StopInstance(ctx, i, false) }, compute.VMStopped, compute.PowerShutdown, "compute_stop_instance"},
		{compute.ActionRebootHard, func(ctx context.Context, i *compute.Instance) error { return c.RebootInstance(ctx, i, true) }, compute.VMActive, compute.PowerRunning, "compute_reboot_instance"},
	}
	for _, s := range steps {
		reqID, err := e.cloud.Act(e.ctx, inst.UUID, s.act, s.cast)
		require.NoError(t, err, s.act)
		got := e.wait(inst.UUID, agenttest.Settled)
		assert.Equal(t, s.vm, got.VMState, s.act)
		assert.Equal(t, s.power, got.PowerState, s.act)
		info, err := e.fake.Host("host1").Info(e.ctx, compute.GuestOf(got))
		require.NoError(t, err)
		assert.Equal(t, s.power, info.PowerState, s.act)
		assert.Equal(t, compute.EventSuccess, e.eventOf(inst.UUID, reqID, s.event).Result, s.act)
	}
}

func TestFailedActionRevertsTaskAndRecordsFault(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	inst := e.boot(a, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	e.fake.Inject(fake.Fault{Method: fake.MethodPause, Err: fake.ErrInjected})
	_, err := e.cloud.Act(e.ctx, inst.UUID, compute.ActionPause, e.cloud.Client.PauseInstance)
	require.NoError(t, err)
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMActive, got.VMState, "reverted, not ERROR")
	fs := e.faults(inst.UUID)
	require.Len(t, fs, 1)
	assert.Contains(t, fs[0].Message, "injected")
	assert.Equal(t, compute.EventError, e.event(inst.UUID, "compute_pause_instance").Result)
}

func TestFailedRebootWithGuestDownGoesError(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	inst := e.boot(a, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	// The reboot takes effect (the guest is shut down by then) and fails.
	require.NoError(t, e.fake.Host("host1").SetPowerState(inst.UUID, compute.PowerShutdown))
	_, err := e.cloud.Act(e.ctx, inst.UUID, compute.ActionRebootHard, func(ctx context.Context, i *compute.Instance) error {
		e.fake.Inject(fake.Fault{Method: fake.MethodReboot, Err: fake.ErrInjected})
		return e.cloud.Client.RebootInstance(ctx, i, true)
	})
	require.NoError(t, err)
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMError, got.VMState)
	assert.NotEmpty(t, e.faults(inst.UUID))
}

func TestTerminateDestroysAndReleases(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	inst := e.boot(a, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	_, err := e.cloud.Act(e.ctx, inst.UUID, compute.ActionDelete, e.cloud.Client.TerminateInstance)
	require.NoError(t, err)
	got := e.wait(inst.UUID, agenttest.Deleted)
	assert.Equal(t, compute.VMDeleted, got.VMState)
	assert.Zero(t, e.fake.Host("host1").GuestCount())
	assert.Empty(t, e.allocations(inst.UUID))
	assert.Equal(t, compute.EventSuccess, e.event(inst.UUID, "compute_terminate_instance").Result)
}

func TestDeleteDuringSpawnWins(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	slow := e.fake.Inject(fake.Fault{Method: fake.MethodSpawn, Delay: 50 * time.Millisecond})
	inst := e.boot(a, agenttest.BootOptions{})
	e.wait(inst.UUID, func(i *compute.Instance) bool { return i.TaskState == compute.TaskSpawning })
	_, err := e.cloud.Act(e.ctx, inst.UUID, compute.ActionDelete, e.cloud.Client.TerminateInstance)
	require.NoError(t, err)
	got := e.wait(inst.UUID, agenttest.Deleted)
	assert.Equal(t, compute.VMDeleted, got.VMState)
	assert.Equal(t, 1, slow.Calls())
	assert.Zero(t, e.fake.Host("host1").GuestCount(), "the guest spawned under the delete is gone")
	assert.Empty(t, e.allocations(inst.UUID))
}

func TestConcurrentBuilds(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", func(o *agent.Options) { o.MaxConcurrentBuilds = 3 })
	const n = 20
	uuids := make([]string, n)
	for i := range uuids {
		uuids[i] = e.boot(a, agenttest.BootOptions{}).UUID
	}
	for _, u := range uuids {
		assert.Equal(t, compute.VMActive, e.wait(u, agenttest.Settled).VMState)
	}
	assert.Equal(t, n, e.fake.Host("host1").GuestCount())
	require.NoError(t, a.UpdateResources(e.ctx))
	assert.Equal(t, n, a.Node().RunningVMs)
	assert.Equal(t, n*agenttest.Flavor.VCPUs, a.Node().VCPUsUsed)
}

func TestConsoleOutputOverRPC(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	inst := e.boot(a, agenttest.BootOptions{})
	got := e.wait(inst.UUID, agenttest.Settled)
	all, err := e.cloud.Client.GetConsoleOutput(e.ctx, got, 0)
	require.NoError(t, err)
	assert.NotEmpty(t, all)
	one, err := e.cloud.Client.GetConsoleOutput(e.ctx, got, 1)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(one), len(all))
	assert.True(t, len(one) > 0 && !containsNewlineBeforeEnd(one), "one line: %q", one)

	missing := *got
	missing.UUID = "9b1f2c1e-0000-4000-8000-000000000000"
	_, err = e.cloud.Client.GetConsoleOutput(e.ctx, &missing, 0)
	assert.ErrorIs(t, err, compute.ErrNotFound, "errors keep their identity across RPC")
}

func containsNewlineBeforeEnd(s string) bool {
	for i := 0; i < len(s)-1; i++ {
		if s[i] == '\n' {
			return true
		}
	}
	return false
}

func TestSnapshotUploadsImage(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	inst := e.boot(a, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	img, err := e.cloud.Images.CreateImage(e.ctx, compute.ImageMeta{Name: "snap"}, "agenttest")
	require.NoError(t, err)
	_, err = e.cloud.Act(e.ctx, inst.UUID, compute.ActionCreateImage, func(ctx context.Context, i *compute.Instance) error {
		return e.cloud.Client.SnapshotInstance(ctx, i, img.ID)
	})
	require.NoError(t, err)
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMActive, got.VMState)
	data, ok := e.cloud.Images.Data(img.ID)
	assert.True(t, ok)
	assert.NotEmpty(t, data)
	assert.Equal(t, compute.EventSuccess, e.event(inst.UUID, "compute_snapshot_instance").Result)
}

func TestShelveOffloadAndUnshelve(t *testing.T) {
	e := newEnv(t, "host1", "host2")
	a1, a2 := e.start("host1", nil), e.start("host2", nil)
	inst := e.boot(a1, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	img, err := e.cloud.Images.CreateImage(e.ctx, compute.ImageMeta{Name: "shelved"}, "agenttest")
	require.NoError(t, err)
	_, err = e.cloud.Act(e.ctx, inst.UUID, compute.ActionShelve, func(ctx context.Context, i *compute.Instance) error {
		return e.cloud.Client.ShelveInstance(ctx, i, img.ID)
	})
	require.NoError(t, err)
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMShelvedOffloaded, got.VMState, "shelved_offload_time 0 offloads at once")
	assert.Empty(t, got.Host)
	assert.Equal(t, img.ID, got.SystemMetadata["shelved_image_id"])
	assert.Zero(t, e.fake.Host("host1").GuestCount())
	assert.Empty(t, e.allocations(inst.UUID))

	// Unshelve onto host2: the scheduler's claim, then the cast.
	sel := agenttest.Selection("host2", a2.Node().UUID, a2.Node().HypervisorHostname, got.Flavor)
	_, err = e.cloud.Act(e.ctx, inst.UUID, compute.ActionUnshelve, func(ctx context.Context, i *compute.Instance) error {
		if err := e.cloud.Conductor.Claim(ctx, i, sel); err != nil {
			return err
		}
		return e.cloud.Client.UnshelveInstance(ctx, "host2", i, compute.UnshelveRequest{}, nil, &sel)
	})
	require.NoError(t, err)
	got = e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMActive, got.VMState)
	assert.Equal(t, "host2", got.Host)
	assert.NotContains(t, got.SystemMetadata, "shelved_image_id")
	assert.Equal(t, 1, e.fake.Host("host2").GuestCount())
	_, err = e.cloud.Images.ImageMeta(e.ctx, img.ID)
	assert.ErrorIs(t, err, compute.ErrNotFound, "the shelved image is deleted after unshelve")
}

func TestShelveKeptWhenOffloadDisabled(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", func(o *agent.Options) { o.ShelvedOffloadTime = -1 })
	inst := e.boot(a, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	_, err := e.cloud.Act(e.ctx, inst.UUID, compute.ActionShelve, func(ctx context.Context, i *compute.Instance) error {
		return e.cloud.Client.ShelveInstance(ctx, i, "")
	})
	require.NoError(t, err)
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMShelved, got.VMState)
	assert.Equal(t, compute.PowerShutdown, got.PowerState)
	_, err = e.cloud.Act(e.ctx, inst.UUID, compute.ActionUnshelve, func(ctx context.Context, i *compute.Instance) error {
		return e.cloud.Client.UnshelveInstance(ctx, "host1", i, compute.UnshelveRequest{}, nil, nil)
	})
	require.NoError(t, err)
	got = e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMActive, got.VMState)
	assert.Equal(t, compute.PowerRunning, got.PowerState)
}

func TestPollShelvedOffloadsAfterOffloadTime(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	a := e.start("host1", func(o *agent.Options) {
		o.ShelvedOffloadTime = time.Hour
		o.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	})
	inst := e.boot(a, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	_, err := e.cloud.Act(e.ctx, inst.UUID, compute.ActionShelve, func(ctx context.Context, i *compute.Instance) error {
		return e.cloud.Client.ShelveInstance(ctx, i, "")
	})
	require.NoError(t, err)
	require.Equal(t, compute.VMShelved, e.wait(inst.UUID, agenttest.Settled).VMState)

	a.PollShelved(e.ctx)
	got, err := e.cloud.Store.Instances().Get(e.ctx, inst.UUID)
	require.NoError(t, err)
	assert.Equal(t, compute.VMShelved, got.VMState, "not yet: shelved for less than the offload time")

	clock.Store(now.Add(time.Hour + time.Second).UnixNano())
	a.PollShelved(e.ctx)
	got, err = e.cloud.Store.Instances().Get(e.ctx, inst.UUID)
	require.NoError(t, err)
	assert.Equal(t, compute.VMShelvedOffloaded, got.VMState)
	assert.Empty(t, got.Host)
	assert.Zero(t, e.fake.Host("host1").GuestCount())
	assert.Empty(t, e.allocations(inst.UUID))
}

func TestRebuildInPlace(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	inst := e.boot(a, agenttest.BootOptions{})
	before := e.wait(inst.UUID, agenttest.Settled)
	_, err := e.cloud.Images.CreateImage(e.ctx, compute.ImageMeta{ID: "image-2", Name: "two"}, "agenttest")
	require.NoError(t, err)
	_, err = e.cloud.Act(e.ctx, inst.UUID, compute.ActionRebuild, func(ctx context.Context, i *compute.Instance) error {
		return e.cloud.Client.RebuildInstance(ctx, "host1", i, compute.RebuildRequest{ImageRef: "image-2"}, nil, nil)
	})
	require.NoError(t, err)
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMActive, got.VMState)
	assert.Equal(t, "image-2", got.ImageRef)
	assert.False(t, got.LaunchedAt.Before(before.LaunchedAt))
	assert.Equal(t, 1, e.fake.Host("host1").GuestCount())
}

// resize prepares what the conductor does before prep_resize: the
// migration record and the allocation move (source claim to the
// migration consumer, destination claim to the instance).
func (e *env) resize(inst *compute.Instance, src, dst *agenttest.Running, newFlavor compute.Flavor) *compute.Migration {
	e.t.Helper()
	m, err := e.cloud.Store.Migrations().Create(e.ctx, &compute.Migration{
		InstanceUUID: inst.UUID, MigrationType: compute.MigrationTypeResize, Status: compute.MigrationPreMigrating,
		SourceCompute: src.Host(), SourceNode: src.Node().HypervisorHostname,
		DestCompute: dst.Host(), DestNode: dst.Node().HypervisorHostname, DestHost: dst.Host(),
		OldFlavorID: inst.Flavor.FlavorID, NewFlavorID: newFlavor.FlavorID,
	})
	require.NoError(e.t, err)
	_, err = e.cloud.Act(e.ctx, inst.UUID, compute.ActionResize, func(ctx context.Context, i *compute.Instance) error {
		cur, err := e.cloud.Placement.Consumer(ctx, i.UUID)
		if err != nil {
			return err
		}
		srcAllocs := map[string]map[string]int64{}
		for rp, pa := range cur.Allocations {
			srcAllocs[rp] = pa.Resources
		}
		sel := agenttest.Selection(dst.Host(), dst.Node().UUID, dst.Node().HypervisorHostname, newFlavor)
		var ar struct {
			Allocations map[string]struct {
				Resources map[string]int64 `json:"resources"`
			} `json:"allocations"`
		}
		require.NoError(e.t, json.Unmarshal(sel.AllocationRequest, &ar))
		dstAllocs := map[string]map[string]int64{}
		for rp, a := range ar.Allocations {
			dstAllocs[rp] = a.Resources
		}
		if err := e.cloud.Placement.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
			m.UUID: {Project: i.ProjectID, User: i.UserID, ConsumerType: placement.ConsumerTypeMigration, Allocations: srcAllocs},
			i.UUID: {Project: i.ProjectID, User: i.UserID, Generation: &cur.Generation, Allocations: dstAllocs},
		}); err != nil {
			return err
		}
		return e.cloud.Client.PrepResize(ctx, dst.Host(), i, m, compute.MigrateRequest{NewFlavor: &newFlavor, CleanShutdown: true}, nil, sel, nil)
	})
	require.NoError(e.t, err)
	return m
}

var bigger = compute.Flavor{FlavorID: "at.small", Name: "at.small", VCPUs: 2, MemoryMB: 128, RootGB: 2}

func TestResizeThenConfirm(t *testing.T) {
	e := newEnv(t, "host1", "host2")
	a1, a2 := e.start("host1", nil), e.start("host2", nil)
	inst := e.boot(a1, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	m := e.resize(inst, a1, a2, bigger)
	got := e.wait(inst.UUID, agenttest.Settled)
	require.Equal(t, compute.VMResized, got.VMState)
	assert.Equal(t, "host2", got.Host)
	assert.Equal(t, bigger.FlavorID, got.Flavor.FlavorID)
	require.NotNil(t, got.OldFlavor)
	assert.Equal(t, compute.PowerRunning, got.PowerState)
	mig, err := e.cloud.Store.Migrations().Get(e.ctx, m.UUID)
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationFinished, mig.Status)

	_, err = e.cloud.Store.Migrations().Update(e.ctx, m.UUID, store.MigrationUpdate{Status: compute.Ptr(compute.MigrationConfirming)})
	require.NoError(t, err)
	_, err = e.cloud.Act(e.ctx, inst.UUID, compute.ActionConfirmResize, func(ctx context.Context, i *compute.Instance) error {
		return e.cloud.Client.ConfirmResize(ctx, i, mig)
	})
	require.NoError(t, err)
	// Confirming sets no task state: wait for the outcome.
	got = e.wait(inst.UUID, agenttest.InState(compute.VMActive))
	assert.Equal(t, compute.VMActive, got.VMState)
	assert.Nil(t, got.OldFlavor)
	assert.Empty(t, e.allocations(m.UUID), "the source's claim is gone")
	assert.Contains(t, e.allocations(inst.UUID), a2.Node().UUID)
	mig, err = e.cloud.Store.Migrations().Get(e.ctx, m.UUID)
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationConfirmed, mig.Status)
	assert.Zero(t, e.fake.Host("host1").GuestCount())
	assert.Equal(t, 1, e.fake.Host("host2").GuestCount())
}

func TestResizeOnSameHostThenConfirm(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	inst := e.boot(a, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	m := e.resize(inst, a, a, bigger)
	got := e.wait(inst.UUID, agenttest.Settled)
	require.Equal(t, compute.VMResized, got.VMState, "faults: %v", e.faults(inst.UUID))
	assert.Equal(t, "host1", got.Host)
	mig, err := e.cloud.Store.Migrations().Get(e.ctx, m.UUID)
	require.NoError(t, err)
	_, err = e.cloud.Act(e.ctx, inst.UUID, compute.ActionConfirmResize, func(ctx context.Context, i *compute.Instance) error {
		return e.cloud.Client.ConfirmResize(ctx, i, mig)
	})
	require.NoError(t, err)
	got = e.wait(inst.UUID, agenttest.InState(compute.VMActive))
	assert.Equal(t, bigger.FlavorID, got.Flavor.FlavorID)
	assert.Equal(t, 1, e.fake.Host("host1").GuestCount())
	require.NoError(t, a.UpdateResources(e.ctx))
	assert.Equal(t, bigger.VCPUs, a.Node().VCPUsUsed, "only the new flavor counts once confirmed")
}

func TestResizeOfStoppedInstanceStaysStopped(t *testing.T) {
	e := newEnv(t, "host1", "host2")
	a1, a2 := e.start("host1", nil), e.start("host2", nil)
	inst := e.boot(a1, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	_, err := e.cloud.Act(e.ctx, inst.UUID, compute.ActionStop, func(ctx context.Context, i *compute.Instance) error {
		return e.cloud.Client.StopInstance(ctx, i, false)
	})
	require.NoError(t, err)
	e.wait(inst.UUID, agenttest.InState(compute.VMStopped))
	m := e.resize(inst, a1, a2, bigger)
	got := e.wait(inst.UUID, agenttest.Settled)
	require.Equal(t, compute.VMResized, got.VMState)
	assert.Equal(t, compute.PowerShutdown, got.PowerState, "a stopped instance is not powered on at the destination")
	mig, err := e.cloud.Store.Migrations().Get(e.ctx, m.UUID)
	require.NoError(t, err)
	_, err = e.cloud.Act(e.ctx, inst.UUID, compute.ActionConfirmResize, func(ctx context.Context, i *compute.Instance) error {
		return e.cloud.Client.ConfirmResize(ctx, i, mig)
	})
	require.NoError(t, err)
	got = e.wait(inst.UUID, agenttest.InState(compute.VMStopped))
	assert.Equal(t, "host2", got.Host)
}

func TestResizeFailingAtDestinationGoesError(t *testing.T) {
	e := newEnv(t, "host1", "host2")
	a1, a2 := e.start("host1", nil), e.start("host2", nil)
	inst := e.boot(a1, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	e.fake.Inject(fake.Fault{Host: "host2", Method: fake.MethodFinishMigr, Err: fake.ErrInjected})
	m := e.resize(inst, a1, a2, bigger)
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMError, got.VMState)
	fs := e.faults(inst.UUID)
	require.NotEmpty(t, fs)
	assert.Contains(t, fs[0].Message, "injected")
	mig, err := e.cloud.Store.Migrations().Get(e.ctx, m.UUID)
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationError, mig.Status)
	assert.Equal(t, compute.EventError, e.event(inst.UUID, "compute_finish_resize").Result)
}

func TestPrepResizeRefusedGivesAllocationBack(t *testing.T) {
	// A driver that cannot resize refuses at prep: the instance stays as
	// it was on its host, with its allocation back.
	e := newEnv(t, "host1", "host2")
	a1 := e.start("host1", nil)
	noResize := fake.DefaultCapabilities()
	noResize.Resize, noResize.ResizeSameHost = false, false
	fc2, err := fake.New(fake.Config{Names: []string{"host2"}, Capabilities: &noResize})
	require.NoError(t, err)
	t.Cleanup(func() { _ = fc2.Close() })
	o := e.cloud.Options("host2", fc2.Host("host2"))
	a2, err := e.cloud.StartAgent(e.ctx, o)
	require.NoError(t, err)
	inst := e.boot(a1, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	m := e.resize(inst, a1, a2, bigger)
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMActive, got.VMState)
	assert.Equal(t, "host1", got.Host)
	assert.Equal(t, agenttest.Flavor.FlavorID, got.Flavor.FlavorID)
	allocs := e.allocations(inst.UUID)
	assert.Contains(t, allocs, a1.Node().UUID)
	assert.NotContains(t, allocs, a2.Node().UUID)
	assert.Empty(t, e.allocations(m.UUID))
	mig, err := e.cloud.Store.Migrations().Get(e.ctx, m.UUID)
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationError, mig.Status)
	fs := e.faults(inst.UUID)
	require.NotEmpty(t, fs)
	assert.Equal(t, 501, fs[0].Code)
}

func TestRestartDuringResizeMigratingRollsBack(t *testing.T) {
	e := newEnv(t, "host1", "host2")
	a1, a2 := e.start("host1", nil), e.start("host2", nil)
	inst := e.boot(a1, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	slow := e.fake.Inject(fake.Fault{Host: "host1", Method: fake.MethodMigrateDisk, Delay: time.Hour})
	m := e.resize(inst, a1, a2, bigger)
	e.wait(inst.UUID, func(i *compute.Instance) bool { return i.TaskState == compute.TaskResizeMigrating })
	for slow.Calls() == 0 {
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, a1.Stop())
	slow.Remove()

	a1 = e.start("host1", nil)
	got, err := e.cloud.Store.Instances().Get(e.ctx, inst.UUID)
	require.NoError(t, err)
	assert.Equal(t, compute.TaskNone, got.TaskState)
	assert.Equal(t, compute.VMActive, got.VMState, "faults: %v", e.faults(inst.UUID))
	assert.Equal(t, "host1", got.Host)
	assert.Equal(t, agenttest.Flavor.FlavorID, got.Flavor.FlavorID)
	assert.Equal(t, compute.PowerRunning, got.PowerState)
	mig, err := e.cloud.Store.Migrations().Get(e.ctx, m.UUID)
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationError, mig.Status)
	allocs := e.allocations(inst.UUID)
	assert.Contains(t, allocs, a1.Node().UUID)
	assert.NotContains(t, allocs, a2.Node().UUID)
}

func TestResizeThenRevert(t *testing.T) {
	e := newEnv(t, "host1", "host2")
	a1, a2 := e.start("host1", nil), e.start("host2", nil)
	inst := e.boot(a1, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	m := e.resize(inst, a1, a2, bigger)
	require.Equal(t, compute.VMResized, e.wait(inst.UUID, agenttest.Settled).VMState)
	mig, err := e.cloud.Store.Migrations().Update(e.ctx, m.UUID, store.MigrationUpdate{Status: compute.Ptr(compute.MigrationReverting)})
	require.NoError(t, err)
	_, err = e.cloud.Act(e.ctx, inst.UUID, compute.ActionRevertResize, func(ctx context.Context, i *compute.Instance) error {
		return e.cloud.Client.RevertResize(ctx, i, mig)
	})
	require.NoError(t, err)
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMActive, got.VMState)
	assert.Equal(t, "host1", got.Host)
	assert.Equal(t, agenttest.Flavor.FlavorID, got.Flavor.FlavorID)
	assert.Equal(t, compute.PowerRunning, got.PowerState)
	allocs := e.allocations(inst.UUID)
	assert.Contains(t, allocs, a1.Node().UUID)
	assert.NotContains(t, allocs, a2.Node().UUID)
	assert.Empty(t, e.allocations(m.UUID))
	assert.Zero(t, e.fake.Host("host2").GuestCount())
	assert.Equal(t, 1, e.fake.Host("host1").GuestCount())
}

func TestPowerSyncStopsInstanceShutDownBehindOurBack(t *testing.T) {
	for _, events := range []bool{false, true} {
		name := "Periodic"
		if events {
			name = "LifecycleEvents"
		}
		t.Run(name, func(t *testing.T) { testPowerSync(t, events) })
	}
}

// testPowerSync changes a guest behind the agent's back and checks the
// instance follows, through the periodic sync (called here) or through
// the driver's lifecycle events alone.
func testPowerSync(t *testing.T, events bool) {
	e := newEnv(t)
	a := e.start("host1", nil)
	if !events {
		e.fake.ClearFaults()
		e.fake.Inject(fake.Fault{Method: fake.MethodEvents, Err: fake.ErrInjected}) // affects later agents only
		require.NoError(t, a.Stop())
		a = e.start("host1", nil)
	}
	sync := func() {
		if !events {
			a.SyncPowerStates(e.ctx)
		}
	}
	inst := e.boot(a, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	require.NoError(t, e.fake.Host("host1").SetPowerState(inst.UUID, compute.PowerShutdown))
	sync()
	got := e.wait(inst.UUID, func(i *compute.Instance) bool {
		return agenttest.InState(compute.VMStopped)(i) && i.PowerState == compute.PowerShutdown
	})
	if events {
		return
	}
	acts, err := e.cloud.Store.InstanceActions().List(e.ctx, inst.UUID, store.ActionFilter{}, compute.ListOptions{})
	require.NoError(t, err)
	assert.True(t, slices.ContainsFunc(acts, func(a *compute.InstanceAction) bool { return a.Action == "stop" }))

	// A stopped instance whose guest runs again is forced off.
	require.NoError(t, e.fake.Host("host1").SetPowerState(inst.UUID, compute.PowerRunning))
	sync()
	got = e.wait(inst.UUID, agenttest.InState(compute.VMStopped))
	info, err := e.fake.Host("host1").Info(e.ctx, compute.GuestOf(got))
	require.NoError(t, err)
	assert.Equal(t, compute.PowerShutdown, info.PowerState)

	// A vanished guest is NOSTATE.
	require.NoError(t, e.fake.Host("host1").Destroy(e.ctx, compute.GuestOf(got), compute.DestroyOptions{}))
	sync()
	e.wait(inst.UUID, func(i *compute.Instance) bool { return i.PowerState == compute.PowerNoState })
}

func TestPowerSyncLeavesLockedInstances(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	inst := e.boot(a, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	_, err := e.cloud.Store.Instances().Update(e.ctx, inst.UUID, compute.InstanceUpdate{Locked: compute.Ptr(true), LockedBy: compute.Ptr("admin")})
	require.NoError(t, err)
	require.NoError(t, e.fake.Host("host1").SetPowerState(inst.UUID, compute.PowerShutdown))
	a.SyncPowerStates(e.ctx)
	got := e.wait(inst.UUID, func(i *compute.Instance) bool { return i.PowerState == compute.PowerShutdown })
	assert.Equal(t, compute.VMActive, got.VMState, "a locked instance is not stopped")
}

// TestInitHostCleansUp puts instances in the states a crash leaves and
// checks what the next start makes of them (Nova's _init_instance).
func TestInitHostCleansUp(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", nil)
	boot := func() *compute.Instance {
		inst := e.boot(a, agenttest.BootOptions{})
		return e.wait(inst.UUID, agenttest.Settled)
	}
	type tc struct {
		name  string
		setup func(*compute.Instance) // after the agent stopped
		check func(*compute.Instance)
	}
	set := func(vm compute.VMState, task compute.TaskState) func(*compute.Instance) {
		return func(i *compute.Instance) {
			_, err := e.cloud.Store.Instances().Update(e.ctx, i.UUID, compute.InstanceUpdate{VMState: &vm, TaskState: &task})
			require.NoError(t, err)
		}
	}
	cases := []tc{
		{"SpawningGoesError", set(compute.VMBuilding, compute.TaskSpawning), func(i *compute.Instance) {
			assert.Equal(t, compute.VMError, i.VMState)
			assert.NotEmpty(t, e.faults(i.UUID))
		}},
		{"DeletingFinishesDelete", set(compute.VMActive, compute.TaskDeleting), func(i *compute.Instance) {
			assert.True(t, i.Deleted)
			assert.Empty(t, e.allocations(i.UUID))
		}},
		{"PoweringOffIsRedone", set(compute.VMActive, compute.TaskPoweringOff), func(i *compute.Instance) {
			assert.Equal(t, compute.VMStopped, i.VMState)
			assert.Equal(t, compute.PowerShutdown, i.PowerState)
		}},
		{"PoweringOnIsRedone", func(i *compute.Instance) {
			require.NoError(t, e.fake.Host("host1").SetPowerState(i.UUID, compute.PowerShutdown))
			set(compute.VMStopped, compute.TaskPoweringOn)(i)
		}, func(i *compute.Instance) {
			assert.Equal(t, compute.VMActive, i.VMState)
			assert.Equal(t, compute.PowerRunning, i.PowerState)
		}},
		{"RebootPendingIsRetried", set(compute.VMActive, compute.TaskRebootPending), func(i *compute.Instance) {
			assert.Equal(t, compute.VMActive, i.VMState)
		}},
		{"RebootStartedWithGuestDownIsRetriedHard", func(i *compute.Instance) {
			require.NoError(t, e.fake.Host("host1").SetPowerState(i.UUID, compute.PowerShutdown))
			set(compute.VMActive, compute.TaskRebootStarted)(i)
		}, func(i *compute.Instance) {
			assert.Equal(t, compute.VMActive, i.VMState)
			assert.Equal(t, compute.PowerRunning, i.PowerState)
		}},
		{"SnapshotTaskIsCleared", set(compute.VMActive, compute.TaskImageUploading), func(i *compute.Instance) {
			assert.Equal(t, compute.VMActive, i.VMState)
		}},
		{"RebuildingGoesError", set(compute.VMActive, compute.TaskRebuildSpawning), func(i *compute.Instance) {
			assert.Equal(t, compute.VMError, i.VMState)
		}},
		{"ResizeFinishGoesError", set(compute.VMActive, compute.TaskResizeFinish), func(i *compute.Instance) {
			assert.Equal(t, compute.VMError, i.VMState)
		}},
	}
	insts := make([]*compute.Instance, len(cases))
	for i := range cases {
		insts[i] = boot()
	}
	// A deleted instance whose guest survived.
	orphan := boot()
	require.NoError(t, a.Stop())
	for i, c := range cases {
		c.setup(insts[i])
	}
	_, err := e.cloud.Store.Instances().SoftDelete(e.ctx, orphan.UUID, compute.InstanceUpdate{})
	require.NoError(t, err)

	e.start("host1", nil)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := e.cloud.Store.Instances().GetWithDeleted(e.ctx, insts[i].UUID)
			require.NoError(t, err)
			assert.Equal(t, compute.TaskNone, got.TaskState, "nothing stuck")
			c.check(got)
		})
	}
	_, err = e.fake.Host("host1").Info(e.ctx, compute.Guest{UUID: orphan.UUID})
	assert.ErrorIs(t, err, compute.ErrNotFound, "the deleted instance's guest is destroyed")
}

func TestEvacuateThenSourceCleansUpWhenBack(t *testing.T) {
	e := newEnv(t, "host1", "host2")
	a1, a2 := e.start("host1", nil), e.start("host2", nil)
	inst := e.boot(a1, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	src := a1.Node().UUID
	require.NoError(t, a1.Stop()) // host1 goes down

	m, err := e.cloud.Store.Migrations().Create(e.ctx, &compute.Migration{
		InstanceUUID: inst.UUID, MigrationType: compute.MigrationTypeEvacuate, Status: compute.MigrationPreMigrating,
		SourceCompute: "host1", SourceNode: a1.Node().HypervisorHostname, DestCompute: "host2", DestNode: a2.Node().HypervisorHostname,
	})
	require.NoError(t, err)
	sel := agenttest.Selection("host2", a2.Node().UUID, a2.Node().HypervisorHostname, inst.Flavor)
	_, err = e.cloud.Act(e.ctx, inst.UUID, compute.ActionEvacuate, func(ctx context.Context, i *compute.Instance) error {
		// The conductor's claim: the instance holds both hosts until the
		// source comes back.
		cur, err := e.cloud.Placement.Consumer(ctx, i.UUID)
		if err != nil {
			return err
		}
		allocs := map[string]map[string]int64{}
		for rp, pa := range cur.Allocations {
			allocs[rp] = pa.Resources
		}
		allocs[a2.Node().UUID] = allocs[src]
		if err := e.cloud.Placement.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
			i.UUID: {Project: i.ProjectID, User: i.UserID, Generation: &cur.Generation, Allocations: allocs},
		}); err != nil {
			return err
		}
		return e.cloud.Client.RebuildInstance(ctx, "host2", i, compute.RebuildRequest{Evacuate: true, ImageRef: i.ImageRef}, m, &sel)
	})
	require.NoError(t, err)
	got := e.wait(inst.UUID, agenttest.Settled)
	assert.Equal(t, compute.VMActive, got.VMState)
	assert.Equal(t, "host2", got.Host)
	assert.Equal(t, 1, e.fake.Host("host2").GuestCount())
	// As in Nova, the migration is marked done after the instance is
	// saved: wait for it rather than read it once.
	require.Eventually(t, func() bool {
		mig, err := e.cloud.Store.Migrations().Get(e.ctx, m.UUID)
		return err == nil && mig.Status == compute.MigrationDone
	}, 10*time.Second, 5*time.Millisecond, "the evacuation's migration ends done")

	// host1 comes back: its stale guest goes, and so does its share of
	// the allocations.
	assert.Equal(t, 1, e.fake.Host("host1").GuestCount())
	e.start("host1", nil)
	assert.Zero(t, e.fake.Host("host1").GuestCount())
	allocs := e.allocations(inst.UUID)
	assert.NotContains(t, allocs, src)
	assert.Contains(t, allocs, a2.Node().UUID)
	got, err = e.cloud.Store.Instances().Get(e.ctx, inst.UUID)
	require.NoError(t, err)
	assert.Equal(t, compute.VMActive, got.VMState, "the source leaves the moved instance alone")
}

func TestHeartbeatsKeepTheServiceUp(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", func(o *agent.Options) { o.ReportInterval = time.Millisecond })
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	for {
		svc, err := e.cloud.Store.Services().Get(ctx, a.Service().UUID)
		require.NoError(t, err)
		if svc.ReportCount >= 3 {
			assert.True(t, svc.IsUp(time.Now(), compute.DefaultServiceDownTime))
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("report count stays at %d", svc.ReportCount)
		case <-time.After(time.Millisecond):
		}
	}
}

func TestHeartbeatReregistersDeletedService(t *testing.T) {
	e := newEnv(t)
	a := e.start("host1", func(o *agent.Options) { o.ReportInterval = time.Millisecond })
	old := a.Service().UUID
	require.NoError(t, e.cloud.Store.Services().Delete(e.ctx, old))
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	for {
		svc, err := e.cloud.Store.Services().GetByHostBinary(ctx, "host1", agent.Binary)
		if err == nil {
			assert.NotEqual(t, old, svc.UUID)
			return
		}
		require.ErrorIs(t, err, compute.ErrNotFound)
		select {
		case <-ctx.Done():
			t.Fatal("the service was not registered again")
		case <-time.After(time.Millisecond):
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	fc, err := fake.New(fake.Config{})
	require.NoError(t, err)
	base := agent.Options{Host: "h", Driver: fc.Host("host1"), Conductor: &agenttest.Conductor{}, Placement: placement.New(placement.Options{})}
	cases := map[string]func(*agent.Options){
		"Host":      func(o *agent.Options) { o.Host = "" },
		"Driver":    func(o *agent.Options) { o.Driver = nil },
		"Conductor": func(o *agent.Options) { o.Conductor = nil },
		"Placement": func(o *agent.Options) { o.Placement = nil },
		"Transport": func(o *agent.Options) {},
	}
	for field, mod := range cases {
		o := base
		mod(&o)
		_, err := agent.New(o)
		require.Error(t, err, field)
		assert.ErrorIs(t, err, compute.ErrInvalidInput)
		assert.Contains(t, err.Error(), field)
	}
}

func TestClientRefusesMessagesWithoutHost(t *testing.T) {
	e := newEnv(t)
	c := e.cloud.Client
	noHost := &compute.Instance{UUID: "0b1c1e2a-0000-4000-8000-000000000001"}
	calls := map[string]func() error{
		"StopInstance":      func() error { return c.StopInstance(e.ctx, noHost, true) },
		"StartInstance":     func() error { return c.StartInstance(e.ctx, noHost) },
		"RebootInstance":    func() error { return c.RebootInstance(e.ctx, noHost, false) },
		"TerminateInstance": func() error { return c.TerminateInstance(e.ctx, noHost) },
		"SnapshotNoImage":   func() error { return c.SnapshotInstance(e.ctx, &compute.Instance{Host: "h"}, "") },
		"ConfirmNoMigr":     func() error { return c.ConfirmResize(e.ctx, noHost, nil) },
		"RevertNoMigr":      func() error { return c.RevertResize(e.ctx, noHost, nil) },
		"BuildNoHost": func() error {
			return c.BuildAndRunInstance(e.ctx, "", noHost, &compute.BuildRequest{}, compute.Selection{}, nil)
		},
		"Console": func() error {
			_, err := c.GetConsoleOutput(e.ctx, noHost, 0)
			return err
		},
	}
	for name, call := range calls {
		assert.ErrorIs(t, call(), compute.ErrInvalidInput, name)
	}
}

// flakyConductor fails service registration a few times, as a conductor
// that is not up yet does.
type flakyConductor struct {
	agent.Conductor
	fails atomic.Int32
}

func (f *flakyConductor) GetService(ctx context.Context, host, binary string) (*compute.Service, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, fmt.Errorf("conductor: %w", compute.ErrUnavailable)
	}
	return f.Conductor.GetService(ctx, host, binary)
}

func TestStartWaitsForTheConductor(t *testing.T) {
	e := newEnv(t)
	fc := &flakyConductor{Conductor: e.cloud.Conductor}
	fc.fails.Store(2)
	a := e.start("host1", func(o *agent.Options) { o.Conductor = fc })
	assert.NotNil(t, a.Service())
	assert.Equal(t, int32(-1), fc.fails.Load(), "two refusals, then success")
}

// brokenPlacement fails every provider read, as an unreachable placement.
type brokenPlacement struct{ agent.Placement }

func (brokenPlacement) Provider(context.Context, string) (placement.ResourceProvider, error) {
	return placement.ResourceProvider{}, fmt.Errorf("placement: %w", compute.ErrUnavailable)
}

func TestStartsWhenPlacementIsDownAndReportsLater(t *testing.T) {
	e := newEnv(t)
	bp := brokenPlacement{e.cloud.Placement}
	a := e.start("host1", func(o *agent.Options) { o.Placement = bp })
	assert.NotNil(t, a.Service(), "the service registered")
	assert.Nil(t, a.Node(), "no node yet")
	_, err := e.cloud.Placement.Provider(e.ctx, fake.NodeUUID("host1"))
	assert.ErrorIs(t, err, placement.ErrNotFound)
	require.NoError(t, a.Stop())
	a = e.start("host1", nil)
	require.NotNil(t, a.Node())
	_, err = e.cloud.Placement.Provider(e.ctx, a.Node().UUID)
	assert.NoError(t, err)
}

// A build the agent is still running is left alone; one it no longer
// runs (its calls failed midway) is put in ERROR with its claim released.
func TestReapOrphanedBuilds(t *testing.T) {
	e := newEnv(t)
	later := func() time.Time { return time.Now().Add(time.Minute) }
	a := e.start("host1", func(o *agent.Options) { o.Now = later })
	slow := e.fake.Inject(fake.Fault{Method: fake.MethodSpawn, Delay: time.Hour})
	running := e.boot(a, agenttest.BootOptions{})
	e.wait(running.UUID, func(i *compute.Instance) bool { return i.TaskState == compute.TaskSpawning })
	for slow.Calls() == 0 {
		time.Sleep(time.Millisecond)
	}
	slow.Remove()

	// An abandoned build: the record says block_device_mapping on host1
	// and no operation of the agent runs it.
	inst := e.boot(a, agenttest.BootOptions{})
	e.wait(inst.UUID, agenttest.Settled)
	_, err := e.cloud.Store.Instances().Update(e.ctx, inst.UUID, compute.InstanceUpdate{
		VMState: compute.Ptr(compute.VMBuilding), TaskState: compute.Ptr(compute.TaskBlockDeviceMapping),
	})
	require.NoError(t, err)

	// The agent reaps every resource interval; the test calls it until
	// the operation that settled the instance has let go of its lock.
	require.Eventually(t, func() bool {
		a.ReapOrphanedBuilds(e.ctx)
		got, err := e.cloud.Store.Instances().Get(e.ctx, inst.UUID)
		return err == nil && got.VMState == compute.VMError
	}, 10*time.Second, 10*time.Millisecond)
	got, err := e.cloud.Store.Instances().Get(e.ctx, running.UUID)
	require.NoError(t, err)
	assert.Equal(t, compute.TaskSpawning, got.TaskState, "a build in progress is not reaped")

	got, err = e.cloud.Store.Instances().Get(e.ctx, inst.UUID)
	require.NoError(t, err)
	assert.Equal(t, compute.VMError, got.VMState)
	assert.Equal(t, compute.TaskNone, got.TaskState)
	fs := e.faults(inst.UUID)
	require.NotEmpty(t, fs)
	assert.Contains(t, fs[0].Message, "abandoned")
	c, err := e.cloud.Placement.Consumer(e.ctx, inst.UUID)
	if err == nil {
		assert.Empty(t, c.Allocations, "the orphan's claim is released")
	}
}
