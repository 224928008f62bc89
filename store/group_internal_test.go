package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGroupWriterBatches checks that concurrent members do share commits,
// that a failing member is rolled back to its savepoint without touching
// the others, and that every member's outcome is the batch's.
func TestGroupWriterBatches(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "g.db"), nil)
	require.NoError(t, err)
	defer s.Close()
	require.NotNil(t, s.group, "file-backed SQLite uses group commit")
	_, err = s.dbs[0].ExecContext(ctx, "CREATE TABLE g (k INTEGER PRIMARY KEY)")
	require.NoError(t, err)

	const n = 200
	boom := errors.New("boom")
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// What a groupTx does for an ent transaction.
			b, err := s.group.acquire(ctx, true)
			if !assert.NoError(t, err) {
				return
			}
			eq := cachedExecQuerier{c: s.wcache, tx: s.group.tx, pending: new([]string), detach: true}
			_, err = eq.ExecContext(ctx, "INSERT INTO g (k) VALUES (?)", i)
			ok := err == nil && i%10 != 0 // the others roll back to their savepoint
			err = errors.Join(err, s.group.finish(b, true, ok))
			if !ok && err == nil {
				err = boom
			}
			if i%10 == 0 {
				assert.ErrorIs(t, err, boom)
			} else {
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	var count int
	require.NoError(t, s.dbs[1].QueryRowContext(ctx, "SELECT count(*) FROM g").Scan(&count))
	assert.Equal(t, n-n/10, count, "the failed members' rows are gone, the others' are committed")
	commits, joined := s.group.commits.Load(), s.group.joined.Load()
	assert.EqualValues(t, n, joined)
	assert.Less(t, commits, joined, "some commits held several members (%d commits for %d members)", commits, joined)
	t.Logf("%d members in %d commits", joined, commits)
}
