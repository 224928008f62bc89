package testsvc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// Environment variables understood by this package.
const (
	// EnvServices set to "require" makes missing server binaries a test failure instead of a skip
	// (scripts/test.sh sets it). A non-empty CI variable has the same effect.
	EnvServices = "NOVAKIT_TEST_SERVICES"
	// EnvPostgresURL, EnvMariaDBURL and EnvRabbitMQURL, when set, make SharedPostgres, SharedMariaDB and
	// SharedRabbitMQ return a Server wrapping that URL instead of starting one.
	EnvPostgresURL = "NOVAKIT_TEST_POSTGRES_URL"
	EnvMariaDBURL  = "NOVAKIT_TEST_MARIADB_URL"
	EnvRabbitMQURL = "NOVAKIT_TEST_RABBITMQ_URL"
)

// startTimeout bounds how long a test helper waits for a server to come up.
const startTimeout = 3 * time.Minute

type startFunc func(ctx context.Context, o startOpts) (*Server, error)

func helperName(kind string) string {
	switch kind {
	case kindPostgres:
		return "Postgres"
	case kindMariaDB:
		return "MariaDB"
	default:
		return "RabbitMQ"
	}
}

// Postgres starts a private PostgreSQL server for this test (see StartPostgres) and closes it in
// t.Cleanup. The test may Stop, Start, Restart and Kill it. When PostgreSQL is not installed the test is
// skipped with a loud message, or fails if CI is set or NOVAKIT_TEST_SERVICES=require.
func Postgres(t testing.TB) *Server {
	t.Helper()
	return private(t, kindPostgres, startPostgres)
}

// MariaDB starts a private MariaDB server for this test (see StartMariaDB) and closes it in t.Cleanup.
// The test may Stop, Start, Restart and Kill it. Missing binaries: as for Postgres.
func MariaDB(t testing.TB) *Server {
	t.Helper()
	return private(t, kindMariaDB, startMariaDB)
}

// RabbitMQ starts a private RabbitMQ node for this test (see StartRabbitMQ) and closes it in t.Cleanup.
// Starting a node takes several seconds; prefer SharedRabbitMQ unless the test stops or kills the broker.
// Missing binaries: as for Postgres.
func RabbitMQ(t testing.TB) *Server {
	t.Helper()
	return private(t, kindRabbitMQ, startRabbitMQ)
}

func private(t testing.TB, kind string, start startFunc) *Server {
	t.Helper()
	s, err := startInTemp(kind, start)
	if err != nil {
		failStart(t, kind, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testsvc: %s log tail:%s", s, s.logTail(logTailLines))
		}
		if err := s.close(); err != nil {
			t.Errorf("testsvc: close %s: %v", s, err)
		}
	})
	return s
}

