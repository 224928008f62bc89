package scheduler

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/novakit/novakit/compute"
)

// instanceOverlap is how far back a delta refresh re-reads instances, so
// that a row committed with a timestamp just before the previous refresh
// started is not missed. Re-applying a row is harmless.
const instanceOverlap = 5 * time.Second

type instRec struct {
	host *HostState // nil: not on a known node
	io   bool
}

// hostCache keeps the host states of a cell between requests. A refresh
// reloads node, service and aggregate records (cheap, a few rows per host)
// and only the instances changed since the previous refresh; the
// scheduler's own claims are applied at once with consume.
type hostCache struct {
	src       HostSource
	opts      *Options
	defaultAZ string
	cell      string

	refreshMu sync.Mutex // one refresher at a time

	mu        sync.RWMutex // guards everything below and the HostStates
	hosts     []*HostState
	byUUID    map[string]*HostState
	byKey     map[uuidKey]int32 // host index by parsed uuid: cheap to hash, no host state touched
	byHost    map[string][]*HostState
	aggs      []*compute.Aggregate
	multKeys  map[string]bool // weigher multiplier keys some aggregate overrides; replaced, never mutated
	insts     map[string]instRec
	loaded    bool
	layout    uint64    // bumped whenever host indexes change
	refreshed time.Time // start of the last successful refresh
	instSince time.Time
}

func newHostCache(src HostSource, opts *Options, cell, defaultAZ string) *hostCache {
	return &hostCache{src: src, opts: opts, cell: cell, defaultAZ: defaultAZ,
		byUUID: map[string]*HostState{}, byHost: map[string][]*HostState{}, insts: map[string]instRec{}}
}

// ensureFresh refreshes the cache if it was never loaded or is older than
// the refresh interval. Concurrent callers wait for one refresh.
func (c *hostCache) ensureFresh(ctx context.Context) error {
	now := c.opts.Now()
	c.mu.RLock()
	fresh := c.loaded && now.Sub(c.refreshed) < c.opts.RefreshInterval
	c.mu.RUnlock()
	if fresh {
		return nil
	}
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	c.mu.RLock()
	fresh = c.loaded && now.Sub(c.refreshed) < c.opts.RefreshInterval
	c.mu.RUnlock()
	if fresh {
		return nil
	}
	return c.refreshLocked(ctx)
}

// refresh forces an incremental refresh.
func (c *hostCache) refresh(ctx context.Context) error {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	return c.refreshLocked(ctx)
}

