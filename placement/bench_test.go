package placement

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"runtime"
	"slices"
	"testing"
	"time"
)

// flatCloud builds n compute nodes with VCPU/MEMORY_MB/DISK_GB and realistic,
// uneven usage (each node 0–90 % used).
func flatCloud(tb testing.TB, n int) *Index {
	ctx := context.Background()
	ix := New(Options{})
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		u := uid(fmt.Sprint("cn", i))
		if _, err := ix.CreateProvider(ctx, ProviderSpec{UUID: u, Name: fmt.Sprint("cn", i)}); err != nil {
			tb.Fatal(err)
		}
		vcpu := Inventory{Total: 64, MinUnit: 1, MaxUnit: 64, StepSize: 1, AllocationRatio: 4}
		mem := Inventory{Total: 262144, Reserved: 4096, MinUnit: 1, MaxUnit: 262144, StepSize: 1, AllocationRatio: 1.5}
		disk := Inventory{Total: 4000, MinUnit: 1, MaxUnit: 4000, StepSize: 1, AllocationRatio: 1}
		if _, _, err := ix.SetInventories(ctx, u, 0, map[string]Inventory{"VCPU": vcpu, "MEMORY_MB": mem, "DISK_GB": disk}); err != nil {
			tb.Fatal(err)
		}
		f := float64(r.IntN(91)) / 100
		ca := ConsumerAllocations{Project: "p", User: "u", Allocations: map[string]map[string]int64{u: {
			"VCPU": 1 + int64(f*float64(vcpu.MaxUnit-1)), "MEMORY_MB": 1 + int64(f*float64(mem.MaxUnit-1)), "DISK_GB": 1 + int64(f*3999)}}}
		if err := ix.SetAllocations(ctx, map[string]ConsumerAllocations{uid(fmt.Sprint("vm", i)): ca}); err != nil {
			tb.Fatal(err)
		}
	}
	return ix
}

func benchCandidates(b *testing.B, ix *Index, query string, wantMin int) {
	ctx := context.Background()
	q, _ := url.ParseQuery(query)
	req, err := ParseCandidateQuery(q, MaxVersion())
	if err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.Seed = uint64(i)
		t0 := time.Now()
		res, err := ix.Candidates(ctx, req)
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		n = len(res.AllocationRequests)
	}
	b.StopTimer()
	if n < wantMin {
		b.Fatalf("only %d candidates", n)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(n), "candidates")
}

const novaQuery = "resources=VCPU:2,MEMORY_MB:4096,DISK_GB:40&limit=1000"

func BenchmarkCandidatesFlat100(b *testing.B) {
	benchCandidates(b, flatCloud(b, 100), novaQuery, 50)
}

// Without a limit every fitting host is a candidate.
func BenchmarkCandidatesFlat10000NoLimit(b *testing.B) {
	benchCandidates(b, flatCloud(b, 10000), "resources=VCPU:2,MEMORY_MB:4096,DISK_GB:40", 5000)
}

func BenchmarkCandidatesFlat1000(b *testing.B) {
	benchCandidates(b, flatCloud(b, 1000), novaQuery, 500)
}

func BenchmarkCandidatesFlat10000Limit1000(b *testing.B) {
	benchCandidates(b, flatCloud(b, 10000), novaQuery, 1000)
}

// wideTree is the shape of Placement bug 2126751: a compute node whose
// eight children each offer the same class, asked for by six granular groups.
func wideTree(tb testing.TB, hosts int, vfFree func(child int) int) *Index {
	ctx := context.Background()
	ix := New(Options{})
	for h := 0; h < hosts; h++ {
		root := uid(fmt.Sprint("host", h))
		ix.CreateProvider(ctx, ProviderSpec{UUID: root, Name: fmt.Sprint("host", h)})
		ix.SetInventories(ctx, root, 0, map[string]Inventory{"VCPU": NewInventory(64), "MEMORY_MB": NewInventory(262144)})
		for c := 0; c < 8; c++ {
			u := uid(fmt.Sprint("host", h, "pf", c))
			ix.CreateProvider(ctx, ProviderSpec{UUID: u, Name: fmt.Sprint("host", h, "pf", c), ParentUUID: root})
			ix.SetInventories(ctx, u, 0, map[string]Inventory{"SRIOV_NET_VF": NewInventory(int64(max(vfFree(c), 1)))})
			if vfFree(c) == 0 { // fully used
				ix.SetAllocations(ctx, map[string]ConsumerAllocations{uid(fmt.Sprint("used", h, c)): {Project: "p", User: "u",
					Allocations: map[string]map[string]int64{u: {"SRIOV_NET_VF": 1}}}})
			}
		}
	}
	return ix
}

