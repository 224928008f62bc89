package conductor_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
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
