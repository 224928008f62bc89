package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

// TestGroupCommit drives many concurrent writers at a file-backed SQLite
// store, whose writes share commits: compare-and-swap still lets exactly
// one writer win, a failing write leaves the others' work alone, a write
// is visible to another connection (another process's) as soon as it
// returns, and everything acknowledged survives reopening the file.
func TestGroupCommit(t *testing.T) {
	for _, noGroup := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoGroupCommit=%v", noGroup), func(t *testing.T) {
			ctx := context.Background()
			url := "sqlite://" + filepath.Join(t.TempDir(), "nova.db")
			s, err := store.Open(ctx, url, &store.Options{NoGroupCommit: noGroup})
			require.NoError(t, err)
			other, err := store.Open(ctx, url, nil)
			require.NoError(t, err)
			defer other.Close()

			const n = 16
			project := uuid.NewString()
			var (
				mu   sync.Mutex
				ids  []string
				wg   sync.WaitGroup
				errs = make(chan error, 4*n)
			)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					in, err := s.Instances().Create(ctx, newInstance(project))
					if err != nil {
						errs <- err
						return
					}
					// Acknowledged means committed: another connection sees it.
					if _, err := other.Instances().Get(ctx, in.UUID); err != nil {
						errs <- fmt.Errorf("created instance not visible to another connection: %w", err)
						return
					}
					// A write that fails (no such action) between good ones.
					if _, err := s.InstanceActions().StartEvent(ctx, in.UUID, "req-missing", "ev", "h", in.CreatedAt); !errors.Is(err, compute.ErrNotFound) {
						errs <- fmt.Errorf("event of a missing action: %v, want ErrNotFound", err)
						return
					}
					if _, err := s.InstanceActions().Start(ctx, &compute.InstanceAction{Action: "create", InstanceUUID: in.UUID,
						RequestID: "req-" + in.UUID, UserID: "u", ProjectID: project}); err != nil {
						errs <- err
						return
					}
					if _, err := s.InstanceActions().StartEvent(ctx, in.UUID, "req-"+in.UUID, "ev", "h", in.CreatedAt); err != nil {
						errs <- err
						return
					}
					mu.Lock()
					ids = append(ids, in.UUID)
					mu.Unlock()
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			require.Len(t, ids, n)

			// Compare-and-swap: of n writers expecting "scheduling", one wins.
			var wins atomic.Int32
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Instances().Update(ctx, ids[0], compute.InstanceUpdate{
						ExpectedTaskStates: []compute.TaskState{compute.TaskScheduling},
						TaskState:          compute.Ptr(compute.TaskSpawning),
					})
					switch {
					case err == nil:
						wins.Add(1)
					case !errors.Is(err, compute.ErrConflict):
						assert.NoError(t, err)
					}
				}()
			}
			// Writers whose ctx is already canceled either run or give
			// up, and never wedge the writer for the others.
			canceled, cancel := context.WithCancel(ctx)
			cancel()
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Instances().Update(canceled, ids[1+i%(n-1)], compute.InstanceUpdate{Progress: compute.Ptr(i)})
					if err != nil {
						assert.ErrorIs(t, err, context.Canceled)
					}
				}()
			}
			wg.Wait()
			assert.EqualValues(t, 1, wins.Load(), "exactly one compare-and-swap wins")
			_, err = s.Instances().Update(ctx, ids[1], compute.InstanceUpdate{Progress: compute.Ptr(100)})
			require.NoError(t, err)

			require.NoError(t, s.Close())
			re, err := store.Open(ctx, url, nil)
			require.NoError(t, err)
			defer re.Close()
			for _, id := range ids {
				in, err := re.Instances().Get(ctx, id)
				require.NoError(t, err)
				acts, err := re.InstanceActions().List(ctx, id, store.ActionFilter{}, compute.ListOptions{})
				require.NoError(t, err)
				assert.Len(t, acts, 1, "instance %s", id)
				if id == ids[0] {
					assert.Equal(t, compute.TaskSpawning, in.TaskState)
				}
				if id == ids[1] {
					assert.Equal(t, 100, in.Progress)
				}
			}
		})
	}
}

// BenchmarkGroupCommit measures concurrent single-row writes (the
// instance compare-and-swap every boot does several of) on a SQLite
// file, with and without group commit.
//
//	go test -run '^$' -bench GroupCommit -benchtime 2000x ./store/
func BenchmarkGroupCommit(b *testing.B) {
	for _, noGroup := range []bool{false, true} {
		b.Run(fmt.Sprintf("NoGroupCommit=%v", noGroup), func(b *testing.B) {
			ctx := context.Background()
			s, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "nova.db"), &store.Options{NoGroupCommit: noGroup})
			require.NoError(b, err)
			defer s.Close()
			ids := make([]string, 64)
			for i := range ids {
				in, err := s.Instances().Create(ctx, newInstance("p"))
				require.NoError(b, err)
				ids[i] = in.UUID
			}
			var next atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1)
					if _, err := s.Instances().Update(ctx, ids[i%int64(len(ids))], compute.InstanceUpdate{Progress: compute.Ptr(int(i % 100))}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
