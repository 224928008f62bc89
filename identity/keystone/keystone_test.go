package keystone_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/identity/embedded"
	"github.com/novakit/novakit/identity/keystone"
)

// The tests validate against identity/embedded's Issuer served over
// HTTP: a real server speaking the Keystone v3 token protocol (password
// authentication, GET/DELETE /v3/auth/tokens with X-Subject-Token,
// Keystone's status codes), not a mock of the Validator's calls.

type keystoneServer struct {
	issuer      *embedded.Issuer
	srv         *httptest.Server
	validations atomic.Int64
	logins      atomic.Int64
}

func startKeystone(t *testing.T, ttl time.Duration) *keystoneServer {
	t.Helper()
	cfg := embedded.AllInOne("secret", "demopass")
	cfg.BcryptCost = bcrypt.MinCost
	cfg.TokenTTL = ttl
	cfg.Users = append(cfg.Users, embedded.User{ID: "nova-id", Name: "nova", DomainID: "default", Password: "novapass"})
	cfg.Assignments = append(cfg.Assignments, embedded.Assignment{User: "nova", Role: "service", Project: "service"})
	iss, err := embedded.New(cfg)
	require.NoError(t, err)
	k := &keystoneServer{issuer: iss}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "GET" && r.URL.Path == "/v3/auth/tokens":
			k.validations.Add(1)
		case r.Method == "POST" && r.URL.Path == "/v3/auth/tokens":
			k.logins.Add(1)
		}
		iss.ServeHTTP(w, r)
	}))
	t.Cleanup(k.srv.Close)
	return k
}

