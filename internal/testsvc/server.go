package testsvc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kinds of Server, as returned by Server.Kind.
const (
	kindPostgres = "postgres"
	kindMariaDB  = "mariadb"
	kindRabbitMQ = "rabbitmq"
)

// ErrNotInstalled is wrapped by the errors of StartPostgres, StartMariaDB and StartRabbitMQ when the
// server's binaries (or the system user it runs as) are missing on this machine. Test helpers turn it into
// a skip, or into a failure under CI.
var ErrNotInstalled = errors.New("testsvc: server binaries not installed")

// Timeouts used where the caller gives no deadline.
const (
	defaultStopTimeout = 2 * time.Minute
	readyPoll          = 50 * time.Millisecond
	probeTimeout       = 3 * time.Second
	maxPortAttempts    = 5
	logTailLines       = 20
)

// engine is the kind-specific part of a Server.
type engine interface {
	// boot starts the server process(es) on the chosen ports and returns the main process once the server
	// accepts clients. On error it leaves nothing running except long-lived helpers (see destroy).
	boot(ctx context.Context) (*proc, error)
	// shutdown asks p for a graceful stop; the caller waits for p to exit.
	shutdown(p *proc) error
	// repick chooses new free ports (after a port collision on the very first start).
	repick() error
	url() string
	addr() string
	logFiles() []string
	// destroy stops helper processes and removes everything the engine made. Called once, with the main
	// process already gone.
	destroy() error
}

// Server is one real database or broker process started for tests (or, for the Shared* helpers, possibly an
// external server given by URL). Its methods are safe for concurrent use. Kind, URL and Addr never change
// during the Server's life: Stop/Start/Kill keep the port and the data.
type Server struct {
	kind     string
	rawURL   string
	address  string
	external string // non-empty: name of the environment variable the external URL came from
	shared   bool   // started by a Shared* helper; only Main may stop or close it

	mu     sync.Mutex // serialises Start/Stop/Kill/Close
	eng    engine
	p      *proc // running main process, nil when stopped
	closed bool
}

// Kind returns "postgres", "mariadb" or "rabbitmq".
func (s *Server) Kind() string { return s.kind }

// URL returns the admin URL of the server:
//
//	postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable   (superuser, trust auth, no password)
//	mysql://root@127.0.0.1:PORT/                                   (root over TCP, no password; see MySQLDSN)
//	amqp://guest:guest@127.0.0.1:PORT/                             (default vhost)
//
// For an external server it is the URL from the environment, unchanged.
func (s *Server) URL() string { return s.rawURL }

// Addr returns the server's TCP address, host:port (127.0.0.1:PORT for servers started here).
func (s *Server) Addr() string { return s.address }

// String describes the server for logs.
func (s *Server) String() string {
	if s.external != "" {
		return fmt.Sprintf("external %s at %s (%s)", s.kind, s.address, s.external)
	}
	return fmt.Sprintf("%s at %s", s.kind, s.address)
}

func (s *Server) controllable(op string) error {
	if s.external != "" {
		return fmt.Errorf("testsvc: cannot %s %s: it is external (set by %s)", op, s, s.external)
	}
	if s.shared {
		return fmt.Errorf("testsvc: cannot %s %s: it is shared by all tests of this package; "+
			"use testsvc.%s(t) for a private server that a test may stop, kill or restart",
			op, s, helperName(s.kind))
	}
	return nil
}

// Start starts the server again after Stop or Kill, on the same port and with the same data, and returns
// once it accepts clients (the data survives; after Kill the server runs its crash recovery first). It is a
// no-op when the server is running. On failure the error includes the last lines of the server's log.
// It returns an error for external servers and after Close.
func (s *Server) Start(ctx context.Context) error {
	if s.external != "" {
		return s.controllable("start")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("testsvc: cannot start %s: it is closed", s)
	}
	if s.p != nil {
		if s.p.alive() {
			return nil
		}
		s.p.release() // it died on its own
		s.p = nil
	}
	p, err := s.eng.boot(ctx)
	if err != nil {
		return fmt.Errorf("testsvc: start %s: %w", s, err)
	}
	s.p = p
	return nil
}

