package testsvc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// postgresBinDir returns the bin directory of the newest PostgreSQL under /usr/lib/postgresql
// (Debian's layout), e.g. /usr/lib/postgresql/15/bin.
func postgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if findBinary(filepath.Join(d, "postgres")) != "" && findBinary(filepath.Join(d, "initdb")) != "" {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: postgres: no /usr/lib/postgresql/*/bin with postgres and initdb (apt-get install postgresql)", ErrNotInstalled)
}

func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

type pgEngine struct {
	bin    string
	acct   *account
	lay    *layout
	data   string // data directory, owned by acct
	logf   string // server log (stdout+stderr)
	initlg string // initdb log
	port   int
}

// StartPostgres initialises a new PostgreSQL cluster under dir (created if missing) and starts it on a free
// port of 127.0.0.1, with trust authentication for the superuser "postgres", UTF8 encoding, locale
// C.UTF-8, time zone UTC, fsync on, no Unix socket. It returns once the server accepts clients.
//
// When running as root the server runs as the system user "postgres". If that user cannot reach dir (for
// example a t.TempDir(), whose parents are mode 0700), the data directory is created under the system temp
// directory instead and dir/pgdata links to it. Logs go to dir/postgres.log and dir/initdb.log.
// The binaries are those of the newest /usr/lib/postgresql/*/bin; if they are missing the error wraps
// ErrNotInstalled. Close removes everything.
func StartPostgres(ctx context.Context, dir string) (*Server, error) {
	return startPostgres(ctx, startOpts{dir: dir})
}

func startPostgres(ctx context.Context, o startOpts) (*Server, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	acct, err := serviceAccount("postgres")
	if err != nil {
		return nil, err
	}
	lay, err := newLayout(o)
	if err != nil {
		return nil, fmt.Errorf("testsvc: postgres: %w", err)
	}
	e := &pgEngine{bin: bin, acct: acct, lay: lay, port: o.port}
	if err := e.init(ctx); err != nil {
		_ = lay.remove()
		return nil, fmt.Errorf("testsvc: postgres: %w", err)
	}
	if e.port == 0 {
		if err := e.repick(); err != nil {
			_ = lay.remove()
			return nil, err
		}
	}
	return newServer(ctx, kindPostgres, e)
}

// init runs initdb.
func (e *pgEngine) init(ctx context.Context) error {
	e.logf = e.lay.path("postgres.log")
	e.initlg = e.lay.path("initdb.log")
	base, err := e.lay.privateBase(e.acct, "pgdata")
	if err != nil {
		return err
	}
	e.data = filepath.Join(base, "data")
	if err := os.Mkdir(e.data, 0o700); err != nil {
		return err
	}
	if err := e.acct.chown(e.data); err != nil {
		return err
	}
	lf, err := os.OpenFile(e.initlg, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "initdb"),
		"-D", e.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	cmd.Env = childEnv(base)
	cmd.Dir = base
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: e.acct.cred}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb: %v%s", err, logMark{}.tail([]string{e.initlg}, logTailLines))
	}
	return nil
}

func (e *pgEngine) repick() error {
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	e.port = ports[0]
	return nil
}

func (e *pgEngine) addr() string { return "127.0.0.1:" + strconv.Itoa(e.port) }

func (e *pgEngine) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", e.port)
}

func (e *pgEngine) logFiles() []string { return []string{e.logf} }

func (e *pgEngine) boot(ctx context.Context) (*proc, error) {
	sp := procSpec{
		path: filepath.Join(e.bin, "postgres"),
		args: []string{"-D", e.data,
			"-c", "listen_addresses=127.0.0.1",
			"-c", "port=" + strconv.Itoa(e.port),
			"-c", "unix_socket_directories=",
			"-c", "fsync=on",
			"-c", "max_connections=300",
		},
		env:     childEnv(filepath.Dir(e.data)),
		dir:     filepath.Dir(e.data),
		cred:    e.acct.cred,
		log:     e.logf,
		cleanup: e.lay.paths(),
	}
	return bootWith(ctx, sp, e.logFiles(), e.probe)
}

// probe connects and checks that the server answering is this one (same data directory).
func (e *pgEngine) probe(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, e.url()+"&connect_timeout=3")
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var dataDir string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dataDir); err != nil {
		return err
	}
	if strings.TrimRight(dataDir, "/") != e.data {
		return fmt.Errorf("port %d is answered by another PostgreSQL (data directory %s)", e.port, dataDir)
	}
	return nil
}

// shutdown requests a fast shutdown: clients are disconnected, a checkpoint is written.
func (e *pgEngine) shutdown(p *proc) error { return p.signal(syscall.SIGINT) }

func (e *pgEngine) destroy() error { return e.lay.remove() }
