package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver the watcher reads with

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/identity/embedded"
	"github.com/novakit/novakit/image"
)

// BenchmarkBootHTTP boots b.N servers through the Compute API of an
// all-in-one cloud (SQLite file, mem:// queue, 100 fake hosts, placement on
// its own SQLite file) with a bounded number of clients. Each client is a
// closed loop: POST /servers, wait for its server to be ACTIVE, create the
// next one; so no more boots are in flight than there are clients.
//
//   - clients=32 measures throughput: boots/s from the first request to
//     the last server ACTIVE (its launched_at).
//   - clients=8 measures latency: with few boots in flight the
//     percentiles are the boot path's own, not a queue's.
//
// Both report p50-ms and p99-ms of accepted→ACTIVE (from the moment the
// client has the 202 to the instance's launched_at, written by the agent
// with the ACTIVE state), post-p50-ms (the POST round trip) and
// cpu-ms/boot (process CPU over the timed part: the whole cloud and the
// clients, without the watcher that tells clients their server is
// ACTIVE, divided by b.N). The project's quotas are large but finite, so
// every create runs its quota check.
//
//	go test -run '^$' -bench BootHTTP -benchtime 2000x ./examples/allinone/
//
// NOVAKIT_BENCH_CPUPROFILE=file profiles the timed part only, into
// file.clients=N.
func BenchmarkBootHTTP(b *testing.B) {
	for _, clients := range []int{32, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchBootHTTP(b, clients) })
	}
}

