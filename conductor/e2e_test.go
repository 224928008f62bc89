package conductor_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/agent"
	"github.com/novakit/novakit/compute/agent/agenttest"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/drivers/fake"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/queue"
	"github.com/novakit/novakit/scheduler"
	"github.com/novakit/novakit/scheduler/storesource"
	"github.com/novakit/novakit/store"
)

// The conductor is the agents' agent.Conductor, over the queue and
// in-process, and agent.Client is the conductor's Agent.
var (
	_ agent.Conductor = (*conductor.Client)(nil)
	_ agent.Conductor = (*conductor.Service)(nil)
	_ conductor.Agent = (*agent.Client)(nil)
)

// cloud is the whole control plane over mem://: the conductor served on
// its topic, the real scheduler, placement.Index, and real compute agents
// on fake hosts talking to the conductor through conductor.Client.
type cloud struct {
	t      testing.TB
	ctx    context.Context
	st     *store.Store
	pl     *placement.Index
	fake   *fake.Cloud
	cc     *conductor.Client
	agents *agent.Client
	images *agenttest.Images
}

func newCloud(t testing.TB, hosts int) *cloud {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://:memory:", nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	pl := placement.New(placement.Options{})
	tr, err := queue.Open(ctx, "mem://")
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	codes := queue.NewErrorCodes()
	require.NoError(t, agent.RegisterErrors(codes))
	require.NoError(t, conductor.RegisterErrors(codes))
	qc, err := tr.NewClient(queue.ClientConfig{Errors: codes, Timeout: time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { qc.Close() })
	log := slog.New(slog.DiscardHandler)

	sched, err := scheduler.New(scheduler.Config{Placement: pl, Hosts: storesource.New(st), Logger: log})
	require.NoError(t, err)
	c := &cloud{t: t, ctx: ctx, st: st, pl: pl, agents: agent.NewClient(qc), cc: conductor.NewClient(qc)}
	svc := conductor.New(st, sched, pl, c.agents, conductor.Config{Logger: log})
	srv, err := conductor.Serve(ctx, tr, "conductor1", svc, codes)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Stop(context.Background()) })

	c.fake, err = fake.New(fake.Config{Hosts: hosts})
	require.NoError(t, err)
	t.Cleanup(func() { c.fake.Close() })
	images := agenttest.NewImages()
	c.images = images
	for _, h := range c.fake.Hosts() {
		a, err := agent.New(agent.Options{Host: h.Name(), Driver: h, Conductor: c.cc,
			Placement: pl, Images: images, Transport: tr, Errors: codes, Logger: log,
			ReportInterval: time.Hour, ResourceInterval: time.Hour, PowerSyncInterval: -1, ShutdownTimeout: 5 * time.Second})
		require.NoError(t, err)
		actx, cancel := context.WithCancel(ctx)
		require.NoError(t, a.Start(actx))
		t.Cleanup(func() {
			cancel()
			// Wait's signature is changing in compute/agent; take either.
			switch w := any(a).(type) {
			case interface{ Wait() error }:
				_ = w.Wait()
			case interface{ Wait(context.Context) error }:
				_ = w.Wait(actx)
			}
		})
	}
	return c
}

// boot does the API's part of a create and casts it to the conductor.
func (c *cloud) boot(n int, f compute.Flavor) *compute.BuildRequest {
	c.t.Helper()
	req := &compute.BuildRequest{RequestID: "req-" + uuid.NewString(),
		Spec: &compute.RequestSpec{ProjectID: "p1", UserID: "u1", Flavor: f, Image: compute.ImageMeta{ID: agenttest.DefaultImage}, NumInstances: n}}
	for i := range n {
		id := uuid.NewString()
		_, err := c.st.Instances().Create(c.ctx, &compute.Instance{UUID: id, Name: fmt.Sprintf("e2e-%d", i), Hostname: "e2e",
			ProjectID: "p1", UserID: "u1", ImageRef: agenttest.DefaultImage, Flavor: f,
			VMState: compute.VMBuilding, TaskState: compute.TaskScheduling, LaunchIndex: i})
		require.NoError(c.t, err)
		_, err = c.st.InstanceActions().Start(c.ctx, &compute.InstanceAction{Action: "create", InstanceUUID: id,
			RequestID: req.RequestID, UserID: "u1", ProjectID: "p1"})
		require.NoError(c.t, err)
		req.InstanceUUIDs = append(req.InstanceUUIDs, id)
	}
	require.NoError(c.t, c.cc.ScheduleAndBuildInstances(c.ctx, req))
	return req
}

