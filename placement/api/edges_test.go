package api_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
)

// roleAuth reads tokens "user|project|role,role|scope" where scope is
// "system", "domain" or "" (project).
func roleAuth() identity.Authenticator {
	return identity.AuthenticatorFunc(func(_ context.Context, tok string) (*identity.Credentials, error) {
		f := strings.Split(tok, "|")
		if len(f) != 4 {
			return nil, identity.ErrUnauthorized
		}
		c := &identity.Credentials{UserID: f[0], ProjectID: f[1]}
		if f[2] != "" {
			c.Roles = strings.Split(f[2], ",")
		}
		switch f[3] {
		case "system":
			c.ProjectID, c.SystemScope = "", "all"
		case "domain":
			c.ProjectID, c.DomainID = "", "d1"
		}
		return c, nil
	})
}

func TestPolicyDefaults(t *testing.T) {
	type call struct {
		method, path string
		body         any
	}
	var (
		list    = call{"GET", "/resource_providers", nil}
		usagesP = call{"GET", "/usages?project_id=p1", nil}
		usagesQ = call{"GET", "/usages?project_id=p2", nil}
		reshape = call{"POST", "/reshaper", map[string]any{"inventories": map[string]any{}, "allocations": map[string]any{}}}
		cands   = call{"GET", "/allocation_candidates?resources=VCPU:1", nil}
	)
	for _, tc := range []struct {
		name     string
		defaults api.PolicyDefaults
		token    string
		c        call
		want     int
	}{
		{"legacy admin lists", api.PolicyLegacy, "a|p1|admin|", list, 200},
		{"legacy member refused", api.PolicyLegacy, "u|p1|member,reader|", list, 403},
		{"legacy service refused", api.PolicyLegacy, "nova|svc|service|", list, 403},
		{"legacy system admin allowed", api.PolicyLegacy, "a||admin|system", list, 200},
		{"legacy reader usages refused", api.PolicyLegacy, "u|p1|reader|", usagesP, 403},
		{"rbac admin lists", api.PolicySecureRBAC, "a|p1|admin|", list, 200},
		{"rbac service lists", api.PolicySecureRBAC, "nova|svc|service|", list, 200},
		{"rbac service candidates", api.PolicySecureRBAC, "nova|svc|service|", cands, 200},
		{"rbac member refused", api.PolicySecureRBAC, "u|p1|member,reader|", list, 403},
		{"rbac reader own usages", api.PolicySecureRBAC, "u|p1|reader|", usagesP, 200},
		{"rbac reader other usages", api.PolicySecureRBAC, "u|p1|reader|", usagesQ, 403},
		{"rbac member without reader", api.PolicySecureRBAC, "u|p1|member|", usagesP, 403},
		{"rbac system admin out of scope", api.PolicySecureRBAC, "a||admin|system", list, 403},
		{"rbac domain admin out of scope", api.PolicySecureRBAC, "a||admin|domain", list, 403},
		{"rbac admin cannot reshape", api.PolicySecureRBAC, "a|p1|admin|", reshape, 403},
		{"rbac service reshapes", api.PolicySecureRBAC, "nova|svc|service|", reshape, 204},
		{"legacy admin reshapes", api.PolicyLegacy, "a|p1|admin|", reshape, 204},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idx := placement.New(placement.Options{})
			c := &client{t: t, idx: idx, h: api.New(idx, api.Options{Authenticator: roleAuth(), PolicyDefaults: tc.defaults}), token: tc.token}
			r := c.do(tc.c.method, tc.c.path, "1.39", tc.c.body)
			assert.Equal(t, tc.want, r.status, "%s", r.raw)
		})
	}
}

func TestPolicyOverridesAndFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
# operators let members of the project list providers and readers see candidates
"placement:resource_providers:list": "role:member or rule:admin_api"
"placement:allocation_candidates:list": "(role:reader and project_id:p1) or rule:admin_api"
"placement:traits:list": "!"
`), 0o600))
	enf, err := api.NewEnforcer(api.PolicyLegacy, nil)
	require.NoError(t, err)
	require.NoError(t, enf.LoadFile(file))
	idx := placement.New(placement.Options{})
	h := api.New(idx, api.Options{Authenticator: roleAuth(), Enforcer: enf})
	c := &client{t: t, idx: idx, h: h}
	for _, tc := range []struct {
		token, path string
		want        int
	}{
		{"u|p1|member|", "/resource_providers", 200},
		{"u|p1|reader|", "/resource_providers", 403},
		{"u|p1|reader|", "/allocation_candidates?resources=VCPU:1", 200},
		{"u|p2|reader|", "/allocation_candidates?resources=VCPU:1", 403},
		{"a|p1|admin|", "/allocation_candidates?resources=VCPU:1", 200},
		{"a|p1|admin|", "/traits", 403},
		{"a|p1|admin|", "/resource_classes", 200},
		{"u|p1|member|", "/resource_classes", 403},
	} {
		c.token = tc.token
		r := c.do("GET", tc.path, "1.39", nil)
		assert.Equal(t, tc.want, r.status, "%s %s: %s", tc.token, tc.path, r.raw)
	}

	for _, bad := range []string{`"x": "role:a and"`, `"x": "(role:a"`, `- a list`} {
		require.NoError(t, os.WriteFile(file, []byte(bad), 0o600))
		assert.Error(t, enf.LoadFile(file), bad)
	}
	assert.ErrorIs(t, enf.LoadFile(filepath.Join(dir, "missing.yaml")), os.ErrNotExist)
}

func TestNewEnforcer(t *testing.T) {
	_, err := api.NewEnforcer(api.PolicySecureRBAC, map[string]string{api.RuleReshape: "role:service or (role:admin"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), api.RuleReshape)
	// Overrides keep the default's scope types.
	e, err := api.NewEnforcer(api.PolicySecureRBAC, map[string]string{api.RuleProvidersList: "@"})
	require.NoError(t, err)
	assert.True(t, e.Allowed(&identity.Credentials{UserID: "u", ProjectID: "p"}, api.RuleProvidersList, nil))
	assert.False(t, e.Allowed(&identity.Credentials{UserID: "u", SystemScope: "all", Roles: []string{"admin"}}, api.RuleProvidersList, nil))
	// Every route's rule has a default in both sets.
	for _, d := range []api.PolicyDefaults{api.PolicyLegacy, api.PolicySecureRBAC} {
		checks := api.DefaultCheckStrings(d)
		for _, n := range api.RuleNames() {
			assert.NotEmpty(t, checks[n], "%s: %s", d, n)
		}
		p, err := api.ParsePolicyDefaults(d.String())
		require.NoError(t, err)
		assert.Equal(t, d, p)
	}
	_, err = api.ParsePolicyDefaults("strict")
	assert.Error(t, err)
}

func TestAuthenticatorFailureIs503(t *testing.T) {
	down := identity.AuthenticatorFunc(func(context.Context, string) (*identity.Credentials, error) {
		return nil, errors.New("keystone: dial tcp 127.0.0.1:5000: connection refused")
	})
	bad := identity.AuthenticatorFunc(func(context.Context, string) (*identity.Credentials, error) {
		return nil, errors.Join(errors.New("token expired"), identity.ErrUnauthorized)
	})
	idx := placement.New(placement.Options{})
	c := &client{t: t, h: api.New(idx, api.Options{Authenticator: bad}), token: "x"}
	c.must(401, "GET", "/resource_providers", "1.39", nil)
	// 503 is not accepted by client.do (it fails on 5xx); drive by hand.
	req := httptest.NewRequest("GET", "/resource_providers", nil)
	req.Header.Set("X-Auth-Token", "x")
	w := httptest.NewRecorder()
	api.New(idx, api.Options{Authenticator: down}).ServeHTTP(w, req)
	assert.Equal(t, 503, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), "identity service")
	assert.NotContains(t, w.Body.String(), "127.0.0.1", "internal detail leaked")
}

type failingBackend struct {
	*placement.Index
	err error
}

func (b failingBackend) Ping(context.Context) error { return b.err }

func TestHealthzAndMetrics(t *testing.T) {
	idx := placement.New(placement.Options{})
	var logs bytes.Buffer
	h := api.New(idx, api.Options{Authenticator: api.NoAuth(), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string, hdr ...string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := get("/healthz")
	assert.Equal(t, 200, st)
	assert.Equal(t, "ok\n", body)
	const global = "req-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	get("/resource_providers", "X-Auth-Token", "admin", "OpenStack-API-Version", "placement 1.39", "X-Openstack-Request-Id", global)
	get("/resource_providers", "X-Auth-Token", "admin")
	get("/resource_providers/"+rp1, "X-Auth-Token", "admin")
	get("/resource_providers")
	st, body = get("/metrics")
	require.Equal(t, 200, st)
	for _, want := range []string{
		`placement_http_requests_total{method="GET",route="/resource_providers",status="200"} 2`,
		`placement_http_requests_total{method="GET",route="/resource_providers",status="401"} 1`,
		`placement_http_requests_total{method="GET",route="/resource_providers/{uuid}",status="404"} 1`,
		`placement_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
		`placement_http_request_duration_seconds_count{method="GET",route="/resource_providers"} 3`,
		`go_goroutines`,
	} {
		assert.Contains(t, body, want)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.GreaterOrEqual(t, len(lines), 5)
	assert.Contains(t, lines[1], `"global_request_id":"`+global+`"`)
	assert.Contains(t, lines[1], `"request_id":"req-`)
	assert.Contains(t, lines[1], `"status":200`)
	assert.Contains(t, lines[1], `"route":"/resource_providers"`)
	assert.Contains(t, lines[1], `"user_id":"admin"`)
	assert.NotContains(t, logs.String(), `"admin","token"`)

	// A backend that cannot reach its database is unhealthy.
	h2 := api.New(failingBackend{idx, errors.New("database is down")}, api.Options{})
	w := httptest.NewRecorder()
	h2.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	assert.Equal(t, 503, w.Code)
	assert.Contains(t, w.Body.String(), "database is down")
}

