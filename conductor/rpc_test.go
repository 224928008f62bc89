package conductor_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/internal/testsvc"
	"github.com/novakit/novakit/queue"
)

// apiConductor is the API's view of the conductor (/work/contracts.md).
type apiConductor interface {
	ScheduleAndBuildInstances(ctx context.Context, req *compute.BuildRequest) error
	MigrateServer(ctx context.Context, inst *compute.Instance, req compute.MigrateRequest) error
	RebuildInstance(ctx context.Context, inst *compute.Instance, req compute.RebuildRequest) error
	UnshelveInstance(ctx context.Context, inst *compute.Instance, req compute.UnshelveRequest) error
}

// agentConductor is the compute agent's view of the conductor
// (compute/agent/conductorapi.go).
type agentConductor interface {
	GetInstance(ctx context.Context, uuid string) (*compute.Instance, error)
	ListInstances(ctx context.Context, f compute.InstanceFilter) ([]*compute.Instance, error)
	UpdateInstance(ctx context.Context, uuid string, u compute.InstanceUpdate) (*compute.Instance, error)
	SoftDeleteInstance(ctx context.Context, uuid string, u compute.InstanceUpdate) (*compute.Instance, error)
	StartInstanceAction(ctx context.Context, a *compute.InstanceAction) error
	StartInstanceEvent(ctx context.Context, instanceUUID, requestID, event, host string) error
	FinishInstanceEvent(ctx context.Context, instanceUUID, requestID, event, result, traceback, details string) error
	AddInstanceFault(ctx context.Context, f *compute.InstanceFault) error
	GetService(ctx context.Context, host, binary string) (*compute.Service, error)
	CreateService(ctx context.Context, svc *compute.Service) (*compute.Service, error)
	ServiceHeartbeat(ctx context.Context, serviceUUID string) (*compute.Service, error)
	UpdateComputeNode(ctx context.Context, n *compute.ComputeNode) (*compute.ComputeNode, error)
	GetMigration(ctx context.Context, uuid string) (*compute.Migration, error)
	UpdateMigrationStatus(ctx context.Context, uuid string, expected []string, status string) (*compute.Migration, error)
	MigrationsInProgress(ctx context.Context, host string) ([]*compute.Migration, error)
	BlockDeviceMappings(ctx context.Context, instanceUUID string) ([]compute.BlockDeviceMapping, error)
	GetRequestSpec(ctx context.Context, instanceUUID string) (*compute.RequestSpec, error)
	RescheduleInstance(ctx context.Context, req *compute.RescheduleRequest) error
}

var (
	_ apiConductor   = (*conductor.Service)(nil)
	_ apiConductor   = (*conductor.Client)(nil)
	_ agentConductor = (*conductor.Service)(nil)
	_ agentConductor = (*conductor.Client)(nil)
)

// overQueue serves e's conductor on a mem:// transport and returns a
// client of it.
func overQueue(t *testing.T, e *env) *conductor.Client { return overQueueAt(t, e, "mem://") }

// overQueueAt serves e's conductor on the transport at url and returns a
// client of it.
func overQueueAt(t *testing.T, e *env, url string) *conductor.Client {
	t.Helper()
	tr, err := queue.Open(e.ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	srv, err := conductor.Serve(e.ctx, tr, "conductor1", e.c, nil)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Stop(context.Background()) })
	qc, err := tr.NewClient(queue.ClientConfig{Errors: conductor.ErrorCodes(), Timeout: time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { qc.Close() })
	return conductor.NewClient(qc)
}

// waitBuilt waits for the agent double to report n instances ACTIVE.
func waitBuilt(t *testing.T, e *env, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute)
	defer cancel()
	var got []string
	for len(got) < n {
		select {
		case id := <-e.agent.built:
			got = append(got, id)
		case <-ctx.Done():
			t.Fatalf("only %d of %d instances were built", len(got), n)
		}
	}
	return got
}

