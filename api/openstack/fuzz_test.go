package openstack_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// fuzzEnv answers one request and fails on a 5xx (other than the 501 of
// consoles) or a panic (the handler turns panics into 500s).
func fuzzCheck(t *testing.T, e *env, method, path, version, body string) {
	var b any
	if body != "" {
		b = body
	}
	r := e.doT(t, method, path, "alice:p1", version, b)
	if r.Code >= 500 && r.Code != http.StatusNotImplemented {
		t.Fatalf("%s %s (%s) %q: %d %s", method, path, version, body, r.Code, r.Raw)
	}
}

// FuzzServerCreate: arbitrary server create bodies never get a 5xx.
func FuzzServerCreate(f *testing.F) {
	for _, s := range []string{
		`{"server": {"name": "a", "flavorRef": "1", "imageRef": "` + imageID + `", "networks": "none"}}`,
		`{"server": {"name": "a", "flavorRef": 1, "networks": [{"uuid": "` + imageID + `"}], "min_count": "2", "max_count": 3}}`,
		`{"server": {"name": "a", "flavorRef": "1", "block_device_mapping_v2": [{"boot_index": "0", "uuid": "x", "source_type": "volume", "destination_type": "volume"}]}}`,
		`{"server": {"name": "a", "flavorRef": "1", "metadata": {"k": "v"}, "user_data": "aGk=", "availability_zone": "nova:host1"}, "OS-SCH-HNT:scheduler_hints": {"group": "` + imageID + `", "query": {"a": 1}}}`,
		`{"server": null}`, `[]`, `"x"`, `{"server": {"name": "` + strings.Repeat("x", 300) + `"}}`,
	} {
		f.Add(s, "2.1")
		f.Add(s, "latest")
	}
	e := newEnv(f, 1)
	f.Fuzz(func(t *testing.T, body, version string) {
		if !headerSafe(version) {
			return
		}
		fuzzCheck(t, e, "POST", "/v2.1/servers", version, body)
	})
}

// FuzzServerAction: arbitrary action bodies on a live server.
func FuzzServerAction(f *testing.F) {
	for _, s := range []string{
		`{"os-stop": null}`, `{"reboot": {"type": "HARD"}}`, `{"resize": {"flavorRef": 2}}`,
		`{"rebuild": {"imageRef": "` + imageID + `", "metadata": {"a": "b"}, "key_name": null}}`,
		`{"lock": {"locked_reason": "x"}}`, `{"os-getConsoleOutput": {"length": "-1"}}`,
		`{"createImage": {"name": "s", "metadata": {}}}`, `{"unshelve": {"availability_zone": null}}`,
		`{"evacuate": {"host": "h"}}`, `{"migrate": {"host": null}}`, `{"os-resetState": {"state": "error"}}`,
	} {
		f.Add(s, "latest")
		f.Add(s, "2.10")
	}
	e := newEnv(f, 2)
	id := e.create("alice:p1", "fuzz")
	e.drain()
	f.Fuzz(func(t *testing.T, body, version string) {
		if !headerSafe(version) {
			return
		}
		fuzzCheck(t, e, "POST", "/v2.1/servers/"+id+"/action", version, body)
		e.drain()
	})
}

// FuzzListQuery: arbitrary query strings on the listing routes.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{
		"limit=2&marker=x", "status=ACTIVE&status=SHUTOFF", "sort_key=display_name&sort_dir=asc&sort_key=uuid",
		"changes-since=2020-01-01T00:00:00Z&changes-before=2019-01-01", "name=[", "tags=a,b&not-tags-any=c",
		"all_tenants=1", "locked=maybe", "minRam=5&is_public=none", "power_state=x",
	} {
		f.Add(s, "latest", uint8(0))
		f.Add(s, "2.1", uint8(1))
	}
	e := newEnv(f, 1)
	e.create("alice:p1", "listed")
	e.drain()
	paths := []string{"/v2.1/servers", "/v2.1/servers/detail", "/v2.1/flavors/detail", "/v2.1/os-keypairs", "/v2.1/os-server-groups", "/v2.1/limits"}
	f.Fuzz(func(t *testing.T, query, version string, which uint8) {
		if !headerSafe(version) {
			return
		}
		qv, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		fuzzCheck(t, e, "GET", paths[int(which)%len(paths)]+"?"+qv.Encode(), version, "")
	})
}

// headerSafe reports whether s can be sent as a header value (the HTTP
// client refuses control characters before the request leaves).
func headerSafe(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