// Stop stops the server gracefully (PostgreSQL: fast shutdown; MariaDB, RabbitMQ: SIGTERM) and waits for
// its processes to exit. The data directory and the port are kept for Start. If ctx ends first (or after
// two minutes when ctx has no deadline) the server is killed and the context's error returned. Stop on a
// stopped server is a no-op. It returns an error for external and shared servers.
func (s *Server) Stop(ctx context.Context) error {
	if err := s.controllable("stop"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(ctx)
}

func (s *Server) stopLocked(ctx context.Context) error {
	p := s.p
	if p == nil {
		return nil
	}
	s.p = nil
	defer p.release()
	if !p.alive() {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStopTimeout)
		defer cancel()
	}
	if err := s.eng.shutdown(p); err != nil {
		p.killGroup()
		<-p.done
		return fmt.Errorf("testsvc: stop %s: %w (killed it)", s, err)
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		p.killGroup()
		<-p.done
		return fmt.Errorf("testsvc: stop %s: %w (killed it)", s, ctx.Err())
	}
}

// Restart is Stop followed by Start.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(ctx); err != nil {
		return err
	}
	return s.Start(ctx)
}

// Kill simulates a crash: it SIGKILLs all processes of the server (for RabbitMQ the whole Erlang VM, not
// only the wrapper script) and waits for them to die. Start brings the server back with its data. Kill on
// a stopped server is a no-op. It returns an error for external and shared servers.
func (s *Server) Kill() error {
	if err := s.controllable("kill"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
	return nil
}

func (s *Server) killLocked() {
	if s.p == nil {
		return
	}
	s.p.killGroup()
	<-s.p.done
	s.p.release()
	s.p = nil
}

// Close kills the server (no graceful shutdown: its data is thrown away) and removes everything it made:
// data, logs, sockets, and the directory passed to Start* if that did not exist before. Close is
// idempotent. For an external server it does nothing; for a shared server it returns an error (Main
// closes those).
func (s *Server) Close() error {
	if s.external != "" {
		return nil
	}
	if s.shared {
		return s.controllable("close")
	}
	return s.close()
}

func (s *Server) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.killLocked()
	return s.eng.destroy()
}

// logTail returns the last n lines of each of the server's log files (for failed tests).
func (s *Server) logTail(n int) string {
	if s.eng == nil {
		return ""
	}
	return logMark{}.tail(s.eng.logFiles(), n)
}

// newServer boots eng for the first time, picking new ports when the chosen ones turn out to be taken.
func newServer(ctx context.Context, kind string, eng engine) (*Server, error) {
	for attempt := 1; ; attempt++ {
		p, err := eng.boot(ctx)
		if err == nil {
			return &Server{kind: kind, rawURL: eng.url(), address: eng.addr(), eng: eng, p: p}, nil
		}
		if attempt < maxPortAttempts && ctx.Err() == nil && isAddrInUse(err) {
			if rerr := eng.repick(); rerr == nil {
				continue
			}
		}
		if derr := eng.destroy(); derr != nil {
			err = fmt.Errorf("%w (cleanup: %v)", err, derr)
		}
		return nil, fmt.Errorf("testsvc: start %s: %w", kind, err)
	}
}

// isAddrInUse recognises port collisions in the servers' error output.
func isAddrInUse(err error) bool {
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"address already in use", "eaddrinuse", "bind on tcp/ip port", "could not bind ipv4", "cannot listen on port"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// waitReady polls check until it succeeds, p exits or ctx ends.
func waitReady(ctx context.Context, p *proc, check func(context.Context) error) error {
	var last error
	for {
		if !p.alive() {
			return fmt.Errorf("server process exited before accepting clients (%s); last probe error: %v", p.exitString(), last)
		}
		cctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := check(cctx)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		t := time.NewTimer(readyPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("server did not accept clients: %w; last probe error: %v", ctx.Err(), last)
		case <-p.done:
			t.Stop()
		case <-t.C:
		}
	}
}

// bootWith spawns sp, waits for check and on failure kills the process group and returns an error
// with the lines the start wrote to the logs.
func bootWith(ctx context.Context, sp procSpec, logs []string, check func(context.Context) error) (*proc, error) {
	mark := markLogs(logs)
	p, err := spawn(sp)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, p, check); err != nil {
		p.release()
		return nil, fmt.Errorf("%w%s", err, mark.tail(logs, logTailLines))
	}
	return p, nil
}

// freePorts returns n distinct TCP ports that were free on 127.0.0.1 a moment ago. All n listeners are held
// at the same time so that the ports differ from each other; another process may still grab one before the
// server binds it, which newServer handles by retrying.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// account is the system user a server runs as.
type account struct {
	name   string
	cred   *syscall.Credential // nil: the current user
	uid    int
	gid    int
	groups []uint32
	home   string
}