func TestOverQueueBuildAndReschedule(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{})
	e.agent.built = make(chan string, 8)
	e.agent.fail["host0"] = true
	cc := overQueue(t, e)
	req := e.newInstances(3, small)
	require.NoError(t, cc.ScheduleAndBuildInstances(e.ctx, req))
	assert.ElementsMatch(t, req.InstanceUUIDs, waitBuilt(t, e, 3))
	for _, id := range req.InstanceUUIDs {
		in, err := cc.GetInstance(e.ctx, id)
		require.NoError(t, err)
		assert.Equal(t, compute.VMActive, in.VMState)
		assert.Equal(t, "host1", in.Host)
	}
	require.ErrorIs(t, cc.ScheduleAndBuildInstances(e.ctx, &compute.BuildRequest{}), compute.ErrInvalidInput)
}

func TestOverQueueErrorsKeepTheirMeaning(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{})
	cc := overQueue(t, e)
	in := e.active(small)

	_, err := cc.GetInstance(e.ctx, uuid.NewString())
	require.ErrorIs(t, err, compute.ErrNotFound)

	_, err = cc.UpdateInstance(e.ctx, in.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskSpawning}, TaskState: compute.Ptr(compute.TaskNone)})
	require.ErrorIs(t, err, compute.ErrConflict)
	require.ErrorIs(t, err, compute.ErrInvalidState)
	require.ErrorIs(t, err, conductor.ErrStateConflict)

	_, err = cc.UpdateInstance(e.ctx, in.UUID, compute.InstanceUpdate{ExpectedVMStates: []compute.VMState{"bogus"}})
	require.ErrorIs(t, err, compute.ErrInvalidInput)

	e.setTask(in.UUID, compute.VMActive, compute.TaskResizePrep, "req-m", compute.ActionMigrate)
	err = cc.MigrateServer(e.ctx, in, compute.MigrateRequest{RequestID: "req-m", Host: "nowhere"})
	require.ErrorIs(t, err, compute.ErrNoValidHost)

	_, err = cc.CreateService(e.ctx, &compute.Service{Host: "host0", Binary: "nova-compute"})
	require.ErrorIs(t, err, compute.ErrConflict)

	m, err := cc.GetMigration(e.ctx, conductor.MigrationUUID(in.UUID, "req-m"))
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationError, m.Status)
	_, err = cc.UpdateMigrationStatus(e.ctx, m.UUID, []string{compute.MigrationMigrating}, compute.MigrationPostMigrating)
	require.ErrorIs(t, err, compute.ErrConflict)
}

func TestOverQueueAgentCalls(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{})
	cc := overQueue(t, e)
	in := e.active(small)
	ctx := e.ctx

	list, err := cc.ListInstances(ctx, compute.InstanceFilter{Host: "host0"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, in.UUID, list[0].UUID)

	require.NoError(t, cc.StartInstanceAction(ctx, &compute.InstanceAction{Action: "stop", InstanceUUID: in.UUID, RequestID: "req-s", UserID: "u1", ProjectID: "p1"}))
	require.NoError(t, cc.StartInstanceEvent(ctx, in.UUID, "req-s", "compute_stop_instance", "host0"))
	require.NoError(t, cc.FinishInstanceEvent(ctx, in.UUID, "req-s", "compute_stop_instance", compute.EventSuccess, "", ""))
	ev := e.event(in.UUID, "req-s", "compute_stop_instance")
	require.NotNil(t, ev)
	assert.Equal(t, compute.EventSuccess, ev.Result)
	require.ErrorIs(t, cc.StartInstanceEvent(ctx, in.UUID, "req-none", "x", "host0"), compute.ErrNotFound)

	require.NoError(t, cc.AddInstanceFault(ctx, &compute.InstanceFault{InstanceUUID: in.UUID, Message: "boom"}))
	assert.Len(t, e.faults(in.UUID), 1)

	svc, err := cc.GetService(ctx, "host0", "nova-compute")
	require.NoError(t, err)
	hb, err := cc.ServiceHeartbeat(ctx, svc.UUID)
	require.NoError(t, err)
	assert.Equal(t, svc.ReportCount+1, hb.ReportCount)
	created, err := cc.CreateService(ctx, &compute.Service{Host: "host9", Binary: "nova-compute"})
	require.NoError(t, err)
	assert.NotEmpty(t, created.UUID)

	n, err := cc.UpdateComputeNode(ctx, &compute.ComputeNode{Host: "host9", HypervisorHostname: "host9.node", HypervisorType: "fake", VCPUs: 8})
	require.NoError(t, err)
	assert.NotEmpty(t, n.UUID)
	n2, err := cc.UpdateComputeNode(ctx, &compute.ComputeNode{Host: "host9", HypervisorHostname: "host9.node", HypervisorType: "fake", VCPUs: 16})
	require.NoError(t, err)
	assert.Equal(t, n.UUID, n2.UUID)
	assert.Equal(t, 16, n2.VCPUs)

	e.setTask(in.UUID, compute.VMActive, compute.TaskResizePrep, "req-r", compute.ActionResize)
	nf := medium
	require.NoError(t, cc.MigrateServer(ctx, in, compute.MigrateRequest{RequestID: "req-r", NewFlavor: &nf}))
	migs, err := cc.MigrationsInProgress(ctx, "host1")
	require.NoError(t, err)
	require.Len(t, migs, 1)
	m, err := cc.UpdateMigrationStatus(ctx, migs[0].UUID, []string{compute.MigrationPreMigrating}, compute.MigrationMigrating)
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationMigrating, m.Status)

	bdms, err := cc.BlockDeviceMappings(ctx, in.UUID)
	require.NoError(t, err)
	assert.Empty(t, bdms)
	spec, err := cc.GetRequestSpec(ctx, in.UUID)
	require.NoError(t, err)
	assert.Equal(t, in.UUID, spec.InstanceUUID)

	del, err := cc.SoftDeleteInstance(ctx, in.UUID, compute.InstanceUpdate{})
	require.NoError(t, err)
	assert.True(t, del.Deleted)
	_, err = cc.GetInstance(ctx, in.UUID)
	require.ErrorIs(t, err, compute.ErrNotFound)
}

