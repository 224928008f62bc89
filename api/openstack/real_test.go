package openstack_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/api/openstack"
	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/agent"
	"github.com/novakit/novakit/compute/agent/agenttest"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/drivers/fake"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/queue"
	"github.com/novakit/novakit/scheduler"
	"github.com/novakit/novakit/scheduler/storesource"
	"github.com/novakit/novakit/store"
)

// The real conductor and compute agent clients satisfy the API's
// consumer-side interfaces with no adapter.
var (
	_ api.Agent     = (*agent.Client)(nil)
	_ api.Conductor = (*conductor.Client)(nil)
	_ api.Conductor = (*conductor.Service)(nil)
)

// TestRealControlPlane runs the HTTP API over the real control plane in
// one process: conductor.Service served on the mem:// queue and reached
// through conductor.Client, the real scheduler over placement.Index, and
// real compute agents (compute/agent) on fake hosts reached through
// agent.Client — the wiring examples/allinone uses, minus the daemons.
func TestRealControlPlane(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://:memory:", nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	pl := placement.New(placement.Options{})
	tr, err := queue.Open(ctx, "mem://")
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	codes := queue.NewErrorCodes()
	require.NoError(t, agent.RegisterErrors(codes))
	require.NoError(t, conductor.RegisterErrors(codes))
	qc, err := tr.NewClient(queue.ClientConfig{Errors: codes, Timeout: time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { qc.Close() })
	log := slog.New(slog.DiscardHandler)
	sched, err := scheduler.New(scheduler.Config{Placement: pl, Hosts: storesource.New(st), Logger: log})
	require.NoError(t, err)
	agents := agent.NewClient(qc)
	cc := conductor.NewClient(qc)
	svc := conductor.New(st, sched, pl, agents, conductor.Config{Logger: log})
	csrv, err := conductor.Serve(ctx, tr, "conductor1", svc, codes)
	require.NoError(t, err)
	t.Cleanup(func() { csrv.Stop(context.Background()) })
	fc, err := fake.New(fake.Config{Hosts: 2})
	require.NoError(t, err)
	t.Cleanup(func() { fc.Close() })
	agentImages := agenttest.NewImages()
	for _, h := range fc.Hosts() {
		a, err := agent.New(agent.Options{Host: h.Name(), Driver: h, Conductor: cc,
			Placement: pl, Images: agentImages, Transport: tr, Errors: codes, Logger: log,
			ReportInterval: time.Hour, ResourceInterval: time.Hour, PowerSyncInterval: -1, ShutdownTimeout: 5 * time.Second})
		require.NoError(t, err)
		actx, cancel := context.WithCancel(ctx)
		require.NoError(t, a.Start(actx))
		t.Cleanup(func() {
			cancel()
			switch w := any(a).(type) {
			case interface{ Wait() error }:
				_ = w.Wait()
			case interface{ Wait(context.Context) error }:
				_ = w.Wait(actx)
			}
		})
	}
	_, err = st.Flavors().Create(ctx, &compute.Flavor{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1, IsPublic: true})
	require.NoError(t, err)
	imgs := &imagesDouble{images: map[string]compute.ImageMeta{agenttest.DefaultImage: {ID: agenttest.DefaultImage, Name: "agenttest"}}}
	a, err := api.New(api.Options{Store: st, Conductor: cc, Agent: agents, Images: imgs, Logger: log, ServiceDownTime: time.Hour})
	require.NoError(t, err)
	h, err := openstack.New(openstack.Options{API: a, Authenticator: testAuth(), Logger: log})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, api: a, h: h}

	waitStatus := func(id, want string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			r := e.do("GET", "/v2.1/servers/"+id, "alice:p1", "latest", nil)
			if r.Code == 200 {
				s := r.Body["server"].(map[string]any)
				if s["status"] == want && s["OS-EXT-STS:task_state"] == nil {
					return s
				}
				require.NotEqual(t, "ERROR", s["status"], r.Raw)
			}
			if time.Now().After(deadline) {
				t.Fatalf("server %s never became %s: %s", id, want, r.Raw)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	r := e.do("POST", "/v2.1/servers", "alice:p1", "latest", map[string]any{"server": map[string]any{
		"name": "real", "flavorRef": "1", "imageRef": agenttest.DefaultImage, "networks": "none", "min_count": 2,
	}})
	require.Equal(t, 202, r.Code, r.Raw)
	r = e.do("GET", "/v2.1/servers?name=real", "alice:p1", "latest", nil)
	require.Len(t, r.Body["servers"], 2)
	var ids []string
	for _, s := range r.Body["servers"].([]any) {
		ids = append(ids, s.(map[string]any)["id"].(string))
	}
	for _, id := range ids {
		s := waitStatus(id, "ACTIVE")
		assert.Equal(t, float64(1), s["OS-EXT-STS:power_state"])
	}
	id := ids[0]
	for _, step := range []struct{ body, status string }{
		{`{"os-stop": null}`, "SHUTOFF"},
		{`{"os-start": null}`, "ACTIVE"},
		{`{"reboot": {"type": "SOFT"}}`, "ACTIVE"},
		{`{"pause": null}`, "PAUSED"},
		{`{"unpause": null}`, "ACTIVE"},
	} {
		r := e.do("POST", "/v2.1/servers/"+id+"/action", "alice:p1", "latest", step.body)
		require.Equal(t, 202, r.Code, "%s: %s", step.body, r.Raw)
		waitStatus(id, step.status)
	}
	r = e.do("GET", "/v2.1/servers/"+id+"/os-instance-actions", "alice:p1", "latest", nil)
	require.Equal(t, 200, r.Code)
	assert.Len(t, r.Body["instanceActions"], 6)
	r = e.do("GET", "/v2.1/os-hypervisors/detail", "admin:x", "2.87", nil)
	require.Equal(t, 200, r.Code, r.Raw)
	assert.Len(t, r.Body["hypervisors"], 2)
	for _, id := range ids {
		r := e.do("DELETE", "/v2.1/servers/"+id, "alice:p1", "", nil)
		require.Equal(t, 204, r.Code, r.Raw)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, id := range ids {
		for e.do("GET", "/v2.1/servers/"+id, "alice:p1", "", nil).Code != 404 {
			require.True(t, time.Now().Before(deadline), "server %s not deleted", id)
			time.Sleep(10 * time.Millisecond)
		}
	}
}
