package cloud_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/cloud"
	"github.com/novakit/novakit/identity"
	placementapi "github.com/novakit/novakit/placement/api"
	"github.com/novakit/novakit/queue"
)

// daemon runs one Run function in a goroutine and waits for it to serve.
type daemon struct {
	addr string
	done chan error
}

func run(t *testing.T, ctx context.Context, c *cloud.Common, f func(context.Context) error) *daemon {
	t.Helper()
	d := &daemon{done: make(chan error, 1)}
	ready := make(chan net.Addr, 1)
	c.Listen = "127.0.0.1:0"
	c.Ready = func(a net.Addr) { ready <- a }
	go func() { d.done <- f(ctx) }()
	select {
	case a := <-ready:
		d.addr = "http://" + a.String()
	case err := <-d.done:
		t.Fatalf("daemon failed to start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("daemon did not start within 60 s")
	}
	return d
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestRunEverythingInOneProcess runs every Run function in one process
// over one mem:// transport, SQLite databases and a placement API, boots a
// server through the Compute API, and stops everything.
func TestRunEverythingInOneProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tr, err := queue.Open(ctx, "mem://")
	require.NoError(t, err)
	defer tr.Close()
	db := "sqlite://" + filepath.Join(dir, "nova.db")

	pc := cloud.PlacementConfig{Common: cloud.Common{Logger: log, Pprof: true}, DB: "sqlite://" + filepath.Join(dir, "placement.db"),
		API: placementapi.Options{Authenticator: placementapi.NoAuth()}}
	plD := run(t, ctx, &pc.Common, func(ctx context.Context) error { return cloud.RunPlacement(ctx, pc) })
	plURL := plD.addr

	cc := cloud.ConductorConfig{Common: cloud.Common{Logger: log, Transport: tr}, Host: "ctl1", DB: db, Placement: plURL, PlacementToken: "admin"}
	cond := run(t, ctx, &cc.Common, func(ctx context.Context) error { return cloud.RunConductor(ctx, cc) })
	cm := cloud.ComputeConfig{Common: cloud.Common{Logger: log, Transport: tr}, Host: "cmp1", DriverURL: "fake://?vcpus=16",
		Placement: plURL, PlacementToken: "admin"}
	comp := run(t, ctx, &cm.Common, func(ctx context.Context) error { return cloud.RunCompute(ctx, cm) })
	// The scheduler reads the node the agent registers (through the
	// conductor, then placement) at start.
	require.Eventually(t, func() bool {
		req, _ := http.NewRequest(http.MethodGet, plURL+"/resource_providers?resources=VCPU:1", nil)
		req.Header.Set("X-Auth-Token", "admin")
		req.Header.Set("OpenStack-API-Version", "placement 1.39")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `"cmp1"`)
	}, 30*time.Second, 50*time.Millisecond)
	sc := cloud.SchedulerConfig{Common: cloud.Common{Logger: log, Transport: tr}, Host: "ctl1", DB: db, Placement: plURL, PlacementToken: "admin"}
	sched := run(t, ctx, &sc.Common, func(ctx context.Context) error { return cloud.RunScheduler(ctx, sc) })
	ac := cloud.APIConfig{Common: cloud.Common{Logger: log, Transport: tr}, DB: db, Placement: plURL, PlacementToken: "admin",
		Authenticator: identity.NoAuth()}
	apiD := run(t, ctx, &ac.Common, func(ctx context.Context) error { return cloud.RunAPI(ctx, ac) })

	prov := &gophercloud.ProviderClient{TokenID: "admin", HTTPClient: http.Client{Timeout: 30 * time.Second}}
	sc2 := &gophercloud.ServiceClient{ProviderClient: prov, Endpoint: apiD.addr + "/v2.1/", Microversion: "2.79", Type: "compute"}
	_, err = flavors.Create(ctx, sc2, flavors.CreateOpts{ID: "42", Name: "m1.nano", RAM: 128, VCPUs: 1, Disk: gophercloud.IntToPointer(1)}).Extract()
	require.NoError(t, err)
	srv, err := servers.Create(ctx, sc2, servers.CreateOpts{Name: "one", FlavorRef: "42", ImageRef: "6f4e2a1c-0d5e-4b8e-9d7a-1a2b3c4d5e6f", Networks: "none"}, nil).Extract()
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s, err := servers.Get(ctx, sc2, srv.ID).Extract()
		return err == nil && s.Status == "ACTIVE"
	}, time.Minute, 50*time.Millisecond, "the server boots")

	for _, d := range []*daemon{apiD, cond, sched, comp, plD} {
		code, body := httpGet(t, d.addr+"/healthz")
		assert.Equal(t, http.StatusOK, code, body)
		code, body = httpGet(t, d.addr+"/metrics")
		assert.Equal(t, http.StatusOK, code)
		assert.Contains(t, body, "go_goroutines")
	}
	// -pprof: only where asked for.
	code, body := httpGet(t, plD.addr+"/debug/pprof/cmdline")
	assert.Equal(t, http.StatusOK, code, body)
	code, _ = httpGet(t, apiD.addr+"/debug/pprof/cmdline")
	assert.NotEqual(t, http.StatusOK, code, "the API serves no profiles without Pprof")
	_, body = httpGet(t, apiD.addr+"/metrics")
	assert.Contains(t, body, `novakit_api_requests_total{code="202",method="POST"} 1`)
	_, body = httpGet(t, comp.addr+"/guests")
	assert.Contains(t, body, srv.ID)

	cancel()
	for name, d := range map[string]*daemon{"api": apiD, "conductor": cond, "scheduler": sched, "compute": comp, "placement": plD} {
		select {
		case err := <-d.done:
			assert.NoError(t, err, "%s stops cleanly", name)
		case <-time.After(40 * time.Second):
			t.Errorf("%s did not stop", name)
		}
	}
}

