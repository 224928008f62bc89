package fake_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/drivers/fake"
)

func benchSpecs(n int) []*compute.SpawnSpec {
	specs := make([]*compute.SpawnSpec, n)
	for i := range specs {
		specs[i] = &compute.SpawnSpec{
			Instance: &compute.Instance{ID: int64(i + 1), UUID: uuid.NewSHA1(uuid.NameSpaceOID, fmt.Append(nil, i)).String()},
			Flavor:   compute.Flavor{Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1},
			PowerOn:  true,
		}
	}
	return specs
}

// BenchmarkSpawn measures one Spawn on a host (the guests accumulate; the
// host is sized not to fill up).
func BenchmarkSpawn(b *testing.B) {
	specs := benchSpecs(b.N)
	c, _ := fake.New(fake.Config{Capacity: fake.Capacity{VCPUs: b.N + 1, MemoryMB: 512 * (b.N + 1), DiskGB: b.N + 1}})
	h := c.Host("host1")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := h.Spawn(ctx, specs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpawnDestroyParallel spawns and destroys guests from every CPU
// over 1,000 hosts.
func BenchmarkSpawnDestroyParallel(b *testing.B) {
	c, _ := fake.New(fake.Config{Hosts: 1000})
	hosts := c.Hosts()
	specs := benchSpecs(4096)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Uint32
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)) % len(specs)
			s := specs[i]
			h := hosts[i%len(hosts)]
			if _, err := h.Spawn(ctx, s); err != nil {
				continue // the same spec raced onto the host: fine
			}
			_ = h.Destroy(ctx, compute.Guest{UUID: s.Instance.UUID}, compute.DestroyOptions{})
		}
	})
}

// BenchmarkCloudMemory builds 10,000 hosts with 10 guests each and reports
// the heap they hold, per host and per guest.
func BenchmarkCloudMemory(b *testing.B) {
	const hosts, perHost = 10000, 10
	specs := benchSpecs(hosts * perHost)
	ctx := context.Background()
	for range b.N {
		runtime.GC()
		var m0, m1, m2 runtime.MemStats
		runtime.ReadMemStats(&m0)
		c, err := fake.New(fake.Config{Hosts: hosts})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		hs := c.Hosts()
		for i, s := range specs {
			if _, err := hs[i%hosts].Spawn(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m2)
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/hosts, "B/host")
		b.ReportMetric(float64(m2.HeapAlloc-m1.HeapAlloc)/(hosts*perHost), "B/guest")
		b.ReportMetric(float64(m2.HeapAlloc-m0.HeapAlloc)/(1<<20), "MiB-total")
		runtime.KeepAlive(c)
	}
}
