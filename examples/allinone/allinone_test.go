package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/hypervisors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/quotasets"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceproviders"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/identity/embedded"
)

// binary builds examples/allinone once per test run.
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "allinone")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// freeOffset finds a port offset at which the four default ports are free.
// Every port it can pick stays below the kernel's ephemeral range (32768
// and up here), where any process's outgoing connection can take a port
// between this check and the cloud's own listen.
func freeOffset(t *testing.T) int {
	t.Helper()
	for range 50 {
		off := 10000 + rand.IntN(1300)*10 // highest port: 9292 + 22990 = 32282
		ok := true
		var lns []net.Listener
		for _, p := range []int{portIdentity, portCompute, portPlacement, portImage} {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+off)))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return off
		}
	}
	t.Fatal("no free port offset found")
	return 0
}

// proc is a running allinone process.
type proc struct {
	cmd    *exec.Cmd
	clouds string
	log    *strings.Builder
	done   chan error
}

// launch runs the binary and waits for the clouds.yaml line.
func launch(t *testing.T, bin, data string, off int, extra ...string) *proc {
	t.Helper()
	args := append([]string{"-data", data, "-port-offset", strconv.Itoa(off), "-hosts", "4", "-log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &proc{cmd: cmd, log: &strings.Builder{}, done: make(chan error, 1)}
	cmd.Stderr = &lockedWriter{b: p.log}
	require.NoError(t, cmd.Start())
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if path, ok := strings.CutPrefix(sc.Text(), "clouds.yaml: "); ok {
				found <- path
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case p.clouds = <-found:
	case err := <-p.done:
		t.Fatalf("allinone exited before it was up: %v\n%s", err, p.log)
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("allinone not up after 2 minutes\n%s", p.log)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// stop sends SIGTERM and returns the exit error.
func (p *proc) stop(t *testing.T) error {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(time.Minute):
		t.Fatalf("allinone did not exit within a minute of SIGTERM\n%s", p.log)
		return nil
	}
}

type lockedWriter struct{ b *strings.Builder }

func (w *lockedWriter) Write(b []byte) (int, error) { return w.b.Write(b) }

// requireCLI returns the openstack CLI, or skips when it is missing and
// the run does not require every dependency.
func requireCLI(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openstack")
	if err == nil {
		if out, err := exec.Command(path, "resource", "provider", "list", "--help").CombinedOutput(); err != nil {
			err = fmt.Errorf("osc-placement plugin missing: %s", out)
		} else {
			return path
		}
	}
	if os.Getenv("CI") != "" || os.Getenv("NOVAKIT_TEST_SERVICES") == "require" {
		t.Fatalf("the openstack CLI with osc-placement is required (apt-get install python3-openstackclient python3-osc-placement): %v", err)
	}
	t.Skipf("openstack CLI not usable: %v", err)
	return ""
}

// osc runs one openstack CLI command against the cloud and returns stdout.
func osc(t *testing.T, cli, clouds, cloud string, args ...string) string {
	t.Helper()
	cmd := exec.Command(cli, append([]string{"--os-cloud", cloud}, args...)...)
	cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+clouds)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("openstack %s: %v\n%s%s", strings.Join(args, " "), err, out, ee.Stderr)
	}
	require.NoError(t, err)
	return string(out)
}

// oscJSON runs a command with -f json and decodes its output.
func oscJSON(t *testing.T, cli, clouds, cloud string, v any, args ...string) {
	t.Helper()
	out := osc(t, cli, clouds, cloud, append(args, "-f", "json")...)
	require.NoError(t, json.Unmarshal([]byte(out), v), "openstack %s: %s", strings.Join(args, " "), out)
}

// TestOpenStackCLI drives the all-in-one cloud, run as its own process,
// with the real openstack CLI (python3-openstackclient and
// python3-osc-placement): the commands a newcomer types first.
func TestOpenStackCLI(t *testing.T) {
	t.Parallel()
	cli := requireCLI(t)
	bin := binary(t)
	data := t.TempDir()
	p := launch(t, bin, data, freeOffset(t))
	run := func(args ...string) string { return osc(t, cli, p.clouds, "novakit", args...) }
	runJSON := func(v any, args ...string) { oscJSON(t, cli, p.clouds, "novakit", v, args...) }

	var flv []map[string]any
	runJSON(&flv, "flavor", "list")
	names := []string{}
	for _, f := range flv {
		names = append(names, f["Name"].(string))
	}
	assert.Contains(t, names, "m1.tiny")

	key := run("keypair", "create", "k1")
	assert.Contains(t, key, "PRIVATE KEY")

	var imgs []map[string]any
	runJSON(&imgs, "image", "list")
	require.NotEmpty(t, imgs)
	img := imgs[0]["Name"].(string)
	assert.Equal(t, "active", imgs[0]["Status"])

	var srv map[string]any
	runJSON(&srv, "server", "create", "--flavor", "m1.tiny", "--image", img, "--key-name", "k1", "--wait", "vm1")
	assert.Equal(t, "ACTIVE", srv["status"])
	assert.Equal(t, "k1", srv["key_name"])
	id := srv["id"].(string)

	var list []map[string]any
	runJSON(&list, "server", "list")
	require.Len(t, list, 1)
	assert.Equal(t, "vm1", list[0]["Name"])
	assert.Equal(t, "ACTIVE", list[0]["Status"])

	waitStatus := func(want string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			var s map[string]any
			runJSON(&s, "server", "show", id)
			if s["status"] == want {
				return
			}
			require.True(t, time.Now().Before(deadline), "server status %v, want %s", s["status"], want)
			time.Sleep(200 * time.Millisecond)
		}
	}
	run("server", "stop", id)
	waitStatus("SHUTOFF")
	run("server", "start", id)
	waitStatus("ACTIVE")
	run("server", "reboot", "--wait", id)
	waitStatus("ACTIVE")

	var hyps []map[string]any
	runJSON(&hyps, "hypervisor", "list")
	assert.Len(t, hyps, 4)
	var svcs []map[string]any
	runJSON(&svcs, "compute", "service", "list")
	computeUp := 0
	for _, s := range svcs {
		if s["Binary"] == "nova-compute" && s["State"] == "up" {
			computeUp++
		}
	}
	assert.Equal(t, 4, computeUp, "%v", svcs)
	var rps []map[string]any
	runJSON(&rps, "resource", "provider", "list")
	assert.Len(t, rps, 4)
	var cands []map[string]any
	runJSON(&cands, "allocation", "candidate", "list", "--resource", "VCPU=1")
	assert.Len(t, cands, 4)

	run("server", "delete", "--wait", id)
	runJSON(&list, "server", "list")
	assert.Empty(t, list)

	// The demo user sees its own servers only.
	var demoList []map[string]any
	oscJSON(t, cli, p.clouds, "novakit-demo", &demoList, "server", "list")
	assert.Empty(t, demoList)

	require.NoError(t, p.stop(t), "SIGTERM must drain and exit 0\n%s", p.log)
}

