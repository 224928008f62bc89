package openstack_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/identity/policy"
)

// TestPolicyMatrix checks every persona against routes on a server of
// project p1: admin, member of p1, reader of p1, member of p2. Another
// project's server is reported as not found, never shown or touched.
func TestPolicyMatrix(t *testing.T) {
	ep, err := api.NewEnforcerPolicy(policy.Options{}, nil)
	require.NoError(t, err)
	t.Run("go checks", func(t *testing.T) { policyMatrix(t, newEnv(t, 2)) })
	t.Run("identity/policy", func(t *testing.T) { policyMatrix(t, newEnvWith(t, 2, ep)) })
}

func policyMatrix(t *testing.T, e *env) {
	const (
		admin  = "admin:adminproj"
		member = "alice:p1"
		reader = "reader1:p1"
		other  = "bob:p2"
	)
	id := e.create(member, "shared")
	bobs := e.create(other, "bobs")
	e.drain()
	srv := "/v2.1/servers/" + id
	type call struct {
		name, method, path, body string
		want                     map[string]int
	}
	calls := []call{
		{"show", "GET", srv, "", map[string]int{admin: 200, member: 200, reader: 200, other: 404}},
		{"update", "PUT", srv, `{"server": {"name": "renamed"}}`, map[string]int{admin: 200, member: 200, reader: 403, other: 404}},
		{"metadata get", "GET", srv + "/metadata", "", map[string]int{admin: 200, member: 200, reader: 200, other: 404}},
		{"metadata set", "POST", srv + "/metadata", `{"metadata": {"k": "v"}}`, map[string]int{admin: 200, member: 200, reader: 403, other: 404}},
		{"actions list", "GET", srv + "/os-instance-actions", "", map[string]int{admin: 200, member: 200, reader: 200, other: 404}},
		{"lock", "POST", srv + "/action", `{"lock": null}`, map[string]int{reader: 403, other: 404, member: 202}},
		{"unlock", "POST", srv + "/action", `{"unlock": null}`, map[string]int{reader: 403, other: 404, member: 202}},
		{"console output", "POST", srv + "/action", `{"os-getConsoleOutput": {"length": 1}}`, map[string]int{admin: 200, member: 200, reader: 403, other: 404}},
		{"reset state", "POST", srv + "/action", `{"os-resetState": {"state": "active"}}`, map[string]int{member: 403, reader: 403, other: 404, admin: 202}},
		{"migrate", "POST", srv + "/action", `{"migrate": null}`, map[string]int{member: 403, reader: 403, other: 404}},
		{"create", "POST", "/v2.1/servers", `{"server": {"name": "n", "flavorRef": "1", "imageRef": "` + imageID + `", "networks": "none"}}`, map[string]int{reader: 403}},
		{"list all tenants", "GET", "/v2.1/servers?all_tenants=1", "", map[string]int{admin: 200, member: 403, reader: 403, other: 403}},
		{"services", "GET", "/v2.1/os-services", "", map[string]int{admin: 200, member: 403, reader: 403}},
		{"hypervisors", "GET", "/v2.1/os-hypervisors/detail", "", map[string]int{admin: 200, member: 403, reader: 403}},
		{"migrations", "GET", "/v2.1/os-migrations", "", map[string]int{admin: 200, member: 403, reader: 403}},
		{"aggregates", "GET", "/v2.1/os-aggregates", "", map[string]int{admin: 200, member: 403, reader: 403}},
		{"flavor create", "POST", "/v2.1/flavors", `{"flavor": {"name": "big", "ram": 1024, "vcpus": 2, "disk": 10}}`, map[string]int{member: 403, reader: 403, admin: 200}},
		{"flavors", "GET", "/v2.1/flavors/detail", "", map[string]int{admin: 200, member: 200, reader: 200, other: 200}},
		{"limits", "GET", "/v2.1/limits", "", map[string]int{admin: 200, member: 200, reader: 200, other: 200}},
		{"quota other project", "GET", "/v2.1/os-quota-sets/p1", "", map[string]int{admin: 200, member: 200, reader: 200, other: 403}},
		{"quota update", "PUT", "/v2.1/os-quota-sets/p1", `{"quota_set": {"instances": 20}}`, map[string]int{member: 403, reader: 403, other: 403, admin: 200}},
		{"az detail", "GET", "/v2.1/os-availability-zone/detail", "", map[string]int{admin: 200, member: 403}},
		{"az", "GET", "/v2.1/os-availability-zone", "", map[string]int{admin: 200, member: 200, reader: 200}},
		{"delete", "DELETE", srv, "", map[string]int{reader: 403, other: 404, member: 204}},
	}
	order := []string{admin, reader, other, member}
	for _, c := range calls {
		for _, who := range order {
			want, ok := c.want[who]
			if !ok {
				continue
			}
			var body any
			if c.body != "" {
				body = c.body
			}
			r := e.do(c.method, c.path, who, "latest", body)
			assert.Equal(t, want, r.Code, "%s as %s: %s", c.name, who, r.Raw)
			e.drain()
		}
	}
	// Listings are scoped to the caller's project.
	r := e.do("GET", "/v2.1/servers/detail", other, "latest", nil)
	require.Equal(t, http.StatusOK, r.Code)
	for _, s := range r.Body["servers"].([]any) {
		assert.Equal(t, "p2", s.(map[string]any)["tenant_id"])
	}
	r = e.do("GET", "/v2.1/servers?all_tenants=1", admin, "latest", nil)
	require.Equal(t, http.StatusOK, r.Code)
	ids := map[string]bool{}
	for _, s := range r.Body["servers"].([]any) {
		ids[s.(map[string]any)["id"].(string)] = true
	}
	assert.True(t, ids[bobs])
	// Even a filter naming another project stays in the caller's.
	r = e.do("GET", "/v2.1/servers/detail?project_id=p2&tenant_id=p2", member, "2.74", nil)
	require.Equal(t, http.StatusOK, r.Code)
	for _, s := range r.Body["servers"].([]any) {
		assert.Equal(t, "p1", s.(map[string]any)["tenant_id"])
	}
}

