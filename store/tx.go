package store

import (
	"context"
	"fmt"

	"github.com/novakit/novakit/store/internal/ent"
)

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
