package cloudtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/quotasets"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceproviders"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/internal/testsvc"
)

func TestMain(m *testing.M) { testsvc.Main(m) }

// clients are gophercloud clients of the deployment (noauth: the token
// "admin" is the administrator of the project "admin").
type clients struct {
	cc, pc *gophercloud.ServiceClient
}

func newClients(apiURL, placementURL string) clients {
	prov := &gophercloud.ProviderClient{TokenID: "admin", HTTPClient: http.Client{Timeout: 30 * time.Second}}
	return clients{
		cc: &gophercloud.ServiceClient{ProviderClient: prov, Endpoint: apiURL + "/v2.1/", Microversion: "2.79", Type: "compute"},
		pc: &gophercloud.ServiceClient{ProviderClient: prov, Endpoint: placementURL + "/", Microversion: "1.39", Type: "placement"},
	}
}

func waitProviders(ctx context.Context, t testing.TB, placementURL string, n int) {
	t.Helper()
	pc := newClients("", placementURL).pc
	require.Eventually(t, func() bool {
		pages, err := resourceproviders.List(pc, resourceproviders.ListOpts{Resources: "VCPU:1"}).AllPages(ctx)
		if err != nil {
			return false
		}
		rps, err := resourceproviders.ExtractResourceProviders(pages)
		return err == nil && len(rps) >= n
	}, 90*time.Second, 100*time.Millisecond, "%d compute nodes with inventory in placement", n)
}

const (
	flavorID = "42"
	flavorMB = 128
)

// prepare creates the flavor and lifts the admin project's quotas.
func prepare(ctx context.Context, t testing.TB, c clients) {
	t.Helper()
	_, err := flavors.Create(ctx, c.cc, flavors.CreateOpts{
		ID: flavorID, Name: "m1.nano", RAM: flavorMB, VCPUs: 1, Disk: gophercloud.IntToPointer(1),
	}).Extract()
	require.NoError(t, err)
	_, err = quotasets.Update(ctx, c.cc, "admin", quotasets.UpdateOpts{
		Instances: gophercloud.IntToPointer(-1), Cores: gophercloud.IntToPointer(-1), RAM: gophercloud.IntToPointer(-1),
	}).Extract()
	require.NoError(t, err)
}

var imageRef = uuid.NewString()

// boot creates n servers, one request each, from workers goroutines, and
// returns the ids of the accepted ones and the errors of the others.
func boot(ctx context.Context, c clients, prefix string, n, workers int, after func(accepted int64)) (ids []string, errs []error) {
	var mu sync.Mutex
	var next, accepted atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				s, err := servers.Create(ctx, c.cc, servers.CreateOpts{
					Name: fmt.Sprintf("%s-%d", prefix, i), FlavorRef: flavorID, ImageRef: imageRef, Networks: "none",
				}, nil).Extract()
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					ids = append(ids, s.ID)
				}
				mu.Unlock()
				if err == nil && after != nil {
					after(accepted.Add(1))
				}
			}
		}()
	}
	wg.Wait()
	return ids, errs
}

// listAll lists every server in detail.
func listAll(ctx context.Context, c clients) ([]servers.Server, error) {
	pages, err := servers.List(c.cc, servers.ListOpts{AllTenants: true}).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	return servers.ExtractServers(pages)
}

// settle waits until no server is in a task state or BUILD, and returns
// them all.
func settle(ctx context.Context, t testing.TB, c clients, within time.Duration) map[string]servers.Server {
	t.Helper()
	return settleEvery(ctx, t, c, within, 250*time.Millisecond)
}

// settleEvery is settle polling every interval.
func settleEvery(ctx context.Context, t testing.TB, c clients, within, interval time.Duration) map[string]servers.Server {
	t.Helper()
	var all []servers.Server
	var lastErr error
	deadline := time.Now().Add(within)
	for {
		var err error
		all, err = listAll(ctx, c)
		lastErr = err
		if err == nil {
			var busy []string
			for _, s := range all {
				if s.TaskState != "" || (s.Status != "ACTIVE" && s.Status != "ERROR" && s.Status != "SHUTOFF") {
					busy = append(busy, fmt.Sprintf("%s %s/%s on %q (updated %s)", s.ID, s.Status, s.TaskState, s.Host, s.Updated.Format(time.RFC3339Nano)))
				}
			}
			if len(busy) == 0 {
				break
			}
			if len(busy) > 10 {
				busy = busy[:10]
			}
			lastErr = fmt.Errorf("servers still in flight: %s", strings.Join(busy, "; "))
		}
		if time.Now().After(deadline) {
			t.Fatalf("servers did not settle within %s: %v (statuses %v)", within, lastErr, statuses(all))
		}
		time.Sleep(interval)
	}
	m := make(map[string]servers.Server, len(all))
	for _, s := range all {
		m[s.ID] = s
	}
	return m
}

