package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/internal/testsvc"
	"github.com/novakit/novakit/store"
)

// benchStores are the engines the throughput benchmarks compare: a SQLite
// file (WAL, synchronous=NORMAL) and PostgreSQL (fsync on).
func benchStores(b *testing.B) map[string]*store.Store {
	ctx := context.Background()
	out := map[string]*store.Store{}
	s, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	out["sqlite"] = s
	p, err := store.Open(ctx, testsvc.NewDatabase(b, testsvc.SharedPostgres(b)), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	out["postgres"] = p
	return out
}

// BenchmarkInstanceCreate measures single-instance creates, one
// transaction each; ns/op is per create.
func BenchmarkInstanceCreate(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			s := benchStores(b)[name]
			ctx := context.Background()
			project := uuid.NewString()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Instances().Create(ctx, newInstance(project)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
		})
	}
}

// BenchmarkInstanceCASUpdate measures compare-and-swap state changes
// (expected task state → new task state, flipping between two states),
// sequential and from parallel goroutines on distinct instances.
func BenchmarkInstanceCASUpdate(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		for _, parallel := range []bool{false, true} {
			mode := "serial"
			if parallel {
				mode = "parallel"
			}
			b.Run(name+"/"+mode, func(b *testing.B) {
				s := benchStores(b)[name]
				ctx := context.Background()
				mk := func() *compute.Instance {
					in := newInstance(uuid.NewString())
					in.VMState, in.TaskState = compute.VMActive, compute.TaskNone
					c, err := s.Instances().Create(ctx, in)
					if err != nil {
						b.Fatal(err)
					}
					return c
				}
				flip := func(id string, i int) {
					from, to := compute.TaskNone, compute.TaskPoweringOff
					if i%2 == 1 {
						from, to = to, from
					}
					_, err := s.Instances().Update(ctx, id, compute.InstanceUpdate{
						ExpectedTaskStates: []compute.TaskState{from}, TaskState: &to,
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				if !parallel {
					id := mk().UUID
					b.ResetTimer()
					i := 0
					for b.Loop() {
						flip(id, i)
						i++
					}
				} else {
					b.SetParallelism(4)
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						id := mk().UUID
						i := 0
						for pb.Next() {
							flip(id, i)
							i++
						}
					})
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
			})
		}
	}
}
