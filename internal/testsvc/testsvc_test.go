package testsvc

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	amqp "github.com/rabbitmq/amqp091-go"
)

func TestMain(m *testing.M) { Main(m) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// requireBinaries skips or fails like the helpers do when a kind is not installed.
func requireBinaries(t *testing.T, kind string) {
	t.Helper()
	var err error
	switch kind {
	case kindPostgres:
		_, err = postgresBinDir()
	case kindMariaDB:
		_, _, err = mariaDBBinaries()
	case kindRabbitMQ:
		_, _, err = rabbitBinaries()
	}
	if err != nil {
		failStart(t, kind, err)
	}
}

// groupGone reports whether no live (non-zombie) process remains in process group pgid.
func groupGone(pgid int) bool { return !groupAlive(pgid) }

// processesMentioning lists live processes whose command line contains s.
func processesMentioning(s string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		st := string(stat)
		if f := strings.Fields(st[strings.LastIndexByte(st, ')')+1:]); len(f) > 0 && f[0] == "Z" {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(cmd), s) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
	return out
}

func mainPID(t *testing.T, s *Server) int {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		t.Fatalf("%s has no running process", s)
	}
	return s.p.pid()
}

func timed(t *testing.T, what string, f func() error) {
	t.Helper()
	start := time.Now()
	if err := f(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("%s took %v", what, time.Since(start).Round(time.Millisecond))
}

func TestPostgresLifecycle(t *testing.T) {
	t.Parallel()
	requireBinaries(t, kindPostgres)
	ctx := testCtx(t)
	var s *Server
	timed(t, "postgres first start (initdb+start)", func() error { s = Postgres(t); return nil })

	if s.Kind() != "postgres" {
		t.Errorf("Kind = %q", s.Kind())
	}
	port := strings.TrimPrefix(s.Addr(), "127.0.0.1:")
	if want := "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable"; s.URL() != want {
		t.Errorf("URL = %q, want %q", s.URL(), want)
	}

	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, s.URL())
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	count := func() int {
		t.Helper()
		conn, err := pgx.Connect(ctx, s.URL())
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
			t.Fatalf("count: %v", err)
		}
		return n
	}
	if err := exec("CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	var encoding string
	conn, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SHOW server_encoding").Scan(&encoding); err != nil || encoding != "UTF8" {
		t.Errorf("server_encoding = %q, %v", encoding, err)
	}
	conn.Close(ctx)

	timed(t, "postgres Stop", func() error { return s.Stop(ctx) })
	if err := exec("SELECT 1"); err == nil {
		t.Fatal("stopped server still answers")
	}
	if err := s.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	timed(t, "postgres Start", func() error { return s.Start(ctx) })
	if n := count(); n != 1 {
		t.Fatalf("after restart: %d rows, want 1", n)
	}
	if err := s.Start(ctx); err != nil {
		t.Errorf("Start on a running server: %v", err)
	}

	if err := exec("INSERT INTO t VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	pgid := mainPID(t, s)
	timed(t, "postgres Kill", s.Kill)
	if !groupGone(pgid) {
		t.Errorf("processes of group %d survive Kill", pgid)
	}
	timed(t, "postgres Start after Kill (crash recovery)", func() error { return s.Start(ctx) })
	if n := count(); n != 2 {
		t.Fatalf("after crash: %d rows, want 2", n)
	}
	timed(t, "postgres Restart", func() error { return s.Restart(ctx) })
	if n := count(); n != 2 {
		t.Fatalf("after Restart: %d rows, want 2", n)
	}
	if want := "127.0.0.1:" + port; s.Addr() != want {
		t.Errorf("Addr changed to %s", s.Addr())
	}

	pgid = mainPID(t, s)
	s.mu.Lock()
	data := s.eng.(*pgEngine).data
	s.mu.Unlock()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if !groupGone(pgid) {
		t.Errorf("processes of group %d survive Close", pgid)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir %s not removed: %v", data, err)
	}
	if err := s.Start(ctx); err == nil {
		t.Error("Start after Close succeeded")
	}
}

