package cloudtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// daemons are the commands the deployment runs, built once per test.
var daemons = []string{"placement", "api", "conductor", "scheduler", "compute"}

// build compiles the daemons into dir.
func build(t testing.TB, dir string) {
	t.Helper()
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, d := range daemons {
		args = append(args, "github.com/novakit/novakit/examples/"+d)
	}
	cmd := exec.Command("go", args...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
}

// proc is one daemon process.
type proc struct {
	name string
	bin  string
	args []string
	cmd  *exec.Cmd
	addr string // from its "listening on ADDR" line
	out  *syncBuffer
	done chan struct{}
	err  error // exit status, once done is closed
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

var listeningRE = regexp.MustCompile(`listening on (\S+?)"?(\s|$)`)

// start runs bin with args and waits for its "listening on" line.
func start(t testing.TB, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, bin: bin, args: args, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	require.NoError(t, p.cmd.Start(), name)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.out, line)
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	select {
	case p.addr = <-ready:
	case <-p.done:
		t.Fatalf("%s exited before listening: %v\n%s", name, p.err, p.out)
	case <-time.After(90 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatalf("%s did not log \"listening on\" within 90 s:\n%s", name, p.out)
	}
	return p
}

// url is the daemon's HTTP base URL.
func (p *proc) url() string { return "http://" + p.addr }

// kill sends SIGKILL and waits for the process to die.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and returns the exit status (nil: exit 0).
func (p *proc) stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return fmt.Errorf("%s had already exited: %v", p.name, p.err)
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %s of SIGTERM", p.name, timeout)
	}
}

// restart starts the same command again (a new process).
func (p *proc) restart(t testing.TB) *proc {
	t.Helper()
	return start(t, p.name, p.bin, p.args...)
}

// tail is the end of the process's output, for failure messages.
func (p *proc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.out.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cloud is a multi-process deployment.
type cloudProcs struct {
	t         testing.TB
	bin       string
	dbURL     string
	plDBURL   string
	mqURL     string
	placement *proc
	api       *proc
	mu        sync.Mutex
	procs     map[string]*proc // by name: conductor1, scheduler2, cmp3 …
}

func (c *cloudProcs) get(name string) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[name]
}

func (c *cloudProcs) set(p *proc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.procs[p.name] = p
}

// all returns every process, placement and API last (they stop last).
func (c *cloudProcs) all() []*proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ps []*proc
	for _, p := range c.procs {
		ps = append(ps, p)
	}
	return ps
}

const hostDriver = "fake://?vcpus=512&memory_mb=1048576&disk_gb=100000"

// deploy starts placement, two conductors, four compute agents, two
// schedulers and the API, in the order their dependencies need.
func deploy(ctx context.Context, t testing.TB, dbURL, plDBURL, mqURL string) *cloudProcs {
	t.Helper()
	dir := t.TempDir()
	build(t, dir)
	c := &cloudProcs{t: t, bin: dir, dbURL: dbURL, plDBURL: plDBURL, mqURL: mqURL, procs: map[string]*proc{}}
	t.Cleanup(func() {
		for _, p := range c.all() {
			select {
			case <-p.done:
			default:
				_ = p.cmd.Process.Kill()
				<-p.done
			}
			if t.Failed() {
				t.Logf("--- %s (last lines):\n%s", p.name, p.tail(40))
			}
		}
	})
	bin := func(n string) string { return filepath.Join(dir, n) }
	local := "127.0.0.1:0"
	c.placement = start(t, "placement", bin("placement"), "-listen", local, "-db", plDBURL, "-auth", "noauth", "-log-level", "warn")
	c.set(c.placement)
	common := []string{"-listen", local, "-queue", mqURL, "-placement", c.placement.url(), "-log-level", "warn"}
	for i := 1; i <= 2; i++ {
		c.set(start(t, fmt.Sprintf("conductor%d", i), bin("conductor"), append([]string{
			"-host", fmt.Sprintf("conductor%d", i), "-db", dbURL,
			"-stuck-after", "60s", "-recover-interval", "3s", "-drain-timeout", "20s"}, common...)...))
	}
	for i := 1; i <= 4; i++ {
		c.set(start(t, fmt.Sprintf("cmp%d", i), bin("compute"), append([]string{
			"-host", fmt.Sprintf("cmp%d", i), "-driver", hostDriver,
			"-report-interval", "2s", "-max-concurrent-builds", "64", "-drain-timeout", "20s"}, common...)...))
	}
	// The schedulers read the compute nodes at start: wait for the agents
	// to have registered their nodes in placement first.
	waitProviders(ctx, t, c.placement.url(), 4)
	for i := 1; i <= 2; i++ {
		c.set(start(t, fmt.Sprintf("scheduler%d", i), bin("scheduler"), append([]string{
			"-host", fmt.Sprintf("scheduler%d", i), "-db", dbURL, "-drain-timeout", "20s"}, common...)...))
	}
	c.api = start(t, "api", bin("api"), "-listen", local, "-db", dbURL, "-queue", mqURL,
		"-placement", c.placement.url(), "-auth", "noauth", "-log-level", "warn", "-drain-timeout", "20s")
	c.set(c.api)
	return c
}
