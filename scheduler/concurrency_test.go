package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
)

// Several schedulers, each with its own host-state cache (so each is
// blind to the others' claims), race for one placement: no provider is
// ever overcommitted, every successful selection is claimed exactly once,
// and when the cloud is full the losers get NoValidHost.
func TestConcurrentSchedulersNeverOvercommit(t *testing.T) {
	c := newCloud(t)
	const hosts, perHost = 8, 4
	for i := 0; i < hosts; i++ {
		c.addHost(t, i, hostSpec{vcpus: perHost, ramMB: perHost * 1024, diskGB: 100})
	}
	const schedulers, requests = 4, 12
	var ss []*Scheduler
	for i := 0; i < schedulers; i++ {
		ss = append(ss, c.scheduler(t, Options{HostSubsetSize: 2}))
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		placed  = map[string]string{}
		failed  int
		badErrs []error
	)
	for si, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < requests; r++ {
				spec := &compute.RequestSpec{ProjectID: "p", UserID: "u", Flavor: compute.Flavor{Name: "f", VCPUs: 1, MemoryMB: 1024, RootGB: 1}}
				uuids := []string{instUUID(si*1000 + 2*r), instUUID(si*1000 + 2*r + 1)}
				sels, err := s.SelectDestinations(withReqID(fmt.Sprintf("req-%d-%d", si, r)), spec, uuids)
				mu.Lock()
				switch {
				case err == nil:
					for i, sl := range sels {
						placed[uuids[i]] = sl[0].ComputeNodeUUID
					}
				case errors.Is(err, compute.ErrNoValidHost):
					failed++
				default:
					badErrs = append(badErrs, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Empty(t, badErrs)
	total := int64(0)
	for i := 0; i < hosts; i++ {
		u := usageOf(t, c.ix, i)
		assert.LessOrEqual(t, u["VCPU"], int64(perHost), "host %d overcommitted", i)
		assert.LessOrEqual(t, u["MEMORY_MB"], int64(perHost*1024))
		total += u["VCPU"]
	}
	assert.Equal(t, int64(len(placed)), total, "every selection claimed exactly once, failed requests released")
	for uuid, node := range placed {
		cons, err := c.ix.Consumer(context.Background(), uuid)
		require.NoError(t, err)
		assert.Equal(t, int64(1), cons.Allocations[node].Resources["VCPU"])
	}
	assert.Greater(t, failed, 0, "demand (96 vCPUs) exceeds capacity (32)")
	assert.Greater(t, len(placed), hosts*perHost/2, "most of the capacity is used")
}

// Decisions run while the cache refreshes in the background (Run) and the
// candidate cache serves shared results: the race detector watches the
// host states, and Run stops with its context.
func TestDecisionsDuringBackgroundRefresh(t *testing.T) {
	c := newCloud(t)
	for i := 0; i < 6; i++ {
		c.addHost(t, i, defaultHost())
	}
	s, err := New(Config{Placement: c.ix, Hosts: c.src, Options: Options{RefreshInterval: time.Millisecond,
		CandidateCacheTTL: time.Hour, Now: func() time.Time { return c.now }}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 20; r++ {
				u := instUUID(g*100 + r)
				sels, err := s.SelectDestinations(context.Background(), tinySpec(), []string{u})
				if !assert.NoError(t, err) {
					return
				}
				c.src.putInstance(&compute.Instance{UUID: u, Host: sels[0][0].ServiceHost, Node: sels[0][0].Nodename,
					VMState: compute.VMBuilding, UpdatedAt: time.Now()})
			}
		}()
	}
	// A new node appears mid-run: host indexes change under the cached
	// candidates' memo.
	c.addHost(t, 6, defaultHost())
	wg.Wait()
	cancel()
	require.ErrorIs(t, <-runDone, context.Canceled)
	for i := 0; i < 7; i++ {
		assert.LessOrEqual(t, usageOf(t, c.ix, i)["MEMORY_MB"], int64(32768))
	}
}