// TestAdminLockNeedsOverride: a lock set by an admin cannot be undone by
// the owner without unlock_override.
func TestAdminLockNeedsOverride(t *testing.T) {
	e := newEnv(t, 1)
	id := e.create("alice:p1", "locked")
	e.drain()
	r := e.do("POST", "/v2.1/servers/"+id+"/action", "admin:adminproj", "2.73", `{"lock": {"locked_reason": "audit"}}`)
	require.Equal(t, 202, r.Code, r.Raw)
	s := e.server("alice:p1", id)
	assert.Equal(t, true, s["locked"])
	assert.Equal(t, "audit", s["locked_reason"])
	r = e.do("POST", "/v2.1/servers/"+id+"/action", "alice:p1", "", `{"os-stop": null}`)
	require.Equal(t, 409, r.Code, r.Raw)
	assert.Contains(t, r.Raw, "is locked")
	r = e.do("POST", "/v2.1/servers/"+id+"/action", "alice:p1", "", `{"unlock": null}`)
	require.Equal(t, 403, r.Code, r.Raw)
	r = e.do("POST", "/v2.1/servers/"+id+"/action", "admin:adminproj", "", `{"unlock": null}`)
	require.Equal(t, 202, r.Code, r.Raw)
}

// TestKeypairsAreUserScoped: a user sees only their key pairs; naming
// another user needs admin.
func TestKeypairsAreUserScoped(t *testing.T) {
	e := newEnv(t, 1)
	r := e.do("POST", "/v2.1/os-keypairs", "alice:p1", "2.91", `{"keypair": {"name": "k1"}}`)
	require.Equal(t, 201, r.Code, r.Raw)
	assert.Contains(t, r.Body["keypair"].(map[string]any)["private_key"], "PRIVATE KEY")
	r = e.do("GET", "/v2.1/os-keypairs/k1", "bob:p1", "latest", nil)
	assert.Equal(t, 404, r.Code, r.Raw)
	r = e.do("GET", "/v2.1/os-keypairs/k1?user_id=alice", "bob:p1", "latest", nil)
	assert.Equal(t, 403, r.Code, r.Raw)
	r = e.do("GET", "/v2.1/os-keypairs/k1?user_id=alice", "admin:x", "latest", nil)
	assert.Equal(t, 200, r.Code, r.Raw)
	r = e.do("DELETE", "/v2.1/os-keypairs/k1", "bob:p1", "latest", nil)
	assert.Equal(t, 404, r.Code, r.Raw)
	r = e.do("DELETE", "/v2.1/os-keypairs/k1", "alice:p1", "latest", nil)
	assert.Equal(t, 204, r.Code, r.Raw)
}