func openMariaDB(t *testing.T, rawURL string) *sql.DB {
	t.Helper()
	dsn, err := MySQLDSN(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMariaDBLifecycle(t *testing.T) {
	t.Parallel()
	requireBinaries(t, kindMariaDB)
	ctx := testCtx(t)
	var s *Server
	timed(t, "mariadb first start (install-db+start)", func() error { s = MariaDB(t); return nil })
	port := strings.TrimPrefix(s.Addr(), "127.0.0.1:")
	if want := "mysql://root@127.0.0.1:" + port + "/"; s.URL() != want {
		t.Errorf("URL = %q, want %q", s.URL(), want)
	}
	db := openMariaDB(t, s.URL())
	db.SetMaxIdleConns(0)
	var user, charset string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER(), @@character_set_server").Scan(&user, &charset); err != nil {
		t.Fatal(err)
	}
	if user != "root@127.0.0.1" && user != "root@localhost" || charset != "utf8mb4" {
		t.Errorf("user %q charset %q", user, charset)
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE d"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE d.t (id int primary key) ENGINE=InnoDB"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO d.t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM d.t").Scan(&n); err != nil {
			t.Fatalf("count: %v", err)
		}
		return n
	}
	timed(t, "mariadb Stop", func() error { return s.Stop(ctx) })
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("stopped server still answers")
	}
	timed(t, "mariadb Start", func() error { return s.Start(ctx) })
	if n := count(); n != 1 {
		t.Fatalf("after restart: %d rows", n)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO d.t VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	pgid := mainPID(t, s)
	timed(t, "mariadb Kill", s.Kill)
	if !groupGone(pgid) {
		t.Errorf("processes of group %d survive Kill", pgid)
	}
	timed(t, "mariadb Start after Kill (crash recovery)", func() error { return s.Start(ctx) })
	if n := count(); n != 2 {
		t.Fatalf("after crash: %d rows, want 2", n)
	}
	timed(t, "mariadb Restart", func() error { return s.Restart(ctx) })
	if n := count(); n != 2 {
		t.Fatalf("after Restart: %d rows", n)
	}
}

func TestRabbitMQLifecycle(t *testing.T) {
	t.Parallel()
	requireBinaries(t, kindRabbitMQ)
	ctx := testCtx(t)

	// Start on a port that is already taken: the node must notice and move to another one.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	var s *Server
	timed(t, "rabbitmq first start (one port collision included)", func() error {
		s, err = startRabbitMQ(ctx, startOpts{dir: dir, port: busyPort})
		return err
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log tail:%s", s.logTail(40))
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "rabbitmq.log")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("rabbitmq.log left behind: %v", err)
		}
	})
	if s.Addr() == busy.Addr().String() {
		t.Fatalf("server claims the busy port %s", s.Addr())
	}
	port := strings.TrimPrefix(s.Addr(), "127.0.0.1:")
	if want := "amqp://guest:guest@127.0.0.1:" + port + "/"; s.URL() != want {
		t.Errorf("URL = %q, want %q", s.URL(), want)
	}
	node := s.eng.(*rabbitEngine).node

	const queue = "testsvc-durable"
	publish := func(body string) {
		t.Helper()
		conn, err := amqp.Dial(s.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := ch.Confirm(false); err != nil {
			t.Fatal(err)
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("publish %q not confirmed: %v", body, err)
		}
	}
	get := func() string {
		t.Helper()
		conn, err := amqp.Dial(s.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return "<empty>"
		}
		return string(d.Body)
	}

	publish("before-restart")
	timed(t, "rabbitmq Stop", func() error { return s.Stop(ctx) })
	if c, err := amqp.Dial(s.URL()); err == nil {
		c.Close()
		t.Fatal("stopped broker still answers")
	}
	if ps := processesMentioning(node); len(ps) > 0 {
		t.Errorf("processes of %s survive Stop: %v", node, ps)
	}
	timed(t, "rabbitmq Start", func() error { return s.Start(ctx) })
	if got := get(); got != "before-restart" {
		t.Fatalf("after restart got %q", got)
	}

	publish("before-crash")
	pgid := mainPID(t, s)
	timed(t, "rabbitmq Kill", s.Kill)
	if ps := processesMentioning(node); len(ps) > 0 {
		t.Errorf("processes of %s survive Kill: %v", node, ps)
	}
	if !groupGone(pgid) {
		t.Errorf("processes of group %d survive Kill", pgid)
	}
	timed(t, "rabbitmq Start after Kill", func() error { return s.Start(ctx) })
	if got := get(); got != "before-crash" {
		t.Fatalf("after crash got %q", got)
	}
}