// serviceAccount returns the account to run a server as: the given system user when running as root
// (PostgreSQL refuses to run as root), otherwise the current user.
func serviceAccount(name string) (*account, error) {
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return nil, err
		}
		return &account{name: u.Username, uid: os.Geteuid(), gid: os.Getegid(), home: u.HomeDir}, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("%w: system user %q: %v", ErrNotInstalled, name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	a := &account{name: name, uid: uid, gid: gid, home: u.HomeDir}
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil {
			a.groups = append(a.groups, uint32(n))
		}
	}
	a.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: a.groups}
	return a, nil
}

// canReach reports whether a can traverse every directory from / down to dir (inclusive).
func (a *account) canReach(dir string) bool {
	if a.cred == nil {
		return true
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return false
		}
		st := fi.Sys().(*syscall.Stat_t)
		var bit os.FileMode = 0o001
		switch {
		case int(st.Uid) == a.uid:
			bit = 0o100
		case int(st.Gid) == a.gid || a.inGroup(st.Gid):
			bit = 0o010
		}
		if fi.Mode().Perm()&bit == 0 {
			return false
		}
		if p == "/" || p == filepath.Dir(p) {
			return true
		}
	}
}

func (a *account) inGroup(gid uint32) bool {
	for _, g := range a.groups {
		if g == gid {
			return true
		}
	}
	return false
}

// chown gives path (recursively) to a; a no-op when not running as root.
func (a *account) chown(path string) error {
	if a.cred == nil {
		return nil
	}
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, a.uid, a.gid)
	})
}

// startOpts are the internal parameters of the Start* functions.
type startOpts struct {
	dir    string
	port   int  // port to try first (tests use a busy one); 0 picks a free port
	ownDir bool // dir was made for this server alone: Close removes it entirely
}

// layout is the set of paths a Server made, so that Close can remove them.
type layout struct {
	dir      string   // the directory given to Start*, absolute
	made     []string // paths to remove on destroy (the dir itself when it did not exist)
	madeRoot bool
}

// newLayout prepares dir (created if missing) and resolves it to an absolute path without symlinks.
func newLayout(o startOpts) (*layout, error) {
	dir := o.dir
	if dir == "" {
		return nil, errors.New("empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	l := &layout{madeRoot: o.ownDir}
	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, err
		}
		l.madeRoot = true
	} else if err != nil {
		return nil, err
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, err
	}
	l.dir = abs
	if l.madeRoot {
		l.made = append(l.made, abs)
	}
	return l, nil
}

// path returns dir/name and records it for removal.
func (l *layout) path(name string) string {
	p := filepath.Join(l.dir, name)
	if !l.madeRoot {
		l.made = append(l.made, p)
	}
	return p
}

// privateBase returns a directory that a can reach and own, for data that a service user must access:
// dir/name when a can reach dir, otherwise a fresh directory under the system temp directory (with a
// symlink dir/name pointing to it). The returned directory exists and belongs to a.
func (l *layout) privateBase(a *account, name string) (string, error) {
	if a.canReach(l.dir) {
		p := l.path(name)
		if err := os.Mkdir(p, 0o700); err != nil {
			return "", err
		}
		return p, a.chown(p)
	}
	for _, tmp := range []string{os.TempDir(), "/tmp", "/var/tmp"} {
		if !a.canReach(tmp) {
			continue
		}
		p, err := os.MkdirTemp(tmp, "novakit-"+name+"-")
		if err != nil {
			continue
		}
		l.made = append(l.made, p)
		if err := a.chown(p); err != nil {
			return "", err
		}
		_ = os.Symlink(p, l.path(name))
		return p, nil
	}
	return "", fmt.Errorf("no directory reachable by user %s for %s (%s is not)", a.name, name, l.dir)
}

// paths returns a copy of the paths recorded so far (for the guard process).
func (l *layout) paths() []string { return append([]string(nil), l.made...) }

// remove deletes everything recorded, newest first.
func (l *layout) remove() error {
	var errs []error
	for i := len(l.made) - 1; i >= 0; i-- {
		if err := os.RemoveAll(l.made[i]); err != nil {
			errs = append(errs, err)
		}
	}
	l.made = nil
	return errors.Join(errs...)
}

// childEnv is the clean environment of every server process.
func childEnv(home string, extra ...string) []string {
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + home,
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
		"TZ=UTC",
	}
	return append(env, extra...)
}

// findBinary returns the first candidate that is an executable file; candidates without a slash are
// looked up in PATH. It returns "" when none is found.
func findBinary(candidates ...string) string {
	for _, c := range candidates {
		if !strings.Contains(c, "/") {
			if p, err := exec.LookPath(c); err == nil {
				return p
			}
			continue
		}
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return c
		}
	}
	return ""
}

// hostPort returns host:port for a URL, filling in the default port.
func hostPort(u *url.URL, defPort string) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), defPort)
}
