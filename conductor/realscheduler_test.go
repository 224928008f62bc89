package conductor_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/scheduler"
	"github.com/novakit/novakit/scheduler/storesource"
)

// withRealScheduler replaces e's scheduler double by scheduler.Scheduler
// over the same store and placement.
func withRealScheduler(t *testing.T, e *env, cfg conductor.Config) *scheduler.Scheduler {
	t.Helper()
	s, err := scheduler.New(scheduler.Config{Placement: e.pl, Hosts: storesource.New(e.st), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	e.c = conductor.New(e.st, s, e.pl, e.agent, cfg)
	e.agent.c = e.c
	return s
}

func TestBuildWithRealScheduler(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{})
	withRealScheduler(t, e, conductor.Config{})
	req := e.newInstances(4, small)
	require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
	for _, id := range req.InstanceUUIDs {
		in := e.instance(id)
		require.Equal(t, compute.VMActive, in.VMState, id)
		require.NotEmpty(t, in.Host)
		a := e.allocs(id)
		require.Len(t, a, 1)
		var rp string
		for _, h := range e.hosts {
			if h.Name == in.Host {
				rp = h.RP
			}
		}
		assert.Equal(t, map[string]int64{"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}, a[rp], "allocation on the instance's own host")
	}
}

func TestRescheduleWithRealScheduler(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{})
	withRealScheduler(t, e, conductor.Config{})
	// Every host but one fails its builds: the instance ends on that one
	// whichever the scheduler picks first, through alternates it claims.
	e.agent.fail["host0"], e.agent.fail["host1"] = true, true
	req := e.newInstances(1, small)
	id := req.InstanceUUIDs[0]
	require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
	in := e.instance(id)
	require.Equal(t, compute.VMActive, in.VMState)
	assert.Equal(t, "host2", in.Host)
	assert.Equal(t, []string{e.hosts[2].RP}, keys(e.allocs(id)))
}

func TestNoValidHostWithRealScheduler(t *testing.T) {
	e := newEnv(t, "", 2, conductor.Config{})
	withRealScheduler(t, e, conductor.Config{})
	req := e.newInstances(1, compute.Flavor{FlavorID: "9", Name: "huge", VCPUs: 64, MemoryMB: 1 << 20, RootGB: 1})
	require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
	in := e.instance(req.InstanceUUIDs[0])
	assert.Equal(t, compute.VMError, in.VMState)
	fs := e.faults(in.UUID)
	require.Len(t, fs, 1)
	assert.True(t, strings.HasPrefix(fs[0].Message, "No valid host was found."), fs[0].Message)
}

func TestResizeWithRealScheduler(t *testing.T) {
	e := newEnv(t, "", 3, conductor.Config{})
	withRealScheduler(t, e, conductor.Config{})
	in := e.active(small)
	e.setTask(in.UUID, compute.VMActive, compute.TaskResizePrep, "req-r", compute.ActionResize)
	nf := medium
	require.NoError(t, e.c.MigrateServer(e.ctx, in, compute.MigrateRequest{RequestID: "req-r", NewFlavor: &nf}))
	migID := conductor.MigrationUUID(in.UUID, "req-r")
	m, err := e.st.Migrations().Get(e.ctx, migID)
	require.NoError(t, err)
	assert.NotEqual(t, in.Host, m.DestCompute)
	assert.NotEmpty(t, m.DestCompute)
	dest := e.allocs(in.UUID)
	require.Len(t, dest, 1)
	for _, res := range dest {
		assert.Equal(t, map[string]int64{"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20}, res)
	}
	assert.Len(t, e.allocs(migID), 1)
}
