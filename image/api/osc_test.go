package api_test

import (
	"bytes"
	"crypto/md5" //nolint:gosec
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/novakit/novakit/identity/embedded"
	"github.com/novakit/novakit/image"
	"github.com/novakit/novakit/image/api"
)

// cloud is an embedded identity service whose catalog names an image
// endpoint served by the handler on a seeded store.
type cloud struct {
	issuer   *embedded.Issuer
	identity *httptest.Server
	images   *httptest.Server
	store    *image.Store
}

func newCloud(t *testing.T) *cloud {
	t.Helper()
	idSrv := httptest.NewUnstartedServer(nil)
	imgSrv := httptest.NewUnstartedServer(nil)
	cfg := embedded.AllInOne("secret", "demopass")
	cfg.BcryptCost = bcrypt.MinCost
	cfg.AddService("identity", "keystone", "", "http://"+idSrv.Listener.Addr().String()+"/v3")
	cfg.AddService("image", "glance", "", "http://"+imgSrv.Listener.Addr().String())
	iss, err := embedded.New(cfg)
	require.NoError(t, err)
	store, err := image.Open(t.TempDir(), image.Options{})
	require.NoError(t, err)
	_, err = image.Seed(t.Context(), store, embedded.StableID("project", "admin"))
	require.NoError(t, err)
	h, err := api.New(store, api.Options{Authenticator: iss, AuthURI: "http://" + idSrv.Listener.Addr().String()})
	require.NoError(t, err)
	idSrv.Config.Handler = iss
	imgSrv.Config.Handler = h
	idSrv.Start()
	imgSrv.Start()
	t.Cleanup(idSrv.Close)
	t.Cleanup(imgSrv.Close)
	return &cloud{issuer: iss, identity: idSrv, images: imgSrv, store: store}
}

func (c *cloud) token(t *testing.T, user, pass string) string {
	t.Helper()
	tok, _, err := c.issuer.Issue(t.Context(), embedded.PasswordAuth{UserName: user, DomainID: "default", Password: pass}, embedded.Scope{})
	require.NoError(t, err)
	return tok
}

// TestOpenStackClient drives the image API with Debian's openstack CLI
// (openstacksdk underneath), finding it through the embedded identity
// service's catalog from a plain clouds.yaml.
func TestOpenStackClient(t *testing.T) {
	t.Parallel()
	required := os.Getenv("CI") != "" || os.Getenv("NOVAKIT_TEST_SERVICES") == "require"
	bin, err := exec.LookPath("openstack")
	if err != nil {
		if required {
			t.Fatal("openstack client not installed (required here: apt-get install python3-openstackclient; scripts/test.sh installs it)")
		}
		t.Skip("openstack client not installed (apt-get install python3-openstackclient)")
	}
	if testing.Short() && !required {
		t.Skip("-short: the openstack client takes about a second per command")
	}
	c := newCloud(t)
	dir := t.TempDir()
	clouds := filepath.Join(dir, "clouds.yaml")
	var yml strings.Builder
	yml.WriteString("clouds:\n")
	for _, u := range [][2]string{{"admin", "secret"}, {"demo", "demopass"}} {
		yml.WriteString("  " + u[0] + ":\n    auth:\n      auth_url: " + c.identity.URL + "/v3\n      username: " + u[0] +
			"\n      password: " + u[1] + "\n      project_name: " + u[0] +
			"\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n    interface: public\n    identity_api_version: 3\n")
	}
	require.NoError(t, os.WriteFile(clouds, []byte(yml.String()), 0o600))
	osc := func(cloud string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), bin, append([]string{"--os-cloud", cloud}, args...)...)
		cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+clouds, "HOME="+dir)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "openstack %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}

	out := osc("demo", "image", "list", "-f", "value", "-c", "Name", "-c", "Status")
	assert.Equal(t, image.DefaultImageName+" active\n", out)

	data := append(image.NewQCOW2(64<<20), []byte("some trailing bytes")...)
	file := filepath.Join(dir, "disk.qcow2")
	require.NoError(t, os.WriteFile(file, data, 0o600))
	out = osc("demo", "image", "create", "--file", file, "--disk-format", "qcow2", "--container-format", "bare",
		"--property", "hw_disk_bus=scsi", "--tag", "golden", "demo-disk", "-f", "json")
	var created map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &created), out)
	id, _ := created["id"].(string)
	require.NotEmpty(t, id, out)

	var shown map[string]any
	out = osc("demo", "image", "show", "demo-disk", "-f", "json")
	require.NoError(t, json.Unmarshal([]byte(out), &shown), out)
	sum := md5.Sum(data) //nolint:gosec
	assert.Equal(t, "active", shown["status"])
	assert.Equal(t, hex.EncodeToString(sum[:]), shown["checksum"])
	assert.EqualValues(t, len(data), shown["size"])
	assert.EqualValues(t, 64<<20, shown["virtual_size"])
	assert.Equal(t, "shared", shown["visibility"], out) // Glance's default when the CLI names none
	assert.Contains(t, out, "hw_disk_bus")
	assert.Contains(t, out, "golden")

	out = osc("demo", "image", "list", "-f", "value", "-c", "Name")
	assert.ElementsMatch(t, []string{image.DefaultImageName, "demo-disk"}, strings.Fields(out))
	// The admin sees every project's images (visibility rules: TestVisibility).
	out = osc("admin", "image", "list", "-f", "value", "-c", "Name")
	assert.ElementsMatch(t, []string{image.DefaultImageName, "demo-disk"}, strings.Fields(out))

	saved := filepath.Join(dir, "saved.qcow2")
	osc("demo", "image", "save", "--file", saved, "demo-disk")
	got, err := os.ReadFile(saved)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "image save returns the uploaded bytes")

	osc("demo", "image", "set", "--name", "demo-disk-2", "--property", "os_distro=cirros", "--min-disk", "2", id)
	out = osc("demo", "image", "show", id, "-f", "json")
	require.NoError(t, json.Unmarshal([]byte(out), &shown), out)
	assert.Equal(t, "demo-disk-2", shown["name"])
	assert.EqualValues(t, 2, shown["min_disk"])

	// Sharing: demo shares its image with the admin project, which accepts.
	adminProject := embedded.StableID("project", "admin")
	out = osc("demo", "image", "add", "project", id, adminProject, "-f", "json")
	assert.Contains(t, out, `"status": "pending"`)
	osc("admin", "image", "set", "--accept", id)
	out = osc("demo", "image", "member", "list", id, "-f", "value")
	assert.Equal(t, id+" "+adminProject+" accepted\n", out)

	osc("demo", "image", "delete", id)
	out = osc("demo", "image", "list", "-f", "value", "-c", "Name")
	assert.Equal(t, image.DefaultImageName+"\n", out)
	_, err = c.store.Get(t.Context(), id)
	require.Error(t, err)

	resp, err := http.Get(c.images.URL + "/v2/images")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode)
}
