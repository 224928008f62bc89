package openstack_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionDocuments(t *testing.T) {
	e := newEnv(t, 1)
	r := e.do("GET", "/", "", "", nil)
	require.Equal(t, http.StatusOK, r.Code)
	vs := r.Body["versions"].([]any)
	require.Len(t, vs, 2)
	v21 := vs[1].(map[string]any)
	assert.Equal(t, "v2.1", v21["id"])
	assert.Equal(t, "2.96", v21["version"])
	assert.Equal(t, "2.1", v21["min_version"])
	assert.Equal(t, "CURRENT", v21["status"])

	for _, p := range []string{"/v2.1", "/v2.1/"} {
		r = e.do("GET", p, "", "", nil)
		require.Equal(t, http.StatusOK, r.Code, p)
		assert.Equal(t, "v2.1", r.Body["version"].(map[string]any)["id"])
	}
	r = e.do("GET", "/v2.1/servers", "", "", nil)
	assert.Equal(t, http.StatusUnauthorized, r.Code)
	assert.NotEmpty(t, r.Header.Get("X-Compute-Request-Id"))
}

func TestMicroversionNegotiation(t *testing.T) {
	e := newEnv(t, 1)
	cases := []struct {
		name   string
		hdr    map[string]string
		code   int
		served string
	}{
		{"none is 2.1", nil, 200, "2.1"},
		{"new header", map[string]string{"OpenStack-API-Version": "compute 2.53"}, 200, "2.53"},
		{"legacy header", map[string]string{"X-OpenStack-Nova-API-Version": "2.19"}, 200, "2.19"},
		{"latest", map[string]string{"OpenStack-API-Version": "compute latest"}, 200, "2.96"},
		{"new wins over legacy", map[string]string{"OpenStack-API-Version": "compute 2.30", "X-OpenStack-Nova-API-Version": "2.10"}, 200, "2.30"},
		{"other service ignored", map[string]string{"OpenStack-API-Version": "placement 1.30"}, 200, "2.1"},
		{"too new", map[string]string{"OpenStack-API-Version": "compute 2.97"}, 406, ""},
		{"too old", map[string]string{"X-OpenStack-Nova-API-Version": "2.0"}, 406, ""},
		{"v3", map[string]string{"X-OpenStack-Nova-API-Version": "3.1"}, 406, ""},
		{"malformed", map[string]string{"OpenStack-API-Version": "compute 2.x"}, 400, ""},
		{"malformed 2", map[string]string{"X-OpenStack-Nova-API-Version": "2"}, 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.srv.URL+"/v2.1/flavors", nil)
			req.Header.Set("X-Auth-Token", "alice:p1")
			for k, v := range c.hdr {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, c.code, res.StatusCode)
			if c.served != "" {
				assert.Equal(t, "compute "+c.served, res.Header.Get("OpenStack-API-Version"))
				assert.Equal(t, c.served, res.Header.Get("X-OpenStack-Nova-API-Version"))
				assert.Contains(t, res.Header.Get("Vary"), "OpenStack-API-Version")
				assert.Contains(t, res.Header.Get("Vary"), "X-OpenStack-Nova-API-Version")
			}
			assert.True(t, strings.HasPrefix(res.Header.Get("X-OpenStack-Request-ID"), "req-"))
			assert.Equal(t, res.Header.Get("X-OpenStack-Request-ID"), res.Header.Get("X-Compute-Request-Id"))
		})
	}
	r := e.do("GET", "/v2.1/flavors", "alice:p1", "2.200", nil)
	require.Equal(t, http.StatusNotAcceptable, r.Code)
	assert.Equal(t, "Version 2.200 is not supported by the API. Minimum is 2.1 and maximum is 2.96.", r.Body["computeFault"].(map[string]any)["message"])
}

func TestProjectIDInURL(t *testing.T) {
	e := newEnv(t, 1)
	r := e.do("GET", "/v2.1/p1/flavors", "alice:p1", "", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Raw)
	links := r.Body["flavors"].([]any)[0].(map[string]any)["links"].([]any)
	assert.Contains(t, links[0].(map[string]any)["href"], "/v2.1/p1/flavors/")
	r = e.do("GET", "/v2.1/p2/flavors", "alice:p1", "", nil)
	require.Equal(t, http.StatusBadRequest, r.Code)
	assert.Contains(t, r.Body["badRequest"].(map[string]any)["message"], "doesn't match Context's project_id")
}

func TestErrorsAndMethods(t *testing.T) {
	e := newEnv(t, 1)
	cases := []struct {
		method, path, body string
		code               int
		fault              string
	}{
		{"GET", "/v2.1/p1/nothing-here", "", 404, "itemNotFound"},
		{"GET", "/v2.1/nothing-here", "", 400, "badRequest"},
		{"PATCH", "/v2.1/servers", "", 405, "badMethod"},
		{"POST", "/v2.1/flavors/1", "", 405, "badMethod"},
		{"GET", "/v2.1/servers/00000000-0000-0000-0000-000000000000", "", 404, "itemNotFound"},
		{"POST", "/v2.1/servers", "{not json", 400, "badRequest"},
		{"POST", "/v2.1/servers", "", 400, "badRequest"},
		{"POST", "/v2.1/servers", `{"server": {}} trailing`, 400, "badRequest"},
		{"GET", "/v2.1/os-fping", "", 410, "gone"},
		{"POST", "/v2.1/servers", strings.Repeat(" ", 200000), 413, "overLimit"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			var body any
			if c.body != "" {
				body = c.body
			}
			r := e.do(c.method, c.path, "alice:p1", "", body)
			require.Equal(t, c.code, r.Code, r.Raw)
			f, ok := r.Body[c.fault].(map[string]any)
			require.True(t, ok, r.Raw)
			assert.Equal(t, float64(c.code), f["code"])
			assert.NotEmpty(t, f["message"])
		})
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/v2.1/servers", strings.NewReader("<xml/>"))
	req.Header.Set("X-Auth-Token", "alice:p1")
	req.Header.Set("Content-Type", "application/xml")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnsupportedMediaType, res.StatusCode)
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t, 1)
	r := e.do("GET", "/healthz", "", "", nil)
	require.Equal(t, http.StatusOK, r.Code)
	id := e.create("alice:p1", "m")
	e.server("alice:p1", id)
	e.do("GET", "/v2.1/servers/"+id, "bob:p2", "", nil)
	r = e.do("GET", "/metrics", "", "", nil)
	require.Equal(t, http.StatusOK, r.Code)
	assert.Contains(t, r.Raw, `compute_api_http_requests_total{method="GET",route="GET /servers/{id}",status="200"} 1`)
	assert.Contains(t, r.Raw, `compute_api_http_requests_total{method="GET",route="GET /servers/{id}",status="404"} 1`)
	assert.Contains(t, r.Raw, `compute_api_http_requests_total{method="POST",route="POST /servers",status="202"} 1`)
	assert.Contains(t, r.Raw, `compute_api_http_request_duration_seconds_bucket`)
}
