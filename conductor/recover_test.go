package conductor_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/store"
)

// dies runs fn in a goroutine and waits for it to end; the hooks of the
// doubles end it with runtime.Goexit where a crash is simulated, so the
// flow stops without any of its rollbacks (as a killed process would).
func dies(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

func downHost0(t *testing.T, e *env) {
	t.Helper()
	svc, err := e.st.Services().GetByHostBinary(e.ctx, "host0", "nova-compute")
	require.NoError(t, err)
	_, err = e.st.Services().Update(e.ctx, svc.UUID, store.ServiceUpdate{ForcedDown: compute.Ptr(true)})
	require.NoError(t, err)
}

func TestRecoverEvacuation(t *testing.T) {
	for name, crash := range map[string]func(e *env){
		"after the destination claim": func(e *env) {
			e.sched.afterClaim = func(string) { runtime.Goexit() }
		},
		"after the allocations were merged": func(e *env) {
			e.agent.onCast = func(string) { runtime.Goexit() }
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, "", 3, conductor.Config{StuckAfter: -1})
			in := e.active(small)
			src := e.allocs(in.UUID)
			downHost0(t, e)
			e.setTask(in.UUID, compute.VMActive, compute.TaskRebuilding, "req-evac", compute.ActionEvacuate)
			crash(e)
			dies(func() {
				_ = e.c.RebuildInstance(e.ctx, in, compute.RebuildRequest{RequestID: "req-evac", Evacuate: true})
			})
			e.sched.afterClaim, e.agent.onCast = nil, nil
			require.Len(t, e.allocs(in.UUID), 1+boolInt(name == "after the allocations were merged"))

			rep, err := e.c.Recover(e.ctx)
			require.NoError(t, err)
			assert.Equal(t, conductor.RecoveryReport{Evacuations: 1}, rep)
			cur := e.instance(in.UUID)
			assert.Equal(t, compute.VMError, cur.VMState)
			assert.Equal(t, compute.TaskNone, cur.TaskState)
			assert.Equal(t, src, e.allocs(in.UUID), "only the source allocation is left")
			migID := conductor.MigrationUUID(in.UUID, "req-evac")
			assert.Nil(t, e.allocs(migID))
			m, err := e.st.Migrations().Get(e.ctx, migID)
			require.NoError(t, err)
			assert.Equal(t, compute.MigrationError, m.Status)
			ev := e.event(in.UUID, "req-evac", conductor.EventRebuildServer)
			require.NotNil(t, ev)
			assert.Equal(t, compute.EventError, ev.Result)
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRecoverUnshelve(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{StuckAfter: -1})
	in := e.active(small)
	_, err := e.st.Instances().Update(e.ctx, in.UUID, compute.InstanceUpdate{Host: compute.Ptr(""), Node: compute.Ptr("")})
	require.NoError(t, err)
	require.NoError(t, e.pl.DeleteAllocations(e.ctx, in.UUID))
	e.setTask(in.UUID, compute.VMShelvedOffloaded, compute.TaskUnshelving, "req-un", compute.ActionUnshelve)
	e.sched.afterClaim = func(string) { runtime.Goexit() }
	dies(func() { _ = e.c.UnshelveInstance(e.ctx, in, compute.UnshelveRequest{RequestID: "req-un"}) })
	require.NotNil(t, e.allocs(in.UUID))

	rep, err := e.c.Recover(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, conductor.RecoveryReport{Unshelves: 1}, rep)
	cur := e.instance(in.UUID)
	assert.Equal(t, compute.VMShelvedOffloaded, cur.VMState)
	assert.Equal(t, compute.TaskNone, cur.TaskState)
	assert.Nil(t, e.allocs(in.UUID))
}

func TestRecoverResizePrepWithoutMigration(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{StuckAfter: -1})
	in := e.active(small)
	before := e.allocs(in.UUID)
	e.setTask(in.UUID, compute.VMStopped, compute.TaskResizePrep, "req-r", compute.ActionResize)
	rep, err := e.c.Recover(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, conductor.RecoveryReport{Migrations: 1}, rep)
	cur := e.instance(in.UUID)
	assert.Equal(t, compute.VMStopped, cur.VMState)
	assert.Equal(t, compute.TaskNone, cur.TaskState)
	assert.Equal(t, before, e.allocs(in.UUID))
}

func TestRecoverLeavesFreshFlowsAlone(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{}) // StuckAfter: 10 minutes
	req := e.newInstances(1, small)
	id := req.InstanceUUIDs[0]
	e.sched.afterClaim = func(string) { runtime.Goexit() }
	dies(func() { _ = e.c.ScheduleAndBuildInstances(e.ctx, req) })
	e.sched.afterClaim = nil

	rep, err := e.c.Recover(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, conductor.RecoveryReport{}, rep)
	assert.Equal(t, compute.TaskScheduling, e.instance(id).TaskState)
	assert.NotNil(t, e.allocs(id))

	// Eleven minutes later the build counts as abandoned.
	later := conductor.New(e.st, e.sched, e.pl, e.agent, conductor.Config{Now: func() time.Time { return time.Now().Add(11 * time.Minute) }})
	rep, err = later.Recover(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, conductor.RecoveryReport{Builds: 1}, rep)
	assert.Equal(t, compute.VMError, e.instance(id).VMState)
	assert.Nil(t, e.allocs(id))
	ev := e.event(id, req.RequestID, conductor.EventScheduleAndBuild)
	require.NotNil(t, ev)
	assert.Equal(t, compute.EventError, ev.Result)
}