// cloudsEntry reads the admin password and identity URL back from the
// data directory.
func adminAuth(t testing.TB, data string, off int) gophercloud.AuthOptions {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "passwords"))
	require.NoError(t, err)
	var admin, demo string
	_, err = fmt.Sscanf(string(b), "admin %s\ndemo %s\n", &admin, &demo)
	require.NoError(t, err)
	return gophercloud.AuthOptions{
		IdentityEndpoint: fmt.Sprintf("http://127.0.0.1:%d/v3", portIdentity+off),
		Username:         "admin", Password: admin, DomainName: "Default", TenantName: "admin",
	}
}

// TestGophercloud boots, drives and deletes servers through gophercloud v2
// against the all-in-one cloud started in this process, reading the
// catalog from the embedded identity service.
func TestGophercloud(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	data := t.TempDir()
	off := freeOffset(t)
	c, err := start(ctx, config{Data: data, Hosts: 3, PortOffset: off, ReportInterval: time.Second})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.stop(context.Background())) }()

	prov, err := openstack.AuthenticatedClient(ctx, adminAuth(t, data, off))
	require.NoError(t, err)
	eo := gophercloud.EndpointOpts{Region: "RegionOne"}
	cc, err := openstack.NewComputeV2(prov, eo)
	require.NoError(t, err)
	cc.Microversion = "2.79"
	ic, err := openstack.NewImageV2(prov, eo)
	require.NoError(t, err)
	pc, err := openstack.NewPlacementV1(prov, eo)
	require.NoError(t, err)

	pages, err := images.List(ic, images.ListOpts{}).AllPages(ctx)
	require.NoError(t, err)
	imgs, err := images.ExtractImages(pages)
	require.NoError(t, err)
	require.NotEmpty(t, imgs)

	pages, err = flavors.ListDetail(cc, flavors.ListOpts{}).AllPages(ctx)
	require.NoError(t, err)
	flvs, err := flavors.ExtractFlavors(pages)
	require.NoError(t, err)
	require.NotEmpty(t, flvs)

	kp, err := keypairs.Create(ctx, cc, keypairs.CreateOpts{Name: "gk"}).Extract()
	require.NoError(t, err)
	assert.NotEmpty(t, kp.PrivateKey)

	var ids []string
	for i := range 3 {
		s, err := servers.Create(ctx, cc, keypairs.CreateOptsExt{
			CreateOptsBuilder: servers.CreateOpts{Name: fmt.Sprintf("g%d", i), FlavorRef: "1", ImageRef: imgs[0].ID, Networks: "none"},
			KeyName:           "gk",
		}, nil).Extract()
		require.NoError(t, err)
		ids = append(ids, s.ID)
	}
	for _, id := range ids {
		require.NoError(t, servers.WaitForStatus(ctx, cc, id, "ACTIVE"))
	}
	require.NoError(t, servers.Stop(ctx, cc, ids[0]).ExtractErr())
	require.NoError(t, servers.WaitForStatus(ctx, cc, ids[0], "SHUTOFF"))
	require.NoError(t, servers.Start(ctx, cc, ids[0]).ExtractErr())
	require.NoError(t, servers.WaitForStatus(ctx, cc, ids[0], "ACTIVE"))
	require.NoError(t, servers.Reboot(ctx, cc, ids[1], servers.RebootOpts{Type: servers.HardReboot}).ExtractErr())
	require.NoError(t, servers.WaitForStatus(ctx, cc, ids[1], "ACTIVE"))

	pages, err = hypervisors.List(cc, hypervisors.ListOpts{}).AllPages(ctx)
	require.NoError(t, err)
	hyps, err := hypervisors.ExtractHypervisors(pages)
	require.NoError(t, err)
	assert.Len(t, hyps, 3)

	// Placement holds exactly one allocation per server.
	pages, err = resourceproviders.List(pc, resourceproviders.ListOpts{}).AllPages(ctx)
	require.NoError(t, err)
	rps, err := resourceproviders.ExtractResourceProviders(pages)
	require.NoError(t, err)
	require.Len(t, rps, 3)
	vcpus := 0
	for _, rp := range rps {
		u, err := resourceproviders.GetUsages(ctx, pc, rp.UUID).Extract()
		require.NoError(t, err)
		vcpus += u.Usages["VCPU"]
	}
	assert.Equal(t, 3, vcpus)

	for _, id := range ids {
		require.NoError(t, servers.Delete(ctx, cc, id).ExtractErr())
	}
	for _, id := range ids {
		require.Eventually(t, func() bool {
			_, err := servers.Get(ctx, cc, id).Extract()
			return gophercloud.ResponseCodeIs(err, 404)
		}, time.Minute, 100*time.Millisecond)
	}
	vcpus = 0
	for _, rp := range rps {
		u, err := resourceproviders.GetUsages(ctx, pc, rp.UUID).Extract()
		require.NoError(t, err)
		vcpus += u.Usages["VCPU"]
	}
	assert.Zero(t, vcpus, "allocations left behind")
}

