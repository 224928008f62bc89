package store

import (
	"context"
	"fmt"

	"github.com/novakit/novakit/store/internal/ent"
)

// writeOne runs fn, which makes one write through the client it is
// given. On a group-committed SQLite file that is a transaction, so the
// write joins a group commit (ent runs an INSERT … RETURNING as a query,
// which outside a transaction would wait for the writer connection
// instead); elsewhere it is the writer client itself.
func (s *Store) writeOne(ctx context.Context, fn func(c *ent.Client) error) error {
	if s.group == nil {
		return fn(s.w)
	}
	return s.withTx(ctx, func(tx *ent.Tx) error { return fn(tx.Client()) })
}

// withTx runs fn in a write transaction, committing when it returns nil
// and rolling back otherwise (also on panic, which is re-raised).
func (s *Store) withTx(ctx context.Context, fn func(tx *ent.Tx) error) (err error) {
	tx, err := s.w.Tx(ctx)
	if err != nil {
		return s.classify(err, "transaction", "begin")
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil && !isUnavailable(err) {
				err = fmt.Errorf("%w (rollback: %v)", err, rerr)
			}
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if cerr := tx.Commit(); cerr != nil {
		return s.classify(cerr, "transaction", "commit")
	}
	return nil
}
