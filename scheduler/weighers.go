package scheduler

import "github.com/novakit/novakit/compute"

type builtinWeigher struct {
	name string
	f    WeigherFactory
}

// builtinWeighers in Nova's order.
func builtinWeighers() []builtinWeigher {
	mk := func(key string, minZero bool, fn func(h *HostState, r *Request) float64, applies func(r *Request) bool) WeigherFactory {
		return func(o *Options) (Weigher, error) {
			return &funcWeigher{key: key, mult: o.Multipliers[key], minZero: minZero, fn: fn, applies: applies}, nil
		}
	}
	return []builtinWeigher{
		{"RAMWeigher", mk("ram_weight_multiplier", true, func(h *HostState, _ *Request) float64 { return float64(h.FreeRAMMB) }, nil)},
		{"CPUWeigher", mk("cpu_weight_multiplier", true, func(h *HostState, _ *Request) float64 {
			return float64(h.VCPUsTotal)*h.CPUAllocationRatio - float64(h.VCPUsUsed)
		}, nil)},
		{"DiskWeigher", mk("disk_weight_multiplier", true, func(h *HostState, _ *Request) float64 { return float64(h.FreeDiskMB) }, nil)},
		{"IoOpsWeigher", mk("io_ops_weight_multiplier", true, func(h *HostState, _ *Request) float64 { return float64(h.NumIOOps) }, nil)},
		{"PCIWeigher", mk("pci_weight_multiplier", false, pciWeight, nil)},
		{"ServerGroupSoftAffinityWeigher", mk("soft_affinity_weight_multiplier", false, func(h *HostState, r *Request) float64 {
			return float64(r.GroupHosts[h.Host])
		}, func(r *Request) bool { return r.Group != nil && r.Group.Policy == compute.PolicySoftAffinity })},
		{"ServerGroupSoftAntiAffinityWeigher", mk("soft_anti_affinity_weight_multiplier", false, func(h *HostState, r *Request) float64 {
			return -float64(r.GroupHosts[h.Host])
		}, func(r *Request) bool { return r.Group != nil && r.Group.Policy == compute.PolicySoftAntiAffinity })},
		{"BuildFailureWeigher", func(o *Options) (Weigher, error) {
			// Nova negates the multiplier: more failures, lower weight.
			return &funcWeigher{key: "build_failure_weight_multiplier", mult: o.Multipliers["build_failure_weight_multiplier"], negate: true,
				fn: func(h *HostState, _ *Request) float64 { return float64(h.FailedBuilds) }}, nil
		}},
		{"CrossCellWeigher", mk("cross_cell_move_weight_multiplier", false, func(h *HostState, r *Request) float64 {
			if h.CellUUID == r.Hint("source_cell") {
				return 1
			}
			return -1
		}, func(r *Request) bool {
			d := r.Spec.RequestedDestination
			return d != nil && d.AllowCrossCellMove && r.Hint("source_cell") != ""
		})},
		{"HypervisorVersionWeigher", mk("hypervisor_version_weight_multiplier", false, func(h *HostState, _ *Request) float64 {
			return float64(h.HypervisorVersion)
		}, nil)},
		{"NumInstancesWeigher", mk("num_instances_weight_multiplier", false, func(h *HostState, _ *Request) float64 {
			return float64(h.NumInstances)
		}, nil)},
		{"MetricsWeigher", mk("metrics_weight_multiplier", false, metricsWeight, func(r *Request) bool { return len(r.metricsSet) > 0 })},
	}
}

// funcWeigher is a built-in weigher: a raw-value function and its
// multiplier.
type funcWeigher struct {
	key     string
	mult    float64
	minZero bool
	negate  bool
	fn      func(h *HostState, r *Request) float64
	applies func(r *Request) bool
}

func (w *funcWeigher) Weigh(h *HostState, r *Request) float64 { return w.fn(h, r) }

func (w *funcWeigher) Multiplier(h *HostState) float64 {
	m := h.WeightMultiplier(w.key, w.mult)
	if w.negate {
		return -m
	}
	return m
}

func (w *funcWeigher) MinValZero() bool { return w.minZero }

// UniformMultiplier is the configured multiplier unless some aggregate
// overrides it.
func (w *funcWeigher) UniformMultiplier(r *Request) (float64, bool) {
	if r.multKeys[w.key] {
		return 0, false
	}
	if w.negate {
		return -w.mult, true
	}
	return w.mult, true
}

// Applies skips the weigher when its multiplier is zero everywhere, or when
// the request gives it nothing to weigh.
func (w *funcWeigher) Applies(r *Request) bool {
	if w.mult == 0 && !r.multKeys[w.key] {
		return false
	}
	return w.applies == nil || w.applies(r)
}

// pciWeight prefers, for requests without PCI devices, hosts with fewer
// free devices (keeping PCI hosts for PCI workloads) and, for requests with
// them, hosts with more.
func pciWeight(h *HostState, r *Request) float64 {
	const maxDevs = 100
	free := freePCI(h.PCIPools)
	if len(r.PCI) > 0 {
		return float64(free)
	}
	return float64(maxDevs - min(free, maxDevs-1))
}

// metricsWeight sums ratio × value over [metrics]weight_setting; a host
// missing a metric gets weight_of_unavailable. (Nova raises instead when
// [metrics]required is true; with MetricsFilter enabled such hosts never
// reach the weigher.)
func metricsWeight(h *HostState, r *Request) float64 {
	var v float64
	for _, m := range r.metricsSet {
		x, ok := h.Metrics[m.name]
		if !ok {
			return *r.Options.MetricsWeightOfUnavailable
		}
		v += x * m.ratio
	}
	return v
}
