package conductor_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/agent/agenttest"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/scheduler"
	"github.com/novakit/novakit/scheduler/storesource"
)

// BenchmarkBuild measures the build flow in-process: ScheduleAndBuildInstances
// of one instance each (request spec stored, scheduler, host/node CAS,
// action events, cast) with the agent double turning every instance
// ACTIVE through the conductor (one more CAS), on 100 hosts. The API's
// part (creating the instance row and its create action) is done before
// the timer starts. boots/s is the figure to read.
//
//	go test -run '^$' -bench BenchmarkBuild -benchtime 2000x ./conductor/
func BenchmarkBuild(b *testing.B) {
	for _, db := range []string{"sqlite-memory", "sqlite-file"} {
		for _, sched := range []string{"double", "real"} {
			for _, par := range []int{1, 8} {
				b.Run(fmt.Sprintf("%s/scheduler=%s/parallel=%d", db, sched, par), func(b *testing.B) {
					benchBuild(b, db, sched, par)
				})
			}
		}
	}
}

func benchBuild(b *testing.B, db, sched string, par int) {
	url := ""
	if db == "sqlite-file" {
		url = "sqlite://" + filepath.Join(b.TempDir(), "nova.db")
	}
	e := newEnv(b, url, 0, conductor.Config{})
	for i := range 100 {
		e.hosts = append(e.hosts, e.addHost(fmt.Sprintf("host%d", i), 1<<20, 1<<30, 1<<30))
	}
	e.sched.hosts, e.sched.spread = e.hosts, true
	if sched == "real" {
		s, err := scheduler.New(scheduler.Config{Placement: e.pl, Hosts: storesource.New(e.st), Logger: slog.New(slog.DiscardHandler)})
		require.NoError(b, err)
		e.c = conductor.New(e.st, s, e.pl, e.agent, conductor.Config{})
		e.agent.c = e.c
	}
	reqs := make([]*compute.BuildRequest, b.N)
	for i := range reqs {
		reqs[i] = e.newBenchInstance(small)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	done := make(chan error, par)
	for range par {
		go func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					done <- nil
					return
				}
				if err := e.c.ScheduleAndBuildInstances(context.Background(), reqs[i]); err != nil {
					done <- err
					return
				}
			}
		}()
	}
	for range par {
		require.NoError(b, <-done)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "boots/s")
	active, err := e.st.Instances().List(e.ctx, compute.InstanceFilter{VMStates: []compute.VMState{compute.VMActive}}, compute.ListOptions{})
	require.NoError(b, err)
	require.Len(b, active, b.N, "every instance ACTIVE")
}

// newBenchInstance stores one instance as the API does (row and create
// action) and returns its build request.
func (e *env) newBenchInstance(f compute.Flavor) *compute.BuildRequest {
	req := &compute.BuildRequest{RequestID: "req-" + uuid.NewString(),
		Spec: &compute.RequestSpec{ProjectID: "p1", UserID: "u1", Flavor: f, Image: compute.ImageMeta{ID: "img"}, NumInstances: 1}}
	in, err := e.st.Instances().Create(e.ctx, &compute.Instance{UUID: uuid.NewString(), Name: "vm",
		ProjectID: "p1", UserID: "u1", ImageRef: "img", Flavor: f, VMState: compute.VMBuilding, TaskState: compute.TaskScheduling})
	require.NoError(e.t, err)
	_, err = e.st.InstanceActions().Start(e.ctx, &compute.InstanceAction{Action: "create", InstanceUUID: in.UUID,
		RequestID: req.RequestID, UserID: "u1", ProjectID: "p1"})
	require.NoError(e.t, err)
	req.InstanceUUIDs = []string{in.UUID}
	return req
}

// BenchmarkBuildEndToEnd measures boots through the whole control plane
// in one process: conductor.Client casts over mem:// to the conductor,
// the real scheduler and placement.Index, real compute agents on 100
// fake hosts, SQLite in memory. "burst" casts all b.N builds at once and
// waits until every instance is ACTIVE: boots/s is b.N over that time
// (its latencies are mostly queueing). "one-at-a-time" waits for each
// instance before casting the next: p50-ms and p99-ms are cast →
// launched_at of a lone boot.
//
//	go test -run '^$' -bench BenchmarkBuildEndToEnd -benchtime 2000x ./conductor/
func BenchmarkBuildEndToEnd(b *testing.B) {
	b.Run("burst", func(b *testing.B) { benchEndToEnd(b, false) })
	b.Run("one-at-a-time", func(b *testing.B) { benchEndToEnd(b, true) })
}

func benchEndToEnd(b *testing.B, serial bool) {
	c := newCloud(b, 100)
	f := compute.Flavor{FlavorID: "b1", Name: "bench", VCPUs: 1, MemoryMB: 64, RootGB: 1}
	reqs := make([]*compute.BuildRequest, b.N)
	for i := range reqs {
		reqs[i] = &compute.BuildRequest{RequestID: "req-" + uuid.NewString(),
			Spec: &compute.RequestSpec{ProjectID: "p1", UserID: "u1", Flavor: f, Image: compute.ImageMeta{ID: agenttest.DefaultImage}, NumInstances: 1}}
		id := uuid.NewString()
		_, err := c.st.Instances().Create(c.ctx, &compute.Instance{UUID: id, Name: "bench", Hostname: "bench",
			ProjectID: "p1", UserID: "u1", ImageRef: agenttest.DefaultImage, Flavor: f,
			VMState: compute.VMBuilding, TaskState: compute.TaskScheduling})
		require.NoError(b, err)
		_, err = c.st.InstanceActions().Start(c.ctx, &compute.InstanceAction{Action: "create", InstanceUUID: id,
			RequestID: reqs[i].RequestID, UserID: "u1", ProjectID: "p1"})
		require.NoError(b, err)
		reqs[i].InstanceUUIDs = []string{id}
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Minute)
	defer cancel()
	sent := make(map[string]time.Time, b.N)
	b.ResetTimer()
	start := time.Now()
	for _, r := range reqs {
		id := r.InstanceUUIDs[0]
		sent[id] = time.Now()
		require.NoError(b, c.cc.ScheduleAndBuildInstances(c.ctx, r))
		for serial {
			in, err := c.st.Instances().Get(ctx, id)
			require.NoError(b, err)
			if in.VMState != compute.VMBuilding {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	// Poll cheaply (one row at most) so the single SQLite connection
	// serves the flows, not the benchmark.
	for {
		left, err := c.st.Instances().List(ctx, compute.InstanceFilter{VMStates: []compute.VMState{compute.VMBuilding}}, compute.ListOptions{Limit: 1})
		require.NoError(b, err)
		if len(left) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			b.Fatal("the builds did not finish")
		case <-time.After(20 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	done, err := c.st.Instances().List(ctx, compute.InstanceFilter{}, compute.ListOptions{})
	require.NoError(b, err)
	lat := make([]time.Duration, 0, b.N)
	for _, in := range done {
		require.Equal(b, compute.VMActive, in.VMState, "instance %s", in.UUID)
		lat = append(lat, in.LaunchedAt.Sub(sent[in.UUID]))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "boots/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