// wait polls the instance until ok says yes (the flows are casts: their
// outcome is only visible in the database, as in Nova).
func (c *cloud) wait(id string, what string, ok func(*compute.Instance) bool) *compute.Instance {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Minute)
	defer cancel()
	for {
		in, err := c.st.Instances().Get(ctx, id)
		if err == nil && ok(in) {
			return in
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("instance %s never became %s (last: %+v, %v)", id, what, in, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (c *cloud) rpOf(host string) string {
	c.t.Helper()
	nodes, err := c.st.ComputeNodes().List(c.ctx, store.ComputeNodeFilter{Host: host}, compute.ListOptions{})
	require.NoError(c.t, err)
	require.Len(c.t, nodes, 1)
	return nodes[0].UUID
}

func (c *cloud) allocs(consumer string) map[string]map[string]int64 {
	co, err := c.pl.Consumer(c.ctx, consumer)
	if errors.Is(err, placement.ErrNotFound) {
		return nil
	}
	require.NoError(c.t, err)
	out := map[string]map[string]int64{}
	for rp, pa := range co.Allocations {
		out[rp] = pa.Resources
	}
	return out
}

func active(in *compute.Instance) bool {
	return in.VMState == compute.VMActive && in.TaskState == compute.TaskNone
}

// TestEndToEnd runs the conductor's flows with the real agents and
// scheduler: a multi-create boot, a build rescheduled after a spawn
// failure, and a resize confirmed through the agents.
func TestEndToEnd(t *testing.T) {
	c := newCloud(t, 3)
	f := compute.Flavor{FlavorID: "e1", Name: "e2e.small", VCPUs: 1, MemoryMB: 256, RootGB: 1}

	req := c.boot(3, f)
	for _, id := range req.InstanceUUIDs {
		in := c.wait(id, "ACTIVE", active)
		assert.Equal(t, compute.PowerRunning, in.PowerState)
		assert.Equal(t, []string{c.rpOf(in.Host)}, keys(c.allocs(id)))
	}

	t.Run("reschedule", func(t *testing.T) {
		for _, h := range c.fake.Hosts()[:2] {
			inj := c.fake.Inject(fake.Fault{Host: h.Name(), Method: fake.MethodSpawn, Err: fmt.Errorf("%w: injected", compute.ErrTransient)})
			defer inj.Remove()
		}
		good := c.fake.Hosts()[2].Name()
		// Several boots one after the other: the weighers spread them, so
		// some land first on a failing host and are rescheduled.
		rescheduled := 0
		for range 4 {
			r := c.boot(1, f)
			id := r.InstanceUUIDs[0]
			in := c.wait(id, "ACTIVE or ERROR", func(in *compute.Instance) bool { return active(in) || in.VMState == compute.VMError })
			require.Equal(t, compute.VMActive, in.VMState, "faults: %v", c.faultsOf(id))
			assert.Equal(t, good, in.Host)
			assert.Equal(t, []string{c.rpOf(good)}, keys(c.allocs(id)))
			a, err := c.st.InstanceActions().Get(c.ctx, id, r.RequestID)
			require.NoError(t, err)
			for _, ev := range a.Events {
				if ev.Event == conductor.EventBuildInstances {
					rescheduled++
				}
			}
		}
		assert.Positive(t, rescheduled, "no build was rescheduled")
	})

	t.Run("resize and confirm", func(t *testing.T) {
		id := req.InstanceUUIDs[0]
		in, err := c.st.Instances().Get(c.ctx, id)
		require.NoError(t, err)
		src := in.Host
		_, err = c.st.Instances().Update(c.ctx, id, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskNone}, TaskState: compute.Ptr(compute.TaskResizePrep)})
		require.NoError(t, err)
		_, err = c.st.InstanceActions().Start(c.ctx, &compute.InstanceAction{Action: "resize", InstanceUUID: id, RequestID: "req-resize", UserID: "u1", ProjectID: "p1"})
		require.NoError(t, err)
		nf := compute.Flavor{FlavorID: "e2", Name: "e2e.medium", VCPUs: 2, MemoryMB: 512, RootGB: 2}
		require.NoError(t, c.cc.MigrateServer(c.ctx, in, compute.MigrateRequest{RequestID: "req-resize", NewFlavor: &nf, CleanShutdown: true}))
		in = c.wait(id, "VERIFY_RESIZE", func(in *compute.Instance) bool {
			return in.VMState == compute.VMResized && in.TaskState == compute.TaskNone
		})
		assert.NotEqual(t, src, in.Host)
		migID := conductor.MigrationUUID(id, "req-resize")
		m, err := c.st.Migrations().Get(c.ctx, migID)
		require.NoError(t, err)
		assert.Equal(t, compute.MigrationFinished, m.Status)
		assert.Equal(t, []string{c.rpOf(src)}, keys(c.allocs(migID)), "source usage held by the migration")
		assert.Equal(t, map[string]int64{"VCPU": 2, "MEMORY_MB": 512, "DISK_GB": 2}, c.allocs(id)[c.rpOf(in.Host)])

		// Confirm, as the API does: migration confirming, cast to the source.
		_, err = c.st.Migrations().Update(c.ctx, migID, store.MigrationUpdate{Status: compute.Ptr(compute.MigrationConfirming)})
		require.NoError(t, err)
		_, err = c.st.Instances().Update(c.ctx, id, compute.InstanceUpdate{TaskState: compute.Ptr(compute.TaskResizeConfirming)})
		require.NoError(t, err)
		require.NoError(t, c.agents.ConfirmResize(c.ctx, in, m))
		in = c.wait(id, "ACTIVE", active)
		assert.Equal(t, "e2", in.Flavor.FlavorID)
		ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
		defer cancel()
		for c.allocs(migID) != nil {
			select {
			case <-ctx.Done():
				t.Fatal("the migration's allocation was never released")
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
}

// setTask does the API's part of an action: the task state and the
// action record.
func (c *cloud) setTask(id string, task compute.TaskState, requestID string, action compute.Action) *compute.Instance {
	c.t.Helper()
	in, err := c.st.Instances().Update(c.ctx, id, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskNone}, TaskState: &task})
	require.NoError(c.t, err)
	_, err = c.st.InstanceActions().Start(c.ctx, &compute.InstanceAction{Action: action.RecordName(), InstanceUUID: id,
		RequestID: requestID, UserID: in.UserID, ProjectID: in.ProjectID})
	require.NoError(c.t, err)
	return in
}

// TestEndToEndEvacuateAndUnshelve evacuates an instance from a host
// whose service is forced down, then shelves (offloading at once) and
// unshelves it, with the real agents and scheduler.
func TestEndToEndEvacuateAndUnshelve(t *testing.T) {
	c := newCloud(t, 3)
	f := compute.Flavor{FlavorID: "e1", Name: "e2e.small", VCPUs: 1, MemoryMB: 256, RootGB: 1}
	id := c.boot(1, f).InstanceUUIDs[0]
	in := c.wait(id, "ACTIVE", active)
	src := in.Host

	svc, err := c.st.Services().GetByHostBinary(c.ctx, src, "nova-compute")
	require.NoError(t, err)
	_, err = c.st.Services().Update(c.ctx, svc.UUID, store.ServiceUpdate{ForcedDown: compute.Ptr(true)})
	require.NoError(t, err)
	in = c.setTask(id, compute.TaskRebuilding, "req-evac", compute.ActionEvacuate)
	require.NoError(t, c.cc.RebuildInstance(c.ctx, in, compute.RebuildRequest{RequestID: "req-evac", ImageRef: in.ImageRef, Evacuate: true}))
	in = c.wait(id, "ACTIVE elsewhere", func(in *compute.Instance) bool { return active(in) && in.Host != src })
	dest := in.Host
	assert.Contains(t, keys(c.allocs(id)), c.rpOf(dest))
	m, err := c.st.Migrations().Get(c.ctx, conductor.MigrationUUID(id, "req-evac"))
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationTypeEvacuate, m.MigrationType)
	assert.Equal(t, dest, m.DestCompute)

	img, err := c.images.CreateImage(c.ctx, compute.ImageMeta{Name: "shelved", DiskFormat: "raw", ContainerFormat: "bare"}, "p1")
	require.NoError(t, err)
	in = c.setTask(id, compute.TaskShelving, "req-shelve", compute.ActionShelve)
	require.NoError(t, c.agents.ShelveInstance(c.ctx, in, img.ID))
	in = c.wait(id, "SHELVED_OFFLOADED", func(in *compute.Instance) bool {
		return in.VMState == compute.VMShelvedOffloaded && in.TaskState == compute.TaskNone
	})
	assert.Empty(t, in.Host)

	in = c.setTask(id, compute.TaskUnshelving, "req-unshelve", compute.ActionUnshelve)
	require.NoError(t, c.cc.UnshelveInstance(c.ctx, in, compute.UnshelveRequest{RequestID: "req-unshelve"}))
	in = c.wait(id, "ACTIVE", active)
	require.NotEmpty(t, in.Host)
	assert.NotEqual(t, src, in.Host, "the forced-down host is not scheduled")
	assert.Equal(t, []string{c.rpOf(in.Host)}, keys(c.allocs(id)))
}

func (c *cloud) faultsOf(id string) []string {
	fs, _ := c.st.Faults().List(c.ctx, id)
	var out []string
	for _, f := range fs {
		out = append(out, f.Message+": "+f.Details)
	}
	return out
}
