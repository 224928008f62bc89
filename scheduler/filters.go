package scheduler

import (
	"slices"
	"strconv"
	"strings"

	"github.com/novakit/novakit/compute"
)

func builtinFilters() map[string]FilterFactory {
	simple := func(f Filter) FilterFactory { return func(*Options) (Filter, error) { return f, nil } }
	return map[string]FilterFactory{
		"AllHostsFilter":                    simple(AllHostsFilter{}),
		"ComputeFilter":                     simple(ComputeFilter{}),
		"AvailabilityZoneFilter":            simple(AvailabilityZoneFilter{}),
		"ComputeCapabilitiesFilter":         simple(ComputeCapabilitiesFilter{}),
		"ImagePropertiesFilter":             simple(ImagePropertiesFilter{}),
		"ServerGroupAffinityFilter":         simple(ServerGroupAffinityFilter{}),
		"ServerGroupAntiAffinityFilter":     simple(ServerGroupAntiAffinityFilter{}),
		"SameHostFilter":                    simple(SameHostFilter{}),
		"DifferentHostFilter":               simple(DifferentHostFilter{}),
		"AggregateInstanceExtraSpecsFilter": simple(AggregateInstanceExtraSpecsFilter{}),
		"AggregateMultiTenancyIsolation":    simple(AggregateMultiTenancyIsolation{}),
		"AggregateTypeAffinityFilter":       simple(AggregateTypeAffinityFilter{}),
		"AggregateImagePropertiesIsolation": func(o *Options) (Filter, error) {
			return AggregateImagePropertiesIsolation{Namespace: o.AggregateImagePropertiesIsolationNamespace, Separator: o.AggregateImagePropertiesIsolationSeparator}, nil
		},
		"NumInstancesFilter": func(o *Options) (Filter, error) {
			return NumInstancesFilter{Max: o.MaxInstancesPerHost}, nil
		},
		"AggregateNumInstancesFilter": func(o *Options) (Filter, error) {
			return AggregateNumInstancesFilter{Max: o.MaxInstancesPerHost}, nil
		},
		"IoOpsFilter":          func(o *Options) (Filter, error) { return IoOpsFilter{Max: o.MaxIOOpsPerHost}, nil },
		"AggregateIoOpsFilter": func(o *Options) (Filter, error) { return AggregateIoOpsFilter{Max: o.MaxIOOpsPerHost}, nil },
		"JsonFilter":           simple(JsonFilter{}),
		"MetricsFilter": func(o *Options) (Filter, error) {
			ws, err := parseWeightSetting(o.MetricsWeightSetting)
			names := make([]string, len(ws))
			for i, w := range ws {
				names[i] = w.name
			}
			return MetricsFilter{Names: names}, err
		},
		"PciPassthroughFilter": simple(PciPassthroughFilter{}),
		"NUMATopologyFilter":   simple(NUMATopologyFilter{}),
	}
}

// AllHostsFilter passes every host.
type AllHostsFilter struct{}

// HostPasses implements Filter.
func (AllHostsFilter) HostPasses(*HostState, *Request) bool { return true }

// ComputeFilter passes hosts whose compute service is enabled and up
// (not forced down, seen within service_down_time).
type ComputeFilter struct{}

// HostPasses implements Filter.
func (ComputeFilter) HostPasses(h *HostState, r *Request) bool {
	return !h.ServiceDisabled && h.serviceUpN(r.nowN, r.downN)
}

// RunOncePerRequest implements OncePerRequest.
func (ComputeFilter) RunOncePerRequest() bool { return true }

// AvailabilityZoneFilter passes hosts in the requested availability zone
// (hosts in no zone aggregate are in the default zone). Nova dropped it
// from the defaults in favour of the placement-side AZ request filter,
// which novakit always applies; it remains for embedders who want both.
type AvailabilityZoneFilter struct{}

// Applies implements FilterApplier.
func (AvailabilityZoneFilter) Applies(r *Request) bool { return r.Spec.AvailabilityZone != "" }

// RunOncePerRequest implements OncePerRequest.
func (AvailabilityZoneFilter) RunOncePerRequest() bool { return true }

// HostPasses implements Filter.
func (AvailabilityZoneFilter) HostPasses(h *HostState, r *Request) bool {
	az := r.Spec.AvailabilityZone
	if zs, ok := h.AggregateMetadata[compute.AggregateAZKey]; ok {
		return slices.Contains(zs, az)
	}
	return az == h.AvailabilityZone
}

// ComputeCapabilitiesFilter passes hosts whose attributes (or stats)
// satisfy every flavor extra spec that is unscoped or scoped
// "capabilities:", with the extra-spec operators; nested keys descend into
// JSON attributes ("capabilities:cpu_info:features": "<in> avx2").
type ComputeCapabilitiesFilter struct{}

