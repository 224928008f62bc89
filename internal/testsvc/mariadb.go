package testsvc

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

type mariaEngine struct {
	mariadbd string
	install  string
	lay      *layout
	asRoot   bool
	data     string
	tmp      string // private tmpdir: concurrent mariadbd processes sharing /tmp crash in Aria temp tables
	sock     string
	pidFile  string
	logf     string
	instLog  string
	port     int
}

// mariaDBBinaries returns the server and the install-db script.
func mariaDBBinaries() (server, install string, err error) {
	server = findBinary("/usr/sbin/mariadbd", "/usr/sbin/mysqld", "mariadbd", "mysqld")
	install = findBinary("/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db", "mariadb-install-db", "mysql_install_db")
	if server == "" || install == "" {
		return "", "", fmt.Errorf("%w: mariadb: mariadbd or mariadb-install-db not found (apt-get install mariadb-server)", ErrNotInstalled)
	}
	return server, install, nil
}

// StartMariaDB creates a new MariaDB data directory under dir (created if missing) with
// mariadb-install-db and starts mariadbd (--no-defaults, so /etc/mysql is ignored) on a free port of
// 127.0.0.1, with utf8mb4 / utf8mb4_general_ci as server character set, time zone UTC and
// --skip-name-resolve. root@127.0.0.1 (and root@localhost) have no password; the grant tables are
// in force. It returns once "SELECT 1" works over TCP.
//
// When running as root, mariadbd runs as root (--user=root). Logs go to dir/mariadb.log and
// dir/install.log; the Unix socket is dir/mysqld.sock, or a short path under the system temp directory
// when dir is too long for a socket name. If the binaries are missing the error wraps ErrNotInstalled.
func StartMariaDB(ctx context.Context, dir string) (*Server, error) {
	return startMariaDB(ctx, startOpts{dir: dir})
}

func startMariaDB(ctx context.Context, o startOpts) (*Server, error) {
	server, install, err := mariaDBBinaries()
	if err != nil {
		return nil, err
	}
	lay, err := newLayout(o)
	if err != nil {
		return nil, fmt.Errorf("testsvc: mariadb: %w", err)
	}
	e := &mariaEngine{mariadbd: server, install: install, lay: lay, asRoot: os.Geteuid() == 0, port: o.port}
	if err := e.init(ctx); err != nil {
		_ = lay.remove()
		return nil, fmt.Errorf("testsvc: mariadb: %w", err)
	}
	if e.port == 0 {
		if err := e.repick(); err != nil {
			_ = lay.remove()
			return nil, err
		}
	}
	return newServer(ctx, kindMariaDB, e)
}

func (e *mariaEngine) init(ctx context.Context) error {
	e.logf = e.lay.path("mariadb.log")
	e.instLog = e.lay.path("install.log")
	e.pidFile = e.lay.path("mariadb.pid")
	e.data = e.lay.path("data")
	e.tmp = e.lay.path("tmp")
	if err := os.Mkdir(e.tmp, 0o700); err != nil {
		return err
	}
	e.sock = filepath.Join(e.lay.dir, "mysqld.sock")
	if len(e.sock) > 100 { // sun_path holds 108 bytes
		short, err := os.MkdirTemp("", "nkmdb")
		if err != nil {
			return err
		}
		e.lay.made = append(e.lay.made, short)
		e.sock = filepath.Join(short, "s.sock")
	} else {
		e.lay.path("mysqld.sock")
	}
	lf, err := os.OpenFile(e.instLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	args := []string{"--no-defaults", "--datadir=" + e.data, "--tmpdir=" + e.tmp, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve"}
	if e.asRoot {
		args = append(args, "--user=root")
	}
	cmd := exec.CommandContext(ctx, e.install, args...)
	cmd.Env = childEnv(e.lay.dir)
	cmd.Dir = e.lay.dir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mariadb-install-db: %v\n--- %s (head) ---\n%s", err, e.instLog, headLines(e.instLog, 40))
	}
	return nil
}

func (e *mariaEngine) repick() error {
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	e.port = ports[0]
	return nil
}

func (e *mariaEngine) addr() string { return "127.0.0.1:" + strconv.Itoa(e.port) }

func (e *mariaEngine) url() string { return fmt.Sprintf("mysql://root@127.0.0.1:%d/", e.port) }

func (e *mariaEngine) logFiles() []string { return []string{e.logf} }

func (e *mariaEngine) boot(ctx context.Context) (*proc, error) {
	args := []string{"--no-defaults",
		"--datadir=" + e.data,
		"--socket=" + e.sock,
		"--tmpdir=" + e.tmp,
		"--pid-file=" + e.pidFile,
		"--port=" + strconv.Itoa(e.port),
		"--bind-address=127.0.0.1",
		"--skip-name-resolve",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--max-connections=300",
		"--max-allowed-packet=64M",
		"--loose-feedback=OFF",
	}
	if e.asRoot {
		args = append(args, "--user=root")
	}
	sp := procSpec{path: e.mariadbd, args: args, env: childEnv(e.lay.dir), dir: e.lay.dir, log: e.logf, cleanup: e.lay.paths()}
	return bootWith(ctx, sp, e.logFiles(), e.probe)
}

// probe logs in as root over TCP and checks that the server answering is this one (same socket).
func (e *mariaEngine) probe(ctx context.Context) error {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = e.addr()
	cfg.Timeout = probeTimeout
	db := sql.OpenDB(mustConnector(cfg))
	defer db.Close()
	var sock string
	if err := db.QueryRowContext(ctx, "SELECT @@socket").Scan(&sock); err != nil {
		return err
	}
	if sock != e.sock {
		return fmt.Errorf("port %d is answered by another MariaDB (socket %s)", e.port, sock)
	}
	return nil
}

// shutdown sends SIGTERM, mariadbd's normal shutdown.
func (e *mariaEngine) shutdown(p *proc) error { return p.signal(syscall.SIGTERM) }

func (e *mariaEngine) destroy() error { return e.lay.remove() }

func mustConnector(cfg *mysql.Config) driver.Connector {
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		panic(err) // only invalid TLS/auth settings fail here; we never set them
	}
	return c
}

// MySQLDSN converts a mysql:// (or mariadb://) URL such as Server.URL or NewDatabase return into the DSN
// that github.com/go-sql-driver/mysql expects: mysql://u:p@host:port/db?x=y becomes u:p@tcp(host:port)/db?x=y.
// The port defaults to 3306.
func MySQLDSN(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("testsvc: MySQLDSN: %w", err)
	}
	if u.Scheme != "mysql" && u.Scheme != "mariadb" {
		return "", fmt.Errorf("testsvc: MySQLDSN: %q is not a mysql:// URL", rawURL)
	}
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = hostPort(u, "3306")
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	dsn := cfg.FormatDSN()
	if u.RawQuery != "" {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + u.RawQuery
	}
	return dsn, nil
}

// mysqlConnectTimeout bounds how long admin connections of NewDatabase wait.
const mysqlConnectTimeout = 10 * time.Second