func statuses(all []servers.Server) map[string]int {
	m := map[string]int{}
	for _, s := range all {
		m[s.Status+"/"+s.TaskState]++
	}
	return m
}

func countStatus(all map[string]servers.Server, status string) int {
	n := 0
	for _, s := range all {
		if s.Status == status {
			n++
		}
	}
	return n
}

// checkAllocations asserts that placement's allocations are exactly the
// instances holding resources: every ACTIVE or SHUTOFF instance holds
// its flavor (VCPU 1, MEMORY_MB 128, DISK_GB 1) on its host's provider
// and nothing else, and no other consumer holds anything. ERROR instances
// hold at most their flavor on their own host; their ids are returned.
func checkAllocations(ctx context.Context, t testing.TB, c clients, all map[string]servers.Server) (errorHolds []string) {
	t.Helper()
	pages, err := resourceproviders.List(c.pc, resourceproviders.ListOpts{}).AllPages(ctx)
	require.NoError(t, err)
	rps, err := resourceproviders.ExtractResourceProviders(pages)
	require.NoError(t, err)
	type hold struct {
		provider string
		res      map[string]int
	}
	holds := map[string][]hold{}
	for _, rp := range rps {
		a, err := resourceproviders.GetAllocations(ctx, c.pc, rp.UUID).Extract()
		require.NoError(t, err)
		for consumer, al := range a.Allocations {
			holds[consumer] = append(holds[consumer], hold{rp.Name, al.Resources})
		}
	}
	want := map[string]int{"VCPU": 1, "MEMORY_MB": flavorMB, "DISK_GB": 1}
	for id, s := range all {
		h := holds[id]
		delete(holds, id)
		switch s.Status {
		case "ACTIVE", "SHUTOFF":
			if assert.Len(t, h, 1, "server %s (%s on %s) holds one allocation", id, s.Status, s.Host) {
				assert.Equal(t, s.HypervisorHostname, h[0].provider, "server %s's allocation is on its host", id)
				assert.Equal(t, want, h[0].res, "server %s's allocation is its flavor", id)
			}
		case "ERROR":
			// Nova keeps the claim of a build its agent's init_host put in
			// ERROR until the server is deleted; it must still be one claim
			// of the flavor on the server's own host.
			if len(h) > 0 {
				errorHolds = append(errorHolds, id)
				if assert.Len(t, h, 1, "ERROR server %s holds at most one allocation", id) {
					assert.Equal(t, s.HypervisorHostname, h[0].provider, "ERROR server %s's allocation is on its host", id)
					assert.Equal(t, want, h[0].res, "ERROR server %s's allocation is its flavor", id)
				}
			}
		}
	}
	assert.Empty(t, holds, "allocations of consumers that are no instance")
	return errorHolds
}

// guests returns, per compute agent, the guests its driver holds.
func guests(ctx context.Context, t testing.TB, cp *cloudProcs) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for i := 1; i <= 4; i++ {
		name := fmt.Sprintf("cmp%d", i)
		p := cp.get(name)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url()+"/guests", nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err, name)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s /guests: %s", name, b)
		var gs []struct{ UUID string }
		require.NoError(t, json.Unmarshal(b, &gs))
		for _, g := range gs {
			out[name] = append(out[name], g.UUID)
		}
	}
	return out
}

// checkGuests asserts that no guest exists twice, that every guest is a
// non-ERROR instance on that host, and that every ACTIVE instance on a
// host not in lostHosts (whose in-memory fake hypervisor died with its
// process) has its guest.
func checkGuests(ctx context.Context, t testing.TB, cp *cloudProcs, all map[string]servers.Server, lostHosts ...string) {
	t.Helper()
	where := map[string]string{}
	for host, gs := range guests(ctx, t, cp) {
		for _, g := range gs {
			if prev, dup := where[g]; dup {
				t.Errorf("guest %s exists on %s and on %s", g, prev, host)
			}
			where[g] = host
			s, ok := all[g]
			if !assert.True(t, ok, "guest %s on %s has no instance", g, host) {
				continue
			}
			assert.Equal(t, host, s.Host, "guest %s is on the host of its instance", g)
			assert.NotEqual(t, "ERROR", s.Status, "instance %s in ERROR still has a guest on %s", g, host)
		}
	}
	lost := strings.Join(lostHosts, ",")
	for id, s := range all {
		if s.Status == "ACTIVE" && (lost == "" || !strings.Contains(","+lost+",", ","+s.Host+",")) {
			assert.Equal(t, s.Host, where[id], "ACTIVE server %s has its guest on its host", id)
		}
	}
}

