package conductor_test

import (
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/internal/testsvc"
)

func TestMain(m *testing.M) { testsvc.Main(m) }

// dialects are the SQL engines the flow suite runs on: SQLite on a file,
// and PostgreSQL and MariaDB servers started by internal/testsvc
// (required in CI).
var dialects = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"sqlite-file", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "nova.db") }},
	{"postgres", func(t *testing.T) string { return testsvc.NewDatabase(t, testsvc.SharedPostgres(t)) }},
	{"mariadb", func(t *testing.T) string { return testsvc.NewDatabase(t, testsvc.SharedMariaDB(t)) }},
}

// TestFlowsOnDialects runs the conductor's flows on every SQL engine, one
// fresh database per flow.
func TestFlowsOnDialects(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			for _, f := range dialectFlows {
				t.Run(f.name, func(t *testing.T) { f.run(t, d.url(t)) })
			}
		})
	}
}

var dialectFlows = []struct {
	name string
	run  func(t *testing.T, url string)
}{
	{"BuildWithReschedule", func(t *testing.T, url string) {
		e := newEnv(t, url, 3, conductor.Config{})
		e.agent.fail["host0"] = true
		req := e.newInstances(3, small)
		require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
		for _, id := range req.InstanceUUIDs {
			in := e.instance(id)
			assert.Equal(t, compute.VMActive, in.VMState)
			assert.Equal(t, "host1", in.Host)
			assert.Equal(t, []string{e.hosts[1].RP}, keys(e.allocs(id)))
		}
	}},
	{"NoValidHost", func(t *testing.T, url string) {
		e := newEnv(t, url, 1, conductor.Config{})
		req := e.newInstances(1, compute.Flavor{FlavorID: "9", Name: "huge", VCPUs: 64, MemoryMB: 1 << 20})
		require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
		in := e.instance(req.InstanceUUIDs[0])
		assert.Equal(t, compute.VMError, in.VMState)
		require.Len(t, e.faults(in.UUID), 1)
		assert.Nil(t, e.allocs(in.UUID))
	}},
	{"ResizeAndRollback", func(t *testing.T, url string) {
		e := newEnv(t, url, 2, conductor.Config{})
		in := e.active(small)
		e.setTask(in.UUID, compute.VMActive, compute.TaskResizePrep, "req-1", compute.ActionResize)
		nf := medium
		require.NoError(t, e.c.MigrateServer(e.ctx, in, compute.MigrateRequest{RequestID: "req-1", NewFlavor: &nf}))
		m, err := e.st.Migrations().Get(e.ctx, conductor.MigrationUUID(in.UUID, "req-1"))
		require.NoError(t, err)
		assert.Equal(t, "host1", m.DestCompute)

		b := e.active(small)
		before := e.allocs(b.UUID)
		e.setTask(b.UUID, compute.VMActive, compute.TaskResizePrep, "req-2", compute.ActionMigrate)
		err = e.c.MigrateServer(e.ctx, b, compute.MigrateRequest{RequestID: "req-2", Host: "nowhere"})
		require.ErrorIs(t, err, compute.ErrNoValidHost)
		assert.Equal(t, before, e.allocs(b.UUID))
		assert.Equal(t, compute.TaskNone, e.instance(b.UUID).TaskState)
	}},
	{"RecoverInterruptedBuild", func(t *testing.T, url string) {
		e := newEnv(t, url, 2, conductor.Config{StuckAfter: -1})
		req := e.newInstances(2, small)
		e.sched.afterClaim = func(string) { runtime.Goexit() }
		dies(func() { _ = e.c.ScheduleAndBuildInstances(e.ctx, req) })
		rep, err := e.c.Recover(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, conductor.RecoveryReport{Builds: 2}, rep)
		for _, id := range req.InstanceUUIDs {
			assert.Equal(t, compute.VMError, e.instance(id).VMState)
			assert.Nil(t, e.allocs(id))
		}
	}},
	{"ConcurrentRecoverAndAgent", func(t *testing.T, url string) {
		// Recover and an agent race for instances left scheduling on a
		// host: each instance ends either ACTIVE (the agent won its
		// swap) or ERROR without allocations (Recover won), never both.
		e := newEnv(t, url, 2, conductor.Config{StuckAfter: -1})
		e.agent.hold = true
		req := e.newInstances(6, small)
		require.NoError(t, e.c.ScheduleAndBuildInstances(e.ctx, req))
		e.agent.hold = false
		builds := e.agent.castsOf("build")
		require.Len(t, builds, 6)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _ = e.c.Recover(e.ctx)
		}()
		go func() {
			defer wg.Done()
			for _, b := range builds {
				in, err := e.st.Instances().Get(e.ctx, b.Instance)
				if err == nil {
					_ = e.agent.BuildAndRunInstance(e.ctx, b.Host, in, req, *b.Chosen, nil)
				}
			}
		}()
		wg.Wait()
		for _, id := range req.InstanceUUIDs {
			in := e.instance(id)
			switch in.VMState {
			case compute.VMActive:
				assert.NotNil(t, e.allocs(id), "an ACTIVE instance keeps its allocation")
				assert.Empty(t, e.faults(id))
			case compute.VMError:
				assert.Nil(t, e.allocs(id), "an instance Recover buried keeps nothing")
			default:
				t.Errorf("instance %s ended %s", id, in.VMState)
			}
		}
	}},
}