func (k *keystoneServer) userToken(t *testing.T, user, pass string) string {
	t.Helper()
	tok, _, err := k.issuer.Issue(t.Context(), embedded.PasswordAuth{UserName: user, DomainName: "Default", Password: pass}, embedded.Scope{})
	require.NoError(t, err)
	return tok
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newValidator(t *testing.T, url string, mutate func(*keystone.Options)) *keystone.Validator {
	t.Helper()
	o := keystone.Options{AuthURL: url, Username: "nova", Password: "novapass", ProjectName: "service"}
	if mutate != nil {
		mutate(&o)
	}
	v, err := keystone.New(o)
	require.NoError(t, err)
	return v
}

func TestValidate(t *testing.T) {
	t.Parallel()
	k := startKeystone(t, time.Hour)
	v := newValidator(t, k.srv.URL, nil)
	tok := k.userToken(t, "demo", "demopass")
	c, err := v.Authenticate(t.Context(), tok)
	require.NoError(t, err)
	assert.Equal(t, "demo", c.UserName)
	assert.Equal(t, "demo", c.ProjectName)
	assert.Equal(t, "default", c.ProjectDomainID)
	assert.ElementsMatch(t, []string{"member", "reader"}, c.Roles)
	assert.Equal(t, tok, c.Token)
	assert.WithinDuration(t, time.Now().Add(time.Hour), c.ExpiresAt, 5*time.Minute)

	before := k.validations.Load()
	for range 3 {
		_, err = v.Authenticate(t.Context(), "garbage")
		require.ErrorIs(t, err, identity.ErrUnauthorized)
	}
	assert.Equal(t, before+1, k.validations.Load(), "an invalid token is asked about once")
	_, err = v.Authenticate(t.Context(), "")
	require.ErrorIs(t, err, identity.ErrUnauthorized)

	// The service token is reused: one login for all the validations.
	assert.EqualValues(t, 1, k.logins.Load())

	// Revoked in Keystone: a fresh validator (no cache) refuses it.
	other := k.userToken(t, "admin", "secret")
	require.NoError(t, k.issuer.Revoke(t.Context(), other))
	_, err = newValidator(t, k.srv.URL+"/v3/", nil).Authenticate(t.Context(), other)
	require.ErrorIs(t, err, identity.ErrUnauthorized)
}

func TestCache(t *testing.T) {
	t.Parallel()
	k := startKeystone(t, time.Hour)
	clk := &clock{now: time.Now()}
	v := newValidator(t, k.srv.URL, func(o *keystone.Options) {
		o.CacheSize, o.CacheTTL, o.Now = 2, 10*time.Minute, clk.Now
	})
	a, b, c := k.userToken(t, "demo", "demopass"), k.userToken(t, "admin", "secret"), k.userToken(t, "demo", "demopass")
	for range 3 {
		_, err := v.Authenticate(t.Context(), a)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, k.validations.Load(), "cached")
	_, _ = v.Authenticate(t.Context(), b)
	_, _ = v.Authenticate(t.Context(), c) // evicts a (least recently used)
	assert.Equal(t, 2, v.CacheLen())
	_, _ = v.Authenticate(t.Context(), a)
	assert.EqualValues(t, 4, k.validations.Load(), "a was evicted")

	// Revocation is seen once the cache entry lapses.
	require.NoError(t, k.issuer.Revoke(t.Context(), a))
	_, err := v.Authenticate(t.Context(), a)
	require.NoError(t, err, "still cached")
	clk.advance(11 * time.Minute)
	_, err = v.Authenticate(t.Context(), a)
	require.ErrorIs(t, err, identity.ErrUnauthorized)
}

func TestCacheNeverOutlivesToken(t *testing.T) {
	t.Parallel()
	k := startKeystone(t, 2*time.Minute)
	clk := &clock{now: time.Now()}
	v := newValidator(t, k.srv.URL, func(o *keystone.Options) { o.CacheTTL, o.Now = time.Hour, clk.Now })
	tok := k.userToken(t, "demo", "demopass")
	_, err := v.Authenticate(t.Context(), tok)
	require.NoError(t, err)
	clk.advance(time.Minute)
	_, err = v.Authenticate(t.Context(), tok)
	require.NoError(t, err)
	before := k.validations.Load()
	clk.advance(2 * time.Minute) // past the token's expiry, well within CacheTTL
	_, _ = v.Authenticate(t.Context(), tok)
	assert.Equal(t, before+1, k.validations.Load(), "the expired cache entry is not used")
}

func TestErrors(t *testing.T) {
	t.Parallel()
	k := startKeystone(t, time.Hour)
	tok := k.userToken(t, "demo", "demopass")

	bad := newValidator(t, k.srv.URL, func(o *keystone.Options) { o.Password = "wrong" })
	_, err := bad.Authenticate(t.Context(), tok)
	require.Error(t, err)
	assert.NotErrorIs(t, err, identity.ErrUnauthorized, "bad service credentials are not the user's fault")
	assert.Contains(t, err.Error(), "nova")

	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close()
	_, err = newValidator(t, url, nil).Authenticate(t.Context(), tok)
	require.ErrorIs(t, err, keystone.ErrUnavailable)
	assert.NotErrorIs(t, err, identity.ErrUnauthorized)

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database is down", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	_, err = newValidator(t, failing.URL, nil).Authenticate(t.Context(), tok)
	require.ErrorIs(t, err, keystone.ErrUnavailable)

	// Behind identity.Middleware: unreachable Keystone → 503, bad token → 401.
	h := identity.Middleware(newValidator(t, url, nil), identity.MiddlewareOptions{})(http.NotFoundHandler())
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Auth-Token", tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, 503, rec.Code)

	for _, o := range []keystone.Options{{}, {AuthURL: "x"}, {AuthURL: "x", Username: "u", Password: "p"}} {
		_, err := keystone.New(o)
		assert.Error(t, err)
	}
}

func TestServiceTokenRenewedWhenRejected(t *testing.T) {
	t.Parallel()
	k := startKeystone(t, time.Hour)
	// Fault injection in front of the real server: answer the next
	// validation 401, as Keystone does when the service token has expired
	// or was revoked.
	var reject atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" && r.URL.Path == "/v3/auth/tokens" && reject.CompareAndSwap(true, false) {
			identity.WriteError(w, http.StatusUnauthorized, "The request you have made requires authentication.")
			return
		}
		k.srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer front.Close()
	v := newValidator(t, front.URL, func(o *keystone.Options) { o.CacheSize = 1 })
	_, err := v.Authenticate(t.Context(), k.userToken(t, "demo", "demopass"))
	require.NoError(t, err)
	require.EqualValues(t, 1, k.logins.Load())
	reject.Store(true)
	c, err := v.Authenticate(t.Context(), k.userToken(t, "admin", "secret"))
	require.NoError(t, err)
	assert.Equal(t, "admin", c.UserName)
	assert.EqualValues(t, 2, k.logins.Load(), "a new service token was fetched once")
}

func ExampleValidator() {
	cfg := embedded.AllInOne("secret", "demopass")
	cfg.Users = append(cfg.Users, embedded.User{ID: "nova-id", Name: "nova", DomainID: "default", Password: "novapass"})
	cfg.Assignments = append(cfg.Assignments, embedded.Assignment{User: "nova", Role: "service", Project: "service"})
	iss, _ := embedded.New(cfg)
	srv := httptest.NewServer(iss) // stands in for Keystone
	defer srv.Close()

	v, err := keystone.New(keystone.Options{AuthURL: srv.URL + "/v3", Username: "nova", Password: "novapass",
		ProjectName: "service"})
	if err != nil {
		panic(err)
	}
	tok, _, _ := iss.Issue(context.Background(), embedded.PasswordAuth{UserName: "demo", DomainName: "Default",
		Password: "demopass"}, embedded.Scope{})
	c, err := v.Authenticate(context.Background(), tok)
	fmt.Println(c.UserName, c.ProjectName, err)
	_, err = v.Authenticate(context.Background(), "forged")
	fmt.Println(err != nil && errors.Is(err, identity.ErrUnauthorized))
	// Output:
	// demo demo <nil>
	// true
}
