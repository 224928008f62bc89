package placementstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"ariga.io/atlas/sql/migrate"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/novakit/novakit/store"
)

// The versioned migrations, one directory per dialect, written by
// `go generate ./store/placementstore/...` and checked by their atlas.sum.
//
//go:embed migrations
var migrationsFS embed.FS

// revisionTable records the migrations applied to a Placement database.
const revisionTable = "placement_schema_revisions"

// db is the SQL side of a Service: the pools, a prepared-statement cache
// (SQLite and MySQL parse or prepare every unprepared statement; pgx
// caches statements itself) and the dialect's SQL spelling.
type db struct {
	dialect store.Dialect
	conn    *store.SQLConn
	wc, rc  *stmtCache
}

type stmtCache struct {
	db  *sql.DB
	mu  sync.Mutex
	m   map[string]*sql.Stmt
	max int
}

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[q]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[q]; ok {
		st.Close()
		return old, nil
	}
	if len(c.m) >= c.max {
		for k, v := range c.m {
			v.Close()
			delete(c.m, k)
			break
		}
	}
	c.m[q] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.m {
		v.Close()
		delete(c.m, k)
	}
}

// tx is one transaction with the dialect's spelling and the statement
// cache.
type tx struct {
	ctx   context.Context
	tx    *sql.Tx
	d     *db
	cache *stmtCache
	// pipe, when set (PostgreSQL batches), collects writes to send in one
	// round trip at flush.
	pipe *pipeline
	// pending are queries the cache lacks, prepared once the transaction
	// ends: preparing on the pool inside a transaction would wait for a
	// connection forever where the pool has one (SQLite's writer).
	pending []string
}

// lookup returns the cached statement for q, or nil after noting q for
// preparation.
func (c *stmtCache) lookup(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[q]
}

func (t *tx) finish() {
	if t.cache == nil {
		return
	}
	for _, q := range t.pending {
		t.cache.get(context.Background(), q)
	}
}

// rebind turns ? placeholders into $n for PostgreSQL.
func (d *db) rebind(q string) string {
	if d.dialect != store.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (t *tx) stmt(q string) (*sql.Stmt, string, error) {
	q = t.d.rebind(q)
	if t.cache == nil {
		return nil, q, nil
	}
	st := t.cache.lookup(q)
	if st == nil {
		t.pending = append(t.pending, q)
		return nil, q, nil
	}
	return t.tx.StmtContext(t.ctx, st), q, nil
}

// pipeline is a list of statements with $n placeholders numbered across
// all of them, sent as one simple-protocol query: pgx interpolates the
// arguments client-side with its escaping (it requires
// standard_conforming_strings, PostgreSQL's default).
type pipeline struct {
	sql  strings.Builder
	args []any
}

func (p *pipeline) add(q string, args []any) {
	for _, r := range q {
		if r == '?' {
			fmt.Fprintf(&p.sql, "$%d", len(p.args)+1)
			p.args = append(p.args, args[0])
			args = args[1:]
			continue
		}
		p.sql.WriteRune(r)
	}
	p.sql.WriteString(";\n")
}

// flush sends the pipelined writes; a failed one fails the transaction.
func (t *tx) flush() error {
	p := t.pipe
	t.pipe = nil
	if p == nil || p.sql.Len() == 0 {
		return nil
	}
	_, err := t.tx.ExecContext(t.ctx, p.sql.String(), append([]any{pgx.QueryExecModeSimpleProtocol}, p.args...)...)
	return t.d.wrap(err, "writing a batch")
}

type pipedResult struct{}

func (pipedResult) LastInsertId() (int64, error) {
	return 0, errors.New("placementstore: no id in a pipeline")
}
func (pipedResult) RowsAffected() (int64, error) { return 1, nil }

// execCAS runs a compare-and-swap UPDATE and reports the rows it matched.
// Pipelined, a miss makes the batch fail (a division by zero in a guard
// query), and the batch's writes run again one by one.
func (t *tx) execCAS(q string, args ...any) (int64, error) {
	if t.pipe != nil {
		t.pipe.add("WITH u AS ("+q+" RETURNING 1) SELECT 1 / (CASE WHEN count(*) = 1 THEN 1 ELSE 0 END) FROM u", args)
		return 1, nil
	}
	return t.execN(q, args...)
}

func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	if t.pipe != nil {
		t.pipe.add(q, args)
		return pipedResult{}, nil
	}
	st, q, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	if st != nil {
		return st.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, q, args...)
}

