package openstack_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServerLifecycle boots a server through the HTTP API and drives it
// through power actions with the doubles (see harness_test.go).
func TestServerLifecycle(t *testing.T) {
	e := newEnv(t, 2)
	tok := "alice:p1"
	id := e.create(tok, "web")
	s := e.server(tok, id)
	assert.Contains(t, []any{"BUILD", "ACTIVE"}, s["status"])
	e.drain()
	s = e.server(tok, id)
	require.Equal(t, "ACTIVE", s["status"], s)
	assert.Equal(t, "p1", s["tenant_id"])
	assert.Equal(t, float64(1), s["OS-EXT-STS:power_state"])
	assert.NotEmpty(t, s["hostId"])
	assert.NotContains(t, s, "OS-EXT-SRV-ATTR:host", "non-admins do not see the host")

	steps := []struct {
		body   string
		status string
		code   int
	}{
		{`{"os-stop": null}`, "SHUTOFF", 202},
		{`{"os-start": null}`, "ACTIVE", 202},
		{`{"reboot": {"type": "HARD"}}`, "ACTIVE", 202},
		{`{"pause": null}`, "PAUSED", 202},
		{`{"unpause": null}`, "ACTIVE", 202},
		{`{"suspend": null}`, "SUSPENDED", 202},
		{`{"resume": null}`, "ACTIVE", 202},
		{`{"lock": null}`, "ACTIVE", 202},
		{`{"unlock": null}`, "ACTIVE", 202},
		{`{"resize": {"flavorRef": "2"}}`, "VERIFY_RESIZE", 202},
		{`{"confirmResize": null}`, "ACTIVE", 204},
		{`{"resize": {"flavorRef": "3"}}`, "VERIFY_RESIZE", 202},
		{`{"revertResize": null}`, "ACTIVE", 202},
		{`{"rebuild": {"imageRef": "` + imageID + `"}}`, "ACTIVE", 202},
		{`{"createImage": {"name": "snap"}}`, "ACTIVE", 202},
		{`{"shelve": null}`, "SHELVED", 202},
		{`{"unshelve": null}`, "ACTIVE", 202},
	}
	for _, st := range steps {
		r := e.do("POST", "/v2.1/servers/"+id+"/action", tok, "latest", st.body)
		require.Equal(t, st.code, r.Code, "%s: %s", st.body, r.Raw)
		e.drain()
		require.Equal(t, st.status, e.server(tok, id)["status"], st.body)
	}
	// Console output.
	r := e.do("POST", "/v2.1/servers/"+id+"/action", tok, "latest", `{"os-getConsoleOutput": {"length": 5}}`)
	require.Equal(t, http.StatusOK, r.Code, r.Raw)
	assert.NotEmpty(t, r.Body["output"])
	// Actions recorded.
	r = e.do("GET", "/v2.1/servers/"+id+"/os-instance-actions", tok, "latest", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Raw)
	acts := r.Body["instanceActions"].([]any)
	assert.Len(t, acts, len(steps)+1)
	names := map[string]bool{}
	for _, a := range acts {
		names[a.(map[string]any)["action"].(string)] = true
	}
	for _, n := range []string{"create", "stop", "start", "reboot", "resize", "confirmResize", "revertResize", "shelve", "unshelve", "createImage", "rebuild", "lock", "unlock"} {
		assert.True(t, names[n], n)
	}
	// Delete.
	r = e.do("DELETE", "/v2.1/servers/"+id, tok, "", nil)
	require.Equal(t, http.StatusNoContent, r.Code, r.Raw)
	e.drain()
	r = e.do("GET", "/v2.1/servers/"+id, tok, "", nil)
	require.Equal(t, http.StatusNotFound, r.Code, r.Raw)
	assert.Contains(t, r.Body, "itemNotFound")
}