// TestKillMidBoot kills the all-in-one process (SIGKILL) while a
// 30-server multi-create is in flight, starts it again on the same data
// directory and checks what Nova's operators want after a crash: every
// server ends ACTIVE or ERROR, none stays in a task state, no guest is
// counted twice, and placement holds exactly one allocation per ACTIVE
// server.
func TestKillMidBoot(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin := binary(t)
	data := t.TempDir()
	off := freeOffset(t)
	p := launch(t, bin, data, off)

	client := func() (*gophercloud.ServiceClient, *gophercloud.ServiceClient) {
		prov, err := openstack.AuthenticatedClient(ctx, adminAuth(t, data, off))
		require.NoError(t, err)
		eo := gophercloud.EndpointOpts{Region: "RegionOne"}
		cc, err := openstack.NewComputeV2(prov, eo)
		require.NoError(t, err)
		cc.Microversion = "2.79"
		pc, err := openstack.NewPlacementV1(prov, eo)
		require.NoError(t, err)
		return cc, pc
	}
	cc, _ := client()
	var imgID string
	{
		prov, err := openstack.AuthenticatedClient(ctx, adminAuth(t, data, off))
		require.NoError(t, err)
		ic, err := openstack.NewImageV2(prov, gophercloud.EndpointOpts{Region: "RegionOne"})
		require.NoError(t, err)
		ip, err := images.List(ic, images.ListOpts{}).AllPages(ctx)
		require.NoError(t, err)
		imgs, err := images.ExtractImages(ip)
		require.NoError(t, err)
		imgID = imgs[0].ID
	}
	_, err := quotasets.Update(ctx, cc, embedded.StableID("project", "admin"), quotasets.UpdateOpts{
		Instances: gophercloud.IntToPointer(100), Cores: gophercloud.IntToPointer(100),
	}).Extract()
	require.NoError(t, err)
	_, err = servers.Create(ctx, cc, servers.CreateOpts{
		Name: "crash", FlavorRef: "42", ImageRef: imgID, Networks: "none", Min: 30, Max: 30,
	}, nil).Extract()
	require.NoError(t, err)
	// Kill once the first servers are ACTIVE, so the crash finds some
	// done, some spawning and some not yet scheduled.
	require.Eventually(t, func() bool {
		pages, err := servers.List(cc, servers.ListOpts{Status: "ACTIVE"}).AllPages(ctx)
		if err != nil {
			return false
		}
		got, err := servers.ExtractServers(pages)
		return err == nil && len(got) > 0
	}, time.Minute, 5*time.Millisecond)
	require.NoError(t, p.cmd.Process.Kill())
	<-p.done
	p.done <- nil

	launch(t, bin, data, off)
	cc, pc := client()
	var all []servers.Server
	require.Eventually(t, func() bool {
		pages, err := servers.List(cc, servers.ListOpts{}).AllPages(ctx)
		if err != nil {
			return false
		}
		all, err = servers.ExtractServers(pages)
		if err != nil {
			return false
		}
		for _, s := range all {
			if s.TaskState != "" || (s.Status != "ACTIVE" && s.Status != "ERROR") {
				return false
			}
		}
		return true
	}, 2*time.Minute, 250*time.Millisecond, "servers still in flight: %+v", all)
	require.Len(t, all, 30, "every accepted server is still there")
	active := 0
	for _, s := range all {
		if s.Status == "ACTIVE" {
			active++
		}
	}
	pages, err := resourceproviders.List(pc, resourceproviders.ListOpts{}).AllPages(ctx)
	require.NoError(t, err)
	rps, err := resourceproviders.ExtractResourceProviders(pages)
	require.NoError(t, err)
	vcpus := 0
	for _, rp := range rps {
		u, err := resourceproviders.GetUsages(ctx, pc, rp.UUID).Extract()
		require.NoError(t, err)
		vcpus += u.Usages["VCPU"]
	}
	assert.Equal(t, active, vcpus, "allocations must equal the ACTIVE servers (%d active of %d)", active, len(all))
	t.Logf("after the crash: %d ACTIVE, %d ERROR", active, len(all)-active)
}
