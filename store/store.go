package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
)

// Dialect names the SQL engine behind a Store.
type Dialect string

// The dialects a Store speaks.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
	MySQL    Dialect = "mysql" // MySQL and MariaDB
)

// Options tune Open. The zero value (or nil) gives the defaults.
type Options struct {
	// ConnectTimeout bounds the first connection to a database server;
	// an unreachable server fails Open after it. Default 5 s.
	ConnectTimeout time.Duration
	// MaxOpenConns bounds the connection pool of a database server
	// (default 16). SQLite always has one writer connection and up to
	// this many readers.
	MaxOpenConns int
	// SkipMigrate opens the database as it is, without applying pending
	// migrations. Operations on an out-of-date schema then fail.
	SkipMigrate bool
	// Now is the clock (for tests); default time.Now.
	Now func() time.Time
	// NoGroupCommit turns off group commit on file-backed SQLite, where
	// by default consecutive write transactions that queue for the one
	// writer connection share one SQLite commit (each in its own
	// savepoint; each returns once that commit is done). For
	// comparisons; the semantics are the same either way.
	NoGroupCommit bool
}

// groupMaxMembers bounds the write transactions one SQLite commit holds.
const groupMaxMembers = 64

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.ConnectTimeout <= 0 {
		out.ConnectTimeout = 5 * time.Second
	}
	if out.MaxOpenConns <= 0 {
		out.MaxOpenConns = 16
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	return out
}

// Store is novakit's SQL store: the records of the compute domain kept in
// SQLite, PostgreSQL or MySQL/MariaDB through ent. Its methods take and
// return compute types; no ent type or error leaves it. Errors satisfy
// errors.Is with compute.ErrNotFound, compute.ErrConflict,
// compute.ErrInvalidInput or compute.ErrUnavailable where one applies.
//
// A Store is safe for concurrent use by many goroutines, and several
// processes may share one PostgreSQL or MySQL database: every write that
// can race is a single conditional statement or a transaction, never a
// read-modify-write across round trips without a check.
type Store struct {
	dialect Dialect
	// w writes (and reads inside write transactions); r serves plain
	// reads. They are the same client except on file-backed SQLite, where
	// one writer connection avoids lock upgrades and readers use WAL.
	w, r *ent.Client
	dbs  []*sql.DB // dbs[0] is the writer, the last one the reader
	// wcache and rcache are the writer's and reader's statement caches
	// (nil on PostgreSQL, whose driver caches statements itself); isql
	// holds the instance hot path's SQL.
	wcache, rcache *stmtCache
	isql           *instanceSQL
	// group commits the writes of a file-backed SQLite store in
	// batches (nil elsewhere).
	group    *groupWriter
	now      func() time.Time
	redacted string
	closed   atomic.Bool
}

// Open opens the database named by rawURL, applies pending migrations
// (unless opts.SkipMigrate) and returns a Store. URLs:
//
//	sqlite:///var/lib/novakit/nova.db   a file (created if missing; its directory must exist)
//	sqlite://relative/path.db           a file relative to the working directory
//	sqlite://:memory:                   a private in-memory database (tests)
//	postgres://user:pass@host:5432/db?sslmode=disable
//	mysql://user:pass@host:3306/db      MySQL or MariaDB
//
// A malformed URL, an unknown scheme or an unreachable server fails
// within opts.ConnectTimeout with an error that names the URL (without
// its password).
func Open(ctx context.Context, rawURL string, opts *Options) (*Store, error) {
	o := opts.withDefaults()
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("store: %q is not a database URL (want sqlite://, postgres:// or mysql://): %w", redact(rawURL), compute.ErrInvalidInput)
	}
	var (
		s   *Store
		err error
	)
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3", "file":
		s, err = openSQLite(rawURL, o)
	case "postgres", "postgresql":
		s, err = openServer(ctx, Postgres, rawURL, o)
	case "mysql", "mariadb":
		s, err = openServer(ctx, MySQL, rawURL, o)
	default:
		return nil, fmt.Errorf("store: unknown database scheme %q in %s (want sqlite, postgres or mysql): %w", scheme, redact(rawURL), compute.ErrInvalidInput)
	}
	if err != nil {
		return nil, err
	}
	s.now = o.Now
	if !o.SkipMigrate {
		if _, err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Dialect reports which SQL engine the store uses.
func (s *Store) Dialect() Dialect { return s.dialect }

// String returns the store's URL without its password.
func (s *Store) String() string { return s.redacted }

// Close closes the store's connections. It is safe to call twice.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, db := range s.dbs {
		errs = append(errs, db.Close())
	}
	return errors.Join(errs...)
}