func TestRenameClassInUse(t *testing.T) {
	c := newClient(t)
	c.must(201, "POST", "/resource_classes", "1.2", map[string]any{"name": "CUSTOM_GPU"})
	c.must(200, "POST", "/resource_providers", "1.20", map[string]any{"uuid": rp1, "name": "cn"})
	c.must(200, "PUT", "/resource_providers/"+rp1+"/inventories", "1.39", map[string]any{
		"resource_provider_generation": 0, "inventories": map[string]any{"CUSTOM_GPU": map[string]any{"total": 2}}})
	r := c.must(409, "PUT", "/resource_classes/CUSTOM_GPU", "1.6", map[string]any{"name": "CUSTOM_GPU2"})
	assert.Contains(t, r.detail(), "in use")
	// Nothing changed: the old class is there, the new one is not.
	c.must(200, "GET", "/resource_classes/CUSTOM_GPU", "1.6", nil)
	c.must(404, "GET", "/resource_classes/CUSTOM_GPU2", "1.6", nil)
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var logs bytes.Buffer
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- api.Serve(ctx, api.ServeOptions{Listen: "127.0.0.1:0", Backend: placement.New(placement.Options{}),
			API: api.Options{Authenticator: api.NoAuth()}, Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)),
			Ready: func(a net.Addr) { ready <- a }})
	}()
	addr := (<-ready).String()
	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)

	// The port is taken: a second server fails at once with one line.
	err = api.Serve(t.Context(), api.ServeOptions{Listen: addr, Backend: placement.New(placement.Options{}), Logger: slog.New(slog.DiscardHandler)})
	require.Error(t, err)
	assert.Equal(t, "placement: cannot listen on "+addr+": bind: address already in use", err.Error())
	assert.NotContains(t, err.Error(), "\n")

	cancel()
	require.NoError(t, <-done, "Serve after its context ended")
	assert.Contains(t, logs.String(), "listening on "+addr)

	err = api.Serve(t.Context(), api.ServeOptions{Listen: "127.0.0.1:0"})
	assert.ErrorContains(t, err, "no backend")
	err = api.Serve(t.Context(), api.ServeOptions{Listen: "127.0.0.1:99999", Backend: placement.New(placement.Options{}), Logger: slog.New(slog.DiscardHandler)})
	assert.ErrorContains(t, err, "cannot listen on 127.0.0.1:99999")
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// blockingBackend holds Candidates calls until release is closed.
type blockingBackend struct {
	*placement.Index
	entered chan struct{}
	release chan struct{}
}

func (b blockingBackend) Candidates(ctx context.Context, req *placement.CandidateRequest) (*placement.CandidateResult, error) {
	close(b.entered)
	<-b.release
	return b.Index.Candidates(ctx, req)
}

// TestServeDrainsInFlightRequests: when Serve's context ends during a
// request, the request still completes with 200 and Serve returns only
// after it.
func TestServeDrainsInFlightRequests(t *testing.T) {
	be := blockingBackend{Index: placement.New(placement.Options{}), entered: make(chan struct{}), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- api.Serve(ctx, api.ServeOptions{Listen: "127.0.0.1:0", Backend: be, API: api.Options{Authenticator: api.NoAuth()},
			Logger: slog.New(slog.DiscardHandler), Ready: func(a net.Addr) { ready <- a }})
	}()
	addr := (<-ready).String()
	status := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+addr+"/allocation_candidates?resources=VCPU:1", nil)
		req.Header.Set("X-Auth-Token", "admin")
		req.Header.Set("OpenStack-API-Version", "placement 1.39")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-be.entered
	cancel() // SIGTERM
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	case st := <-status:
		t.Fatalf("request answered (%d) before it was released", st)
	default:
	}
	close(be.release)
	assert.Equal(t, 200, <-status)
	require.NoError(t, <-served)
}