func (t *tx) query(q string, args ...any) (*sql.Rows, error) {
	st, q, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	if st != nil {
		return st.QueryContext(t.ctx, args...)
	}
	return t.tx.QueryContext(t.ctx, q, args...)
}

// execN runs an UPDATE or DELETE and returns the rows it matched.
func (t *tx) execN(q string, args ...any) (int64, error) {
	res, err := t.exec(q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// forUpdate is the row-locking suffix of a SELECT (SQLite locks the whole
// database for a write transaction instead).
func (d *db) forUpdate() string {
	if d.dialect == store.SQLite {
		return ""
	}
	return " FOR UPDATE"
}

// in returns "?,?,…" for n values.
func in(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func anys[T any](v []T) []any {
	out := make([]any, len(v))
	for i := range v {
		out[i] = v[i]
	}
	return out
}

// writeTx runs fn in a write transaction and commits it. On MySQL the
// transaction is READ COMMITTED, so that locking reads of missing rows
// take no gap locks.
func (d *db) writeTx(ctx context.Context, fn func(t *tx) error) (err error) {
	var opts *sql.TxOptions
	if d.dialect == store.MySQL {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	stx, err := d.conn.Writer.BeginTx(ctx, opts)
	if err != nil {
		return d.wrap(err, "begin")
	}
	t := &tx{ctx: ctx, tx: stx, d: d}
	if d.dialect != store.Postgres {
		t.cache = d.wc
	}
	defer func() {
		if p := recover(); p != nil {
			stx.Rollback()
			panic(p)
		}
		if err != nil {
			stx.Rollback()
		}
		t.finish()
	}()
	if err = fn(t); err != nil {
		return err
	}
	if err = stx.Commit(); err != nil {
		return d.wrap(err, "commit")
	}
	return nil
}

// readTx runs fn in a read-only transaction that sees one snapshot.
func (d *db) readTx(ctx context.Context, fn func(t *tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true} // SQLite: a deferred BEGIN, one snapshot
	if d.dialect != store.SQLite {
		opts.Isolation = sql.LevelRepeatableRead
	}
	stx, err := d.conn.Reader.BeginTx(ctx, opts)
	if err != nil {
		return d.wrap(err, "begin")
	}
	t := &tx{ctx: ctx, tx: stx, d: d}
	if d.dialect != store.Postgres {
		t.cache = d.rc
	}
	defer t.finish()
	defer stx.Rollback()
	return fn(t)
}

// ErrUnavailable is wrapped by errors that mean the database could not be
// reached or answered with a transient failure; the call may be retried.
var ErrUnavailable = errors.New("placementstore: database unavailable")

func (d *db) wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("placementstore: %s: %w", what, err)
	}
	if isUnavailable(err) {
		return fmt.Errorf("placementstore: %s: %s: %w: %w", d.conn.URL, what, ErrUnavailable, err)
	}
	return fmt.Errorf("placementstore: %s: %w", what, err)
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == 2067 || se.Code() == 1555
	}
	return false
}

func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1451 || me.Number == 1452
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == 787
	}
	return false
}

// isRetryable recognises deadlocks and serialisation failures: the
// transaction was rolled back and can run again.
func isRetryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == 5 || se.Code()&0xff == 6
	}
	return false
}

func isUnavailable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return len(pe.Code) == 5 && (pe.Code[:2] == "08" || pe.Code[:4] == "57P0")
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, 1053, 2002, 2003, 2006, 2013:
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// Migrations

func migrationDir(d store.Dialect) (*migrate.MemDir, error) {
	dir := &migrate.MemDir{}
	root := path.Join("migrations", string(d))
	entries, err := fs.ReadDir(migrationsFS, root)
	if err != nil {
		return nil, fmt.Errorf("placementstore: migrations for %s: %w", d, err)
	}
	for _, e := range entries {
		b, err := migrationsFS.ReadFile(path.Join(root, e.Name()))
		if err != nil {
			return nil, err
		}
		if err := dir.WriteFile(e.Name(), b); err != nil {
			return nil, err
		}
	}
	if err := migrate.Validate(dir); err != nil {
		return nil, fmt.Errorf("placementstore: migrations for %s do not match their atlas.sum: %w", d, err)
	}
	return dir, nil
}