// TestMultiProcess runs a cloud of separate processes — placement, the
// API, two conductors, two schedulers, four compute agents — over a
// private PostgreSQL and RabbitMQ, and then breaks it: SIGKILL of a
// conductor and an agent mid-boot, PostgreSQL stopped, RabbitMQ
// restarted, and finally SIGTERM of everything.
func TestMultiProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	pg := testsvc.Postgres(t)
	mq := testsvc.RabbitMQ(t)
	cp := deploy(ctx, t, testsvc.NewDatabase(t, pg), testsvc.NewDatabase(t, pg), mq.URL())
	c := newClients(cp.api.url(), cp.placement.url())
	prepare(ctx, t, c)

	ok := t.Run("boot200", func(t *testing.T) {
		ids, errs := boot(ctx, c, "b", 200, 16, nil)
		require.Empty(t, errs)
		require.Len(t, ids, 200)
		all := settle(ctx, t, c, 2*time.Minute)
		require.Len(t, all, 200)
		assert.Equal(t, 200, countStatus(all, "ACTIVE"), "statuses %v", statusesOf(all))
		assert.Empty(t, checkAllocations(ctx, t, c, all), "ERROR servers holding allocations")
		checkGuests(ctx, t, cp, all)
	})
	require.True(t, ok, "the cloud does not boot; later phases would only repeat that")

	t.Run("kill9", func(t *testing.T) {
		var once sync.Once
		killed := make(chan struct{})
		before := 200
		ids, errs := boot(ctx, c, "k", 100, 8, func(n int64) {
			if n < 30 {
				return
			}
			once.Do(func() {
				go func() {
					defer close(killed)
					cp.get("conductor1").kill(t)
					cp.get("cmp2").kill(t)
					time.Sleep(500 * time.Millisecond)
					cp.set(cp.get("conductor1").restart(t))
					cp.set(cp.get("cmp2").restart(t))
				}()
			})
		})
		<-killed
		assert.Empty(t, errs, "creates refused while a conductor and an agent were down")
		all := settle(ctx, t, c, 2*time.Minute)
		assert.Len(t, all, before+len(ids), "every accepted server is there")
		for id, s := range all {
			assert.Contains(t, []string{"ACTIVE", "ERROR", "SHUTOFF"}, s.Status, "server %s", id)
			if s.Status == "SHUTOFF" {
				assert.Equal(t, "cmp2", s.Host, "only the killed agent's guests vanished (the fake hypervisor lives in its process)")
			}
		}
		t.Logf("after kill -9: %v", statusesOf(all))
		byHost := map[string]int{}
		for _, s := range all {
			if s.Status == "ERROR" {
				byHost[s.Host+": "+s.Fault.Message]++
			}
		}
		t.Logf("ERROR servers by host and fault: %v", byHost)
		eh := checkAllocations(ctx, t, c, all)
		t.Logf("%d ERROR servers hold their build's claim (released on delete, as in Nova)", len(eh))
		checkGuests(ctx, t, cp, all, "cmp2")

		// Deleting the ERROR servers releases their claims: placement then
		// holds exactly the servers that run.
		for id, s := range all {
			if s.Status == "ERROR" {
				require.NoError(t, servers.Delete(ctx, c.cc, id).ExtractErr())
			}
		}
		require.Eventually(t, func() bool {
			l, err := listAll(ctx, c)
			if err != nil {
				return false
			}
			for _, s := range l {
				if s.Status == "ERROR" || s.TaskState != "" {
					return false
				}
			}
			return true
		}, time.Minute, 200*time.Millisecond, "ERROR servers deleted")
		all = settle(ctx, t, c, time.Minute)
		assert.Empty(t, checkAllocations(ctx, t, c, all))
	})

	t.Run("postgres-stop", func(t *testing.T) {
		require.NoError(t, pg.Stop(ctx))
		restarted := false
		defer func() {
			if !restarted {
				_ = pg.Start(ctx)
			}
		}()
		resp, body := get(ctx, t, cp.api.url()+"/v2.1/servers", "admin")
		assert.Equal(t, http.StatusServiceUnavailable, resp, "GET /servers with the database down: %s", body)
		assert.NotEmpty(t, body)
		t.Logf("API while PostgreSQL is down: %d %s", resp, body)
		hc, hbody := get(ctx, t, cp.api.url()+"/healthz", "")
		assert.Equal(t, http.StatusServiceUnavailable, hc, "/healthz with the database down: %s", hbody)
		time.Sleep(3 * time.Second)
		require.NoError(t, pg.Start(ctx))
		restarted = true
		require.Eventually(t, func() bool {
			code, _ := get(ctx, t, cp.api.url()+"/v2.1/servers", "admin")
			return code == http.StatusOK
		}, time.Minute, 200*time.Millisecond, "the API recovers by itself")
		ids, errs := boot(ctx, c, "p", 10, 4, nil)
		assert.Empty(t, errs)
		all := settle(ctx, t, c, time.Minute)
		for _, id := range ids {
			assert.Equal(t, "ACTIVE", all[id].Status, "server %s booted after PostgreSQL came back", id)
		}
	})

	t.Run("rabbitmq-restart", func(t *testing.T) {
		var once sync.Once
		restarted := make(chan error, 1)
		bootStart := time.Now()
		ids, errs := boot(ctx, c, "r", 100, 4, func(n int64) {
			if n == 20 {
				once.Do(func() { go func() { restarted <- mq.Restart(ctx) }() })
			}
		})
		require.NoError(t, <-restarted)
		t.Logf("creates during the RabbitMQ restart: %d accepted, %d refused, in %s", len(ids), len(errs), time.Since(bootStart).Round(time.Second))
		for _, err := range errs {
			assert.True(t, gophercloud.ResponseCodeIs(err, http.StatusServiceUnavailable), "a refused create is a 503: %v", err)
		}
		// A reply lost in the restart (the known gap below) costs its
		// caller the RPC timeout (queue.DefaultCallTimeout, 60 s), and a
		// build can lose more than one (this subtest took 12, 61 and 114 s
		// in three runs on a loaded machine): 2 minutes was too tight.
		settleStart := time.Now()
		all := settle(ctx, t, c, 4*time.Minute)
		t.Logf("settled %s after the creates", time.Since(settleStart).Round(time.Second))
		// Nothing accepted is lost: every server exists and ends ACTIVE,
		// or ERROR with a fault saying why. (Known gap, issue 8: RPC
		// replies in flight while the broker restarts are lost, so some
		// builds end in ERROR instead of ACTIVE; the count is logged.)
		errored := 0
		for _, id := range ids {
			s, ok := all[id]
			switch {
			case !ok:
				t.Errorf("accepted server %s is gone", id)
			case s.Status == "ACTIVE":
			case s.Status == "ERROR" && s.Fault.Message != "":
				errored++
				t.Logf("accepted server %s ended in ERROR: %s", id, s.Fault.Message)
			default:
				t.Errorf("accepted server %s is %s (fault %q)", id, s.Status, s.Fault.Message)
			}
		}
		t.Logf("across the RabbitMQ restart: %d of %d accepted servers ACTIVE, %d ERROR with a fault", len(ids)-errored, len(ids), errored)
	})

	t.Run("sigterm", func(t *testing.T) {
		// API first, then the services behind it, placement last.
		order := []string{"api", "conductor1", "conductor2", "scheduler1", "scheduler2", "cmp1", "cmp2", "cmp3", "cmp4", "placement"}
		for _, n := range order {
			p := cp.get(n)
			assert.NoError(t, p.stop(30*time.Second), "%s exits 0 on SIGTERM:\n%s", n, p.tail(10))
		}
	})
}