const wideQuery = "resources=VCPU:1,MEMORY_MB:1024&resources1=SRIOV_NET_VF:1&resources2=SRIOV_NET_VF:1&resources3=SRIOV_NET_VF:1" +
	"&resources4=SRIOV_NET_VF:1&resources5=SRIOV_NET_VF:1&resources6=SRIOV_NET_VF:1"

// 8 children × 6 groups, group_policy=none: 8^6 = 262144 combinations exist.
func BenchmarkCandidatesWideTreeNoneLimit1000(b *testing.B) {
	benchCandidates(b, wideTree(b, 1, func(int) int { return 8 }), wideQuery+"&group_policy=none&limit=1000", 1000)
}

// One VF per child, isolate: 8·7·6·5·4·3 = 20160 candidates; all of them.
func BenchmarkCandidatesWideTreeIsolateAll(b *testing.B) {
	benchCandidates(b, wideTree(b, 1, func(int) int { return 1 }), wideQuery+"&group_policy=isolate", 20160)
}

// Only five children have a free VF: no candidate exists, and pruning must
// find that out without walking 8^6 combinations.
func BenchmarkCandidatesWideTreeInfeasible(b *testing.B) {
	ix := wideTree(b, 1, func(c int) int {
		if c < 5 {
			return 1
		}
		return 0
	})
	benchCandidates(b, ix, wideQuery+"&group_policy=none", 0)
}

// 200 such hosts, limit 1000 (what nova sends).
func BenchmarkCandidatesWideTree200HostsLimit1000(b *testing.B) {
	benchCandidates(b, wideTree(b, 200, func(int) int { return 2 }), wideQuery+"&group_policy=none&limit=1000", 1000)
}

// BenchmarkSetAllocations measures claims: each op claims for a new consumer
// on one of 1,000 hosts and deletes an older consumer, so capacity lasts.
func BenchmarkSetAllocations(b *testing.B) {
	ctx := context.Background()
	ix := New(Options{})
	const hosts = 1000
	for i := 0; i < hosts; i++ {
		u := uid(fmt.Sprint("cn", i))
		ix.CreateProvider(ctx, ProviderSpec{UUID: u, Name: fmt.Sprint("cn", i)})
		ix.SetInventories(ctx, u, 0, map[string]Inventory{"VCPU": NewInventory(1 << 20), "MEMORY_MB": NewInventory(1 << 30)})
	}
	consumers := make([]string, b.N)
	for i := range consumers {
		consumers[i] = uid(fmt.Sprint("vm", i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		host := uid(fmt.Sprint("cn", i%hosts))
		err := ix.SetAllocations(ctx, map[string]ConsumerAllocations{consumers[i]: {Project: "p", User: "u", ConsumerType: ConsumerTypeInstance,
			Allocations: map[string]map[string]int64{host: {"VCPU": 2, "MEMORY_MB": 4096}}}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "writes/s")
}

// BenchmarkMemoryPerProvider reports the heap a provider costs: three
// inventories, two traits, one aggregate and one consumer with allocations.
func BenchmarkMemoryPerProvider(b *testing.B) {
	const n = 10000
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ix := flatCloud(b, n)
		for j := 0; j < n; j += 1 {
			u := uid(fmt.Sprint("cn", j))
			ix.SetTraits(context.Background(), u, 2, []string{"COMPUTE_NODE", "HW_CPU_X86_AVX2"})
			ix.SetAggregates(context.Background(), u, 3, []string{uid(fmt.Sprint("agg", j%10))})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/provider")
		runtime.KeepAlive(ix)
	}
}

// BenchmarkCandidatesFlat1000WhileClaiming runs the flat-1000 query while
// another goroutine claims and releases as fast as it can: searches work on
// snapshots, so neither side waits for the other.
func BenchmarkCandidatesFlat1000WhileClaiming(b *testing.B) {
	ix := flatCloud(b, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		n := 0
		for ctx.Err() == nil {
			c := uid(fmt.Sprint("churn", n%64))
			host := uid(fmt.Sprint("cn", n%1000))
			if err := ix.SetAllocations(ctx, map[string]ConsumerAllocations{c: {Project: "p", User: "u", SkipGenerationCheck: true,
				Allocations: map[string]map[string]int64{host: {"VCPU": 1}}}}); err == nil {
				n++
			} else {
				_ = ix.DeleteAllocations(ctx, c)
			}
		}
		done <- n
	}()
	t0 := time.Now()
	benchCandidates(b, ix, novaQuery, 500)
	cancel()
	b.ReportMetric(float64(<-done)/time.Since(t0).Seconds(), "concurrent-writes/s")
}