func TestNewDatabaseIsolation(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{kindPostgres, kindMariaDB} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			requireBinaries(t, kind)
			ctx := testCtx(t)
			var srv *Server
			if kind == kindPostgres {
				srv = SharedPostgres(t)
			} else {
				srv = SharedMariaDB(t)
			}
			type handle struct {
				url string
				db  *sql.DB
			}
			var names []string
			open := func(t *testing.T) handle {
				u := NewDatabase(t, srv)
				wantPrefix := strings.TrimSuffix(strings.SplitN(srv.URL(), "?", 2)[0], "/postgres")
				if !strings.HasPrefix(u, strings.TrimSuffix(wantPrefix, "/")+"/nk_") {
					t.Errorf("database URL %q does not extend %q", u, srv.URL())
				}
				var db *sql.DB
				if kind == kindPostgres {
					db = openPostgres(t, u)
				} else {
					db = openMariaDB(t, u)
				}
				var name string
				q := "SELECT current_database()"
				if kind == kindMariaDB {
					q = "SELECT DATABASE()"
				}
				if err := db.QueryRowContext(ctx, q).Scan(&name); err != nil {
					t.Fatal(err)
				}
				names = append(names, name)
				return handle{u, db}
			}
			t.Run("pair", func(t *testing.T) {
				a, b := open(t), open(t)
				if a.url == b.url {
					t.Fatalf("same URL twice: %s", a.url)
				}
				if _, err := a.db.ExecContext(ctx, "CREATE TABLE only_in_a (id int)"); err != nil {
					t.Fatal(err)
				}
				var n int
				if err := a.db.QueryRowContext(ctx, "SELECT count(*) FROM only_in_a").Scan(&n); err != nil {
					t.Fatal(err)
				}
				if err := b.db.QueryRowContext(ctx, "SELECT count(*) FROM only_in_a").Scan(&n); err == nil {
					t.Fatal("table created in database a is visible in database b")
				}
				// Keep a connection open: the cleanup must still be able to drop the database.
				if err := a.db.PingContext(ctx); err != nil {
					t.Fatal(err)
				}
			})
			if len(names) != 2 {
				t.Fatalf("databases: %v", names)
			}
			admin := srv.URL()
			var db *sql.DB
			q := "SELECT count(*) FROM pg_database WHERE datname = $1 OR datname = $2"
			if kind == kindPostgres {
				db = openPostgres(t, admin)
			} else {
				db = openMariaDB(t, admin)
				q = "SELECT count(*) FROM information_schema.schemata WHERE schema_name IN (?, ?)"
			}
			var left int
			if err := db.QueryRowContext(ctx, q, names[0], names[1]).Scan(&left); err != nil {
				t.Fatal(err)
			}
			if left != 0 {
				t.Errorf("%d of the databases %v survive the subtest's cleanup", left, names)
			}
		})
	}
}