func (c *hostCache) refreshLocked(ctx context.Context) error {
	start := c.opts.Now()
	nodes, err := c.src.ComputeNodes(ctx)
	if err != nil {
		return fmt.Errorf("scheduler: loading compute nodes: %w", err)
	}
	svcs, err := c.src.ComputeServices(ctx)
	if err != nil {
		return fmt.Errorf("scheduler: loading services: %w", err)
	}
	aggs, err := c.src.Aggregates(ctx)
	if err != nil {
		return fmt.Errorf("scheduler: loading aggregates: %w", err)
	}
	c.mu.RLock()
	since := c.instSince
	loaded := c.loaded
	c.mu.RUnlock()
	if loaded {
		since = since.Add(-instanceOverlap)
	} else {
		since = time.Time{}
	}
	insts, err := c.src.Instances(ctx, since)
	if err != nil {
		return fmt.Errorf("scheduler: loading instances: %w", err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.applyNodes(nodes)
	c.applyServices(svcs)
	c.applyAggregates(aggs)
	if !loaded {
		clear(c.insts)
		for _, h := range c.hosts {
			h.NumInstances, h.NumIOOps = 0, 0
		}
	}
	for _, in := range insts {
		c.applyInstance(in)
	}
	c.loaded = true
	c.refreshed = start
	c.instSince = start
	return nil
}

func (c *hostCache) applyNodes(nodes []*compute.ComputeNode) {
	seen := make(map[string]bool, len(nodes))
	changed := false
	var block []HostState // new host states, allocated together
	for _, n := range nodes {
		u := strings.ToLower(n.UUID)
		seen[u] = true
		h := c.byUUID[u]
		if h == nil {
			if len(block) == 0 {
				block = make([]HostState, max(64, len(nodes)-len(c.byUUID)))
			}
			h, block = &block[0], block[1:]
			h.CellUUID = c.cell
			h.setNode(n)
			c.byUUID[u] = h
			changed = true
			continue
		}
		if h.Host != n.Host {
			changed = true
		}
		if n.UpdatedAt.After(h.Updated) || h.Host != n.Host {
			h.setNode(n)
		}
	}
	for u, h := range c.byUUID {
		if !seen[u] {
			h.removed = true
			delete(c.byUUID, u)
			changed = true
		}
	}
	if !changed && len(c.hosts) == len(c.byUUID) {
		return
	}
	// Rebuild the slices in a stable order: the previous order, then new
	// nodes in the order the source listed them.
	hosts := make([]*HostState, 0, len(c.byUUID))
	in := make(map[*HostState]bool, len(c.byUUID))
	for _, h := range c.hosts {
		if !h.removed {
			hosts = append(hosts, h)
			in[h] = true
		}
	}
	for _, n := range nodes {
		if h := c.byUUID[strings.ToLower(n.UUID)]; h != nil && !in[h] {
			hosts = append(hosts, h)
			in[h] = true
		}
	}
	c.hosts = hosts
	c.layout++
	c.byHost = make(map[string][]*HostState, len(hosts))
	c.byKey = make(map[uuidKey]int32, len(hosts))
	for i, h := range hosts {
		h.idx = int32(i)
		c.byHost[h.Host] = append(c.byHost[h.Host], h)
		if k, ok := parseUUIDKey(h.UUID); ok {
			c.byKey[k] = int32(i)
		}
	}
	// Instances on removed nodes no longer count anywhere.
	for u, r := range c.insts {
		if r.host != nil && r.host.removed {
			r.host = nil
			c.insts[u] = r
		}
	}
}

func (c *hostCache) applyServices(svcs []*compute.Service) {
	by := make(map[string]*compute.Service, len(svcs))
	for _, s := range svcs {
		by[s.Host] = s
	}
	for _, h := range c.hosts {
		h.setService(by[h.Host])
	}
}

func (c *hostCache) applyAggregates(aggs []*compute.Aggregate) {
	c.aggs = aggs
	per := map[string][]*compute.Aggregate{}
	for _, a := range aggs {
		for _, host := range a.Hosts {
			per[host] = append(per[host], a)
		}
	}
	keys := map[string]bool{}
	for _, h := range c.hosts {
		h.setAggregates(per[h.Host], c.defaultAZ)
		for k := range h.multOver {
			keys[k] = true
		}
	}
	c.multKeys = keys
}

// uuidKey is a uuid's 16 bytes.
type uuidKey [16]byte

// parseUUIDKey parses the canonical 8-4-4-4-12 hex form (either case).
func parseUUIDKey(s string) (k uuidKey, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return k, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return k, false
		}
		k[j] = hi<<4 | lo
		j++
		i += 2
	}
	return k, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// lookup finds the index of a compute node's host state, or -1.
func (c *hostCache) lookup(u string) int32 {
	if k, ok := parseUUIDKey(u); ok {
		if i, ok := c.byKey[k]; ok {
			return i
		}
		return -1
	}
	if h := c.byUUID[u]; h != nil {
		return h.idx
	}
	return -1
}

// nodeFor finds the node an instance record points at.
func (c *hostCache) nodeFor(host, node string) *HostState {
	hs := c.byHost[host]
	if node != "" {
		for _, h := range hs {
			if h.Nodename == node {
				return h
			}
		}
	}
	if len(hs) > 0 {
		return hs[0]
	}
	return nil
}

func (c *hostCache) applyInstance(in *compute.Instance) {
	var rec instRec
	if !in.Deleted && in.Host != "" {
		rec = instRec{host: c.nodeFor(in.Host, in.Node), io: isIOOp(in)}
	}
	old, had := c.insts[in.UUID]
	if had && old == rec {
		return
	}
	if had && old.host != nil {
		old.host.NumInstances--
		if old.io {
			old.host.NumIOOps--
		}
	}
	if rec.host == nil {
		delete(c.insts, in.UUID)
		return
	}
	rec.host.NumInstances++
	if rec.io {
		rec.host.NumIOOps++
	}
	c.insts[in.UUID] = rec
}

// claim records what the scheduler just placed on h, as Nova's
// consume_from_request does: free RAM and disk down, vCPUs and instance
// count up, the NUMA cells and PCI devices taken. The instance counts on h
// from now on (for server groups and same/different host).
func (c *hostCache) consume(h *HostState, uuid string, u *usage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h.FreeRAMMB -= u.ramMB
	h.FreeDiskMB -= u.diskMB
	h.VCPUsUsed += u.vcpus
	numa := u.numa
	if h.NUMA == nil {
		numa = nil
	}
	u.numaFit, u.pciTake, _ = fitWithPCI(h, numa, u.pci)
	if u.numa != nil && h.NUMA != nil && u.numaFit != nil {
		h.NUMA = h.NUMA.clone() // readers of the old topology keep theirs
		consumeNUMA(h.NUMA, u.numa, u.numaFit)
	}
	if u.pciTake != nil && len(u.pciTake) == len(h.PCIPools) {
		pools := make([]PCIPool, len(h.PCIPools))
		copy(pools, h.PCIPools)
		for i, n := range u.pciTake {
			pools[i].Count -= n
		}
		h.PCIPools = pools
	}
	if old, ok := c.insts[uuid]; ok && old.host != nil {
		old.host.NumInstances--
		if old.io {
			old.host.NumIOOps--
		}
	}
	c.insts[uuid] = instRec{host: h}
	h.NumInstances++
}

// unconsume undoes consume after the claim was released.
func (c *hostCache) unconsume(h *HostState, uuid string, u *usage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h.FreeRAMMB += u.ramMB
	h.FreeDiskMB += u.diskMB
	h.VCPUsUsed -= u.vcpus
	if u.numa != nil && h.NUMA != nil && u.numaFit != nil {
		h.NUMA = h.NUMA.clone()
		releaseNUMA(h.NUMA, u.numa, u.numaFit)
	}
	if u.pciTake != nil && len(u.pciTake) == len(h.PCIPools) {
		pools := make([]PCIPool, len(h.PCIPools))
		copy(pools, h.PCIPools)
		for i, n := range u.pciTake {
			pools[i].Count += n
		}
		h.PCIPools = pools
	}
	if r, ok := c.insts[uuid]; ok && r.host == h {
		delete(c.insts, uuid)
		h.NumInstances--
	}
}

// usage is what one instance takes from a host state.
type usage struct {
	ramMB, diskMB, vcpus int64
	numa                 *InstanceNUMA
	numaFit              []int
	pci                  []PCIRequest
	pciTake              []int
}