func statusesOf(m map[string]servers.Server) map[string]int {
	all := make([]servers.Server, 0, len(m))
	for _, s := range m {
		all = append(all, s)
	}
	return statuses(all)
}

func get(ctx context.Context, t testing.TB, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// BenchmarkBoots measures boots per second through the multi-process
// deployment: b.N servers created through the API (32 clients, one
// request each) until every one is ACTIVE.
func BenchmarkBoots(b *testing.B) {
	ctx := context.Background()
	// NOVAKIT_CLOUDTEST_PPROF=DIR: the daemons serve /debug/pprof (their
	// -pprof flag, through the environment they inherit) and a CPU profile
	// of each, taken while the boots run, is written to DIR/NAME.pprof.
	profDir := os.Getenv("NOVAKIT_CLOUDTEST_PPROF")
	if profDir != "" {
		b.Setenv("NOVAKIT_PPROF", "true")
	}
	pg := testsvc.SharedPostgres(b)
	mq := testsvc.SharedRabbitMQ(b)
	dbURL, plDBURL := testsvc.NewDatabase(b, pg), testsvc.NewDatabase(b, pg)
	cp := deploy(ctx, b, dbURL, plDBURL, mq.URL())
	c := newClients(cp.api.url(), cp.placement.url())
	prepare(ctx, b, c)
	names := map[int]string{}
	for _, p := range cp.all() {
		names[p.cmd.Process.Pid] = p.name
	}
	self := os.Getpid()
	b.ResetTimer()
	pgBefore, err := readPGStats(ctx, dbURL)
	require.NoError(b, err)
	plBefore, err := readPGStats(ctx, plDBURL)
	require.NoError(b, err)
	dbNames := map[string]string{dbName(b, dbURL): "compute-db", dbName(b, plDBURL): "placement-db"}
	before := cpuTree(self, names, dbNames)
	var profiles sync.WaitGroup
	if profDir != "" {
		for _, p := range cp.all() {
			profiles.Add(1)
			go func() {
				defer profiles.Done()
				profile(ctx, b, p, profDir, 8)
			}()
		}
	}
	start := time.Now()
	ids, errs := boot(ctx, c, "bench", b.N, 32, nil)
	require.Empty(b, errs)
	// Wait until no server is building, polling once a second for one
	// server in BUILD (a detail list of every server, as settle polls,
	// cost the deployment CPU the boots need: 0.4 ms per boot of the API's
	// and PostgreSQL's at 1,000 boots, growing with the count); settle
	// then checks every server.
	waitBuilt(ctx, b, cp.api.url(), 10*time.Minute)
	el := time.Since(start)
	byName, total := cpuDelta(before, cpuTree(self, names, dbNames))
	b.StopTimer()
	profiles.Wait()
	// PostgreSQL flushes its statistics about once a second.
	time.Sleep(1500 * time.Millisecond)
	pgAfter, err := readPGStats(ctx, dbURL)
	require.NoError(b, err)
	plAfter, err := readPGStats(ctx, plDBURL)
	require.NoError(b, err)
	all := settle(ctx, b, c, 10*time.Minute)
	active := 0
	for _, id := range ids {
		if all[id].Status == "ACTIVE" {
			active++
		}
	}
	require.Equal(b, b.N, active, "statuses %v", statusesOf(all))
	b.ReportMetric(float64(b.N)/el.Seconds(), "boots/s")
	// CPU of every process of the deployment (daemons, PostgreSQL,
	// RabbitMQ), not of the test binary's clients: on a shared machine
	// this is the figure that does not depend on the neighbours.
	b.ReportMetric(1000*total/float64(b.N), "cpu-ms/boot")
	b.Logf("%d boots in %s; CPU by process: %s", b.N, el.Round(time.Millisecond), formatCPU(byName, b.N))
	b.Logf("compute database: %s", pgDelta(pgBefore, pgAfter, b.N))
	b.Logf("placement database: %s", pgDelta(plBefore, plAfter, b.N))
}

// profile writes a CPU profile of p, taken over the next seconds, to
// dir/NAME.pprof (failures are logged: a daemon without -pprof has none).
func profile(ctx context.Context, b *testing.B, p *proc, dir string, seconds int) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.url(), seconds), nil)
	if err != nil {
		b.Error(err)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Logf("profile of %s: %v", p.name, err)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Logf("profile of %s: %d %v", p.name, resp.StatusCode, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, p.name+".pprof"), data, 0o644); err != nil {
		b.Error(err)
	}
}

// waitBuilt polls the API once a second until no server is in BUILD.
func waitBuilt(ctx context.Context, b *testing.B, apiURL string, within time.Duration) {
	deadline := time.Now().Add(within)
	for {
		code, body := get(ctx, b, apiURL+"/v2.1/servers?all_tenants=1&status=BUILD&limit=1", "admin")
		if code == http.StatusOK {
			var l struct{ Servers []json.RawMessage }
			require.NoError(b, json.Unmarshal([]byte(body), &l), body)
			if len(l.Servers) == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("servers still building after %s: %d %s", within, code, body)
		}
		time.Sleep(time.Second)
	}
}

// dbName is the database a postgres:// URL names.
func dbName(b *testing.B, rawURL string) string {
	u, err := url.Parse(rawURL)
	require.NoError(b, err)
	return strings.TrimPrefix(u.Path, "/")
}