func openPostgres(t *testing.T, rawURL string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSharedServers(t *testing.T) {
	requireBinaries(t, kindPostgres)
	a, b := SharedPostgres(t), SharedPostgres(t)
	if a != b {
		t.Fatal("SharedPostgres returned two different servers")
	}
	ctx := testCtx(t)
	for name, err := range map[string]error{
		"Stop":    a.Stop(ctx),
		"Kill":    a.Kill(),
		"Restart": a.Restart(ctx),
		"Close":   a.Close(),
	} {
		if err == nil || !strings.Contains(err.Error(), "shared") {
			t.Errorf("%s on a shared server: %v, want an error about sharing", name, err)
		}
	}
	if err := a.Start(ctx); err != nil {
		t.Errorf("Start on the running shared server: %v", err)
	}
	if err := pgExec(ctx, a.URL(), "SELECT 1"); err != nil {
		t.Fatalf("shared server no longer works: %v", err)
	}

	// External servers given by URL.
	t.Setenv(EnvPostgresURL, a.URL())
	ext := SharedPostgres(t)
	if ext == a || ext.URL() != a.URL() || ext.Addr() != a.Addr() || ext.Kind() != kindPostgres {
		t.Fatalf("external server %v (%s, %s)", ext, ext.URL(), ext.Addr())
	}
	for name, err := range map[string]error{"Stop": ext.Stop(ctx), "Start": ext.Start(ctx), "Kill": ext.Kill()} {
		if err == nil || !strings.Contains(err.Error(), "external") {
			t.Errorf("%s on an external server: %v", name, err)
		}
	}
	if err := ext.Close(); err != nil {
		t.Errorf("Close on an external server: %v", err)
	}
	u := NewDatabase(t, ext)
	if err := pgExec(ctx, u, "CREATE TABLE x (id int)"); err != nil {
		t.Fatalf("database on external server: %v", err)
	}
	t.Setenv(EnvMariaDBURL, "mysql://root@db.example:3307/")
	if m := SharedMariaDB(t); m.Addr() != "db.example:3307" || m.Kind() != kindMariaDB {
		t.Errorf("external mariadb: %s %s", m.Kind(), m.Addr())
	}
	t.Setenv(EnvRabbitMQURL, "amqp://u:p@mq.example/vh")
	if m := SharedRabbitMQ(t); m.Addr() != "mq.example:5672" {
		t.Errorf("external rabbitmq addr %s", m.Addr())
	}
	if _, err := externalServer(kindRabbitMQ, EnvRabbitMQURL, "postgres://x/"); err == nil {
		t.Error("a postgres URL was accepted for rabbitmq")
	}
}

func TestPortCollisionAndParallelStarts(t *testing.T) {
	t.Parallel()
	requireBinaries(t, kindPostgres)
	requireBinaries(t, kindMariaDB)
	ctx := testCtx(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	type result struct {
		s   *Server
		err error
	}
	starts := []func() (*Server, error){
		func() (*Server, error) { return startPostgres(ctx, startOpts{dir: t.TempDir(), port: busyPort}) },
		func() (*Server, error) { return startMariaDB(ctx, startOpts{dir: t.TempDir(), port: busyPort}) },
		func() (*Server, error) { return StartPostgres(ctx, t.TempDir()) },
		func() (*Server, error) { return StartPostgres(ctx, t.TempDir()) },
		func() (*Server, error) { return StartMariaDB(ctx, t.TempDir()) },
	}
	results := make([]result, len(starts))
	var wg sync.WaitGroup
	for i, f := range starts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := f()
			results[i] = result{s, err}
		}()
	}
	wg.Wait()
	seen := map[string]bool{busy.Addr().String(): true}
	for i, r := range results {
		if r.err != nil {
			t.Errorf("start %d: %v", i, r.err)
			continue
		}
		t.Cleanup(func() { r.s.Close() })
		if seen[r.s.Addr()] {
			t.Errorf("start %d: address %s used twice (or the busy one)", i, r.s.Addr())
		}
		seen[r.s.Addr()] = true
	}
}

