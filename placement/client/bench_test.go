package client_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
	"github.com/novakit/novakit/store/placementstore"
)

// flat fills b with n compute nodes (VCPU, MEMORY_MB, DISK_GB) and returns
// their uuids.
func flat(tb testing.TB, b api.Backend, n int) []string {
	ctx := tb.Context()
	us := make([]string, n)
	for i := range us {
		u := uuid.NewString()
		us[i] = u
		if _, err := b.CreateProvider(ctx, placement.ProviderSpec{UUID: u, Name: fmt.Sprintf("cn%d", i)}); err != nil {
			tb.Fatal(err)
		}
		vcpu := placement.NewInventory(1 << 20)
		mem := placement.NewInventory(131072)
		mem.AllocationRatio = 1.5
		if _, _, err := b.SetInventories(ctx, u, 0, map[string]placement.Inventory{
			"VCPU": vcpu, "MEMORY_MB": mem, "DISK_GB": placement.NewInventory(2000),
		}); err != nil {
			tb.Fatal(err)
		}
	}
	return us
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkClaim measures one claim (SetAllocations of a new consumer, 1
// VCPU, on one of 100 providers): in-process on the Index, and through the
// client over loopback HTTP to placement/api on the same Index (sequential,
// and from parallel goroutines sharing the client's connections), and with
// store/placementstore on a SQLite file behind the API (every claim a
// database transaction).
func BenchmarkClaim(b *testing.B) {
	for _, bc := range []struct {
		name     string
		sqlite   bool
		remote   bool
		parallel bool
	}{
		{"index", false, false, false},
		{"client-loopback", false, true, false},
		{"client-loopback-parallel", false, true, true},
		{"placementstore-sqlite-parallel", true, false, true},
		{"client-loopback-placementstore-sqlite-parallel", true, true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var be api.Backend = placement.New(placement.Options{})
			if bc.sqlite {
				s, err := placementstore.Open(b.Context(), "sqlite://"+filepath.Join(b.TempDir(), "placement.db"), &placementstore.Options{PollInterval: -1})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = s.Close() })
				be = s
			}
			if bc.remote {
				be = newRemote(b, be)
			}
			rps := flat(b, be, 100)
			ctx := b.Context()
			claimOne := func(i int) {
				err := be.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uuid.NewString(): {
					Project: "p", User: "u", ConsumerType: placement.ConsumerTypeInstance,
					Allocations: map[string]map[string]int64{rps[i%len(rps)]: {"VCPU": 1}},
				}})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			if bc.parallel {
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						claimOne(i)
						i++
					}
				})
				return
			}
			lat := make([]time.Duration, 0, b.N)
			i := 0
			for b.Loop() {
				t0 := time.Now()
				claimOne(i)
				lat = append(lat, time.Since(t0))
				i++
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}

// BenchmarkCandidates measures GET /allocation_candidates over 1,000 flat
// providers (VCPU:1, MEMORY_MB:512, DISK_GB:10) in-process on the Index and
// through the client over loopback HTTP (request, search, rendering,
// decoding into the domain types).
func BenchmarkCandidates(b *testing.B) {
	for _, bc := range []struct {
		name   string
		remote bool
		limit  int
	}{
		{"index-flat1000", false, 0},
		{"client-loopback-flat1000", true, 0},
		{"client-loopback-flat1000-limit50", true, 50},
	} {
		b.Run(bc.name, func(b *testing.B) {
			idx := placement.New(placement.Options{})
			var be api.Backend = idx
			if bc.remote {
				be = newRemote(b, idx)
			}
			flat(b, be, 1000)
			req := &placement.CandidateRequest{Groups: []placement.RequestGroup{{Resources: map[string]int64{"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 10}}}, Limit: bc.limit}
			want := 1000
			if bc.limit > 0 {
				want = bc.limit
			}
			ctx := b.Context()
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				res, err := be.Candidates(ctx, req)
				lat = append(lat, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				if len(res.AllocationRequests) != want {
					b.Fatalf("%d candidates, want %d", len(res.AllocationRequests), want)
				}
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}
