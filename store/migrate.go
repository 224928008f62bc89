package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"ariga.io/atlas/sql/migrate"
)

// The versioned migrations, one directory per dialect, written by
// `go generate ./store/...` (store/internal/migrategen) and checked by
// their atlas.sum.
//
//go:embed migrations
var migrationsFS embed.FS

// revisionTable records the migrations applied to a database.
const revisionTable = "novakit_schema_revisions"

// SchemaMigration is one versioned schema change.
type SchemaMigration struct {
	Version     string
	Description string
	AppliedAt   time.Time // zero when pending
}

func migrationDir(d Dialect) (*migrate.MemDir, error) {
	dir := &migrate.MemDir{}
	root := path.Join("migrations", string(d))
	entries, err := fs.ReadDir(migrationsFS, root)
	if err != nil {
		return nil, fmt.Errorf("store: migrations for %s: %w", d, err)
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
		return nil, fmt.Errorf("store: migrations for %s do not match their atlas.sum: %w", d, err)
	}
	return dir, nil
}

// SchemaMigrations lists the schema migrations this binary knows for the store's
// dialect and when each was applied to the database (zero when pending).
func (s *Store) SchemaMigrations(ctx context.Context) ([]SchemaMigration, error) {
	dir, err := migrationDir(s.dialect)
	if err != nil {
		return nil, err
	}
	files, err := dir.Files()
	if err != nil {
		return nil, err
	}
	applied, err := s.appliedRevisions(ctx, s.dbs[0])
	if err != nil {
		return nil, err
	}
	out := make([]SchemaMigration, 0, len(files))
	for _, f := range files {
		m := SchemaMigration{Version: f.Version(), Description: f.Desc()}
		if at, ok := applied[f.Version()]; ok {
			m.AppliedAt = at
		}
		out = append(out, m)
	}
	return out, nil
}

// Migrate brings the database schema up to date by applying, in order,
// every migration it has not applied yet, and returns the versions it
// applied (none when the schema was current). Open calls it unless told
// not to; operators' `db sync` calls it too. Several processes may call
// it at once: they serialise on a database lock (an advisory lock on
// PostgreSQL, GET_LOCK on MySQL, an immediate transaction on SQLite), and
// only one applies each migration.
//
// On PostgreSQL and SQLite each migration is applied in one transaction.
// MySQL commits DDL implicitly, so a migration that fails half-way leaves
// its earlier statements applied; the error says which statement failed.
// A database holding migrations this binary does not know fails with
// ErrSchemaTooNew.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	return s.migrateUpTo(ctx, "")
}

// migrateUpTo applies pending migrations up to and including version
// (all of them when version is empty).
func (s *Store) migrateUpTo(ctx context.Context, version string) ([]string, error) {
	dir, err := migrationDir(s.dialect)
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
	db := s.dbs[0]
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, s.classify(err, "database", "connection")
	}
	defer conn.Close()
	unlock, err := s.lockSchema(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+revisionTable+
		" (version VARCHAR(64) NOT NULL PRIMARY KEY, description VARCHAR(255) NOT NULL,"+
		" checksum VARCHAR(128) NOT NULL, applied_at VARCHAR(64) NOT NULL)"); err != nil {
		return nil, s.classify(err, "schema revisions", revisionTable)
	}
	known := map[string]bool{}
	for _, f := range files {
		known[f.Version()] = true
	}
	var applied []string
	for _, f := range files {
		if version != "" && f.Version() > version {
			break
		}
		done, err := s.applyFile(ctx, conn, f, sum, known)
		if err != nil {
			return applied, err
		}
		if done {
			applied = append(applied, f.Version())
		}
	}
	return applied, nil
}