// Applies implements FilterApplier.
func (ComputeCapabilitiesFilter) Applies(r *Request) bool { return r.requestedCap }

// RunOncePerRequest implements OncePerRequest.
func (ComputeCapabilitiesFilter) RunOncePerRequest() bool { return true }

// HostPasses implements Filter.
func (ComputeCapabilitiesFilter) HostPasses(h *HostState, r *Request) bool {
	for k, req := range r.Spec.Flavor.ExtraSpecs {
		scope := strings.Split(k, ":")
		if len(scope) > 1 {
			if scope[0] != "capabilities" {
				continue
			}
			scope = scope[1:]
		}
		v, ok := lookupPath(h, scope)
		if !ok || !matchExtraSpec(pyStr(v), req) {
			return false
		}
	}
	return true
}

// ImagePropertiesFilter passes hosts whose supported instances (arch,
// hypervisor type, vm mode) cover the image's hw_architecture, img_hv_type
// and hw_vm_mode, and whose hypervisor version satisfies
// img_hv_requested_version (">=6.0,<6.2"). Images naming none pass
// everywhere.
type ImagePropertiesFilter struct{}

func imageChecked(p map[string]string) (arch, hv, mode string) {
	return canonArch(p["hw_architecture"]), canonHVType(p["img_hv_type"]), canonVMMode(p["hw_vm_mode"])
}

// Applies implements FilterApplier.
func (ImagePropertiesFilter) Applies(r *Request) bool {
	a, h, m := imageChecked(r.ImageProps)
	return a != "" || h != "" || m != ""
}

// RunOncePerRequest implements OncePerRequest.
func (ImagePropertiesFilter) RunOncePerRequest() bool { return true }

// HostPasses implements Filter.
func (ImagePropertiesFilter) HostPasses(h *HostState, r *Request) bool {
	a, hv, m := imageChecked(r.ImageProps)
	if a == "" && hv == "" && m == "" {
		return true
	}
	for _, si := range h.SupportedInstances {
		if len(si) < 3 {
			continue
		}
		if (a == "" || canonArch(si[0]) == a) && (hv == "" || canonHVType(si[1]) == hv) && (m == "" || canonVMMode(si[2]) == m) {
			if versionSatisfies(h.HypervisorVersion, r.ImageProps["img_hv_requested_version"]) {
				return true
			}
		}
	}
	return false
}

func canonArch(a string) string {
	a = strings.ToLower(a)
	switch a {
	case "i386", "i486", "i586", "x86_32", "ia32":
		return "i686"
	case "amd64", "x64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "ppc64el":
		return "ppc64le"
	}
	return a
}

func canonHVType(t string) string {
	t = strings.ToLower(t)
	if t == "xapi" {
		return "xen"
	}
	return t
}

func canonVMMode(m string) string {
	m = strings.ToLower(m)
	switch m {
	case "pv":
		return "xen"
	case "hv", "baremetal":
		return "hvm"
	}
	return m
}

// versionSatisfies checks a hypervisor version (major*1000000 +
// minor*1000 + micro) against a predicate list like ">=6.0,<6.2". An empty
// predicate or an unknown version passes, as in Nova.
func versionSatisfies(v int, pred string) bool {
	pred = strings.TrimSpace(pred)
	if pred == "" || v == 0 {
		return true
	}
	have := [3]int{v / 1000000, v / 1000 % 1000, v % 1000}
	for _, p := range strings.Split(pred, ",") {
		p = strings.TrimSpace(p)
		op := strings.TrimRight(p[:min(len(p), 2)], "0123456789. ")
		want, ok := parseVersion(strings.TrimSpace(p[len(op):]))
		if !ok {
			return false
		}
		c := 0
		for i := 0; i < 3 && c == 0; i++ {
			c = cmpInt(have[i], want[i])
		}
		var pass bool
		switch op {
		case ">=":
			pass = c >= 0
		case ">":
			pass = c > 0
		case "<=":
			pass = c <= 0
		case "<":
			pass = c < 0
		case "==", "":
			pass = c == 0
		case "!=":
			pass = c != 0
		default:
			return false
		}
		if !pass {
			return false
		}
	}
	return true
}

