package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
)

type client struct {
	t     testing.TB
	h     http.Handler
	idx   *placement.Index
	token string
}

func newClient(t testing.TB) *client {
	idx := placement.New(placement.Options{})
	return &client{t: t, idx: idx, h: api.New(idx, api.Options{Authenticator: api.NoAuth()}), token: "admin"}
}

type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// code returns the error code of an error body ("" if none).
func (r resp) code() string {
	errs, _ := r.body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r resp) detail() string {
	errs, _ := r.body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	d, _ := e["detail"].(string)
	return d
}

// do sends a request; body is marshalled unless it is a string (sent raw).
func (c *client) do(method, path, version string, body any) resp {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				c.t.Fatal(err)
			}
			rd = bytes.NewReader(b)
		}
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if version != "" {
		req.Header.Set("OpenStack-API-Version", "placement "+version)
	}
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, req)
	r := resp{status: w.Code, header: w.Header(), raw: w.Body.Bytes()}
	if len(r.raw) > 0 {
		if err := json.Unmarshal(r.raw, &r.body); err != nil {
			c.t.Fatalf("%s %s: body is not a JSON object: %v: %q", method, path, err, r.raw)
		}
	}
	if r.header.Get("X-Openstack-Request-Id") == "" {
		c.t.Fatalf("%s %s: no x-openstack-request-id", method, path)
	}
	if r.status >= 500 {
		c.t.Fatalf("%s %s: %d %s", method, path, r.status, r.raw)
	}
	return r
}

func (c *client) must(want int, method, path, version string, body any) resp {
	c.t.Helper()
	r := c.do(method, path, version, body)
	if r.status != want {
		c.t.Fatalf("%s %s @%s: got %d, want %d: %s", method, path, version, r.status, want, r.raw)
	}
	return r
}

const (
	rp1  = "11111111-1111-1111-1111-111111111111"
	rp2  = "22222222-2222-2222-2222-222222222222"
	rp3  = "33333333-3333-3333-3333-333333333333"
	agg1 = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
	con1 = "c0000000-0000-0000-0000-000000000001"
	con2 = "c0000000-0000-0000-0000-000000000002"
)

// compute creates a provider with VCPU/MEMORY_MB inventory.
func (c *client) compute(u, name string, vcpu int) {
	c.t.Helper()
	c.must(200, "POST", "/resource_providers", "1.20", map[string]any{"uuid": u, "name": name})
	c.must(200, "PUT", "/resource_providers/"+u+"/inventories", "1.39", map[string]any{
		"resource_provider_generation": 0,
		"inventories": map[string]any{
			"VCPU":      map[string]any{"total": vcpu},
			"MEMORY_MB": map[string]any{"total": 4096},
		}})
}
