package embedded_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/identity/embedded"
)

// oscRequired: in CI (or with NOVAKIT_TEST_SERVICES=require) a missing
// openstack client fails the test instead of skipping it.
func oscBinary(t *testing.T) string {
	t.Helper()
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
	return bin
}

// TestOpenStackClient drives the issuer with Debian's openstack CLI
// through a plain clouds.yaml with password auth, as a user of the
// all-in-one cloud would.
func TestOpenStackClient(t *testing.T) {
	t.Parallel()
	bin := oscBinary(t)
	iss, srv, _ := startIssuer(t, nil)
	dir := t.TempDir()
	clouds := filepath.Join(dir, "clouds.yaml")
	yml, err := embedded.CloudsYAML(srv.URL+"/v3", "",
		embedded.Cloud{Name: "admin", Username: "admin", Password: "secret", ProjectName: "admin"},
		embedded.Cloud{Name: "demo", Username: "demo", Password: "demopass", ProjectName: "demo"},
		embedded.Cloud{Name: "wrong", Username: "demo", Password: "nope", ProjectName: "demo"})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(clouds, yml, 0o600))
	osc := func(cloud string, args ...string) (string, error) {
		cmd := exec.CommandContext(t.Context(), bin, append([]string{"--os-cloud", cloud}, args...)...)
		cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+clouds, "HOME="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := osc("admin", "token", "issue", "-f", "value", "-c", "id")
	require.NoError(t, err, out)
	creds, err := iss.Authenticate(t.Context(), strings.TrimSpace(out))
	require.NoError(t, err, out)
	assert.Equal(t, "admin", creds.ProjectName)
	assert.ElementsMatch(t, []string{"admin", "member", "reader"}, creds.Roles)

	out, err = osc("demo", "token", "issue", "-f", "shell")
	require.NoError(t, err, out)
	assert.Contains(t, out, `project_id="`)
	assert.Contains(t, out, `user_id="`)
	assert.Contains(t, out, `expires="`)

	out, err = osc("admin", "catalog", "list", "-f", "value")
	require.NoError(t, err, out)
	assert.Contains(t, out, "keystone identity")
	assert.Contains(t, out, "nova compute")
	assert.Contains(t, out, "'interface': 'public', 'region': 'RegionOne', 'region_id': 'RegionOne', 'url': 'http://127.0.0.1:8774/v2.1'")

	out, err = osc("demo", "catalog", "list")
	require.NoError(t, err, out)
	assert.Contains(t, out, "public: http://127.0.0.1:8774/v2.1")
	assert.Contains(t, out, "RegionOne")

	out, err = osc("admin", "project", "list", "-f", "value", "-c", "Name")
	require.NoError(t, err, out)
	assert.Equal(t, []string{"admin", "demo", "service"}, strings.Fields(out))
	out, err = osc("admin", "user", "list", "-f", "value", "-c", "Name")
	require.NoError(t, err, out)
	assert.Equal(t, []string{"admin", "demo"}, strings.Fields(out))
	out, err = osc("admin", "role", "list", "-f", "value", "-c", "Name")
	require.NoError(t, err, out)
	assert.Equal(t, []string{"admin", "member", "reader", "service"}, strings.Fields(out))
	out, err = osc("admin", "role", "assignment", "list", "--names", "--user", "demo", "-f", "value", "-c", "Role", "-c", "Project")
	require.NoError(t, err, out)
	assert.ElementsMatch(t, []string{"member demo@Default", "reader demo@Default"}, strings.Split(strings.TrimSpace(out), "\n"))
	out, err = osc("demo", "project", "list", "-f", "value", "-c", "Name")
	require.NoError(t, err, out)
	assert.Equal(t, []string{"demo"}, strings.Fields(out))

	out, err = osc("demo", "token", "issue", "-f", "value", "-c", "id")
	require.NoError(t, err, out)
	tok := strings.TrimSpace(out)
	out, err = osc("demo", "token", "revoke", tok)
	require.NoError(t, err, out)
	_, err = iss.Authenticate(t.Context(), tok)
	require.ErrorIs(t, err, identity.ErrUnauthorized)

	// An auth_url without /v3: keystoneauth discovers v3 from GET /.
	root, err := embedded.CloudsYAML(srv.URL, "", embedded.Cloud{Name: "root", Username: "demo", Password: "demopass", ProjectName: "demo"})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "root.yaml"), root, 0o600))
	cmd := exec.CommandContext(t.Context(), bin, "--os-cloud", "root", "token", "issue", "-f", "value", "-c", "project_id")
	cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+filepath.Join(dir, "root.yaml"), "HOME="+dir)
	rootOut, err := cmd.CombinedOutput()
	require.NoError(t, err, string(rootOut))
	assert.Equal(t, embedded.StableID("project", "demo"), strings.TrimSpace(string(rootOut)))

	out, err = osc("wrong", "token", "issue")
	require.Error(t, err)
	assert.Contains(t, out, "401")
}
