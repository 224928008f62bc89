package api_test

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
)

// TestOpenStackClient drives the real osc-placement commands (Debian's
// python3-osc-placement) against the handler, as
// `openstack --os-auth-type admin_token --os-token admin --os-endpoint URL`.
// Where the client is not installed it is skipped, except in CI or with
// NOVAKIT_TEST_SERVICES=require (scripts/test.sh installs the client),
// where it fails.
func TestOpenStackClient(t *testing.T) {
	t.Parallel()
	required := os.Getenv("CI") != "" || os.Getenv("NOVAKIT_TEST_SERVICES") == "require"
	missing := func(format string, args ...any) {
		t.Helper()
		if required {
			t.Fatalf(format+" (required here: run scripts/test.sh, which installs it)", args...)
		}
		t.Skipf(format, args...)
	}
	if testing.Short() && !required {
		t.Skip("-short: the openstack client takes about a second per command")
	}
	bin, err := exec.LookPath("openstack")
	if err != nil {
		missing("openstack client not installed (apt-get install python3-openstackclient python3-osc-placement)")
	}
	srv := httptest.NewServer(api.New(placement.New(placement.Options{}), api.Options{Authenticator: api.NoAuth()}))
	defer srv.Close()
	osc := func(args ...string) string {
		t.Helper()
		base := []string{"--os-auth-type", "admin_token", "--os-token", "admin", "--os-endpoint", srv.URL,
			"--os-placement-api-version", "1.39"}
		cmd := exec.CommandContext(t.Context(), bin, append(base, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out, err := exec.Command(bin, "resource", "provider", "list", "--help").CombinedOutput(); err != nil {
		missing("osc-placement plugin missing: %s", out)
	}
	const rp = "4acd43bf-93cc-4343-8ef1-f63662615eba"
	const consumer = "c0000000-0000-0000-0000-000000000001"
	contains := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("output lacks %q:\n%s", w, out)
			}
		}
	}
	contains(osc("resource", "provider", "create", "cn1", "--uuid", rp, "-f", "json"), `"name": "cn1"`, `"generation": 0`)
	contains(osc("resource", "provider", "list", "-f", "value"), rp+" cn1 0")
	contains(osc("resource", "provider", "inventory", "set", rp, "--resource", "VCPU=8", "--resource", "MEMORY_MB=4096", "-f", "value"), "VCPU")
	contains(osc("resource", "provider", "inventory", "list", rp, "-f", "value"), "VCPU 1 1 2147483647 0 1 8", "MEMORY_MB")
	contains(osc("resource", "provider", "trait", "set", rp, "--trait", "HW_CPU_X86_AVX2", "-f", "value"), "HW_CPU_X86_AVX2")
	contains(osc("resource", "provider", "trait", "list", rp, "-f", "value"), "HW_CPU_X86_AVX2")
	contains(osc("resource", "provider", "show", rp, "-f", "json"), `"generation": 2`)
	contains(osc("resource", "provider", "aggregate", "set", rp, "--aggregate", agg1, "--generation", "2", "-f", "value"), agg1)
	contains(osc("allocation", "candidate", "list", "--resource", "VCPU=1", "-f", "value"), "VCPU=1 "+rp, "VCPU=0/8")
	contains(osc("resource", "provider", "allocation", "set", consumer, "--allocation", "rp="+rp+",VCPU=2",
		"--project-id", "p", "--user-id", "u", "--consumer-type", "INSTANCE", "-f", "value"), "{'VCPU': 2}")
	contains(osc("resource", "provider", "allocation", "show", consumer, "-f", "value"), rp, "{'VCPU': 2} p u INSTANCE")
	osc("resource", "provider", "allocation", "delete", consumer)
	osc("resource", "provider", "delete", rp)
	if out := osc("resource", "provider", "list", "-f", "value"); strings.TrimSpace(out) != "" {
		t.Fatalf("provider left: %s", out)
	}
}
