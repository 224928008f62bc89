package store

import (
	"context"
	"database/sql"
)

// SQLConn is a database opened exactly as Open opens the store's own, for
// packages that keep their own tables in a database of their own (the
// Placement store): same URLs, same connection set-up (SQLite: one writer
// connection beginning IMMEDIATE transactions plus a pool of query-only
// readers, WAL, foreign keys, busy timeout; MySQL: UTC, utf8mb4_bin,
// rows-matched counts), no migrations applied.
type SQLConn struct {
	Dialect Dialect
	// Writer runs writes and transactions; Reader plain reads. They are
	// the same pool except on file-backed SQLite.
	Writer, Reader *sql.DB
	// URL is the database URL without its password.
	URL string
}

// OpenSQL opens rawURL as Open does (see Open for the URLs and errors) but
// applies no migration and returns the bare connection pools. The caller
// closes them with Close.
func OpenSQL(ctx context.Context, rawURL string, opts *Options) (*SQLConn, error) {
	o := opts.withDefaults()
	o.SkipMigrate = true
	s, err := Open(ctx, rawURL, &o)
	if err != nil {
		return nil, err
	}
	return &SQLConn{Dialect: s.dialect, Writer: s.dbs[0], Reader: s.dbs[len(s.dbs)-1], URL: s.redacted}, nil
}

// Close closes the connection pools.
func (c *SQLConn) Close() error {
	err := c.Writer.Close()
	if c.Reader != c.Writer {
		if rerr := c.Reader.Close(); err == nil {
			err = rerr
		}
	}
	return err
}
