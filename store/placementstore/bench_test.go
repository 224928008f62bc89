package placementstore_test

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novakit/novakit/internal/testsvc"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/store/placementstore"
)

var benchBackends = []struct {
	name string
	url  func(b *testing.B) string
}{
	{"sqlite-file", func(b *testing.B) string { return "sqlite://" + filepath.Join(b.TempDir(), "placement.db") }},
	{"postgres", func(b *testing.B) string { return testsvc.NewDatabase(b, testsvc.SharedPostgres(b)) }},
}

// BenchmarkAllocationWrites measures claims (PUT /allocations of a new
// consumer: 1 VCPU and 512 MB on one of 100 providers), each one database
// transaction with its checks, serially and from 32 parallel claimers.
func BenchmarkAllocationWrites(b *testing.B) {
	for _, be := range benchBackends {
		for _, par := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/claimers=%d", be.name, par), func(b *testing.B) {
				ctx := context.Background()
				s, err := placementstore.Open(ctx, be.url(b), &placementstore.Options{PollInterval: -1})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				provs := cloud(b, s, 100, 1<<30)
				var n atomic.Int64
				claim := func() {
					i := n.Add(1)
					err := s.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uuid.NewString(): {
						Project: "p", User: "u", Allocations: map[string]map[string]int64{provs[i%100]: {"VCPU": 1, "MEMORY_MB": 512}}}})
					if err != nil {
						b.Error(err)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				start, cpu0 := time.Now(), cpuTime()
				if par == 1 {
					for i := 0; i < b.N; i++ {
						claim()
					}
				} else {
					b.SetParallelism((par + 1) / 2)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							claim()
						}
					})
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
				// CPU of this process (SQLite runs in it; PostgreSQL's own
				// CPU is not counted) per write: on a busy machine the wall
				// clock says more about the neighbours than about the code.
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}

// BenchmarkCandidates compares GET /allocation_candidates over 1,000 flat
// providers through the Service and on its Index directly.
func BenchmarkCandidates(b *testing.B) {
	ctx := context.Background()
	s, err := placementstore.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "placement.db"), &placementstore.Options{PollInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	cloud(b, s, 1000, 64)
	q, _ := url.ParseQuery("resources=VCPU:1,MEMORY_MB:512,DISK_GB:10&limit=1000")
	req, err := placement.ParseCandidateQuery(q, placement.Version{Major: 1, Minor: 39})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		fn   func(context.Context, *placement.CandidateRequest) (*placement.CandidateResult, error)
	}{{"service", s.Candidates}, {"index", s.Index().Candidates}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				res, err := c.fn(ctx, req)
				if err != nil || len(res.AllocationRequests) != 1000 {
					b.Fatal(err)
				}
			}
		})
	}
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
