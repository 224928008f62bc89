package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	entsql "entgo.io/ent/dialect/sql"
)

// groupWriter is group commit for the single writer connection of a
// file-backed SQLite store. Write transactions ("members") run one at a
// time, as before, but consecutive members share one SQLite transaction:
// each runs inside a SAVEPOINT of it (a failing member rolls back to its
// savepoint and leaves the others' work alone), and the transaction
// commits when no other member waits for its turn, or once it holds
// maxMembers. A member returns only after the commit that holds its work
// (so what a caller is told is committed is in the WAL, as with one
// transaction per member), and a failed commit fails every member of the
// batch. One commit then writes each page the batch touched once, instead
// of once per member, and the BEGIN/COMMIT work is shared.
//
// Members see the work of the members before them in the same batch, as
// they would if each had committed: the order is the same as without
// grouping. Statements run detached from the caller's cancellation: an
// interrupted statement could roll back the whole shared transaction.
// The caller's ctx still bounds the wait for a turn.
type groupWriter struct {
	db   *sql.DB
	max  int
	turn chan struct{} // holds a token while a member runs
	// waiting counts the goroutines waiting for the turn.
	waiting atomic.Int32

	// commits and joined count the shared transactions committed and
	// the members they held (for tests and tuning).
	commits, joined atomic.Int64

	// Guarded by the turn.
	tx      *sql.Tx
	b       *groupBatch
	members int
}

// groupBatch is the outcome of one shared transaction.
type groupBatch struct {
	done chan struct{}
	err  error
}

const groupSavepoint = "novakit_member"

func newGroupWriter(db *sql.DB, maxMembers int) *groupWriter {
	return &groupWriter{db: db, max: maxMembers, turn: make(chan struct{}, 1)}
}

// acquire waits for the turn and makes sure a shared transaction is open,
// with a savepoint for the new member.
func (g *groupWriter) acquire(ctx context.Context, savepoint bool) (*groupBatch, error) {
	g.waiting.Add(1)
	select {
	case g.turn <- struct{}{}:
		g.waiting.Add(-1)
	case <-ctx.Done():
		g.waiting.Add(-1)
		// The holder may have left the batch open for us: if the turn
		// is free, close it out.
		select {
		case g.turn <- struct{}{}:
			g.release()
		default:
		}
		return nil, ctx.Err()
	}
	if g.tx == nil {
		tx, err := g.db.BeginTx(context.Background(), nil)
		if err != nil {
			<-g.turn
			return nil, err
		}
		g.tx, g.b, g.members = tx, &groupBatch{done: make(chan struct{})}, 0
	}
	g.members++
	if !savepoint {
		return g.b, nil
	}
	if _, err := g.tx.ExecContext(context.Background(), "SAVEPOINT "+groupSavepoint); err != nil {
		b := g.b
		g.fail(err)
		<-g.turn
		return nil, errors.Join(err, b.err)
	}
	return g.b, nil
}

// finish ends the member's turn: it releases (ok) or rolls back to its
// savepoint, commits the batch when nobody waits or it is full, and
// waits for the batch's outcome. It returns the member's error: a failed
// savepoint release or the batch's commit error.
func (g *groupWriter) finish(b *groupBatch, savepoint, ok bool) error {
	var err error
	if savepoint && g.b == b && g.tx != nil {
		if ok {
			_, err = g.tx.ExecContext(context.Background(), "RELEASE "+groupSavepoint)
		} else if _, err = g.tx.ExecContext(context.Background(), "ROLLBACK TO "+groupSavepoint); err == nil {
			_, err = g.tx.ExecContext(context.Background(), "RELEASE "+groupSavepoint)
		}
		if err != nil {
			g.fail(err)
		}
	}
	g.release()
	<-b.done
	if err != nil {
		return err
	}
	return b.err
}

// release gives the turn back, first committing the open batch when no
// one waits for the turn or the batch is full. Called with the turn held.
func (g *groupWriter) release() {
	if g.tx != nil && (g.waiting.Load() == 0 || g.members >= g.max) {
		err := g.tx.Commit()
		g.commits.Add(1)
		g.joined.Add(int64(g.members))
		if err != nil {
			err = fmt.Errorf("group commit: %w", err)
		}
		g.end(err)
	}
	<-g.turn
}

// fail ends the open batch with err (rolling it back): a savepoint that
// cannot be released or rolled back leaves the shared transaction in an
// unknown state. Called with the turn held.
func (g *groupWriter) fail(err error) {
	if g.tx == nil {
		return
	}
	_ = g.tx.Rollback()
	g.end(fmt.Errorf("group commit: transaction abandoned: %w", err))
}

func (g *groupWriter) end(err error) {
	g.b.err = err
	close(g.b.done)
	g.tx, g.b, g.members = nil, nil, 0
}

// runOne runs fn, which must run exactly one statement, as one member,
// on the shared transaction, and returns once its batch has committed.
// One statement is atomic by itself (SQLite undoes a failed statement),
// so it needs no savepoint. fn must not keep rows open after it returns.
func (g *groupWriter) runOne(ctx context.Context, cache *stmtCache, fn func(eq execQuerier) error) error {
	b, err := g.acquire(ctx, false)
	if err != nil {
		return err
	}
	pending := []string{}
	ferr := fn(cachedExecQuerier{c: cache, tx: g.tx, pending: &pending, detach: true})
	err = g.finish(b, false, ferr == nil)
	cache.prepareAll(pending)
	if ferr != nil {
		return ferr
	}
	return err
}

// groupTx is an ent transaction that is one member of a groupWriter
// batch.
type groupTx struct {
	entsql.Conn
	g       *groupWriter
	b       *groupBatch
	cache   *stmtCache
	pending []string
	done    bool
}

func (t *groupTx) end(ok bool) error {
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	err := t.g.finish(t.b, true, ok)
	t.cache.prepareAll(t.pending)
	return err
}

// Commit releases the member's savepoint and returns once the batch has
// committed (or failed).
func (t *groupTx) Commit() error { return t.end(true) }

// Rollback undoes the member's work. It too waits for the batch, so that
// a caller that decided to roll back on what earlier members wrote
// learns if that did not commit.
func (t *groupTx) Rollback() error { return t.end(false) }
