package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
	"github.com/novakit/novakit/placement/client"
)

// recorder wraps a handler and keeps the headers of every request.
type recorder struct {
	h    http.Handler
	mu   sync.Mutex
	reqs []http.Header
	vers []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Header.Clone())
	r.vers = append(r.vers, req.Method+" "+req.URL.Path+" "+req.Header.Get("OpenStack-API-Version"))
	r.mu.Unlock()
	r.h.ServeHTTP(w, req)
}

func TestHeadersTokenAndRequestIDs(t *testing.T) {
	rec := &recorder{h: api.New(placement.New(placement.Options{}), api.Options{Authenticator: api.NoAuth()})}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	var calls atomic.Int32
	c, err := client.New(srv.URL+"/", client.Options{Token: client.TokenFunc(func(context.Context) (string, error) {
		calls.Add(1)
		return "admin", nil
	})})
	require.NoError(t, err)
	ctx := client.WithRequestID(t.Context(), "req-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
	_, err = c.CreateProvider(ctx, placement.ProviderSpec{UUID: cn1, Name: "cn1"})
	require.NoError(t, err)
	_, err = c.Provider(t.Context(), gone)
	require.ErrorIs(t, err, placement.ErrNotFound)
	var he *client.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 404, he.Status)
	assert.True(t, strings.HasPrefix(he.RequestID, "req-"), he.RequestID)
	assert.Equal(t, placement.CodeProviderNotFound, placement.ErrorCode(err))

	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Len(t, rec.reqs, 3) // GET / (negotiation), POST, GET
	assert.Equal(t, "GET / ", rec.vers[0])
	assert.Equal(t, "POST /resource_providers placement 1.39", rec.vers[1])
	assert.Equal(t, "req-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", rec.reqs[0].Get("X-Openstack-Request-Id"))
	assert.Equal(t, "req-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", rec.reqs[1].Get("X-Openstack-Request-Id"))
	id := rec.reqs[2].Get("X-Openstack-Request-Id")
	_, perr := uuid.Parse(strings.TrimPrefix(id, "req-"))
	assert.NoError(t, perr, "fresh request id %q", id)
	for _, h := range rec.reqs {
		assert.Equal(t, "admin", h.Get("X-Auth-Token"))
	}
	assert.Equal(t, int32(3), calls.Load())
}

func TestAuthAndServerErrors(t *testing.T) {
	idx := placement.New(placement.Options{})
	srv := httptest.NewServer(api.New(idx, api.Options{Authenticator: api.NoAuth()}))
	defer srv.Close()
	for _, tc := range []struct {
		name  string
		token client.TokenSource
		want  error
	}{
		{"no token", nil, identity.ErrUnauthorized},
		{"empty user", client.StaticToken(":p"), identity.ErrUnauthorized},
		{"not admin", client.StaticToken("bob:p1"), client.ErrForbidden},
		{"token source fails", client.TokenFunc(func(context.Context) (string, error) { return "", errors.New("keystone down") }), nil},
	} {
		c, err := client.New(srv.URL, client.Options{Token: tc.token})
		require.NoError(t, err)
		_, err = c.Providers(t.Context(), placement.ProviderFilter{})
		require.Error(t, err, tc.name)
		if tc.want != nil {
			assert.ErrorIs(t, err, tc.want, tc.name)
		} else {
			assert.ErrorContains(t, err, "keystone down", tc.name)
		}
		assert.NotErrorIs(t, err, placement.ErrNotFound, tc.name)
	}

	// The credentials' token in the context is forwarded.
	c, err := client.New(srv.URL, client.Options{Token: client.CredentialsToken(nil)})
	require.NoError(t, err)
	_, err = c.Providers(identity.NewContext(t.Context(), &identity.Credentials{UserID: "admin", Token: "admin"}), placement.ProviderFilter{})
	require.NoError(t, err)
	_, err = c.Providers(t.Context(), placement.ProviderFilter{})
	assert.ErrorIs(t, err, identity.ErrUnauthorized)

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Openstack-Request-Id", "req-x")
		http.Error(w, `{"errors":[{"status":503,"detail":"database unreachable"}]}`, 503)
	}))
	defer down.Close()
	c, err = client.New(down.URL, client.Options{})
	require.NoError(t, err)
	_, err = c.TraitNames(t.Context())
	assert.ErrorIs(t, err, client.ErrUnavailable)
	assert.ErrorContains(t, err, "database unreachable")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	c, err = client.New("http://"+addr, client.Options{})
	require.NoError(t, err)
	_, err = c.TraitNames(t.Context())
	require.Error(t, err)
	assert.NotErrorIs(t, err, placement.ErrNotFound)
	assert.ErrorContains(t, err, "connection refused")

	for _, bad := range []string{"", "ftp://x", "http://", "://x"} {
		_, err := client.New(bad, client.Options{})
		assert.Error(t, err, bad)
	}
}

