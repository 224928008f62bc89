package store

import (
	"context"
	"database/sql"
	"sync"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// stmtDriver is an ent driver that keeps a prepared statement per
// distinct query text. ent builds the same SQL for the same operation
// every time, so the database parses each statement once per connection
// instead of once per call: SQLite (modernc) spends most of a small
// query parsing it, and MySQL without a cache prepares, executes and
// closes every statement. PostgreSQL's pgx caches statements itself.
type stmtDriver struct {
	db      *sql.DB
	dialect string
	cache   *stmtCache
	// group, when set, runs the writes of db (a SQLite writer) as
	// members of group commits.
	group *groupWriter
}

var _ dialect.Driver = (*stmtDriver)(nil)

func newStmtDriver(d string, db *sql.DB) *stmtDriver {
	return &stmtDriver{db: db, dialect: d, cache: &stmtCache{db: db, max: 1024, m: map[string]*sql.Stmt{}}}
}

func (d *stmtDriver) conn(tx *sql.Tx, pending *[]string) entsql.Conn {
	return entsql.Conn{ExecQuerier: cachedExecQuerier{c: d.cache, tx: tx, pending: pending}}
}

func (d *stmtDriver) Exec(ctx context.Context, query string, args, v any) error {
	if d.group != nil {
		return d.group.runOne(ctx, d.cache, func(eq execQuerier) error {
			return entsql.Conn{ExecQuerier: eq.(cachedExecQuerier)}.Exec(ctx, query, args, v)
		})
	}
	return d.conn(nil, nil).Exec(ctx, query, args, v)
}

func (d *stmtDriver) Query(ctx context.Context, query string, args, v any) error {
	return d.conn(nil, nil).Query(ctx, query, args, v)
}

func (d *stmtDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	if d.group != nil {
		b, err := d.group.acquire(ctx, true)
		if err != nil {
			return nil, err
		}
		t := &groupTx{g: d.group, b: b, cache: d.cache}
		t.Conn = entsql.Conn{ExecQuerier: cachedExecQuerier{c: d.cache, tx: d.group.tx, pending: &t.pending, detach: true}}
		return t, nil
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	t := &stmtTx{tx: tx, cache: d.cache}
	t.Conn = d.conn(tx, &t.pending)
	return t, nil
}

func (d *stmtDriver) Close() error {
	d.cache.close()
	return d.db.Close()
}

func (d *stmtDriver) Dialect() string { return d.dialect }

// stmtTx is a transaction whose statements come from the cache. A query
// the cache does not hold yet runs unprepared and is prepared once the
// transaction has ended: preparing needs a connection, and the
// transaction holds the only one a SQLite writer has.
type stmtTx struct {
	entsql.Conn
	tx      *sql.Tx
	cache   *stmtCache
	pending []string
}

func (t *stmtTx) Commit() error {
	err := t.tx.Commit()
	t.cache.prepareAll(t.pending)
	return err
}

func (t *stmtTx) Rollback() error {
	err := t.tx.Rollback()
	t.cache.prepareAll(t.pending)
	return err
}

// stmtCache maps query text to a statement prepared (lazily, per
// connection, by database/sql) on db. Past max entries it stops adding:
// queries with variable-length IN lists then run unprepared.
type stmtCache struct {
	db  *sql.DB
	mu  sync.RWMutex
	max int
	m   map[string]*sql.Stmt
}

func (c *stmtCache) lookup(q string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[q]
}

// prepareAll prepares queries met inside a transaction; errors are
// ignored (the query then keeps running unprepared).
func (c *stmtCache) prepareAll(qs []string) {
	for _, q := range qs {
		c.get(context.Background(), q)
	}
}

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	if st := c.lookup(q); st != nil {
		return st, nil
	}
	c.mu.RLock()
	full := len(c.m) >= c.max
	c.mu.RUnlock()
	if full {
		return nil, nil
	}
	// Prepare without holding the lock: preparing waits for a free
	// connection, and the holder of that connection may be looking up
	// another statement.
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if have, ok := c.m[q]; ok {
		st.Close()
		return have, nil
	}
	c.m[q] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	clear(c.m)
}

// cachedExecQuerier runs queries through the cache, inside tx when set.
// Statements bound to a transaction are closed by database/sql when the
// transaction ends.
type cachedExecQuerier struct {
	c       *stmtCache
	tx      *sql.Tx
	pending *[]string
	// detach runs statements without the caller's cancellation (see
	// groupWriter).
	detach bool
}

// stmt returns the cached statement for q, or nil to run q unprepared.
// Inside a transaction it never prepares (see stmtTx).
func (e cachedExecQuerier) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if e.tx == nil {
		return e.c.get(ctx, q)
	}
	st := e.c.lookup(q)
	if st == nil && len(*e.pending) < 64 {
		*e.pending = append(*e.pending, q)
	}
	return st, nil
}

func (e cachedExecQuerier) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if e.detach {
		ctx = context.WithoutCancel(ctx)
	}
	st, err := e.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	switch {
	case st == nil && e.tx != nil:
		return e.tx.ExecContext(ctx, q, args...)
	case st == nil:
		return e.c.db.ExecContext(ctx, q, args...)
	case e.tx != nil:
		return e.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return st.ExecContext(ctx, args...)
}

func (e cachedExecQuerier) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if e.detach {
		ctx = context.WithoutCancel(ctx)
	}
	st, err := e.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	switch {
	case st == nil && e.tx != nil:
		return e.tx.QueryContext(ctx, q, args...)
	case st == nil:
		return e.c.db.QueryContext(ctx, q, args...)
	case e.tx != nil:
		return e.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return st.QueryContext(ctx, args...)
}
