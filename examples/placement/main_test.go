package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/identity/embedded"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/client"
)

// TestMain lets the test binary run the daemon's main as a separate
// process (the tests re-execute themselves with NOVAKIT_TEST_MAIN=1).
func TestMain(m *testing.M) {
	if os.Getenv("NOVAKIT_TEST_MAIN") == "1" {
		os.Args = append([]string{"placement"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// daemon is the daemon running as a child process.
type daemon struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	addr   string
	done   chan struct{}
}

func (d *daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

var listeningRE = regexp.MustCompile(`listening on (\S+?)"? `)

// start runs the daemon with args and env and, if wantReady, waits for its
// "listening on ADDR" line.
func start(t *testing.T, wantReady bool, env []string, args ...string) *daemon {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	d := &daemon{cmd: exec.Command(exe, args...), done: make(chan struct{})}
	d.cmd.Env = append(append(os.Environ(), "NOVAKIT_TEST_MAIN=1"), env...)
	pipe, err := d.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, d.cmd.Start())
	ready := make(chan string, 1)
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.stderr.WriteString(line + "\n")
			d.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(line + " "); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
		close(ready)
	}()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			_ = d.cmd.Wait()
		}
	})
	if wantReady {
		addr, ok := <-ready
		require.True(t, ok, "the daemon exited before listening:\n%s", d.log())
		d.addr = addr
	}
	return d
}

// wait waits for the process to end and returns its exit code.
func (d *daemon) wait(t *testing.T) int {
	t.Helper()
	<-d.done // stderr is closed: the process has ended or closed it
	err := d.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !assert.ErrorAs(t, err, &ee) {
		return -1
	}
	return d.cmd.ProcessState.ExitCode()
}

func TestDaemonServesAndDrainsOnSIGTERM(t *testing.T) {
	d := start(t, true, nil, "-listen", "127.0.0.1:0", "-log-level", "info")
	base := "http://" + d.addr

	resp, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "ok\n", string(body))

	// Drive it as a scheduler would, through the Go client.
	c, err := client.New(base, client.Options{Token: client.StaticToken("admin")})
	require.NoError(t, err)
	ctx := t.Context()
	const rp = "4e8e5957-649f-477b-9e5b-f1f75b21c03c"
	_, err = c.CreateProvider(ctx, placement.ProviderSpec{UUID: rp, Name: "compute1"})
	require.NoError(t, err)
	_, _, err = c.SetInventories(ctx, rp, 0, map[string]placement.Inventory{"VCPU": placement.NewInventory(4)})
	require.NoError(t, err)
	res, err := c.Candidates(ctx, &placement.CandidateRequest{Groups: []placement.RequestGroup{{Resources: map[string]int64{"VCPU": 4}}}})
	require.NoError(t, err)
	require.Len(t, res.AllocationRequests, 1)
	require.NoError(t, c.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
		"c0000000-0000-4000-8000-000000000001": {Project: "p", User: "u", Allocations: map[string]map[string]int64{rp: {"VCPU": 4}}},
	}))
	err = c.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
		"c0000000-0000-4000-8000-000000000002": {Project: "p", User: "u", Allocations: map[string]map[string]int64{rp: {"VCPU": 1}}},
	})
	assert.ErrorIs(t, err, placement.ErrCapacityExceeded)
	// A caller without the admin role is refused by the legacy policy.
	bob, err := client.New(base, client.Options{Token: client.StaticToken("bob:p1")})
	require.NoError(t, err)
	_, err = bob.Providers(ctx, placement.ProviderFilter{})
	assert.ErrorIs(t, err, client.ErrForbidden)

	resp, err = http.Get(base + "/metrics")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(body), `placement_http_requests_total{method="PUT",route="/allocations/{consumer}",status="204"} 1`)
	assert.Contains(t, string(body), `placement_http_requests_total{method="PUT",route="/allocations/{consumer}",status="409"} 1`)

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, d.wait(t), "exit status after SIGTERM; log:\n%s", d.log())
	log := d.log()
	assert.Contains(t, log, "draining")
	assert.Contains(t, log, "stopped")
	assert.Contains(t, log, "in memory")
	assert.Regexp(t, `request_id=req-[0-9a-f-]{36} method=POST path=/resource_providers`, log)
	_, err = http.Get(base + "/healthz")
	assert.Error(t, err, "still answering after exit")
}

func TestDaemonFailsToStartWithOneLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cfg := filepath.Join(t.TempDir(), "placement.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("listen: "+ln.Addr().String()+"\nlog-level: debug\n"), 0o600))
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"port taken", nil, []string{"-listen", ln.Addr().String()}, "placement: cannot listen on " + ln.Addr().String() + ": bind: address already in use"},
		{"port taken via env", []string{"NOVAKIT_LISTEN=" + ln.Addr().String()}, nil, "placement: cannot listen on " + ln.Addr().String()},
		{"port taken via config", nil, []string{"-config", cfg}, "placement: cannot listen on " + ln.Addr().String()},
		{"bad db", nil, []string{"-listen", "127.0.0.1:0", "-db", "postgres://nova:secret@127.0.0.1:1/placement"}, "placement: -db"},
		{"bad flag", nil, []string{"-listne", "x"}, "placement: flag provided but not defined: -listne"},
		{"bad auth", nil, []string{"-auth", "kerberos"}, "placement: -auth \"kerberos\""},
		{"bad level", []string{"NOVAKIT_LOG_LEVEL=loud"}, nil, "placement: -log-level \"loud\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := start(t, false, tc.env, tc.args...)
			code := d.wait(t)
			out := strings.TrimRight(d.log(), "\n")
			assert.NotEqual(t, 0, code)
			assert.NotContains(t, out, "\n", "more than one line")
			assert.True(t, strings.HasPrefix(out, tc.want), "got %q, want prefix %q", out, tc.want)
			assert.NotContains(t, out, "secret")
		})
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-h"}, func(string) string { return "" }, &out)
	require.Error(t, err)
	for _, f := range []string{"-listen", "-db", "-auth", "-config", "-log-level", "-policy-defaults", "-policy-file", "-drain-timeout", "NOVAKIT_DB"} {
		assert.Contains(t, out.String(), f)
	}
}

func TestDaemonKeepsDataInTheDatabase(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "placement.db")
	const rp = "4e8e5957-649f-477b-9e5b-f1f75b21c03c"
	for round := 0; round < 2; round++ {
		d := start(t, true, []string{"NOVAKIT_DB=" + db}, "-listen", "127.0.0.1:0")
		c, err := client.New("http://"+d.addr, client.Options{Token: client.StaticToken("admin")})
		require.NoError(t, err)
		ctx := t.Context()
		if round == 0 {
			_, err = c.CreateProvider(ctx, placement.ProviderSpec{UUID: rp, Name: "compute1"})
			require.NoError(t, err)
			_, _, err = c.SetInventories(ctx, rp, 0, map[string]placement.Inventory{"VCPU": placement.NewInventory(4)})
			require.NoError(t, err)
			require.NoError(t, c.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
				"c0000000-0000-4000-8000-000000000001": {Project: "p", User: "u", Allocations: map[string]map[string]int64{rp: {"VCPU": 3}}},
			}))
		} else {
			got, err := c.Provider(ctx, rp)
			require.NoError(t, err, "after a restart; log:\n%s", d.log())
			assert.Equal(t, "compute1", got.Name)
			us, _, err := c.ProviderUsages(ctx, rp)
			require.NoError(t, err)
			assert.Equal(t, int64(3), us["VCPU"])
			assert.NotContains(t, d.log(), "in memory")
		}
		require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
		require.Equal(t, 0, d.wait(t), d.log())
	}
}

