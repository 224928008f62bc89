package scheduler

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
)

// memSource is an in-memory HostSource for tests and benchmarks.
type memSource struct {
	mu    sync.Mutex
	nodes []*compute.ComputeNode
	svcs  []*compute.Service
	aggs  []*compute.Aggregate
	insts map[string]*compute.Instance
	calls int // Instances calls
}

func newMemSource() *memSource { return &memSource{insts: map[string]*compute.Instance{}} }

func (m *memSource) ComputeNodes(context.Context) ([]*compute.ComputeNode, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*compute.ComputeNode(nil), m.nodes...), nil
}

func (m *memSource) ComputeServices(context.Context) ([]*compute.Service, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*compute.Service(nil), m.svcs...), nil
}

func (m *memSource) Aggregates(context.Context) ([]*compute.Aggregate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*compute.Aggregate(nil), m.aggs...), nil
}

func (m *memSource) Instances(_ context.Context, since time.Time) ([]*compute.Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	var out []*compute.Instance
	for _, in := range m.insts {
		if since.IsZero() && in.Deleted {
			continue
		}
		if !since.IsZero() && in.UpdatedAt.Before(since) {
			continue
		}
		c := *in
		out = append(out, &c)
	}
	return out, nil
}

func (m *memSource) putInstance(in *compute.Instance) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *in
	m.insts[in.UUID] = &c
}

func hostUUID(i int) string { return fmt.Sprintf("c0000000-0000-4000-8000-%012d", i) }
func instUUID(i int) string { return fmt.Sprintf("a0000000-0000-4000-8000-%012d", i) }
func hostName(i int) string { return fmt.Sprintf("host%d", i) }

// cloud is a test cloud: placement providers and matching host records.
type cloud struct {
	ix  *placement.Index
	src *memSource
	now time.Time
}

type hostSpec struct {
	vcpus, ramMB, diskGB int
	usedRAM              int
	stats                map[string]string
	hvType               string
	hvVersion            int
	traits               []string
	disabled, down       bool
	noService            bool
}

func defaultHost() hostSpec { return hostSpec{vcpus: 16, ramMB: 32768, diskGB: 500} }

func newCloud(tb testing.TB) *cloud {
	return &cloud{ix: placement.New(placement.Options{}), src: newMemSource(), now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

// clock is the cloud's fixed "now" (services were seen then), so that a
// slow setup never makes hosts look down.
func (c *cloud) clock() time.Time { return c.now }

func (c *cloud) addHost(tb testing.TB, i int, hs hostSpec) {
	tb.Helper()
	ctx := context.Background()
	u := hostUUID(i)
	p, err := c.ix.CreateProvider(ctx, placement.ProviderSpec{UUID: u, Name: hostName(i)})
	if err != nil {
		tb.Fatal(err)
	}
	gen, _, err := c.ix.SetInventories(ctx, u, p.Generation, map[string]placement.Inventory{
		"VCPU":      {Total: int64(hs.vcpus), MinUnit: 1, MaxUnit: int64(hs.vcpus), StepSize: 1, AllocationRatio: 1},
		"MEMORY_MB": {Total: int64(hs.ramMB), MinUnit: 1, MaxUnit: int64(hs.ramMB), StepSize: 1, AllocationRatio: 1},
		"DISK_GB":   {Total: int64(hs.diskGB), MinUnit: 1, MaxUnit: int64(hs.diskGB), StepSize: 1, AllocationRatio: 1},
	})
	if err != nil {
		tb.Fatal(err)
	}
	traits := append([]string{"COMPUTE_NODE"}, hs.traits...)
	if hs.disabled {
		traits = append(traits, "COMPUTE_STATUS_DISABLED")
	}
	if _, err := c.ix.SetTraits(ctx, u, gen, traits); err != nil {
		tb.Fatal(err)
	}
	hv := hs.hvType
	if hv == "" {
		hv = "QEMU"
	}
	c.src.mu.Lock()
	defer c.src.mu.Unlock()
	c.src.nodes = append(c.src.nodes, &compute.ComputeNode{UUID: u, Host: hostName(i), HypervisorHostname: hostName(i),
		HypervisorType: hv, HypervisorVersion: hs.hvVersion, VCPUs: hs.vcpus, MemoryMB: hs.ramMB, MemoryMBUsed: hs.usedRAM,
		LocalGB: hs.diskGB, CPUAllocationRatio: 1, RAMAllocationRatio: 1, DiskAllocationRatio: 1, Stats: hs.stats, UpdatedAt: c.now})
	if !hs.noService {
		seen := c.now
		if hs.down {
			seen = c.now.Add(-time.Hour)
		}
		c.src.svcs = append(c.src.svcs, &compute.Service{Host: hostName(i), Binary: "nova-compute", Disabled: hs.disabled, LastSeenUp: seen})
	}
}

func (c *cloud) scheduler(tb testing.TB, o Options) *Scheduler {
	tb.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return c.now }
	}
	s, err := New(Config{Placement: c.ix, Hosts: c.src, Options: o})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func tinySpec() *compute.RequestSpec {
	return &compute.RequestSpec{ProjectID: "p1", UserID: "u1", NumInstances: 1,
		Flavor: compute.Flavor{Name: "m1.small", FlavorID: "2", VCPUs: 1, MemoryMB: 2048, RootGB: 20}}
}

func usageOf(tb testing.TB, ix *placement.Index, i int) map[string]int64 {
	tb.Helper()
	u, _, err := ix.ProviderUsages(context.Background(), hostUUID(i))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range u {
		if v == 0 {
			delete(u, k)
		}
	}
	return u
}