// TestGuardKillsGroupWhenParentDies simulates the death of the test binary by closing the guard's pipe.
func TestGuardKillsGroupWhenParentDies(t *testing.T) {
	t.Parallel()
	junk := filepath.Join(t.TempDir(), "junk")
	if err := os.MkdirAll(filepath.Join(junk, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := spawn(procSpec{
		path:    "/bin/sh",
		args:    []string{"-c", "sleep 300 & exec sleep 301"},
		env:     childEnv("/"),
		dir:     "/",
		log:     filepath.Join(t.TempDir(), "log"),
		cleanup: []string{junk},
	})
	if err != nil {
		t.Fatal(err)
	}
	pgid := p.pid()
	time.Sleep(100 * time.Millisecond)
	if groupGone(pgid) {
		t.Fatal("process group not running")
	}
	p.guardW.Close() // what the kernel does when the test binary exits
	if !p.wait(10 * time.Second) {
		p.killGroup()
		t.Fatal("guard did not kill the process")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !groupGone(pgid) {
		if time.Now().After(deadline) {
			t.Fatal("background member of the group survived")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = p.guard.Wait() // the guard removes the cleanup paths before it exits
	if _, err := os.Stat(junk); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("guard did not remove %s: %v", junk, err)
	}
}

func TestServicesRequired(t *testing.T) {
	for _, c := range []struct {
		ci, svc string
		want    bool
	}{{"", "", false}, {"true", "", true}, {"", "require", true}, {"", "auto", false}} {
		t.Setenv("CI", c.ci)
		t.Setenv(EnvServices, c.svc)
		if got := servicesRequired(); got != c.want {
			t.Errorf("CI=%q %s=%q: %v, want %v", c.ci, EnvServices, c.svc, got, c.want)
		}
	}
}

func TestMySQLDSN(t *testing.T) {
	for in, want := range map[string]string{
		"mysql://root@127.0.0.1:3307/":              "root@tcp(127.0.0.1:3307)/",
		"mysql://root@127.0.0.1:3307/nk_x":          "root@tcp(127.0.0.1:3307)/nk_x",
		"mysql://u:p%40ss@db:1/d?parseTime=true":    "u:p@ss@tcp(db:1)/d?parseTime=true",
		"mariadb://u@db/d":                          "u@tcp(db:3306)/d",
		"mysql://root@127.0.0.1:1/?charset=utf8mb4": "root@tcp(127.0.0.1:1)/?charset=utf8mb4",
	} {
		got, err := MySQLDSN(in)
		if err != nil || got != want {
			t.Errorf("MySQLDSN(%q) = %q, %v; want %q", in, got, err, want)
		}
		if _, err := mysql.ParseDSN(got); err != nil {
			t.Errorf("driver rejects %q: %v", got, err)
		}
	}
	if _, err := MySQLDSN("postgres://x/"); err == nil {
		t.Error("postgres URL accepted")
	}
}

func TestDatabaseName(t *testing.T) {
	long := strings.Repeat("VeryLongTestName/", 10)
	for _, in := range []string{"TestX", "TestX/sub_test#01", long} {
		n := databaseName(in)
		if len(n) > 63 || !strings.HasPrefix(n, "nk_") || strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			t.Errorf("databaseName(%q) = %q", in, n)
		}
	}
	if databaseName("TestX") == databaseName("TestX") {
		t.Error("names are not unique")
	}
}

func TestMissingBinariesMessage(t *testing.T) {
	err := fmt.Errorf("%w: demo", ErrNotInstalled)
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatal("ErrNotInstalled not wrapped")
	}
	if !isAddrInUse(errors.New(`LOG:  could not bind IPv4 address "127.0.0.1": Address already in use`)) {
		t.Error("postgres collision not recognised")
	}
	if isAddrInUse(errors.New("permission denied")) {
		t.Error("false positive")
	}
}

// TestServersDieWithTestBinary starts servers in a child copy of this test binary, SIGKILLs the child and
// checks that the servers' processes and directories go away with it.
func TestServersDieWithTestBinary(t *testing.T) {
	if kind := os.Getenv("TESTSVC_ORPHAN_CHILD"); kind != "" {
		start := map[string]startFunc{kindPostgres: startPostgres, kindRabbitMQ: startRabbitMQ}[kind]
		s, err := startInTemp(kind, start)
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		s.mu.Lock()
		pgid := s.p.pid()
		s.mu.Unlock()
		var lay *layout
		switch e := s.eng.(type) {
		case *pgEngine:
			lay = e.lay
		case *rabbitEngine:
			lay = e.lay
		}
		fmt.Printf("READY %d %s %s\n", pgid, s.URL(), strings.Join(lay.paths(), " "))
		time.Sleep(time.Hour) // until killed
		os.Exit(1)
	}
	t.Parallel()
	for _, kind := range []string{kindPostgres, kindRabbitMQ} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			requireBinaries(t, kind)
			testOrphan(t, kind)
		})
	}
}

func testOrphan(t *testing.T, kind string) {
	cmd := osexec.Command(os.Args[0], "-test.run=^TestServersDieWithTestBinary$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TESTSVC_ORPHAN_CHILD="+kind)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	var pgid int
	var srvURL string
	var dirs []string
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "READY" {
			pgid, _ = strconv.Atoi(f[1])
			srvURL, dirs = f[2], f[3:]
			break
		} else if len(f) > 0 && f[0] == "ERROR" {
			t.Fatalf("child: %s", sc.Text())
		}
	}
	if pgid == 0 {
		t.Fatalf("child did not start a server (%v)", cmd.Wait())
	}
	if len(dirs) == 0 {
		t.Fatal("child reported no directories")
	}
	t.Logf("child started %s (process group %d, dirs %v); killing the child", srvURL, pgid, dirs)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		gone := groupGone(pgid)
		left := 0
		for _, d := range dirs {
			if _, err := os.Stat(d); err == nil {
				left++
			}
		}
		if gone && left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the test binary died: process group %d gone=%v, %d of %v directories left", pgid, gone, left, dirs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