// TestTwoDaemonsShareOneDatabase: two placement processes on one SQLite
// file; 64 claimers, half on each, race for the last 5 VCPUs: exactly 5
// win, and both processes report the same usage.
func TestTwoDaemonsShareOneDatabase(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "placement.db")
	const rp = "4e8e5957-649f-477b-9e5b-f1f75b21c03c"
	var clients []*client.Client
	var daemons []*daemon
	for i := 0; i < 2; i++ {
		d := start(t, true, []string{"NOVAKIT_DB=" + db}, "-listen", "127.0.0.1:0", "-log-level", "warn")
		c, err := client.New("http://"+d.addr, client.Options{Token: client.StaticToken("admin")})
		require.NoError(t, err)
		clients, daemons = append(clients, c), append(daemons, d)
	}
	ctx := t.Context()
	_, err := clients[0].CreateProvider(ctx, placement.ProviderSpec{UUID: rp, Name: "compute1"})
	require.NoError(t, err)
	_, _, err = clients[0].SetInventories(ctx, rp, 0, map[string]placement.Inventory{"VCPU": placement.NewInventory(10)})
	require.NoError(t, err)
	require.NoError(t, clients[1].SetAllocations(ctx, map[string]placement.ConsumerAllocations{
		"c0000000-0000-4000-8000-000000000001": {Project: "p", User: "u", Allocations: map[string]map[string]int64{rp: {"VCPU": 5}}},
	}), "the second process writes against what the first created")
	var wins, refused atomic.Int32
	var wg sync.WaitGroup
	startRace := make(chan struct{})
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startRace
			err := clients[i%2].SetAllocations(ctx, map[string]placement.ConsumerAllocations{
				uuid.NewString(): {Project: "p", User: "u", Allocations: map[string]map[string]int64{rp: {"VCPU": 1}}},
			})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, placement.ErrCapacityExceeded):
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	close(startRace)
	wg.Wait()
	assert.Equal(t, int32(5), wins.Load())
	assert.Equal(t, int32(59), refused.Load())
	for i, c := range clients {
		// The other process's writes reach each Index through the change
		// log; the database is the truth either way.
		require.NoError(t, waitUsage(ctx, c, rp, 10), "process %d", i)
	}
	for _, d := range daemons {
		require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
		assert.Equal(t, 0, d.wait(t), d.log())
	}
}

// waitUsage polls until the provider's VCPU usage reads want (a process
// follows the other's writes within its poll interval).
func waitUsage(ctx context.Context, c *client.Client, rp string, want int64) error {
	var last int64
	for i := 0; i < 500; i++ {
		us, _, err := c.ProviderUsages(ctx, rp)
		if err != nil {
			return err
		}
		if last = us["VCPU"]; last == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("VCPU usage %d, want %d", last, want)
}

// keystoneToken gets a project-scoped token from a Keystone v3.
func keystoneToken(t *testing.T, authURL, user, password, project string) string {
	t.Helper()
	body := `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"` + user +
		`","domain":{"id":"default"},"password":"` + password + `"}}},"scope":{"project":{"name":"` + project +
		`","domain":{"id":"default"}}}}}`
	resp, err := http.Post(authURL+"/v3/auth/tokens", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 201, resp.StatusCode)
	return resp.Header.Get("X-Subject-Token")
}

// TestDaemonValidatesTokensWithKeystone runs the daemon against a
// Keystone-v3-compatible identity service (novakit's embedded issuer).
func TestDaemonValidatesTokensWithKeystone(t *testing.T) {
	iss, err := embedded.New(embedded.AllInOne("adminpw", "demopw"))
	require.NoError(t, err)
	ks := httptest.NewServer(iss)
	defer ks.Close()
	d := start(t, true, []string{"NOVAKIT_KEYSTONE_PASSWORD=adminpw"}, "-listen", "127.0.0.1:0",
		"-auth", ks.URL+"/v3", "-keystone-user", "admin", "-keystone-project", "admin")
	ctx := t.Context()
	admin, err := client.New("http://"+d.addr, client.Options{Token: client.StaticToken(keystoneToken(t, ks.URL, "admin", "adminpw", "admin"))})
	require.NoError(t, err)
	_, err = admin.CreateProvider(ctx, placement.ProviderSpec{Name: "compute1"})
	require.NoError(t, err)
	demo, err := client.New("http://"+d.addr, client.Options{Token: client.StaticToken(keystoneToken(t, ks.URL, "demo", "demopw", "demo"))})
	require.NoError(t, err)
	_, err = demo.Providers(ctx, placement.ProviderFilter{})
	assert.ErrorIs(t, err, client.ErrForbidden, "a member is not admin")
	forged, err := client.New("http://"+d.addr, client.Options{Token: client.StaticToken("admin")})
	require.NoError(t, err)
	_, err = forged.Providers(ctx, placement.ProviderFilter{})
	assert.ErrorIs(t, err, identity.ErrUnauthorized, "noauth tokens mean nothing here")
	assert.NotContains(t, d.log(), "-auth noauth")

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, d.wait(t), d.log())
}