// startInTemp starts a server in a new directory under the system temp directory; Close removes it.
func startInTemp(kind string, start startFunc) (*Server, error) {
	dir, err := os.MkdirTemp("", "novakit-"+kind+"-")
	if err != nil {
		return nil, err
	}
	// The directory is ours: let the service user (postgres, rabbitmq) traverse it.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.Remove(dir)
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := start(ctx, startOpts{dir: dir, ownDir: true})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// servicesRequired reports whether missing servers must fail tests rather than skip them.
func servicesRequired() bool {
	return os.Getenv("CI") != "" || os.Getenv(EnvServices) == "require"
}

func failStart(t testing.TB, kind string, err error) {
	t.Helper()
	if errors.Is(err, ErrNotInstalled) {
		if servicesRequired() {
			t.Fatalf("testsvc: %s is required (CI or %s=require) but not installed: %v\n"+
				"Run `bash scripts/test.sh` to install the servers and run the whole suite.", kind, EnvServices, err)
		}
		t.Skipf("\n"+
			"*****************************************************************************\n"+
			"* SKIPPED: this test needs a real %s server, which is not installed here.\n"+
			"* %v\n"+
			"* Run `bash scripts/test.sh` to install PostgreSQL, MariaDB and RabbitMQ and\n"+
			"* run every test (it sets %s=require so nothing is skipped).\n"+
			"*****************************************************************************", kind, err, EnvServices)
	}
	t.Fatalf("testsvc: could not start %s: %v", kind, err)
}

// NewDatabase creates a fresh, uniquely named database on a postgres or mariadb Server (started here or
// external) and returns its URL: postgres://postgres@127.0.0.1:PORT/NAME?sslmode=disable or
// mysql://root@127.0.0.1:PORT/NAME (the server's URL with the path replaced). MariaDB databases use
// utf8mb4 / utf8mb4_general_ci. The database is dropped in t.Cleanup (sessions still connected to it are
// terminated first). The name is derived from the test name plus random digits, at most 63 bytes.
func NewDatabase(t testing.TB, s *Server) string {
	t.Helper()
	name := databaseName(t.Name())
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatalf("testsvc: NewDatabase: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var drop func(context.Context) error
	switch s.Kind() {
	case kindPostgres:
		err = pgExec(ctx, s.URL(), `CREATE DATABASE "`+name+`"`)
		drop = func(ctx context.Context) error {
			return pgExec(ctx, s.URL(), `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
		}
	case kindMariaDB:
		err = mysqlExec(ctx, s.URL(), "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
		drop = func(ctx context.Context) error { return mysqlDrop(ctx, s.URL(), name) }
	default:
		t.Fatalf("testsvc: NewDatabase needs a postgres or mariadb server, not %s", s)
	}
	if err != nil {
		t.Fatalf("testsvc: NewDatabase on %s: %v", s, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := drop(ctx); err != nil {
			// The test may have stopped or killed its server; a database on a dead private server goes with it.
			t.Logf("testsvc: could not drop database %s on %s: %v", name, s, err)
		}
	})
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

var nonIdent = regexp.MustCompile(`[^a-z0-9]+`)

// databaseName turns a test name into a unique lowercase identifier of at most 63 bytes.
func databaseName(testName string) string {
	base := strings.Trim(nonIdent.ReplaceAllString(strings.ToLower(testName), "_"), "_")
	if len(base) > 40 {
		base = strings.TrimRight(base[:40], "_")
	}
	return "nk_" + base + "_" + randomHex(5)
}

func pgExec(ctx context.Context, adminURL, stmt string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, stmt)
	return err
}

func openMySQL(adminURL string) (*sql.DB, error) {
	dsn, err := MySQLDSN(adminURL)
	if err != nil {
		return nil, err
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = mysqlConnectTimeout
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func mysqlExec(ctx context.Context, adminURL, stmt string) error {
	db, err := openMySQL(adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// mysqlDrop kills the sessions using the database (they could hold metadata locks), then drops it.
func mysqlDrop(ctx context.Context, adminURL, name string) error {
	db, err := openMySQL(adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()", name)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		_, _ = db.ExecContext(ctx, fmt.Sprintf("KILL %d", id)) // it may have gone already
	}
	_, err = db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`")
	return err
}

// registry holds the servers shared by the tests of one test binary. Main creates it, publishes it in
// active for the duration of m.Run, and closes its servers afterwards.
type registry struct {
	mu      sync.Mutex
	entries map[string]*sharedEntry
}

// sharedEntry is one kind's shared server; its mutex is held while the server starts so that concurrent
// (parallel) tests wait for the same start. A failed start is remembered so later tests fail fast.
type sharedEntry struct {
	mu  sync.Mutex
	srv *Server
	err error
}

// active is the registry of the running Main, or nil outside Main. It is the package's only mutable
// state and exists only in test binaries (Main and the Shared* helpers are its only users).
var active struct {
	mu  sync.Mutex
	reg *registry
}

// Main runs the tests of a package that uses the Shared* helpers, then closes the shared servers they
// started and exits with m.Run's code. Use it from TestMain:
//
//	func TestMain(m *testing.M) { testsvc.Main(m) }
//
// Shared servers are started lazily, by the first test that asks for one, so packages that only sometimes
// need them pay nothing otherwise. Main does not return.
func Main(m *testing.M) {
	reg := &registry{entries: map[string]*sharedEntry{}}
	active.mu.Lock()
	active.reg = reg
	active.mu.Unlock()

	code := m.Run()

	active.mu.Lock()
	active.reg = nil
	active.mu.Unlock()
	if err := reg.closeAll(); err != nil {
		fmt.Fprintf(os.Stderr, "testsvc: closing shared servers: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func (r *registry) closeAll() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, e := range r.entries {
		e.mu.Lock()
		if e.srv != nil {
			errs = append(errs, e.srv.close())
		}
		e.mu.Unlock()
	}
	return errors.Join(errs...)
}

// SharedPostgres returns the PostgreSQL server shared by all tests of this test binary, starting it on
// first use. Tests must not Stop, Kill, Restart or Close it (those return an error); they should isolate
// themselves with NewDatabase. If NOVAKIT_TEST_POSTGRES_URL is set, the returned Server wraps that URL
// (an external server: Stop/Start/Kill return an error). Requires TestMain to call Main.
// Missing binaries: as for Postgres.
func SharedPostgres(t testing.TB) *Server {
	t.Helper()
	return sharedServer(t, kindPostgres, EnvPostgresURL, startPostgres)
}

// SharedMariaDB is SharedPostgres for MariaDB (NOVAKIT_TEST_MARIADB_URL, a mysql:// URL).
func SharedMariaDB(t testing.TB) *Server {
	t.Helper()
	return sharedServer(t, kindMariaDB, EnvMariaDBURL, startMariaDB)
}

// SharedRabbitMQ is SharedPostgres for RabbitMQ (NOVAKIT_TEST_RABBITMQ_URL, an amqp:// URL). Tests
// sharing a broker should use unique queue and exchange names.
func SharedRabbitMQ(t testing.TB) *Server {
	t.Helper()
	return sharedServer(t, kindRabbitMQ, EnvRabbitMQURL, startRabbitMQ)
}

func sharedServer(t testing.TB, kind, envVar string, start startFunc) *Server {
	t.Helper()
	if raw := os.Getenv(envVar); raw != "" {
		s, err := externalServer(kind, envVar, raw)
		if err != nil {
			t.Fatalf("testsvc: %v", err)
		}
		return s
	}
	active.mu.Lock()
	reg := active.reg
	active.mu.Unlock()
	if reg == nil {
		t.Fatalf("testsvc: Shared%s needs the package's TestMain to call testsvc.Main:\n"+
			"\tfunc TestMain(m *testing.M) { testsvc.Main(m) }\n"+
			"(or use testsvc.%s(t) for a private server)", helperName(kind), helperName(kind))
	}
	reg.mu.Lock()
	e := reg.entries[kind]
	if e == nil {
		e = &sharedEntry{}
		reg.entries[kind] = e
	}
	reg.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv == nil && e.err == nil {
		e.srv, e.err = startInTemp(kind, start)
		if e.srv != nil {
			e.srv.shared = true
		}
	}
	if e.err != nil {
		failStart(t, kind, e.err)
	}
	return e.srv
}

// externalServer wraps a server given by URL.
func externalServer(kind, envVar, raw string) (*Server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envVar, err)
	}
	schemes := map[string][]string{
		kindPostgres: {"postgres", "postgresql"},
		kindMariaDB:  {"mysql", "mariadb"},
		kindRabbitMQ: {"amqp", "amqps"},
	}
	defPort := map[string]string{"postgres": "5432", "postgresql": "5432", "mysql": "3306", "mariadb": "3306", "amqp": "5672", "amqps": "5671"}
	ok := false
	for _, sch := range schemes[kind] {
		ok = ok || u.Scheme == sch
	}
	if !ok || u.Host == "" {
		return nil, fmt.Errorf("%s=%q is not a %s URL (scheme %v with a host)", envVar, raw, kind, schemes[kind])
	}
	return &Server{kind: kind, rawURL: raw, address: hostPort(u, defPort[u.Scheme]), external: envVar}, nil
}