// oldServer makes placement/api claim max microversion max in its version
// document and refuses (with a test failure) any request above it.
func oldServer(t *testing.T, idx *placement.Index, max string) *httptest.Server {
	h := api.New(idx, api.Options{Authenticator: api.NoAuth()})
	maxV, err := placement.ParseVersion(max)
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"versions":[{"id":"v1.0","min_version":"1.0","max_version":"` + max + `","status":"CURRENT"}]}`))
			return
		}
		if f := strings.Fields(r.Header.Get("OpenStack-API-Version")); len(f) == 2 {
			if v, err := placement.ParseVersion(f[1]); err != nil || v.Compare(maxV) > 0 {
				t.Errorf("%s %s at %s, above the server's %s", r.Method, r.URL.Path, f[1], max)
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestOlderServer(t *testing.T) {
	idx := placement.New(placement.Options{})
	srv := oldServer(t, idx, "1.36")
	c, err := client.New(srv.URL, client.Options{Token: client.StaticToken("admin")})
	require.NoError(t, err)
	ctx := t.Context()
	v, err := c.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, "1.36", v.String())
	computeNode(t, c, cn1, "cn1", 4)
	require.NoError(t, c.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c1: claim("p1", nil, cn1, map[string]int64{"VCPU": 1})}))
	cons, err := c.Consumer(ctx, c1)
	require.NoError(t, err)
	assert.Equal(t, int64(1), cons.Generation)
	assert.Equal(t, "", cons.ConsumerType, "no consumer types before 1.38")
	us, err := c.Usages(ctx, placement.UsageFilter{Project: "p1"})
	require.NoError(t, err)
	assert.Equal(t, []placement.Usage{{ConsumerType: "all", Resources: map[string]int64{"VCPU": 1}}}, us)
	res, err := c.Candidates(ctx, &placement.CandidateRequest{Groups: []placement.RequestGroup{{Resources: map[string]int64{"VCPU": 1}}}})
	require.NoError(t, err)
	require.Len(t, res.AllocationRequests, 1)
	assert.Len(t, res.AllocationRequests[0].Mappings, 1, "mappings exist from 1.34")

	_, err = client.New(oldServer(t, idx, "1.20").URL, client.Options{})
	require.NoError(t, err)
	c2, _ := client.New(oldServer(t, idx, "1.20").URL, client.Options{})
	_, err = c2.TraitNames(ctx)
	assert.ErrorContains(t, err, "1.28 or later is needed")
}

func TestConnectionReuse(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(api.New(placement.New(placement.Options{}), api.Options{Authenticator: api.NoAuth()}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := client.New(srv.URL, client.Options{Token: client.StaticToken("admin")})
	require.NoError(t, err)
	for i := 0; i < 50; i++ {
		_, err := c.Provider(t.Context(), gone) // error answers too must leave the connection reusable
		require.ErrorIs(t, err, placement.ErrNotFound)
		_, err = c.TraitNames(t.Context())
		require.NoError(t, err)
	}
	assert.Equal(t, int32(1), conns.Load(), "sequential calls share one connection")
}

// TestCandidateQueryRoundTrip: what CandidateQuery renders, Placement's
// parser reads back as the same request.
func TestCandidateQueryRoundTrip(t *testing.T) {
	for _, q := range []string{
		"resources=VCPU:1,MEMORY_MB:512",
		"resources=VCPU:1&required=HW_CPU_X86_AVX2,!CUSTOM_SLOW&required=in:CUSTOM_A,CUSTOM_B&member_of=in:" + agg1 + "," + agg2 + "&member_of=!" + agg2,
		"resources_CPU=VCPU:2&resources_NET=CUSTOM_VF:1&required_NET=CUSTOM_PHYSNET1&group_policy=isolate&limit=5",
		"resources_A=VCPU:1&resources_B=MEMORY_MB:1&required_C=CUSTOM_X&same_subtree=_A,_B,_C&root_required=COMPUTE_STATUS_DISABLED,!CUSTOM_Y&in_tree_A=" + cn1 + "&group_policy=none",
		"resources=DISK_GB:10&member_of=!in:" + agg1 + "," + agg2,
	} {
		vals, err := url.ParseQuery(q)
		require.NoError(t, err)
		want, err := placement.ParseCandidateQuery(vals, placement.MaxVersion())
		require.NoError(t, err, q)
		got, err := placement.ParseCandidateQuery(client.CandidateQuery(want), placement.MaxVersion())
		require.NoError(t, err, "%s → %s", q, client.CandidateQuery(want).Encode())
		assert.Equal(t, want, got, "%s → %s", q, client.CandidateQuery(want).Encode())
	}
}

func FuzzCandidateQuery(f *testing.F) {
	for _, s := range []string{
		"resources=VCPU:1&required=in:CUSTOM_A,CUSTOM_B,!CUSTOM_C",
		"resources_1=VCPU:1&member_of_1=in:" + agg1 + "," + agg2 + "&group_policy=isolate",
		"resources_A=VCPU:1&required_B=CUSTOM_X&same_subtree=_A,_B&root_required=!CUSTOM_Y&limit=3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		vals, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		want, err := placement.ParseCandidateQuery(vals, placement.MaxVersion())
		if err != nil {
			return
		}
		q := client.CandidateQuery(want)
		got, err := placement.ParseCandidateQuery(q, placement.MaxVersion())
		if err != nil {
			t.Fatalf("%q parsed, but its rendering %q does not: %v", s, q.Encode(), err)
		}
		if !equalRequests(want, got) {
			t.Fatalf("%q → %q:\nwant %+v\ngot  %+v", s, q.Encode(), want, got)
		}
	})
}

func equalRequests(a, b *placement.CandidateRequest) bool {
	return assert.ObjectsAreEqual(a, b)
}

// renewing hands out "stale" first, then "admin" once told the token was
// refused.
type renewing struct {
	mu          sync.Mutex
	tok         string
	invalidated []string
}

func (r *renewing) Token(context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tok, nil
}

func (r *renewing) Invalidate(tok string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalidated = append(r.invalidated, tok)
	r.tok = "admin"
}

func TestExpiredTokenIsRenewedOnce(t *testing.T) {
	auth := identity.AuthenticatorFunc(func(ctx context.Context, tok string) (*identity.Credentials, error) {
		if tok != "admin" {
			return nil, identity.ErrUnauthorized
		}
		return &identity.Credentials{UserID: "admin", ProjectID: "admin", Roles: []string{"admin"}}, nil
	})
	srv := httptest.NewServer(api.New(placement.New(placement.Options{}), api.Options{Authenticator: auth}))
	defer srv.Close()
	src := &renewing{tok: "stale"}
	c, err := client.New(srv.URL, client.Options{Token: src})
	require.NoError(t, err)
	_, err = c.CreateProvider(t.Context(), placement.ProviderSpec{UUID: cn1, Name: "cn1"})
	require.NoError(t, err)
	_, err = c.Provider(t.Context(), cn1)
	require.NoError(t, err)
	assert.Equal(t, []string{"stale"}, src.invalidated)

	// A token refused again after renewal is 401 for the caller.
	src2 := &renewing{tok: "stale"}
	c2, err := client.New(srv.URL, client.Options{Token: client.TokenFunc(src2.Token)})
	require.NoError(t, err)
	_, err = c2.Provider(t.Context(), cn1)
	assert.ErrorIs(t, err, identity.ErrUnauthorized)
	assert.Empty(t, src2.invalidated, "a plain TokenFunc is not asked to renew")
}