// Ping checks that the database answers; an unreachable database gives an
// error satisfying errors.Is(err, compute.ErrUnavailable).
func (s *Store) Ping(ctx context.Context) error {
	for _, db := range s.dbs {
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("store: %s: %w: %w", s.redacted, compute.ErrUnavailable, err)
		}
	}
	return nil
}

// sqliteRegexp registers the REGEXP function modernc's SQLite lacks. The
// registration is process-wide in the driver, like sql.Register; the
// function itself keeps no state.
var sqliteRegexpOnce = sync.OnceValue(func() error {
	return sqlite.RegisterDeterministicScalarFunction("regexp", 2, newRegexpCache(256).sqliteFunc)
})

func openSQLite(rawURL string, o Options) (*Store, error) {
	if err := sqliteRegexpOnce(); err != nil {
		return nil, fmt.Errorf("store: registering sqlite regexp: %w", err)
	}
	rest := rawURL[strings.Index(rawURL, "://")+3:]
	path, query, _ := strings.Cut(rest, "?")
	if query != "" {
		return nil, fmt.Errorf("store: %s: sqlite URLs take no parameters: %w", rawURL, compute.ErrInvalidInput)
	}
	if path == "" {
		return nil, fmt.Errorf("store: %s: no database path: %w", rawURL, compute.ErrInvalidInput)
	}
	pragmas := "_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_time_format=sqlite&_txlock=immediate"
	s := &Store{dialect: SQLite, redacted: rawURL}
	if path == ":memory:" {
		// One connection: every connection to a plain :memory: database
		// would see its own empty database.
		db, err := sql.Open("sqlite", "file::memory:?"+pragmas)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", rawURL, err)
		}
		db.SetMaxOpenConns(1)
		db.SetConnMaxLifetime(0)
		db.SetMaxIdleConns(1)
		drv := newStmtDriver(dialect.SQLite, db)
		c := ent.NewClient(ent.Driver(drv))
		s.w, s.r, s.dbs, s.wcache, s.rcache, s.isql = c, c, []*sql.DB{db}, drv.cache, drv.cache, newInstanceSQL(SQLite)
		return s, nil
	}
	if dir := filepath.Dir(path); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("store: %s: directory %s does not exist: %w", rawURL, dir, compute.ErrInvalidInput)
		}
	}
	// WAL with synchronous=NORMAL: a commit survives a crash of the
	// process; only an OS crash or power loss can lose the last commits.
	dsn := "file:" + path + "?" + pragmas + "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	wdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", rawURL, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	if err := wdb.Ping(); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: cannot open %s: %w", rawURL, err)
	}
	rdb, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: %s: %w", rawURL, err)
	}
	rdb.SetMaxOpenConns(o.MaxOpenConns)
	rdb.SetMaxIdleConns(o.MaxOpenConns)
	wdrv := newStmtDriver(dialect.SQLite, wdb)
	if !o.NoGroupCommit {
		s.group = newGroupWriter(wdb, groupMaxMembers)
		wdrv.group = s.group
	}
	s.w = ent.NewClient(ent.Driver(wdrv))
	rdrv := newStmtDriver(dialect.SQLite, rdb)
	s.r = ent.NewClient(ent.Driver(rdrv))
	s.dbs, s.wcache, s.rcache, s.isql = []*sql.DB{wdb, rdb}, wdrv.cache, rdrv.cache, newInstanceSQL(SQLite)
	return s, nil
}