func benchBootHTTP(b *testing.B, clients int) {
	ctx := context.Background()
	data := b.TempDir()
	off := 30000
	c, err := start(ctx, config{Data: data, Hosts: 100, PortOffset: off, ReportInterval: 10 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	defer func() { _ = c.stop(context.Background()) }()
	admin := embedded.StableID("project", "admin")
	for q, lim := range map[string]int{"instances": 1 << 30, "cores": 1 << 34, "ram": 1 << 44} {
		require.NoError(b, c.st.Quotas().Set(ctx, admin, "", q, lim))
	}
	prov, err := openstack.AuthenticatedClient(ctx, adminAuth(b, data, off))
	require.NoError(b, err)
	token := prov.Token()
	img, err := c.images.ImageMeta(ctx, image.DefaultImageID)
	require.NoError(b, err)
	url := c.urls["compute"] + "/servers"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	w, err := newBootWatcher(filepath.Join(data, "nova.db"))
	require.NoError(b, err)
	defer w.close()

	accepted := make([]time.Time, b.N) // when the client had the 202, by index
	posts := make([]time.Duration, b.N)
	ids := make([]string, b.N)
	stopProfile := profileSteadyState(b, fmt.Sprintf(".clients=%d", clients))
	b.ResetTimer()
	cpu0 := processCPU()
	t0 := time.Now()
	wctx, stopWatch := context.WithCancel(ctx)
	go w.run(wctx)
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, clients)
	for range clients {
		wg.Go(func() {
			for i := range next {
				body := fmt.Sprintf(`{"server":{"name":"b%d","flavorRef":"42","imageRef":%q,"networks":"none"}}`, i, img.ID)
				req, _ := http.NewRequest("POST", url, bytes.NewBufferString(body))
				req.Header.Set("X-Auth-Token", token)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("OpenStack-API-Version", "compute 2.79")
				sent := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				now := time.Now()
				if resp.StatusCode != http.StatusAccepted {
					errs <- fmt.Errorf("POST /servers: %d %s", resp.StatusCode, msg)
					return
				}
				var out struct {
					Server struct{ ID string } `json:"server"`
				}
				if err := json.Unmarshal(msg, &out); err != nil || out.Server.ID == "" {
					errs <- fmt.Errorf("POST /servers: no server id in %s", msg)
					return
				}
				accepted[i], posts[i], ids[i] = now, now.Sub(sent), out.Server.ID
				<-w.wait(out.Server.ID)
			}
		})
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
	stopWatch()
	<-w.done
	cpu := processCPU() - cpu0 - w.cpu
	b.StopTimer()
	stopProfile()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	require.NoError(b, w.err())

	insts, err := c.st.Instances().List(ctx, compute.InstanceFilter{}, compute.ListOptions{Limit: b.N + 10})
	require.NoError(b, err)
	require.Len(b, insts, b.N)
	byID := make(map[string]*compute.Instance, len(insts))
	for _, in := range insts {
		byID[in.UUID] = in
	}
	lat := make([]time.Duration, 0, b.N)
	var last time.Time
	for i, id := range ids {
		in := byID[id]
		require.NotNil(b, in, "server %s", id)
		require.Equal(b, compute.VMActive, in.VMState, "server %s ended %s", id, in.VMState)
		lat = append(lat, in.LaunchedAt.Sub(accepted[i]))
		if in.LaunchedAt.After(last) {
			last = in.LaunchedAt
		}
	}
	slices.Sort(lat)
	slices.Sort(posts)
	b.ReportMetric(float64(b.N)/last.Sub(t0).Seconds(), "boots/s")
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(posts[len(posts)/2]), "post-p50-ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/boot")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// bootWatcher tells the benchmark's clients when their servers have left
// the building state. It reads the compute database's instances table
// directly, through a read-only connection of its own, on one locked OS
// thread whose CPU time it measures (the benchmark leaves it out of
// cpu-ms/boot): a lookup of each new server's row id, then, every
// millisecond while any client waits, one index-only query for the ids
// still building. (The store's listing decodes whole instances and a GET
// per client would load the API.)
type bootWatcher struct {
	db   *sql.DB
	done chan struct{}
	cpu  time.Duration // the watcher thread's CPU time, once done is closed

	mu      sync.Mutex
	waiting map[string]chan struct{}
	failed  error
}

func newBootWatcher(path string) (*bootWatcher, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &bootWatcher{db: db, done: make(chan struct{}), waiting: map[string]chan struct{}{}}, nil
}

func (w *bootWatcher) close() { _ = w.db.Close() }

func (w *bootWatcher) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// wait returns a channel closed once the server is no longer building.
// Call it only after the create returned: the server's row exists.
func (w *bootWatcher) wait(id string) <-chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	w.waiting[id] = ch
	w.mu.Unlock()
	return ch
}

// run polls until ctx ends, then records its CPU time and closes done.
// A poll releases every waiter registered before it started whose server
// the poll did not find building.
func (w *bootWatcher) run(ctx context.Context) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	defer func() {
		w.cpu = threadCPU() - cpu0
		close(w.done)
	}()
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	rowIDs := map[string]int64{} // server uuid → row id
	var ids []string
	building := map[int64]bool{}
	fail := func(err error) {
		if ctx.Err() != nil {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.failed = err
		for id, ch := range w.waiting {
			close(ch)
			delete(w.waiting, id)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		ids = ids[:0]
		for id := range w.waiting {
			ids = append(ids, id)
		}
		w.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		for _, id := range ids {
			if _, ok := rowIDs[id]; ok {
				continue
			}
			var rowID int64
			if err := w.db.QueryRowContext(ctx, `SELECT id FROM instances WHERE uuid = ?`, id).Scan(&rowID); err != nil {
				fail(fmt.Errorf("watcher: server %s: %w", id, err))
				return
			}
			rowIDs[id] = rowID
		}
		clear(building)
		if err := w.building(ctx, building); err != nil {
			fail(err)
			return
		}
		w.mu.Lock()
		for _, id := range ids {
			if !building[rowIDs[id]] {
				close(w.waiting[id])
				delete(w.waiting, id)
				delete(rowIDs, id)
			}
		}
		w.mu.Unlock()
	}
}

// building adds the row ids of the instances in the building state (read
// from the (vm_state, task_state) index alone).
func (w *bootWatcher) building(ctx context.Context, into map[int64]bool) error {
	rows, err := w.db.QueryContext(ctx, `SELECT id FROM instances WHERE vm_state = ?`, string(compute.VMBuilding))
	if err != nil {
		return fmt.Errorf("watcher: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("watcher: %w", err)
		}
		into[id] = true
	}
	return rows.Err()
}

// threadCPU is the CPU time of the calling OS thread (Linux's
// RUSAGE_THREAD; 0 where it is not supported).
func threadCPU() time.Duration {
	const rusageThread = 1
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
// cloud's start-up) when NOVAKIT_BENCH_CPUPROFILE names a file (the
// profile goes to that name plus suffix); use it instead of -cpuprofile.
// The returned function stops it (idempotent).
func profileSteadyState(b *testing.B, suffix string) func() {
	path := os.Getenv("NOVAKIT_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	path += suffix
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