func TestRecoverLeavesAgentOwnedMovesAlone(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{StuckAfter: -1})
	in := e.active(small)
	e.setTask(in.UUID, compute.VMActive, compute.TaskResizePrep, "req-r", compute.ActionResize)
	nf := medium
	require.NoError(t, e.c.MigrateServer(e.ctx, in, compute.MigrateRequest{RequestID: "req-r", NewFlavor: &nf}))
	// The source agent took it: task resize_migrating, while the
	// migration is still pre-migrating.
	_, err := e.st.Instances().Update(e.ctx, in.UUID, compute.InstanceUpdate{TaskState: compute.Ptr(compute.TaskResizeMigrating)})
	require.NoError(t, err)
	migID := conductor.MigrationUUID(in.UUID, "req-r")
	dest, src := e.allocs(in.UUID), e.allocs(migID)

	rep, err := e.c.Recover(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, conductor.RecoveryReport{}, rep)
	assert.Equal(t, dest, e.allocs(in.UUID))
	assert.Equal(t, src, e.allocs(migID))
	m, err := e.st.Migrations().Get(e.ctx, migID)
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationPreMigrating, m.Status)
}

func TestMigrateRetriedAfterInterruptedAttempt(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{})
	in := e.active(small)
	e.setTask(in.UUID, compute.VMActive, compute.TaskResizePrep, "req-r", compute.ActionResize)
	nf := medium
	req := compute.MigrateRequest{RequestID: "req-r", NewFlavor: &nf}
	// The first attempt dies right after the scheduler's claim.
	e.sched.afterClaim = func(string) { runtime.Goexit() }
	dies(func() { _ = e.c.MigrateServer(e.ctx, in, req) })
	e.sched.afterClaim = nil
	// The API's retry of the same request finishes the job.
	require.NoError(t, e.c.MigrateServer(e.ctx, in, req))
	migID := conductor.MigrationUUID(in.UUID, "req-r")
	m, err := e.st.Migrations().Get(e.ctx, migID)
	require.NoError(t, err)
	assert.Equal(t, compute.MigrationPreMigrating, m.Status)
	assert.NotEmpty(t, m.DestCompute)
	assert.Equal(t, map[string]map[string]int64{e.hosts[0].RP: {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}}, e.allocs(migID))
	dest := e.allocs(in.UUID)
	require.Len(t, dest, 1)
	for _, res := range dest {
		assert.Equal(t, map[string]int64{"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20}, res)
	}
	assert.Len(t, e.agent.castsOf("prep_resize"), 1)
}

func TestRunRecovery(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{StuckAfter: -1})
	req := e.newInstances(1, small)
	id := req.InstanceUUIDs[0]
	e.sched.afterClaim = func(string) { runtime.Goexit() }
	dies(func() { _ = e.c.ScheduleAndBuildInstances(e.ctx, req) })

	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- e.c.RunRecovery(ctx, time.Hour) }()
	// The first pass runs at once.
	wait, stop := context.WithTimeout(e.ctx, time.Minute)
	defer stop()
	for e.instance(id).VMState != compute.VMError {
		select {
		case <-wait.Done():
			t.Fatal("the first recovery pass never ran")
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	require.NoError(t, <-done)
	assert.Nil(t, e.allocs(id))
}

func TestRecoverReleasesAllocationsOfBuriedInstances(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{StuckAfter: -1})
	req := e.newInstances(1, small)
	id := req.InstanceUUIDs[0]
	// A conductor died between burying the instance and releasing its
	// claim: ERROR, no host, allocation still held.
	e.sched.afterClaim = func(string) { runtime.Goexit() }
	dies(func() { _ = e.c.ScheduleAndBuildInstances(e.ctx, req) })
	e.sched.afterClaim = nil
	_, err := e.st.Instances().Update(e.ctx, id, compute.InstanceUpdate{VMState: compute.Ptr(compute.VMError), TaskState: compute.Ptr(compute.TaskNone)})
	require.NoError(t, err)
	require.NotNil(t, e.allocs(id))
	// An ERROR instance that ran on a host keeps its allocation.
	placed := e.active(small)
	_, err = e.st.Instances().Update(e.ctx, placed.UUID, compute.InstanceUpdate{VMState: compute.Ptr(compute.VMError)})
	require.NoError(t, err)

	rep, err := e.c.Recover(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, conductor.RecoveryReport{Released: 1}, rep)
	assert.Nil(t, e.allocs(id))
	assert.NotNil(t, e.allocs(placed.UUID))
}
