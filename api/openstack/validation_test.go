package openstack_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBadInput sends malformed bodies and query strings to each route:
// every one must be a 400 (or the listed code) whose message names the
// field, never a 5xx.
func TestBadInput(t *testing.T) {
	e := newEnv(t, 1)
	id := e.create("alice:p1", "target")
	e.drain()
	srv := func(fields string) string {
		return `{"server": {"name": "x", "flavorRef": "1", "imageRef": "` + imageID + `", "networks": "none"` + fields + `}}`
	}
	cases := []struct {
		name, method, path, version, body string
		code                              int
		field                             string
	}{
		{"create without name", "POST", "/v2.1/servers", "2.37", `{"server": {"flavorRef": "1", "networks": "none"}}`, 400, "name"},
		{"create without flavor", "POST", "/v2.1/servers", "", `{"server": {"name": "a"}}`, 400, "flavorRef"},
		{"create without networks at 2.37", "POST", "/v2.1/servers", "2.37", `{"server": {"name": "a", "flavorRef": "1", "imageRef": "` + imageID + `"}}`, 400, "networks"},
		{"create name not a string", "POST", "/v2.1/servers", "latest", `{"server": {"name": 5, "flavorRef": "1", "networks": "none"}}`, 400, "name"},
		{"create name with leading space", "POST", "/v2.1/servers", "latest", srv(`, "name": " x"`), 400, "name"},
		{"create unknown field", "POST", "/v2.1/servers", "latest", srv(`, "colour": "red"`), 400, "colour"},
		{"create unknown top key", "POST", "/v2.1/servers", "latest", `{"server": {"name": "a", "flavorRef": "1", "networks": "none"}, "extra": 1}`, 400, "extra"},
		{"create bad networks", "POST", "/v2.1/servers", "latest", strings.Replace(srv(""), `"none"`, `"some"`, 1), 400, "networks"},
		{"create bad network uuid", "POST", "/v2.1/servers", "latest", strings.Replace(srv(""), `"none"`, `[{"uuid": "nope"}]`, 1), 400, "uuid"},
		{"create min_count 0", "POST", "/v2.1/servers", "latest", srv(`, "min_count": 0`), 400, "min_count"},
		{"create min > max", "POST", "/v2.1/servers", "latest", srv(`, "min_count": 3, "max_count": 2`), 400, "min_count"},
		{"create metadata value not string", "POST", "/v2.1/servers", "latest", srv(`, "metadata": {"a": 1}`), 400, "a"},
		{"create user_data not base64", "POST", "/v2.1/servers", "latest", srv(`, "user_data": "!!!"`), 400, "user_data"},
		{"create unknown flavor", "POST", "/v2.1/servers", "latest", strings.Replace(srv(""), `"flavorRef": "1"`, `"flavorRef": "999"`, 1), 400, "Flavor 999"},
		{"create unknown image", "POST", "/v2.1/servers", "latest", strings.Replace(srv(""), imageID, "11111111-2222-3333-4444-555555555555", 1), 400, "Image"},
		{"create unknown key", "POST", "/v2.1/servers", "latest", srv(`, "key_name": "nokey"`), 400, "key_name"},
		{"create unknown zone", "POST", "/v2.1/servers", "latest", srv(`, "availability_zone": "mars"`), 400, "availability zone"},
		{"create bad hint", "POST", "/v2.1/servers", "latest", `{"server": {"name": "a", "flavorRef": "1", "networks": "none"}, "OS-SCH-HNT:scheduler_hints": {"group": "x"}}`, 400, "group"},
		{"create description before 2.19", "POST", "/v2.1/servers", "2.18", `{"server": {"name": "a", "flavorRef": "1", "description": "d"}}`, 400, "description"},
		{"create tags before 2.52", "POST", "/v2.1/servers", "2.51", srv(`, "tags": ["a"]`), 400, "tags"},
		{"create forced host as member", "POST", "/v2.1/servers", "latest", srv(`, "host": "host1"`), 403, "forced_host"},
		{"update unknown field", "PUT", "/v2.1/servers/" + id, "latest", `{"server": {"flavor": "2"}}`, 400, "flavor"},
		{"update bad ip", "PUT", "/v2.1/servers/" + id, "latest", `{"server": {"accessIPv4": "300.1.1.1"}}`, 400, "accessIPv4"},
		{"action unknown", "POST", "/v2.1/servers/" + id + "/action", "latest", `{"explode": null}`, 400, "explode"},
		{"action two keys", "POST", "/v2.1/servers/" + id + "/action", "latest", `{"pause": null, "unpause": null}`, 400, "one action"},
		{"reboot bad type", "POST", "/v2.1/servers/" + id + "/action", "latest", `{"reboot": {"type": "GENTLE"}}`, 400, "type"},
		{"reboot missing type", "POST", "/v2.1/servers/" + id + "/action", "latest", `{"reboot": {}}`, 400, "type"},
		{"resize missing flavor", "POST", "/v2.1/servers/" + id + "/action", "latest", `{"resize": {}}`, 400, "flavorRef"},
		{"resize same flavor", "POST", "/v2.1/servers/" + id + "/action", "latest", `{"resize": {"flavorRef": "1"}}`, 400, "change flavor"},
		{"resize unknown flavor", "POST", "/v2.1/servers/" + id + "/action", "latest", `{"resize": {"flavorRef": "77"}}`, 400, "flavor 77"},
		{"console bad length", "POST", "/v2.1/servers/" + id + "/action", "latest", `{"os-getConsoleOutput": {"length": "x"}}`, 400, "length"},
		{"lock reason before 2.73", "POST", "/v2.1/servers/" + id + "/action", "2.72", `{"lock": {"locked_reason": "r"}}`, 400, "locked_reason"},
		{"createImage no name", "POST", "/v2.1/servers/" + id + "/action", "latest", `{"createImage": {}}`, 400, "name"},
		{"start when active", "POST", "/v2.1/servers/" + id + "/action", "latest", `{"os-start": null}`, 409, "vm_state active"},
		{"unpause when active", "POST", "/v2.1/servers/" + id + "/action", "latest", `{"unpause": null}`, 409, "unpause"},
		{"metadata not object", "POST", "/v2.1/servers/" + id + "/metadata", "latest", `{"metadata": []}`, 400, "metadata"},
		{"meta key mismatch", "PUT", "/v2.1/servers/" + id + "/metadata/a", "latest", `{"meta": {"b": "1"}}`, 400, "mismatch"},
		{"list unknown param at 2.75", "GET", "/v2.1/servers?colour=red", "2.75", "", 400, "colour"},
		{"list bad limit", "GET", "/v2.1/servers?limit=x", "latest", "", 400, "limit"},
		{"list bad sort dir", "GET", "/v2.1/servers?sort_key=display_name&sort_dir=up", "latest", "", 400, "sort_dir"},
		{"list bad sort key", "GET", "/v2.1/servers?sort_key=colour", "2.74", "", 400, "sort_key"},
		{"list bad status at 2.38", "GET", "/v2.1/servers?status=SLEEPY", "2.38", "", 400, "status"},
		{"list bad changes-since", "GET", "/v2.1/servers?changes-since=yesterday", "latest", "", 400, "changes-since"},
		{"list unknown marker", "GET", "/v2.1/servers?marker=00000000-0000-0000-0000-000000000000", "latest", "", 400, "marker"},
		{"keypair no name", "POST", "/v2.1/os-keypairs", "latest", `{"keypair": {"public_key": "x"}}`, 400, "name"},
		{"keypair bad key", "POST", "/v2.1/os-keypairs", "latest", `{"keypair": {"name": "k", "public_key": "ssh-rsa AAAAnotakey"}}`, 400, "Keypair data is invalid"},
		{"keypair bad type", "POST", "/v2.1/os-keypairs", "latest", `{"keypair": {"name": "k", "public_key": "x", "type": "pgp"}}`, 400, "type"},
		{"keypair no key at 2.92", "POST", "/v2.1/os-keypairs", "2.92", `{"keypair": {"name": "k"}}`, 400, "public_key"},
		{"keypair bad name", "POST", "/v2.1/os-keypairs", "2.91", `{"keypair": {"name": "a/b"}}`, 400, "unsafe"},
		{"flavor list bad minRam", "GET", "/v2.1/flavors?minRam=lots", "latest", "", 400, "minRam"},
		{"server group bad policy", "POST", "/v2.1/os-server-groups", "latest", `{"server_group": {"name": "g", "policy": "friendly"}}`, 400, "policy"},
		{"server group rules w/o anti", "POST", "/v2.1/os-server-groups", "latest", `{"server_group": {"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}}}`, 400, "rules"},
		{"server group policies at 2.64", "POST", "/v2.1/os-server-groups", "2.64", `{"server_group": {"name": "g", "policies": ["affinity"]}}`, 400, "policy"},
		{"remote console rdp", "POST", "/v2.1/servers/" + id + "/remote-consoles", "latest", `{"remote_console": {"protocol": "rdp", "type": "rdp-html5"}}`, 400, "rdp"},
		{"remote console novnc", "POST", "/v2.1/servers/" + id + "/remote-consoles", "latest", `{"remote_console": {"protocol": "vnc", "type": "novnc"}}`, 501, "console"},
		{"remote console bad type", "POST", "/v2.1/servers/" + id + "/remote-consoles", "latest", `{"remote_console": {"protocol": "vnc", "type": "x"}}`, 400, "type"},
		{"remote console before 2.6", "POST", "/v2.1/servers/" + id + "/remote-consoles", "2.5", `{"remote_console": {"protocol": "vnc", "type": "novnc"}}`, 404, "could not be found"},
		{"quota bad value (admin)", "PUT", "/v2.1/os-quota-sets/p1", "latest", `{"quota_set": {"instances": "many"}}`, 400, "instances"},
		{"quota unknown key", "PUT", "/v2.1/os-quota-sets/p1", "latest", `{"quota_set": {"gpus": 1}}`, 400, "gpus"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := "alice:p1"
			if strings.HasPrefix(c.name, "quota") {
				tok = "admin:adminproj"
			}
			var body any
			if c.body != "" {
				body = c.body
			}
			r := e.do(c.method, c.path, tok, c.version, body)
			require.Equal(t, c.code, r.Code, r.Raw)
			var msg string
			for _, v := range r.Body {
				msg = fmt.Sprint(v.(map[string]any)["message"])
			}
			assert.Contains(t, msg, c.field, r.Raw)
		})
	}
	// Before 2.75 unknown query parameters are ignored.
	r := e.do("GET", "/v2.1/servers?colour=red", "alice:p1", "2.74", nil)
	assert.Equal(t, http.StatusOK, r.Code, r.Raw)
	// Before 2.38 an unknown status gives an empty list.
	r = e.do("GET", "/v2.1/servers?status=SLEEPY", "alice:p1", "2.37", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Raw)
	assert.Empty(t, r.Body["servers"])
}
