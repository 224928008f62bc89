package openstack_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func names(r resp, key string) []string {
	var out []string
	for _, s := range r.Body[key].([]any) {
		out = append(out, s.(map[string]any)["name"].(string))
	}
	return out
}

// TestServerListFiltersSortPaging covers Nova's list filters, sorting
// and marker paging with next links.
func TestServerListFiltersSortPaging(t *testing.T) {
	e := newEnv(t, 2)
	tok := "alice:p1"
	for _, n := range []string{"alpha", "bravo", "charlie", "delta", "echo"} {
		e.create(tok, n)
	}
	e.drain()
	stopped := e.do("GET", "/v2.1/servers?name=^delta$", tok, "", nil)
	require.Len(t, stopped.Body["servers"], 1)
	did := stopped.Body["servers"].([]any)[0].(map[string]any)["id"].(string)
	r := e.do("POST", "/v2.1/servers/"+did+"/action", tok, "", `{"os-stop": null}`)
	require.Equal(t, 202, r.Code)
	e.drain()

	cases := []struct {
		query, version string
		want           []string
	}{
		{"sort_key=display_name&sort_dir=asc", "", []string{"alpha", "bravo", "charlie", "delta", "echo"}},
		{"sort_key=display_name&sort_dir=desc", "", []string{"echo", "delta", "charlie", "bravo", "alpha"}},
		{"name=a&sort_key=display_name&sort_dir=asc", "", []string{"alpha", "bravo", "charlie", "delta"}},
		{"status=SHUTOFF", "", []string{"delta"}},
		{"status=ACTIVE&sort_key=display_name&sort_dir=asc", "", []string{"alpha", "bravo", "charlie", "echo"}},
		{"flavor=1&name=echo", "", []string{"echo"}},
		{"image=" + imageID + "&name=alpha", "", []string{"alpha"}},
		{"vm_state=stopped", "2.83", []string{"delta"}},
		{"vm_state=stopped", "2.82", []string{"alpha", "bravo", "charlie", "delta", "echo"}},                          // not a non-admin filter before 2.83: dropped
		{"host=host1&sort_key=display_name&sort_dir=asc", "", []string{"alpha", "bravo", "charlie", "delta", "echo"}}, // admin-only filter: dropped
	}
	for _, c := range cases {
		t.Run(c.query+"@"+c.version, func(t *testing.T) {
			r := e.do("GET", "/v2.1/servers?"+c.query, tok, c.version, nil)
			require.Equal(t, 200, r.Code, r.Raw)
			got := names(r, "servers")
			if strings.Contains(c.query, "sort_key") {
				assert.Equal(t, c.want, got)
			} else {
				assert.ElementsMatch(t, c.want, got)
			}
		})
	}
	// The admin's host filter works (all tenants).
	r = e.do("GET", "/v2.1/servers/detail?all_tenants=1&host=host1", "admin:x", "", nil)
	require.Equal(t, 200, r.Code, r.Raw)
	for _, s := range r.Body["servers"].([]any) {
		assert.Equal(t, "host1", s.(map[string]any)["OS-EXT-SRV-ATTR:host"])
	}
	assert.NotEmpty(t, r.Body["servers"])

	// Paging: two at a time, following next links.
	var seen []string
	next := "/v2.1/servers/detail?limit=2&sort_key=display_name&sort_dir=asc"
	for pages := 0; next != "" && pages < 10; pages++ {
		r := e.do("GET", next, tok, "", nil)
		require.Equal(t, 200, r.Code, r.Raw)
		seen = append(seen, names(r, "servers")...)
		next = ""
		if links, ok := r.Body["servers_links"].([]any); ok {
			u, err := url.Parse(links[0].(map[string]any)["href"].(string))
			require.NoError(t, err)
			assert.Equal(t, "next", links[0].(map[string]any)["rel"])
			next = u.RequestURI()
		}
	}
	assert.Equal(t, []string{"alpha", "bravo", "charlie", "delta", "echo"}, seen)

	// Deleted servers show up with changes-since.
	r = e.do("DELETE", "/v2.1/servers/"+did, tok, "", nil)
	require.Equal(t, 204, r.Code)
	e.drain()
	r = e.do("GET", "/v2.1/servers/detail?changes-since=2000-01-01T00:00:00Z", tok, "", nil)
	require.Equal(t, 200, r.Code, r.Raw)
	statuses := map[string]string{}
	for _, s := range r.Body["servers"].([]any) {
		m := s.(map[string]any)
		statuses[m["name"].(string)] = m["status"].(string)
	}
	assert.Equal(t, "DELETED", statuses["delta"])
	r = e.do("GET", "/v2.1/servers", tok, "", nil)
	assert.NotContains(t, names(r, "servers"), "delta")
}

// TestServerViewByMicroversion checks the fields that come and go.
func TestServerViewByMicroversion(t *testing.T) {
	e := newEnv(t, 1)
	id := e.create("alice:p1", "v")
	e.drain()
	get := func(v, tok string) map[string]any {
		r := e.do("GET", "/v2.1/servers/"+id, tok, v, nil)
		require.Equal(t, 200, r.Code, r.Raw)
		return r.Body["server"].(map[string]any)
	}
	s := get("2.1", "alice:p1")
	assert.NotContains(t, s, "locked")
	assert.NotContains(t, s, "description")
	assert.Equal(t, "1", s["flavor"].(map[string]any)["id"])
	s = get("2.47", "alice:p1")
	assert.Equal(t, "m1.tiny", s["flavor"].(map[string]any)["original_name"])
	assert.Equal(t, false, s["locked"])
	assert.Contains(t, s, "description")
	assert.Contains(t, s, "tags")
	s = get("2.96", "alice:p1")
	assert.Contains(t, s, "locked_reason")
	assert.Contains(t, s, "server_groups")
	assert.Contains(t, s, "pinned_availability_zone")
	assert.Equal(t, "v", s["OS-EXT-SRV-ATTR:hostname"])
	assert.NotContains(t, s, "host_status")
	s = get("2.96", "admin:x")
	assert.Equal(t, "UP", s["host_status"])
	assert.Equal(t, "host1", s["OS-EXT-SRV-ATTR:host"])
	assert.Contains(t, s, "OS-EXT-SRV-ATTR:reservation_id")
	// A failed build shows its fault.
	e.cloud.failBuilds = true
	bad := e.create("alice:p1", "bad")
	e.drain()
	s = e.server("alice:p1", bad)
	assert.Equal(t, "ERROR", s["status"])
	assert.Contains(t, s["fault"].(map[string]any)["message"], "no valid host")
	assert.NotContains(t, s["fault"], "details", "500 details are for admins")
}