// applyFile applies one migration unless it is applied already; it
// reports whether it applied it.
func (s *Store) applyFile(ctx context.Context, conn *sql.Conn, f migrate.File, sum migrate.HashFile, known map[string]bool) (bool, error) {
	stmts, err := f.Stmts()
	if err != nil {
		return false, fmt.Errorf("store: migration %s: %w", f.Name(), err)
	}
	checksum, err := sum.SumByName(f.Name())
	if err != nil {
		return false, fmt.Errorf("store: migration %s: %w", f.Name(), err)
	}
	// querier is the transaction on dialects with transactional DDL and
	// the bare connection on MySQL.
	type querier interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}
	var (
		q  querier = conn
		tx *sql.Tx
	)
	if s.dialect != MySQL {
		tx, err = conn.BeginTx(ctx, nil)
		if err != nil {
			return false, s.classify(err, "migration", f.Version())
		}
		defer tx.Rollback()
		q = tx
	}
	rows, err := q.QueryContext(ctx, "SELECT version FROM "+revisionTable)
	if err != nil {
		return false, s.classify(err, "schema revisions", revisionTable)
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
			return false, fmt.Errorf("%w: %s has migration %s", ErrSchemaTooNew, s.redacted, v)
		}
	}
	if slices.Contains(have, f.Version()) {
		return false, nil
	}
	for i, st := range stmts {
		if _, err := q.ExecContext(ctx, st); err != nil {
			return false, fmt.Errorf("store: migration %s statement %d of %d (%s): %w",
				f.Name(), i+1, len(stmts), firstLine(st), s.classify(err, "migration", f.Version()))
		}
	}
	if _, err := q.ExecContext(ctx, s.rebind("INSERT INTO "+revisionTable+
		" (version, description, checksum, applied_at) VALUES (?, ?, ?, ?)"),
		f.Version(), f.Desc(), checksum, s.ts().Format(time.RFC3339Nano)); err != nil {
		return false, s.classify(err, "migration", f.Version())
	}
	if tx != nil {
		if err := tx.Commit(); err != nil {
			return false, s.classify(err, "migration", f.Version())
		}
	}
	return true, nil
}

func (s *Store) appliedRevisions(ctx context.Context, db *sql.DB) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	rows, err := db.QueryContext(ctx, "SELECT version, applied_at FROM "+revisionTable)
	if err != nil {
		// No revision table yet: nothing applied.
		if exists, xerr := s.tableExists(ctx, db, revisionTable); xerr == nil && !exists {
			return out, nil
		}
		return nil, s.classify(err, "schema revisions", revisionTable)
	}
	defer rows.Close()
	for rows.Next() {
		var v, at string
		if err := rows.Scan(&v, &at); err != nil {
			return nil, err
		}
		t, _ := time.Parse(time.RFC3339Nano, at)
		out[v] = t
	}
	return out, rows.Err()
}

func (s *Store) tableExists(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var q string
	switch s.dialect {
	case SQLite:
		q = "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?"
	case Postgres:
		q = "SELECT count(*) FROM information_schema.tables WHERE table_schema=current_schema() AND table_name=$1"
	default:
		q = "SELECT count(*) FROM information_schema.tables WHERE table_schema=DATABASE() AND table_name=?"
	}
	var n int
	err := db.QueryRowContext(ctx, q, name).Scan(&n)
	return n > 0, err
}

// lockSchema takes the cross-process migration lock where the dialect has
// one outside transactions.
func (s *Store) lockSchema(ctx context.Context, conn *sql.Conn) (func(), error) {
	switch s.dialect {
	case Postgres:
		const key = 0x6e6f7661 // "nova"
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
			return nil, s.classify(err, "schema lock", "pg_advisory_lock")
		}
		return func() { conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", key) }, nil
	case MySQL:
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('novakit_schema', 300)").Scan(&got); err != nil {
			return nil, s.classify(err, "schema lock", "GET_LOCK")
		}
		if got.Int64 != 1 {
			return nil, fmt.Errorf("store: %s: timed out waiting for the schema lock held by another process", s.redacted)
		}
		return func() { conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK('novakit_schema')") }, nil
	}
	return func() {}, nil
}

// rebind turns ? placeholders into $n for PostgreSQL.
func (s *Store) rebind(q string) string {
	if s.dialect != Postgres {
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

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}
