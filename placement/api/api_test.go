package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
)

func TestProtocol(t *testing.T) {
	c := newClient(t)
	t.Run("root", func(t *testing.T) {
		c := *c
		c.token = "" // unauthenticated
		r := c.must(200, "GET", "/", "", nil)
		v := r.body["versions"].([]any)[0].(map[string]any)
		if v["min_version"] != "1.0" || v["max_version"] != "1.39" || v["id"] != "v1.0" {
			t.Fatalf("version document %s", r.raw)
		}
		if r.header.Get("OpenStack-API-Version") != "placement 1.0" || r.header.Get("Vary") != "OpenStack-API-Version" {
			t.Fatalf("headers %v", r.header)
		}
	})
	for _, tc := range []struct {
		header string
		status int
		echo   string
	}{
		{"", 200, "placement 1.0"},
		{"placement 1.17", 200, "placement 1.17"},
		{"placement latest", 200, "placement 1.39"},
		{"compute 2.1, placement 1.20", 200, "placement 1.20"},
		{"compute 2.1", 200, "placement 1.0"},
		{"placement 1.40", 406, ""},
		{"placement 2.0", 406, ""},
		{"placement 0.9", 406, ""},
		{"placement one", 406, ""},
		{"placement 1.x", 406, ""},
		{"placement", 406, ""},
		{"placement -1.2", 406, ""},
	} {
		req := httptest.NewRequest("GET", "/resource_providers", nil)
		req.Header.Set("X-Auth-Token", "admin")
		if tc.header != "" {
			req.Header.Set("OpenStack-API-Version", tc.header)
		}
		w := httptest.NewRecorder()
		c.h.ServeHTTP(w, req)
		if w.Code != tc.status {
			t.Errorf("%q: status %d, want %d: %s", tc.header, w.Code, tc.status, w.Body)
		}
		if tc.echo != "" && w.Header().Get("OpenStack-API-Version") != tc.echo {
			t.Errorf("%q: echo %q", tc.header, w.Header().Get("OpenStack-API-Version"))
		}
		if tc.status == 406 && (!strings.Contains(w.Body.String(), `"min_version":"1.0"`) || !strings.Contains(w.Body.String(), `"max_version":"1.39"`)) {
			t.Errorf("%q: 406 body lacks min/max: %s", tc.header, w.Body)
		}
	}
	t.Run("auth", func(t *testing.T) {
		c := *c
		c.token = ""
		r := c.must(401, "GET", "/resource_providers", "1.39", nil)
		if r.body["errors"] == nil {
			t.Fatalf("401 body %s", r.raw)
		}
		c.token = "alice:proj"
		r = c.must(403, "GET", "/resource_providers", "1.39", nil)
		if r.code() != placement.CodeUndefined {
			t.Fatalf("403 code %q", r.code())
		}
		// Overriding one rule opens that route only.
		idx := placement.New(placement.Options{})
		h := api.New(idx, api.Options{Authenticator: api.NoAuth(), Policy: map[string]string{api.RuleProvidersList: "@"}})
		c2 := &client{t: t, h: h, idx: idx, token: "alice"}
		c2.must(200, "GET", "/resource_providers", "1.39", nil)
		c2.must(403, "POST", "/resource_providers", "1.39", map[string]any{"name": "x"})
		// No authenticator: nothing but / .
		c3 := &client{t: t, h: api.New(idx, api.Options{}), token: "admin"}
		c3.must(401, "GET", "/resource_providers", "1.39", nil)
		c3.must(200, "GET", "/", "", nil)
	})
	t.Run("errors", func(t *testing.T) {
		r := c.must(404, "GET", "/nowhere", "1.22", nil)
		if r.code() != "" {
			t.Fatalf("code before 1.23: %s", r.raw)
		}
		r = c.must(404, "GET", "/nowhere", "1.23", nil)
		if r.code() != placement.CodeUndefined {
			t.Fatalf("code at 1.23: %s", r.raw)
		}
		e := r.body["errors"].([]any)[0].(map[string]any)
		if e["title"] != "Not Found" || e["status"] != float64(404) || !strings.HasPrefix(e["request_id"].(string), "req-") {
			t.Fatalf("error body %s", r.raw)
		}
		r = c.must(405, "PATCH", "/resource_providers", "1.39", nil)
		if r.header.Get("Allow") != "GET, POST" {
			t.Fatalf("Allow %q", r.header.Get("Allow"))
		}
		c.must(405, "POST", "/", "", nil)
		c.must(404, "GET", "/usages?project_id=p", "1.8", nil)
		c.must(404, "GET", "/allocation_candidates?resources=VCPU:1", "1.9", nil)
		c.must(404, "POST", "/allocations", "1.12", map[string]any{})
		c.must(404, "GET", "/traits", "1.5", nil)
		c.must(404, "DELETE", "/resource_providers/"+rp1+"/inventories", "1.4", nil)
		c.must(415, "POST", "/resource_providers", "1.39", nil)
		big := `{"name":"` + strings.Repeat("x", api.DefaultMaxBodyBytes) + `"}`
		c.must(413, "POST", "/resource_providers", "1.39", big)
	})
	t.Run("last-modified", func(t *testing.T) {
		c.must(200, "POST", "/resource_providers", "1.20", map[string]any{"name": "lm", "uuid": rp3})
		r := c.must(200, "GET", "/resource_providers/"+rp3, "1.14", nil)
		if r.header.Get("Last-Modified") != "" {
			t.Fatal("last-modified before 1.15")
		}
		for _, p := range []string{"/resource_providers/" + rp3, "/resource_providers", "/resource_providers/" + rp3 + "/inventories", "/traits", "/resource_classes"} {
			r = c.must(200, "GET", p, "1.15", nil)
			if r.header.Get("Last-Modified") == "" || r.header.Get("Cache-Control") != "no-cache" {
				t.Fatalf("%s: no last-modified/cache-control at 1.15: %v", p, r.header)
			}
		}
	})
}

func TestNoAuth(t *testing.T) {
	a := api.NoAuth()
	cr, err := a.Authenticate(t.Context(), "admin")
	if err != nil || !cr.HasRole("admin") {
		t.Fatalf("admin: %+v %v", cr, err)
	}
	cr, err = a.Authenticate(t.Context(), "bob:p1")
	if err != nil || cr.HasRole("admin") || cr.UserID != "bob" || cr.ProjectID != "p1" {
		t.Fatalf("bob: %+v %v", cr, err)
	}
	if _, err := a.Authenticate(t.Context(), ":x"); err == nil {
		t.Fatal("empty user accepted")
	}
	_ = http.StatusOK
}
