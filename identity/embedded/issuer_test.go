package embedded_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/identity/embedded"
)

type tokenResp struct {
	Token struct {
		Methods   []string `json:"methods"`
		ExpiresAt string   `json:"expires_at"`
		IssuedAt  string   `json:"issued_at"`
		AuditIDs  []string `json:"audit_ids"`
		User      struct {
			ID, Name string
			Domain   struct{ ID, Name string }
		} `json:"user"`
		Project *struct {
			ID, Name string
			Domain   struct{ ID, Name string }
		} `json:"project"`
		Domain  *struct{ ID, Name string }  `json:"domain"`
		System  map[string]bool             `json:"system"`
		Roles   []struct{ ID, Name string } `json:"roles"`
		Catalog []struct {
			Type      string `json:"type"`
			Endpoints []struct {
				Interface, Region, URL string
			} `json:"endpoints"`
		} `json:"catalog"`
	} `json:"token"`
}

func do(t *testing.T, method, url, token, subject string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if subject != "" {
		req.Header.Set("X-Subject-Token", subject)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func password(user map[string]any, scope any) map[string]any {
	auth := map[string]any{"identity": map[string]any{"methods": []string{"password"},
		"password": map[string]any{"user": user}}}
	if scope != nil {
		auth["scope"] = scope
	}
	return map[string]any{"auth": auth}
}

var adminUser = map[string]any{"name": "admin", "domain": map[string]string{"name": "Default"}, "password": "secret"}

func TestTokenScopes(t *testing.T) {
	t.Parallel()
	_, srv, _ := startIssuer(t, func(c *embedded.Config) {
		c.Assignments = append(c.Assignments, embedded.Assignment{User: "admin", Role: "reader", Domain: "Default"})
	})
	demoID := embedded.StableID("project", "demo")
	for _, tc := range []struct {
		name        string
		user        map[string]any
		scope       any
		code        int
		project     string
		domain      string
		system      bool
		roles       []string
		withCatalog bool
	}{
		{"project by name", adminUser, map[string]any{"project": map[string]any{"name": "admin", "domain": map[string]string{"id": "default"}}},
			201, "admin", "", false, []string{"admin", "member", "reader"}, true},
		{"default project", adminUser, nil, 201, "admin", "", false, []string{"admin", "member", "reader"}, true},
		{"unscoped", adminUser, "unscoped", 201, "", "", false, nil, false},
		{"domain", adminUser, map[string]any{"domain": map[string]string{"name": "Default"}}, 201, "", "Default", false, []string{"reader"}, true},
		{"system", adminUser, map[string]any{"system": map[string]bool{"all": true}}, 201, "", "", true, []string{"admin", "member", "reader"}, true},
		{"user by id", map[string]any{"id": embedded.StableID("user", "demo"), "password": "demopass"},
			map[string]any{"project": map[string]any{"id": demoID}}, 201, "demo", "", false, []string{"member", "reader"}, true},
		{"no role on project", map[string]any{"id": embedded.StableID("user", "demo"), "password": "demopass"},
			map[string]any{"project": map[string]any{"name": "admin", "domain": map[string]string{"name": "Default"}}}, 401, "", "", false, nil, false},
		{"no role on system", map[string]any{"id": embedded.StableID("user", "demo"), "password": "demopass"},
			map[string]any{"system": map[string]bool{"all": true}}, 401, "", "", false, nil, false},
		{"wrong password", map[string]any{"name": "admin", "domain": map[string]string{"name": "Default"}, "password": "x"}, nil, 401, "", "", false, nil, false},
		{"unknown user", map[string]any{"name": "eve", "domain": map[string]string{"name": "Default"}, "password": "x"}, nil, 401, "", "", false, nil, false},
		{"wrong domain", map[string]any{"name": "admin", "domain": map[string]string{"name": "Other"}, "password": "secret"}, nil, 401, "", "", false, nil, false},
		{"name without domain", map[string]any{"name": "admin", "password": "secret"}, nil, 400, "", "", false, nil, false},
		{"project name without domain", adminUser, map[string]any{"project": map[string]any{"name": "admin"}}, 400, "", "", false, nil, false},
		{"two scopes", adminUser, map[string]any{"project": map[string]any{"id": demoID}, "system": map[string]bool{"all": true}}, 400, "", "", false, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := do(t, "POST", srv.URL+"/v3/auth/tokens", "", "", password(tc.user, tc.scope))
			require.Equal(t, tc.code, resp.StatusCode, string(b))
			if tc.code != 201 {
				var e struct{ Error struct{ Code int } }
				require.NoError(t, json.Unmarshal(b, &e))
				assert.Equal(t, tc.code, e.Error.Code)
				return
			}
			require.NotEmpty(t, resp.Header.Get("X-Subject-Token"))
			var tr tokenResp
			require.NoError(t, json.Unmarshal(b, &tr), string(b))
			tk := tr.Token
			assert.Equal(t, []string{"password"}, tk.Methods)
			assert.Len(t, tk.AuditIDs, 1)
			assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`, tk.ExpiresAt)
			assert.Equal(t, "Default", tk.User.Domain.Name)
			if tc.project != "" {
				require.NotNil(t, tk.Project)
				assert.Equal(t, tc.project, tk.Project.Name)
				assert.Equal(t, "default", tk.Project.Domain.ID)
			} else {
				assert.Nil(t, tk.Project)
			}
			if tc.domain != "" {
				require.NotNil(t, tk.Domain)
				assert.Equal(t, tc.domain, tk.Domain.Name)
			}
			assert.Equal(t, tc.system, tk.System["all"])
			var roles []string
			for _, r := range tk.Roles {
				roles = append(roles, r.Name)
			}
			assert.ElementsMatch(t, tc.roles, roles)
			if tc.withCatalog {
				require.Len(t, tk.Catalog, 2)
				assert.Equal(t, "identity", tk.Catalog[0].Type)
				assert.Len(t, tk.Catalog[0].Endpoints, 3)
			} else {
				assert.Empty(t, tk.Catalog)
			}
		})
	}
}

func TestValidateRescopeRevoke(t *testing.T) {
	t.Parallel()
	iss, srv, _ := startIssuer(t, nil)
	url := srv.URL + "/v3/auth/tokens"
	resp, _ := do(t, "POST", url, "", "", password(adminUser, "unscoped"))
	require.Equal(t, 201, resp.StatusCode)
	unscoped := resp.Header.Get("X-Subject-Token")

	// token method: rescope to project demo? admin has no role there.
	tokenAuth := func(tok string, scope any) map[string]any {
		return map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"token"},
			"token": map[string]string{"id": tok}}, "scope": scope}}
	}
	resp, _ = do(t, "POST", url, "", "", tokenAuth(unscoped, map[string]any{"project": map[string]any{"name": "demo", "domain": map[string]string{"id": "default"}}}))
	assert.Equal(t, 401, resp.StatusCode)
	resp, b := do(t, "POST", url, "", "", tokenAuth(unscoped, map[string]any{"project": map[string]any{"name": "admin", "domain": map[string]string{"id": "default"}}}))
	require.Equal(t, 201, resp.StatusCode, string(b))
	scoped := resp.Header.Get("X-Subject-Token")
	var tr tokenResp
	require.NoError(t, json.Unmarshal(b, &tr))
	assert.Equal(t, []string{"password", "token"}, tr.Token.Methods)
	assert.Len(t, tr.Token.AuditIDs, 2)

	// The demo user validates its own token, not admin's.
	resp, _ = do(t, "POST", url, "", "", password(map[string]any{"name": "demo", "domain": map[string]string{"id": "default"}, "password": "demopass"}, nil))
	demo := resp.Header.Get("X-Subject-Token")
	resp, _ = do(t, "GET", url, demo, demo, nil)
	assert.Equal(t, 200, resp.StatusCode)
	resp, _ = do(t, "GET", url, demo, scoped, nil)
	assert.Equal(t, 403, resp.StatusCode)
	resp, b = do(t, "GET", url+"?nocatalog", scoped, demo, nil)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, demo, resp.Header.Get("X-Subject-Token"))
	assert.NotContains(t, string(b), "catalog")
	resp, _ = do(t, "HEAD", url, scoped, demo, nil)
	assert.Equal(t, 200, resp.StatusCode)
	resp, _ = do(t, "GET", url, scoped, "garbage", nil)
	assert.Equal(t, 404, resp.StatusCode)
	resp, _ = do(t, "GET", url, "garbage", demo, nil)
	assert.Equal(t, 401, resp.StatusCode)

	resp, _ = do(t, "DELETE", url, scoped, demo, nil)
	assert.Equal(t, 204, resp.StatusCode)
	resp, _ = do(t, "GET", url, scoped, demo, nil)
	assert.Equal(t, 404, resp.StatusCode)
	_, err := iss.Authenticate(t.Context(), demo)
	assert.ErrorIs(t, err, identity.ErrUnauthorized)
	_, err = iss.Authenticate(t.Context(), scoped)
	assert.NoError(t, err, "revoking one token leaves others")
}

func TestListings(t *testing.T) {
	t.Parallel()
	iss, srv, _ := startIssuer(t, nil)
	admin, _, err := iss.Issue(t.Context(), embedded.PasswordAuth{UserName: "admin", DomainName: "Default", Password: "secret"}, embedded.Scope{})
	require.NoError(t, err)
	demo, demoCreds, err := iss.Issue(t.Context(), embedded.PasswordAuth{UserName: "demo", DomainID: "default", Password: "demopass"}, embedded.Scope{})
	require.NoError(t, err)
	count := func(tok, path, key string) (int, int) {
		resp, b := do(t, "GET", srv.URL+path, tok, "", nil)
		if resp.StatusCode != 200 {
			return resp.StatusCode, -1
		}
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(b, &m))
		var list []any
		require.NoError(t, json.Unmarshal(m[key], &list), string(b))
		return 200, len(list)
	}
	for _, tc := range []struct {
		tok, path, key string
		code, n        int
	}{
		{admin, "/v3/projects", "projects", 200, 3},
		{demo, "/v3/projects", "projects", 200, 1},
		{admin, "/v3/projects?name=demo", "projects", 200, 1},
		{demo, "/v3/auth/projects", "projects", 200, 1},
		{demo, "/v3/users/" + demoCreds.UserID + "/projects", "projects", 200, 1},
		{demo, "/v3/users/" + embedded.StableID("user", "admin") + "/projects", "", 403, -1},
		{admin, "/v3/users", "users", 200, 2},
		{demo, "/v3/users", "users", 200, 1},
		{admin, "/v3/roles", "roles", 200, 4},
		{admin, "/v3/role_assignments", "role_assignments", 200, 4},
		{admin, "/v3/role_assignments?effective&user.id=" + demoCreds.UserID, "role_assignments", 200, 2},
		{admin, "/v3/role_assignments?effective&scope.project.id=" + embedded.StableID("project", "admin"), "role_assignments", 200, 3},
		{demo, "/v3/role_assignments", "role_assignments", 200, 2},
		{admin, "/v3/auth/catalog", "catalog", 200, 2},
		{admin, "/v3/services", "services", 200, 2},
		{admin, "/v3/endpoints?interface=public", "endpoints", 200, 2},
		{admin, "/v3/regions", "regions", 200, 1},
		{admin, "/v3/domains", "domains", 200, 1},
		{admin, "/v3/auth/system", "system", 200, 1},
		{demo, "/v3/auth/system", "system", 200, 0},
		{"", "/v3/projects", "", 401, -1},
	} {
		code, n := count(tc.tok, tc.path, tc.key)
		assert.Equal(t, tc.code, code, tc.path)
		assert.Equal(t, tc.n, n, tc.path)
	}
	resp, b := do(t, "GET", srv.URL+"/v3/projects/"+demoCreds.ProjectID, demo, "", nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, string(b), `"name":"demo"`)
	resp, _ = do(t, "GET", srv.URL+"/v3/projects/"+embedded.StableID("project", "admin"), demo, "", nil)
	assert.Equal(t, 403, resp.StatusCode)
	resp, _ = do(t, "GET", srv.URL+"/v3/nothing", demo, "", nil)
	assert.Equal(t, 404, resp.StatusCode)
}

func TestVersionDocuments(t *testing.T) {
	t.Parallel()
	_, srv, _ := startIssuer(t, nil)
	resp, b := do(t, "GET", srv.URL+"/", "", "", nil)
	assert.Equal(t, 300, resp.StatusCode)
	assert.Contains(t, string(b), `"values"`)
	assert.Contains(t, string(b), `"href":"`+srv.URL+`/v3/"`)
	for _, p := range []string{"/v3", "/v3/"} {
		resp, b = do(t, "GET", srv.URL+p, "", "", nil)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Contains(t, string(b), `"id":"v3.14"`)
		assert.Contains(t, string(b), `application/vnd.openstack.identity-v3+json`)
	}
}

func TestValidatorSharesOnlyTheKey(t *testing.T) {
	t.Parallel()
	old, next := embedded.NewKey(), embedded.NewKey()
	mk := func(keys ...string) *embedded.Issuer {
		cfg := embedded.AllInOne("secret", "demopass")
		cfg.BcryptCost = bcrypt.MinCost
		cfg.Keys = keys
		iss, err := embedded.New(cfg)
		require.NoError(t, err)
		return iss
	}
	a, b := mk(old), mk(next, old) // b rotated: signs with next, still reads old
	tokA, _, err := a.Issue(t.Context(), embedded.PasswordAuth{UserName: "demo", DomainID: "default", Password: "demopass"}, embedded.Scope{})
	require.NoError(t, err)
	tokB, _, err := b.Issue(t.Context(), embedded.PasswordAuth{UserName: "demo", DomainID: "default", Password: "demopass"}, embedded.Scope{})
	require.NoError(t, err)
	v, err := embedded.NewValidator(old)
	require.NoError(t, err)
	c, err := v.Authenticate(t.Context(), tokA)
	require.NoError(t, err)
	assert.Equal(t, "demo", c.ProjectName)
	assert.ElementsMatch(t, []string{"member", "reader"}, c.Roles)
	assert.False(t, c.ExpiresAt.IsZero())
	_, err = b.Authenticate(t.Context(), tokA)
	assert.NoError(t, err)
	_, err = a.Authenticate(t.Context(), tokB)
	assert.ErrorIs(t, err, identity.ErrUnauthorized)
	_, err = v.Authenticate(t.Context(), tokA[:len(tokA)-2]+"AA")
	assert.ErrorIs(t, err, identity.ErrUnauthorized)
	_, err = v.Authenticate(t.Context(), "not-a-token")
	assert.ErrorIs(t, err, identity.ErrUnauthorized)
	_, err = embedded.NewValidator("c2hvcnQ=")
	assert.ErrorContains(t, err, "32 bytes")
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(*embedded.Config)
		want   string
	}{
		{"project in unknown domain", func(c *embedded.Config) { c.Projects[0].DomainID = "nope" }, "projects[0].domain_id"},
		{"assignment to unknown user", func(c *embedded.Config) { c.Assignments[0].User = "eve" }, "assignments[0].user"},
		{"assignment with two targets", func(c *embedded.Config) { c.Assignments[0].System = true }, "assignments[0]: exactly one"},
		{"bad interface", func(c *embedded.Config) {
			c.AddService("image", "glance", "", "http://x")
			c.Services[0].Endpoints[0].Interface = "pub"
		}, "services[0].endpoints[0].interface"},
		{"bad hash", func(c *embedded.Config) { c.Users[0].PasswordHash = "plain" }, "users[0].password_hash"},
		{"unknown implied role", func(c *embedded.Config) { c.ImpliedRoles["admin"] = []string{"root"} }, "implied_roles[admin]"},
		{"bad key", func(c *embedded.Config) { c.Keys = []string{"!!"} }, "keys[0]"},
		{"duplicate user id", func(c *embedded.Config) { c.Users[1].ID = c.Users[0].ID }, "users[1]: duplicate id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := embedded.AllInOne("a", "b")
			cfg.BcryptCost = bcrypt.MinCost
			tc.mutate(&cfg)
			_, err := embedded.New(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "identity.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`token_ttl: 2h
keys: [`+embedded.NewKey()+`]
domains: [{id: default, name: Default}]
projects: [{id: p1, name: ops, domain_id: default}]
roles: [{id: r1, name: Member}]
users: [{id: u1, name: carol, domain_id: default, password_hash: "`+string(hash)+`"}]
assignments: [{user: carol, role: member, project: ops}]
services:
  - type: image
    name: glance
    endpoints: [{interface: public, url: "http://127.0.0.1:9292"}]
`), 0o600))
	cfg, err := embedded.LoadConfig(path)
	require.NoError(t, err)
	iss, err := embedded.New(cfg)
	require.NoError(t, err)
	_, c, err := iss.Issue(t.Context(), embedded.PasswordAuth{UserID: "u1", Password: "pw"}, embedded.Scope{ProjectName: "ops", ProjectDomainName: "Default"})
	require.NoError(t, err)
	assert.Equal(t, []string{"member"}, c.Roles)
	assert.Equal(t, "p1", c.ProjectID)

	require.NoError(t, os.WriteFile(path, []byte("userz: []\n"), 0o600))
	_, err = embedded.LoadConfig(path)
	assert.ErrorContains(t, err, "userz")
}

func ExampleIssuer() {
	cfg := embedded.AllInOne("admin-secret", "demo-secret")
	cfg.AddService("compute", "nova", "", "http://127.0.0.1:8774/v2.1")
	iss, err := embedded.New(cfg)
	if err != nil {
		panic(err)
	}
	// iss is the identity endpoint: http.ListenAndServe("127.0.0.1:5000", iss).
	// In-process services validate tokens with it directly:
	tok, _, err := iss.Issue(context.Background(),
		embedded.PasswordAuth{UserName: "demo", DomainName: "Default", Password: "demo-secret"}, embedded.Scope{})
	if err != nil {
		panic(err)
	}
	c, err := iss.Authenticate(context.Background(), tok)
	fmt.Println(c.UserName, c.ProjectName, c.Roles, err)
	// Output: demo demo [member reader] <nil>
}

func TestLoadOrCreateKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "token.key")
	k1, err := embedded.LoadOrCreateKey(path)
	require.NoError(t, err)
	k2, err := embedded.LoadOrCreateKey(path)
	require.NoError(t, err)
	assert.Equal(t, k1, k2)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	_, err = embedded.NewValidator(k1)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o600))
	_, err = embedded.LoadOrCreateKey(path)
	assert.ErrorContains(t, err, path)
}

func TestConcurrentIssueValidateRevoke(t *testing.T) {
	t.Parallel()
	iss, _, _ := startIssuer(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Go(func() {
			tok, _, err := iss.Issue(t.Context(), embedded.PasswordAuth{UserName: "demo", DomainID: "default", Password: "demopass"}, embedded.Scope{})
			if err != nil {
				errs <- err
				return
			}
			for range 20 {
				if _, err := iss.Authenticate(t.Context(), tok); err != nil {
					errs <- err
					return
				}
			}
			if i%2 == 0 {
				for range 2 { // idempotent
					if err := iss.Revoke(t.Context(), tok); err != nil {
						errs <- err
						return
					}
				}
				if _, err := iss.Authenticate(t.Context(), tok); !errors.Is(err, identity.ErrUnauthorized) {
					errs <- fmt.Errorf("revoked token still valid: %v", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