func parseVersion(s string) ([3]int, bool) {
	var out [3]int
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ServerGroupAffinityFilter passes, for a group with policy affinity, the
// hosts that already have members of the group (any host while the group
// has none on any host).
type ServerGroupAffinityFilter struct{}

// Applies implements FilterApplier.
func (ServerGroupAffinityFilter) Applies(r *Request) bool {
	return r.Group != nil && r.Group.Policy == compute.PolicyAffinity
}

// HostPasses implements Filter.
func (ServerGroupAffinityFilter) HostPasses(h *HostState, r *Request) bool {
	if len(r.GroupHosts) == 0 {
		return true
	}
	return r.GroupHosts[h.Host] > 0
}

// ServerGroupAntiAffinityFilter passes, for a group with policy
// anti-affinity, hosts with fewer than max_server_per_host (rule, default
// 1) members of the group, counting members placed earlier in the same
// request.
type ServerGroupAntiAffinityFilter struct{}

// Applies implements FilterApplier.
func (ServerGroupAntiAffinityFilter) Applies(r *Request) bool {
	return r.Group != nil && r.Group.Policy == compute.PolicyAntiAffinity
}

// HostPasses implements Filter.
func (ServerGroupAntiAffinityFilter) HostPasses(h *HostState, r *Request) bool {
	max := 1
	if v, ok := r.Group.Rules["max_server_per_host"]; ok && v > 0 {
		max = v
	}
	return r.GroupHosts[h.Host] < max
}

// SameHostFilter passes, when the same_host hint names instances, only the
// hosts running one of them.
type SameHostFilter struct{}

// Applies implements FilterApplier.
func (SameHostFilter) Applies(r *Request) bool { return r.HasSameHost }

// HostPasses implements Filter.
func (SameHostFilter) HostPasses(h *HostState, r *Request) bool { return r.SameHost[h.Host] }

// DifferentHostFilter passes, when the different_host hint names
// instances, only hosts running none of them.
type DifferentHostFilter struct{}

// Applies implements FilterApplier.
func (DifferentHostFilter) Applies(r *Request) bool { return r.HasDifferentHost }

// HostPasses implements Filter.
func (DifferentHostFilter) HostPasses(h *HostState, r *Request) bool { return !r.DifferentHost[h.Host] }

// AggregateInstanceExtraSpecsFilter passes hosts whose aggregate metadata
// satisfies every flavor extra spec that is unscoped or scoped
// "aggregate_instance_extra_specs:" (a key missing from the metadata
// fails the host).
type AggregateInstanceExtraSpecsFilter struct{}

const aggExtraSpecsScope = "aggregate_instance_extra_specs"

// Applies implements FilterApplier.
func (AggregateInstanceExtraSpecsFilter) Applies(r *Request) bool {
	return len(r.Spec.Flavor.ExtraSpecs) > 0
}

// RunOncePerRequest implements OncePerRequest.
func (AggregateInstanceExtraSpecsFilter) RunOncePerRequest() bool { return true }

// HostPasses implements Filter.
func (AggregateInstanceExtraSpecsFilter) HostPasses(h *HostState, r *Request) bool {
	for k, req := range r.Spec.Flavor.ExtraSpecs {
		scope, rest, scoped := strings.Cut(k, ":")
		key := k
		if scoped {
			if scope != aggExtraSpecsScope {
				continue
			}
			key = rest
		}
		vals := h.AggregateMetadata[key]
		if len(vals) == 0 {
			return false
		}
		ok := false
		for _, v := range vals {
			if matchExtraSpec(v, req) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// AggregateMultiTenancyIsolation passes hosts in aggregates carrying
// filter_tenant_id* metadata only for the projects listed there; hosts in
// no such aggregate pass for everyone.
type AggregateMultiTenancyIsolation struct{}

// RunOncePerRequest implements OncePerRequest.
func (AggregateMultiTenancyIsolation) RunOncePerRequest() bool { return true }

// HostPasses implements Filter.
func (AggregateMultiTenancyIsolation) HostPasses(h *HostState, r *Request) bool {
	restricted := false
	for k, vals := range h.AggregateMetadata {
		if !strings.HasPrefix(k, "filter_tenant_id") {
			continue
		}
		restricted = true
		if slices.Contains(vals, r.Spec.ProjectID) {
			return true
		}
	}
	return !restricted
}

// AggregateTypeAffinityFilter passes hosts whose aggregates' instance_type
// metadata (if any) lists the flavor's name.
type AggregateTypeAffinityFilter struct{}

// RunOncePerRequest implements OncePerRequest.
func (AggregateTypeAffinityFilter) RunOncePerRequest() bool { return true }

// HostPasses implements Filter.
func (AggregateTypeAffinityFilter) HostPasses(h *HostState, r *Request) bool {
	vals, ok := h.AggregateMetadata["instance_type"]
	return !ok || slices.Contains(vals, r.Spec.Flavor.Name)
}

// AggregateImagePropertiesIsolation passes hosts whose aggregate metadata
// agrees with the image: for each metadata key (within Namespace when
// set), an image property of that name must have one of the values.
type AggregateImagePropertiesIsolation struct {
	Namespace string
	Separator string
}

// Applies implements FilterApplier.
func (AggregateImagePropertiesIsolation) Applies(r *Request) bool { return len(r.ImageProps) > 0 }

// RunOncePerRequest implements OncePerRequest.
func (AggregateImagePropertiesIsolation) RunOncePerRequest() bool { return true }

// HostPasses implements Filter.
func (f AggregateImagePropertiesIsolation) HostPasses(h *HostState, r *Request) bool {
	for k, vals := range h.AggregateMetadata {
		if f.Namespace != "" && !strings.HasPrefix(k, f.Namespace+f.Separator) {
			continue
		}
		if p, ok := r.ImageProps[k]; ok && p != "" && !slices.Contains(vals, p) {
			return false
		}
	}
	return true
}

// NumInstancesFilter passes hosts with fewer than Max instances
// (max_instances_per_host).
type NumInstancesFilter struct{ Max int }

// HostPasses implements Filter.
func (f NumInstancesFilter) HostPasses(h *HostState, _ *Request) bool { return h.NumInstances < f.Max }

// AggregateNumInstancesFilter is NumInstancesFilter with the limit taken
// from the host's aggregates' max_instances_per_host metadata (the
// smallest), falling back to Max.
type AggregateNumInstancesFilter struct{ Max int }

// HostPasses implements Filter.
func (f AggregateNumInstancesFilter) HostPasses(h *HostState, _ *Request) bool {
	return h.NumInstances < aggregateLimit(h, "max_instances_per_host", f.Max)
}

func aggregateLimit(h *HostState, key string, def int) int {
	if vs := h.aggregateInts(key); len(vs) > 0 {
		return slices.Min(vs)
	}
	return def
}

// IoOpsFilter passes hosts with fewer than Max concurrent I/O-heavy
// operations (max_io_ops_per_host).
type IoOpsFilter struct{ Max int }

// HostPasses implements Filter.
func (f IoOpsFilter) HostPasses(h *HostState, _ *Request) bool { return h.NumIOOps < f.Max }

// AggregateIoOpsFilter takes the limit from aggregate metadata
// max_io_ops_per_host (the smallest), falling back to Max.
type AggregateIoOpsFilter struct{ Max int }

// HostPasses implements Filter.
func (f AggregateIoOpsFilter) HostPasses(h *HostState, _ *Request) bool {
	return h.NumIOOps < aggregateLimit(h, "max_io_ops_per_host", f.Max)
}

// MetricsFilter passes hosts reporting every metric named in
// [metrics]weight_setting.
type MetricsFilter struct{ Names []string }

// Applies implements FilterApplier.
func (f MetricsFilter) Applies(*Request) bool { return len(f.Names) > 0 }

// HostPasses implements Filter.
func (f MetricsFilter) HostPasses(h *HostState, _ *Request) bool {
	for _, n := range f.Names {
		if _, ok := h.Metrics[n]; !ok {
			return false
		}
	}
	return true
}

// PciPassthroughFilter passes hosts whose PCI device pools can satisfy
// the flavor's PCI alias requests (on the instance's NUMA cells when an
// alias's policy is "required" and the instance has a NUMA topology).
type PciPassthroughFilter struct{}

// Applies implements FilterApplier.
func (PciPassthroughFilter) Applies(r *Request) bool { return len(r.PCI) > 0 }

// HostPasses implements Filter.
func (PciPassthroughFilter) HostPasses(h *HostState, r *Request) bool {
	numa := r.NUMA
	if h.NUMA == nil {
		numa = nil // NUMATopologyFilter refuses such hosts when it is enabled
	}
	_, _, ok := fitWithPCI(h, numa, r.PCI)
	return ok
}

// NUMATopologyFilter passes hosts whose NUMA cells can hold the instance's
// guest NUMA cells (memory, shared vCPUs within the allocation ratios,
// pinned vCPUs on free dedicated CPUs), trying every assignment of guest
// cells to host cells, and, when the flavor asks for PCI devices, one from
// whose cells those devices can be served. Hosts reporting no NUMA
// topology fail requests that need one.
type NUMATopologyFilter struct{}

// Applies implements FilterApplier.
func (NUMATopologyFilter) Applies(r *Request) bool { return r.NUMA != nil }

// HostPasses implements Filter.
func (NUMATopologyFilter) HostPasses(h *HostState, r *Request) bool {
	if h.NUMA == nil {
		return false
	}
	_, _, ok := fitWithPCI(h, r.NUMA, r.PCI)
	return ok
}