func TestStartFailuresAreOneLine(t *testing.T) {
	ctx := context.Background()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "nova.db")
	tr, err := queue.Open(ctx, "mem://")
	require.NoError(t, err)
	defer tr.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	free := cloud.Common{Listen: "127.0.0.1:0", Logger: log}
	for name, tc := range map[string]struct {
		run  func() error
		want string
	}{
		"api without authenticator": {func() error { return cloud.RunAPI(ctx, cloud.APIConfig{Common: free, DB: db, Queue: "mem://"}) }, "authenticator"},
		"api without db": {func() error {
			return cloud.RunAPI(ctx, cloud.APIConfig{Common: free, Queue: "mem://", Authenticator: identity.NoAuth()})
		}, "database URL"},
		"conductor broker unreachable": {func() error {
			return cloud.RunConductor(ctx, cloud.ConductorConfig{Common: free, DB: db, Queue: "amqp://guest:secret@127.0.0.1:1/?dial_timeout=1s", Placement: "http://127.0.0.1:1"})
		}, "queue"},
		"scheduler without placement": {func() error {
			return cloud.RunScheduler(ctx, cloud.SchedulerConfig{Common: free, DB: db, Queue: "mem://"})
		}, "placement"},
		"compute bad driver": {func() error {
			return cloud.RunCompute(ctx, cloud.ComputeConfig{Common: free, Host: "h", DriverURL: "fake://?hosts=3", Queue: "mem://", Placement: "http://127.0.0.1:1"})
		}, "hosts"},
		"placement without authenticator": {func() error {
			return cloud.RunPlacement(ctx, cloud.PlacementConfig{Common: free})
		}, "authenticator"},
		"placement database unreachable": {func() error {
			return cloud.RunPlacement(ctx, cloud.PlacementConfig{Common: free, DB: "postgres://nova:secret@127.0.0.1:1/placement?connect_timeout=1",
				API: placementapi.Options{Authenticator: placementapi.NoAuth()}})
		}, "127.0.0.1:1"},
		"compute port taken": {func() error {
			return cloud.RunCompute(ctx, cloud.ComputeConfig{Common: cloud.Common{Listen: taken.Addr().String(), Logger: log, Transport: tr},
				Host: "h", DriverURL: "fake://", Placement: "http://127.0.0.1:1"})
		}, "address already in use"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.run()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
			assert.NotContains(t, err.Error(), "secret")
			assert.False(t, strings.HasPrefix(err.Error(), " "))
		})
	}
}
