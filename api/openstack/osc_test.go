package openstack_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/novakit/novakit/compute"
)

// TestOpenStackClient drives the real openstack CLI (Debian's
// python3-openstackclient) against the handler, as
// `openstack --os-auth-type admin_token --os-token admin --os-endpoint URL`
// (identity.NoAuth takes the token "admin" as an admin of project
// "admin"). It is skipped where the client is not installed, except in CI
// or with NOVAKIT_TEST_SERVICES=require, where it fails.
func TestOpenStackClient(t *testing.T) {
	required := os.Getenv("CI") != "" || os.Getenv("NOVAKIT_TEST_SERVICES") == "require"
	bin, err := exec.LookPath("openstack")
	if err != nil {
		if required {
			t.Fatal("openstack client not installed (required here: apt-get install python3-openstackclient)")
		}
		t.Skip("openstack client not installed (apt-get install python3-openstackclient)")
	}
	if testing.Short() && !required {
		t.Skip("-short: the openstack client takes about a second per command")
	}
	e := newEnv(t, 2)
	// With one endpoint override the CLI also looks images up there: the
	// test serves the image double in Glance v2's shape at /v2.1/images
	// (the compute API itself has no image proxy after 2.36).
	// (A server of its own: swapping e.srv's handler while it serves
	// would race.)
	inner := e.h
	osrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v2.1/images") {
			glanceImages(w, r, e.imgs)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(osrv.Close)
	// The doubles' casts run on their worker as soon as they are queued,
	// so `server create --wait` sees ACTIVE after a poll or two.
	osc := func(args ...string) string {
		t.Helper()
		base := []string{"--os-auth-type", "admin_token", "--os-token", "admin", "--os-endpoint", osrv.URL + "/v2.1",
			"--os-compute-api-version", "2.92"}
		cmd := exec.CommandContext(t.Context(), bin, append(base, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	contains := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("output lacks %q:\n%s", w, out)
			}
		}
	}
	contains(osc("flavor", "list", "-f", "value"), "m1.tiny", "m1.small", "m1.medium")
	contains(osc("flavor", "create", "--ram", "256", "--vcpus", "1", "--disk", "1", "--id", "osc1", "osc.flavor", "-f", "json"), `"name": "osc.flavor"`)
	contains(osc("flavor", "show", "osc1", "-f", "json"), `"ram": 256`)
	contains(osc("keypair", "list", "-f", "value"), "")
	out := osc("server", "create", "--flavor", "m1.tiny", "--image", imageID, "--nic", "none", "--wait", "-f", "json", "osc-vm")
	contains(out, `"status": "ACTIVE"`, `"name": "osc-vm"`)
	contains(osc("server", "list", "-f", "value"), "osc-vm ACTIVE")
	contains(osc("server", "show", "osc-vm", "-f", "json"), `"OS-EXT-STS:vm_state": "active"`)
	osc("server", "stop", "osc-vm")
	e.drain()
	contains(osc("server", "show", "osc-vm", "-f", "value", "-c", "status"), "SHUTOFF")
	osc("server", "start", "osc-vm")
	e.drain()
	osc("server", "reboot", "osc-vm")
	e.drain()
	contains(osc("server", "show", "osc-vm", "-f", "value", "-c", "status"), "ACTIVE")
	contains(osc("hypervisor", "list", "-f", "value"), "host1", "host2")
	contains(osc("compute", "service", "list", "-f", "value"), "nova-compute host1", "nova-conductor controller internal")
	contains(osc("availability", "zone", "list", "--compute", "-f", "value"), "nova available")
	contains(osc("server", "event", "list", "osc-vm", "-f", "value"), "create", "stop", "start", "reboot")
	contains(osc("limits", "show", "--absolute", "-f", "value"), "maxTotalInstances 10")
	contains(osc("usage", "list", "-f", "value"), "admin [{", "'name': 'osc-vm'")
	osc("server", "delete", "--wait", "osc-vm")
	if out := osc("server", "list", "-f", "value"); strings.TrimSpace(out) != "" {
		t.Fatalf("server left: %s", out)
	}
	osc("flavor", "delete", "osc1")
}

// glanceImages answers GET /images/{id} and GET /images?name= from the
// image double, in Glance v2's shape.
type computeImage = compute.ImageMeta

func glanceImages(w http.ResponseWriter, r *http.Request, im *imagesDouble) {
	view := func(m computeImage) map[string]any {
		return map[string]any{"id": m.ID, "name": m.Name, "status": "active", "disk_format": m.DiskFormat,
			"container_format": m.ContainerFormat, "min_disk": m.MinDiskGB, "min_ram": m.MinRAMMB,
			"visibility": "public", "size": m.Size, "tags": []string{}}
	}
	w.Header().Set("Content-Type", "application/json")
	id := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v2.1/images"), "/")
	im.mu.Lock()
	defer im.mu.Unlock()
	if id != "" {
		m, ok := im.images[id]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(view(m))
		return
	}
	out := []any{}
	for _, m := range im.images {
		if n := r.URL.Query().Get("name"); n == "" || n == m.Name || n == m.ID {
			out = append(out, view(m))
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"images": out})
}
