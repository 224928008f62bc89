package api_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
)

// FuzzAPI sends arbitrary methods, paths, queries, versions and bodies to a
// populated handler: the answer is never a 5xx and the handler never panics
// (a recovered panic would be a 500).
func FuzzAPI(f *testing.F) {
	seeds := []struct{ method, path, version, body string }{
		{"POST", "/resource_providers", "1.39", `{"name":"x","uuid":"` + rp3 + `"}`},
		{"POST", "/resource_providers", "1.14", `{"name":"x","parent_provider_uuid":null}`},
		{"PUT", "/resource_providers/" + rp1, "1.37", `{"name":"x","parent_provider_uuid":"` + rp2 + `"}`},
		{"PUT", "/resource_providers/" + rp1 + "/inventories", "1.39", `{"resource_provider_generation":1,"inventories":{"VCPU":{"total":4,"allocation_ratio":1e308}}}`},
		{"PUT", "/resource_providers/" + rp1 + "/inventories/VCPU", "1.0", `{"resource_provider_generation":1,"total":-1}`},
		{"POST", "/resource_providers/" + rp1 + "/inventories", "1.0", `{"resource_class":"DISK_GB","resource_provider_generation":1,"total":9}`},
		{"PUT", "/resource_providers/" + rp1 + "/traits", "1.6", `{"resource_provider_generation":1,"traits":["CUSTOM_A",null]}`},
		{"PUT", "/resource_providers/" + rp1 + "/aggregates", "1.1", `["` + agg1 + `"]`},
		{"PUT", "/resource_providers/" + rp1 + "/aggregates", "1.19", `{"aggregates":[1],"resource_provider_generation":0}`},
		{"PUT", "/allocations/" + con1, "1.0", `{"allocations":[{"resource_provider":{"uuid":"` + rp1 + `"},"resources":{"VCPU":1}}]}`},
		{"PUT", "/allocations/" + con1, "1.39", `{"allocations":{"` + rp1 + `":{"resources":{"VCPU":1}}},"project_id":"p","user_id":"u","consumer_generation":null,"consumer_type":"INSTANCE"}`},
		{"POST", "/allocations", "1.39", `{"` + con2 + `":{"allocations":{},"project_id":"p","user_id":"u","consumer_generation":1,"consumer_type":"X"}}`},
		{"POST", "/reshaper", "1.39", `{"inventories":{},"allocations":{}}`},
		{"GET", "/allocation_candidates?resources=VCPU:1&required=in:A,B&member_of=!in:x", "1.39", ``},
		{"GET", "/allocation_candidates?resources_X=VCPU:1&same_subtree=_X&group_policy=isolate&limit=0", "latest", ``},
		{"GET", "/resource_providers?resources=VCPU:1&required=!X&member_of=in:" + agg1, "1.39", ``},
		{"GET", "/traits?name=in:", "1.6", ``},
		{"GET", "/usages?project_id=p&consumer_type=all", "1.38", ``},
		{"PUT", "/resource_classes/CUSTOM_X", "1.7", ``},
		{"DELETE", "/resource_providers/" + rp1, "1.0", ``},
		{"GET", "/%zz", "x", `{`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.version, s.body)
	}
	idx := placement.New(placement.Options{})
	h := api.New(idx, api.Options{Authenticator: api.NoAuth(), MaxBodyBytes: 1 << 16})
	c := &client{t: f, h: h, idx: idx, token: "admin"}
	c.compute(rp1, "fuzz", 8)
	c.must(204, "PUT", "/allocations/"+con1, "1.39", alloc(rp1, nil, "VCPU", 1))
	methods := map[string]bool{"GET": true, "PUT": true, "POST": true, "DELETE": true, "HEAD": true, "PATCH": true}
	f.Fuzz(func(t *testing.T, method, path, version, body string) {
		if !methods[method] || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#") {
			return
		}
		req := httptest.NewRequest("GET", "/", strings.NewReader(body))
		req.Method = method
		u, err := req.URL.Parse(path)
		if err != nil {
			return
		}
		req.URL = u
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Auth-Token", "admin")
		req.Header.Set("OpenStack-API-Version", "placement "+version)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s @%s %q: %d %s", method, path, version, body, w.Code, w.Body)
		}
		if w.Header().Get("X-Openstack-Request-Id") == "" {
			t.Fatal("no request id")
		}
	})
}
