package testsvc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procSpec describes one server process to launch.
type procSpec struct {
	path string
	args []string
	env  []string
	dir  string              // working directory
	cred *syscall.Credential // nil: run as the current user
	log  string              // stdout and stderr are appended to this file
	// cleanup lists paths the guard removes after killing the process group when the test binary dies
	// without closing the server (interrupted, timed out, crashed).
	cleanup []string
}

// proc is one running process, the leader of its own session and process group.
//
// Two mechanisms make sure it does not outlive the test binary:
//   - Pdeathsig=SIGKILL on the direct child. The child is started from a goroutine locked to its OS thread
//     for the child's whole life, because the kernel sends the signal when the *thread* that forked exits.
//   - a guard: a tiny /bin/sh in its own session that blocks reading a pipe whose only writer is this process.
//     When the test binary dies for whatever reason the pipe reaches EOF and the guard SIGKILLs the whole
//     process group (needed for RabbitMQ, where the Erlang VM is a grandchild of the direct child).
type proc struct {
	name   string
	cmd    *exec.Cmd
	done   chan struct{} // closed once cmd.Wait has returned
	err    error         // result of cmd.Wait; read only after done is closed
	guard  *exec.Cmd
	guardW *os.File
}

// spawn starts sp in a new session and process group.
func spawn(sp procSpec) (*proc, error) {
	lf, err := os.OpenFile(sp.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer lf.Close() // the child holds its own copy

	cmd := exec.Command(sp.path, sp.args...)
	cmd.Env = sp.env
	cmd.Dir = sp.dir
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid:     true,
		Pdeathsig:  syscall.SIGKILL,
		Credential: sp.cred,
	}
	p := &proc{name: sp.path, cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", sp.path, err)
	}
	if err := p.startGuard(sp.cleanup); err != nil {
		p.killGroup()
		<-p.done
		return nil, err
	}
	return p, nil
}

// guardScript waits for EOF on stdin, then SIGKILLs the process group given as $1 and removes the paths
// given as further arguments. (dash's kill builtin takes no "--"; "-9 -PGID" is unambiguous.)
const guardScript = `read -r _ignored
kill -9 "-$1" 2>/dev/null
shift
if [ $# -gt 0 ]; then sleep 1; rm -rf -- "$@"; fi
exit 0`

func (p *proc) startGuard(cleanup []string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	args := append([]string{"-c", guardScript, "testsvc-guard", strconv.Itoa(p.pid())}, cleanup...)
	g := exec.Command("/bin/sh", args...)
	g.Stdin = r
	g.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = g.Start()
	r.Close()
	if err != nil {
		w.Close()
		return fmt.Errorf("start guard process: %w", err)
	}
	p.guard, p.guardW = g, w
	return nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// alive reports whether the process has not exited yet.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the process itself (not its group).
func (p *proc) signal(sig syscall.Signal) error {
	if !p.alive() {
		return nil
	}
	err := p.cmd.Process.Signal(sig) // uses a pidfd: cannot hit a recycled pid
	if errors.Is(err, os.ErrProcessDone) || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// killGroup SIGKILLs every process of the process group led by p.
func (p *proc) killGroup() {
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
}

// wait waits up to d for the process to exit and reports whether it did.
func (p *proc) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// release is called once the process has exited: it kills stragglers left in the process group and
// retires the guard without letting it fire.
func (p *proc) release() {
	if p.alive() {
		p.killGroup()
		<-p.done
	}
	// Members of the group other than the leader may still exist (they keep the group id reserved).
	p.killGroup()
	// SIGKILL is asynchronous: wait until no member of the group is left running, so that a
	// caller of Kill or Stop sees the server gone when it returns.
	waitGroupGone(p.pid(), 10*time.Second)
	if p.guard != nil {
		_ = p.guard.Process.Kill()
		_ = p.guard.Wait()
		p.guardW.Close()
		p.guard = nil
	}
}

// exitString describes how the process ended.
func (p *proc) exitString() string {
	if p.alive() {
		return "still running"
	}
	if p.err == nil {
		return "exit status 0"
	}
	return p.err.Error()
}

// fileSize returns the size of path, or 0.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// tailLines returns the last n lines of path starting at byte offset from.
func tailLines(path string, from int64, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const maxRead = 64 << 10
	size := fileSize(path)
	if size-from > maxRead {
		from = size - maxRead
	}
	if from < 0 {
		from = 0
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, maxRead))
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// headLines returns the first n lines of path (mariadb-install-db puts the cause first and boilerplate last).
func headLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.SplitN(string(b), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// logMark remembers the sizes of log files so that errors can show only what a given start wrote.
type logMark map[string]int64

func markLogs(files []string) logMark {
	m := logMark{}
	for _, f := range files {
		m[f] = fileSize(f)
	}
	return m
}

// tail formats the last n lines written to each file since the mark.
func (m logMark) tail(files []string, n int) string {
	var sb strings.Builder
	for _, f := range files {
		t := tailLines(f, m[f], n)
		if t == "" {
			continue
		}
		fmt.Fprintf(&sb, "\n--- last lines of %s ---\n%s", f, t)
	}
	return sb.String()
}

// waitGroupGone polls /proc until no live (non-zombie) process is in the process group pgid, or d
// has passed.
func waitGroupGone(pgid int, d time.Duration) {
	deadline := time.Now().Add(d)
	for groupAlive(pgid) && time.Now().Before(deadline) {
		syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(10 * time.Millisecond)
	}
}

// groupAlive reports whether a process other than a zombie is in the process group pgid.
func groupAlive(pgid int) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		st := string(b)
		f := strings.Fields(st[strings.LastIndexByte(st, ')')+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			return true
		}
	}
	return false
}