// ErrSchemaTooNew says the database holds Placement migrations this binary
// does not know (a newer novakit migrated it).
var ErrSchemaTooNew = errors.New("placementstore: database schema is newer than this binary")

// migrateDB applies pending migrations in order, serialised across
// processes by a database lock, and returns the versions it applied.
func (d *db) migrateDB(ctx context.Context, now time.Time) ([]string, error) {
	dir, err := migrationDir(d.dialect)
	if err != nil {
		return nil, err
	}
	files, err := dir.Files()
	if err != nil {
		return nil, err
	}
	sum, err := dir.Checksum()
	if err != nil {
		return nil, err
	}
	conn, err := d.conn.Writer.Conn(ctx)
	if err != nil {
		return nil, d.wrap(err, "migration connection")
	}
	defer conn.Close()
	switch d.dialect {
	case store.Postgres:
		const key = 0x706c6163 // "plac"
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
			return nil, d.wrap(err, "schema lock")
		}
		defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", key)
	case store.MySQL:
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('novakit_placement_schema', 300)").Scan(&got); err != nil {
			return nil, d.wrap(err, "schema lock")
		}
		if got.Int64 != 1 {
			return nil, fmt.Errorf("placementstore: %s: timed out waiting for the schema lock", d.conn.URL)
		}
		defer conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK('novakit_placement_schema')")
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+revisionTable+
		" (version VARCHAR(64) NOT NULL PRIMARY KEY, description VARCHAR(255) NOT NULL,"+
		" checksum VARCHAR(128) NOT NULL, applied_at VARCHAR(64) NOT NULL)"); err != nil {
		return nil, d.wrap(err, "schema revisions")
	}
	known := map[string]bool{}
	for _, f := range files {
		known[f.Version()] = true
	}
	var applied []string
	for _, f := range files {
		done, err := d.applyFile(ctx, conn, f, sum, known, now)
		if err != nil {
			return applied, err
		}
		if done {
			applied = append(applied, f.Version())
		}
	}
	return applied, nil
}

func (d *db) applyFile(ctx context.Context, conn *sql.Conn, f migrate.File, sum migrate.HashFile, known map[string]bool, now time.Time) (bool, error) {
	stmts, err := f.Stmts()
	if err != nil {
		return false, fmt.Errorf("placementstore: migration %s: %w", f.Name(), err)
	}
	checksum, err := sum.SumByName(f.Name())
	if err != nil {
		return false, fmt.Errorf("placementstore: migration %s: %w", f.Name(), err)
	}
	type querier interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}
	var q querier = conn
	var stx *sql.Tx
	if d.dialect != store.MySQL { // MySQL commits DDL implicitly
		stx, err = conn.BeginTx(ctx, nil)
		if err != nil {
			return false, d.wrap(err, "migration "+f.Version())
		}
		defer stx.Rollback()
		q = stx
	}
	rows, err := q.QueryContext(ctx, "SELECT version FROM "+revisionTable)
	if err != nil {
		return false, d.wrap(err, "schema revisions")
	}
	var have []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return false, err
		}
		have = append(have, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	for _, v := range have {
		if !known[v] {
			return false, fmt.Errorf("%w: %s has migration %s", ErrSchemaTooNew, d.conn.URL, v)
		}
	}
	if slices.Contains(have, f.Version()) {
		return false, nil
	}
	for i, st := range stmts {
		if _, err := q.ExecContext(ctx, st); err != nil {
			return false, fmt.Errorf("placementstore: migration %s statement %d of %d: %w", f.Name(), i+1, len(stmts), d.wrap(err, "migration"))
		}
	}
	if _, err := q.ExecContext(ctx, d.rebind("INSERT INTO "+revisionTable+
		" (version, description, checksum, applied_at) VALUES (?, ?, ?, ?)"),
		f.Version(), f.Desc(), checksum, now.UTC().Format(time.RFC3339Nano)); err != nil {
		return false, d.wrap(err, "migration "+f.Version())
	}
	if stx != nil {
		if err := stx.Commit(); err != nil {
			return false, d.wrap(err, "migration "+f.Version())
		}
	}
	return true, nil
}