func openServer(ctx context.Context, d Dialect, rawURL string, o Options) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store: malformed database URL %s: %w", redact(rawURL), compute.ErrInvalidInput)
	}
	red := u.Redacted()
	if u.Host == "" {
		return nil, fmt.Errorf("store: %s: no host: %w", red, compute.ErrInvalidInput)
	}
	if strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("store: %s: no database name: %w", red, compute.ErrInvalidInput)
	}
	var (
		db  *sql.DB
		edl string
	)
	switch d {
	case Postgres:
		q := u.Query()
		if q.Get("connect_timeout") == "" {
			q.Set("connect_timeout", fmt.Sprint(int(o.ConnectTimeout.Seconds()+0.999)))
		}
		u.RawQuery = q.Encode()
		db, err = sql.Open("pgx", u.String())
		edl = dialect.Postgres
	case MySQL:
		var cfg *mysql.Config
		cfg, err = mysqlConfig(u, o)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w: %w", red, compute.ErrInvalidInput, err)
		}
		var conn driver.Connector
		conn, err = mysql.NewConnector(cfg)
		if err == nil {
			db = sql.OpenDB(conn)
		}
		edl = dialect.MySQL
	}
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", red, err)
	}
	db.SetMaxOpenConns(o.MaxOpenConns)
	db.SetMaxIdleConns(o.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: cannot reach %s: %w: %w", red, compute.ErrUnavailable, oneLine(err))
	}
	var (
		drv    dialect.Driver = entsql.OpenDB(edl, db)
		wcache *stmtCache
	)
	if d == MySQL {
		sd := newStmtDriver(edl, db)
		drv, wcache = sd, sd.cache
	}
	c := ent.NewClient(ent.Driver(drv))
	return &Store{dialect: d, w: c, r: c, dbs: []*sql.DB{db}, wcache: wcache, rcache: wcache, isql: newInstanceSQL(d), redacted: red}, nil
}

func mysqlConfig(u *url.URL, o Options) (*mysql.Config, error) {
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = u.Host + ":3306"
	}
	cfg.DBName = strings.Trim(u.Path, "/")
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.Timeout = o.ConnectTimeout
	cfg.MultiStatements = true
	// Report rows matched, not rows changed, so that an UPDATE whose
	// values equal the stored ones still counts as applied.
	cfg.ClientFoundRows = true
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	cfg.Collation = "utf8mb4_bin"
	for k, vs := range u.Query() {
		if len(vs) == 0 {
			continue
		}
		switch k {
		case "tls":
			cfg.TLSConfig = vs[0]
		case "timeout":
			d, err := time.ParseDuration(vs[0])
			if err != nil {
				return nil, fmt.Errorf("timeout: %w", err)
			}
			cfg.Timeout = d
		default:
			cfg.Params[k] = vs[0]
		}
	}
	return cfg, nil
}

// redact removes a password from a URL for error messages, even when the
// URL does not parse.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	if scheme, rest, ok := strings.Cut(raw, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if user, _, ok := strings.Cut(rest[:at], ":"); ok {
				return scheme + "://" + user + ":xxxxx@" + rest[at+1:]
			}
		}
	}
	return raw
}

// ts returns the store's idea of now: UTC, truncated to microseconds,
// which every dialect keeps exactly.
func (s *Store) ts() time.Time { return norm(s.now()) }

func norm(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// lineError keeps an error's chain but shows its message on one line
// (pgx lists every address it tried on its own line), so daemons can
// print a one-line reason.
type lineError struct {
	msg string
	err error
}

func (e *lineError) Error() string { return e.msg }
func (e *lineError) Unwrap() error { return e.err }

func oneLine(err error) error {
	msg := err.Error()
	if !strings.ContainsAny(msg, "\n\t") {
		return err
	}
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
	return &lineError{msg: msg, err: err}
}
