package scheduler

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novakit/novakit/compute"
)

// Keys of compute.ComputeNode.Stats that the scheduler reads beyond Nova's
// plain counters. Values are JSON where noted; a malformed value is
// treated as absent (the host then fails filters that need it).
const (
	// StatFailedBuilds: consecutive failed builds on the node (integer).
	StatFailedBuilds = "failed_builds"
	// StatNUMATopology: the host's [NUMATopology] (JSON).
	StatNUMATopology = "numa_topology"
	// StatPCIStats: the host's PCI device pools, a JSON list of [PCIPool].
	StatPCIStats = "pci_stats"
	// StatSupportedInstances: JSON list of [arch, hypervisor_type,
	// vm_mode] triples, as the virt driver reports supported_instances.
	StatSupportedInstances = "supported_instances"
	// StatMetrics: JSON list of {"name": …, "value": …} monitor metrics.
	StatMetrics = "metrics"
)

// Nova's initial allocation ratios, used when a node reports none.
const (
	defaultCPUAllocationRatio  = 4.0
	defaultRAMAllocationRatio  = 1.0
	defaultDiskAllocationRatio = 1.0
)

// HostState is what filters and weighers see of one compute node: Nova's
// HostState, built from the node's record, its service, its aggregates and
// the instances on it, plus the scheduler's own claims since the node last
// reported. Filters and weighers must treat it as read-only; the cache
// mutates it under its lock.
type HostState struct {
	// The fields the default filters and weighers read come first, so
	// that they share a cache line or two.
	lastSeenN int64 // ServiceLastSeen in Unix nanoseconds

	FreeRAMMB  int64
	FreeDiskMB int64
	VCPUsTotal int64
	VCPUsUsed  int64

	CPUAllocationRatio float64

	// NumInstances counts the live instances on the node; NumIOOps those
	// of them doing I/O-heavy work (building, resizing, rebuilding,
	// snapshotting, backing up, rescuing, unshelving).
	NumInstances int
	NumIOOps     int

	multOver map[string]float64 // weigher multiplier overrides from aggregate metadata
	idx      int32

	// Service: HasService is false when the host has no nova-compute
	// service record (ComputeFilter then refuses it).
	HasService        bool
	ServiceDisabled   bool
	ServiceForcedDown bool
	removed           bool

	Host     string
	Nodename string
	// UUID is the compute node's uuid, which is its root resource
	// provider's uuid in placement.
	UUID     string
	CellUUID string

	HypervisorType     string
	HypervisorVersion  int
	HypervisorHostname string
	HostIP             string
	CPUInfo            string // JSON

	TotalUsableRAMMB  int64
	TotalUsableDiskGB int64

	RAMAllocationRatio  float64
	DiskAllocationRatio float64

	FailedBuilds int

	Stats              map[string]string
	SupportedInstances [][]string
	Metrics            map[string]float64
	NUMA               *NUMATopology
	PCIPools           []PCIPool

	// Aggregates the host belongs to, and their metadata merged: key →
	// distinct values (comma-separated values split), as Nova's
	// aggregate_metadata_get_by_host.
	Aggregates        []*compute.Aggregate
	AggregateMetadata map[string][]string
	AvailabilityZone  string

	ServiceLastSeen time.Time

	// Updated is the node record's UpdatedAt the resource figures come
	// from.
	Updated time.Time
}

// ServiceUp reports whether the host's compute service counts as up at
// now: present, not forced down and seen within downTime.
func (h *HostState) ServiceUp(now time.Time, downTime time.Duration) bool {
	return h.serviceUpN(now.UnixNano(), int64(downTime))
}

func (h *HostState) serviceUpN(now, downTime int64) bool {
	if !h.HasService || h.ServiceForcedDown {
		return false
	}
	d := now - h.lastSeenN
	if d < 0 {
		d = -d
	}
	return d <= downTime
}

// WeightMultiplier returns the multiplier option key for this host: the
// smallest value any of its aggregates sets under that metadata key, or def.
func (h *HostState) WeightMultiplier(key string, def float64) float64 {
	if h.multOver != nil {
		if v, ok := h.multOver[key]; ok {
			return v
		}
	}
	return def
}