func TestOverQueueRebuildAndUnshelveCasts(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{})
	cc := overQueue(t, e)
	a := e.active(small)
	e.setTask(a.UUID, compute.VMActive, compute.TaskRebuilding, "req-rb", compute.ActionRebuild)
	require.NoError(t, cc.RebuildInstance(e.ctx, a, compute.RebuildRequest{RequestID: "req-rb", ImageRef: "img"}))
	b := e.active(small)
	e.setTask(b.UUID, compute.VMShelved, compute.TaskUnshelving, "req-un", compute.ActionUnshelve)
	require.NoError(t, cc.UnshelveInstance(e.ctx, b, compute.UnshelveRequest{RequestID: "req-un"}))
	// Casts: wait for the agent double to have seen both.
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	for len(e.agent.castsOf("rebuild")) == 0 || len(e.agent.castsOf("unshelve")) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the casts never reached the agent")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestOverRabbitMQ runs the build flow with a reschedule, and the error
// mapping, over a real RabbitMQ broker.
func TestOverRabbitMQ(t *testing.T) {
	url := testsvc.SharedRabbitMQ(t).URL()
	e := newEnv(t, "", 3, conductor.Config{})
	e.agent.built = make(chan string, 8)
	e.agent.fail["host0"] = true
	cc := overQueueAt(t, e, url)
	req := e.newInstances(3, small)
	require.NoError(t, cc.ScheduleAndBuildInstances(e.ctx, req))
	assert.ElementsMatch(t, req.InstanceUUIDs, waitBuilt(t, e, 3))
	for _, id := range req.InstanceUUIDs {
		in, err := cc.GetInstance(e.ctx, id)
		require.NoError(t, err)
		assert.Equal(t, compute.VMActive, in.VMState)
		assert.Equal(t, "host1", in.Host)
	}
	in := e.instance(req.InstanceUUIDs[0])
	_, err := cc.UpdateInstance(e.ctx, in.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskSpawning}, TaskState: compute.Ptr(compute.TaskNone)})
	require.ErrorIs(t, err, compute.ErrConflict)
	require.ErrorIs(t, err, compute.ErrInvalidState)
	e.setTask(in.UUID, compute.VMActive, compute.TaskResizePrep, "req-m", compute.ActionMigrate)
	err = cc.MigrateServer(e.ctx, in, compute.MigrateRequest{RequestID: "req-m", Host: "nowhere"})
	require.ErrorIs(t, err, compute.ErrNoValidHost)
}
