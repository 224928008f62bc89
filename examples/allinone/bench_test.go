package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/identity/embedded"
	"github.com/novakit/novakit/image"
)

// BenchmarkBootHTTP boots b.N servers through the Compute API of an
// all-in-one cloud (SQLite file, mem:// queue, 100 fake hosts, placement on
// its own SQLite file), 32 clients POSTing /servers at once, and reports
// boots/s from the first request to the last server ACTIVE, and the p50
// and p99 of accepted→ACTIVE (the instance record's created_at to
// launched_at).
//
//	go test -run '^$' -bench BootHTTP -benchtime 2000x ./examples/allinone/
func BenchmarkBootHTTP(b *testing.B) {
	ctx := context.Background()
	data := b.TempDir()
	off := 30000
	c, err := start(ctx, config{Data: data, Hosts: 100, PortOffset: off, ReportInterval: 10 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	defer func() { _ = c.stop(context.Background()) }()
	admin := embedded.StableID("project", "admin")
	for _, q := range []string{"instances", "cores", "ram"} {
		require.NoError(b, c.st.Quotas().Set(ctx, admin, "", q, -1))
	}
	prov, err := openstack.AuthenticatedClient(ctx, adminAuth(b, data, off))
	require.NoError(b, err)
	token := prov.Token()
	img, err := c.images.ImageMeta(ctx, image.DefaultImageID)
	require.NoError(b, err)
	url := c.urls["compute"] + "/servers"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	stopProfile := profileSteadyState(b)
	b.ResetTimer()
	cpu0 := processCPU()
	t0 := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				body := fmt.Sprintf(`{"server":{"name":"b%d","flavorRef":"42","imageRef":%q,"networks":"none"}}`, i, img.ID)
				req, _ := http.NewRequest("POST", url, bytes.NewBufferString(body))
				req.Header.Set("X-Auth-Token", token)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("OpenStack-API-Version", "compute 2.79")
				resp, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					errs <- fmt.Errorf("POST /servers: %d %s", resp.StatusCode, msg)
					return
				}
			}
		}()
	}
	for i := range b.N {
		select {
		case next <- i:
		case err := <-errs:
			b.Fatal(err)
		}
	}
	close(next)
	wg.Wait()
	accepted := time.Since(t0)
	// Poll cheaply (one row at most) so the benchmark does not compete
	// with the boots for CPU and the database: every server is created
	// (202 returned), so none left building means all are done.
	for {
		left, err := c.st.Instances().List(ctx, compute.InstanceFilter{VMStates: []compute.VMState{compute.VMBuilding}}, compute.ListOptions{Limit: 1})
		require.NoError(b, err)
		if len(left) == 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	all := time.Since(t0)
	cpu := processCPU() - cpu0
	b.StopTimer()
	stopProfile()
	insts, err := c.st.Instances().List(ctx, compute.InstanceFilter{}, compute.ListOptions{Limit: b.N + 10})
	require.NoError(b, err)
	require.Len(b, insts, b.N)
	var lat []time.Duration
	errored := 0
	for _, in := range insts {
		if in.VMState != compute.VMActive {
			errored++
			continue
		}
		lat = append(lat, in.LaunchedAt.Sub(in.CreatedAt))
	}
	require.Zero(b, errored, "servers in ERROR")
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/all.Seconds(), "boots/s")
	b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/boot")
}

// processCPU is the CPU time (user and system) the process has used:
// the whole cloud and the benchmark's HTTP clients.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// profileSteadyState starts a CPU profile of the timed part only (not the
// cloud's start-up) when NOVAKIT_BENCH_CPUPROFILE names a file; use it
// instead of -cpuprofile. The returned function stops it (idempotent).
func profileSteadyState(b *testing.B) func() {
	path := os.Getenv("NOVAKIT_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	require.NoError(b, err)
	require.NoError(b, pprof.StartCPUProfile(f))
	var once sync.Once
	stop := func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		})
	}
	b.Cleanup(stop)
	return stop
}