// setNode (re)loads the figures that come from the compute node record.
func (h *HostState) setNode(n *compute.ComputeNode) {
	h.Host, h.Nodename, h.UUID = n.Host, n.HypervisorHostname, strings.ToLower(n.UUID)
	h.HypervisorType, h.HypervisorVersion, h.HypervisorHostname = n.HypervisorType, n.HypervisorVersion, n.HypervisorHostname
	h.HostIP, h.CPUInfo = n.HostIP, n.CPUInfo
	h.TotalUsableRAMMB = int64(n.MemoryMB)
	h.FreeRAMMB = int64(n.MemoryMB - n.MemoryMBUsed)
	h.TotalUsableDiskGB = int64(n.LocalGB)
	freeGB := int64(n.LocalGB - n.LocalGBUsed)
	if n.DiskAvailableLeast > 0 && int64(n.DiskAvailableLeast) < freeGB {
		freeGB = int64(n.DiskAvailableLeast)
	}
	h.FreeDiskMB = freeGB * 1024
	h.VCPUsTotal, h.VCPUsUsed = int64(n.VCPUs), int64(n.VCPUsUsed)
	h.CPUAllocationRatio = orDefault(n.CPUAllocationRatio, defaultCPUAllocationRatio)
	h.RAMAllocationRatio = orDefault(n.RAMAllocationRatio, defaultRAMAllocationRatio)
	h.DiskAllocationRatio = orDefault(n.DiskAllocationRatio, defaultDiskAllocationRatio)
	h.Stats = n.Stats
	h.FailedBuilds, _ = strconv.Atoi(n.Stats[StatFailedBuilds])
	h.SupportedInstances, h.Metrics, h.NUMA, h.PCIPools = nil, nil, nil, nil
	if v := n.Stats[StatSupportedInstances]; v != "" {
		_ = json.Unmarshal([]byte(v), &h.SupportedInstances)
	}
	if v := n.Stats[StatMetrics]; v != "" {
		var ms []struct {
			Name  string  `json:"name"`
			Value float64 `json:"value"`
		}
		if json.Unmarshal([]byte(v), &ms) == nil {
			h.Metrics = make(map[string]float64, len(ms))
			for _, m := range ms {
				h.Metrics[m.Name] = m.Value
			}
		}
	}
	if v := n.Stats[StatNUMATopology]; v != "" {
		var t NUMATopology
		if json.Unmarshal([]byte(v), &t) == nil && len(t.Cells) > 0 {
			h.NUMA = &t
		}
	}
	if v := n.Stats[StatPCIStats]; v != "" {
		_ = json.Unmarshal([]byte(v), &h.PCIPools)
	}
	h.Updated = n.UpdatedAt
}

func orDefault(v, d float64) float64 {
	if v <= 0 {
		return d
	}
	return v
}

func (h *HostState) setService(s *compute.Service) {
	if s == nil {
		h.HasService, h.ServiceDisabled, h.ServiceForcedDown, h.ServiceLastSeen, h.lastSeenN = false, false, false, time.Time{}, 0
		return
	}
	h.HasService = true
	h.ServiceDisabled, h.ServiceForcedDown = s.Disabled, s.ForcedDown
	last := s.LastSeenUp
	if last.IsZero() {
		last = s.CreatedAt
	}
	h.ServiceLastSeen, h.lastSeenN = last, last.UnixNano()
}

// setAggregates records the host's aggregates and what derives from them.
func (h *HostState) setAggregates(aggs []*compute.Aggregate, defaultAZ string) {
	h.Aggregates = aggs
	h.AggregateMetadata, h.multOver = nil, nil
	var zones []string
	for _, a := range aggs {
		for k, v := range a.Metadata {
			if h.AggregateMetadata == nil {
				h.AggregateMetadata = map[string][]string{}
			}
			for _, x := range strings.Split(v, ",") {
				x = strings.TrimSpace(x)
				if !slices.Contains(h.AggregateMetadata[k], x) {
					h.AggregateMetadata[k] = append(h.AggregateMetadata[k], x)
				}
			}
			if strings.HasSuffix(k, "_weight_multiplier") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					if h.multOver == nil {
						h.multOver = map[string]float64{}
					}
					if old, ok := h.multOver[k]; !ok || f < old {
						h.multOver[k] = f
					}
				}
			}
		}
		if az := a.Metadata[compute.AggregateAZKey]; az != "" && !slices.Contains(zones, az) {
			zones = append(zones, az)
		}
	}
	slices.Sort(zones)
	h.AvailabilityZone = strings.Join(zones, ",")
	if h.AvailabilityZone == "" {
		h.AvailabilityZone = defaultAZ
	}
}

// aggregateInts returns the integer values of an aggregate metadata key on
// the host (unparsable values are skipped).
func (h *HostState) aggregateInts(key string) []int {
	var out []int
	for _, v := range h.AggregateMetadata[key] {
		if n, err := strconv.Atoi(v); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// ioOpsStates are the states in which an instance counts as an I/O
// operation on its host (Nova's stats._IO_OPS_STATES).
func isIOOp(in *compute.Instance) bool {
	if in.VMState == compute.VMBuilding {
		return true
	}
	switch in.TaskState {
	case compute.TaskResizeMigrating, compute.TaskRebuilding, compute.TaskResizePrep,
		compute.TaskImageSnapshot, compute.TaskImageBackup, compute.TaskRescuing, compute.TaskUnshelving:
		return true
	}
	return false
}

// HostSource is the read-only view of the cell database the host-state
// cache is built from. The scheduler/storesource package implements it over
// a *store.Store; any other backend may. Implementations must be safe for
// concurrent use.
type HostSource interface {
	// ComputeNodes returns every compute node.
	ComputeNodes(ctx context.Context) ([]*compute.ComputeNode, error)
	// ComputeServices returns every nova-compute service record.
	ComputeServices(ctx context.Context) ([]*compute.Service, error)
	// Aggregates returns every aggregate with its hosts and metadata.
	Aggregates(ctx context.Context) ([]*compute.Aggregate, error)
	// Instances returns, with since zero, every live instance; otherwise
	// every instance (deleted ones included, with Deleted set) updated at
	// or after since. Only UUID, Host, Node, VMState, TaskState and
	// Deleted are needed.
	Instances(ctx context.Context, since time.Time) ([]*compute.Instance, error)
}
