package scheduler

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/novakit/novakit/compute"
)

// NUMACell is one NUMA node of a host as the compute agent reports it (in
// the compute node's stats under [StatNUMATopology], as JSON): the CPUs
// floating (shared) vCPUs may run on, the CPUs reserved for pinning, the
// memory, and what is used of each.
type NUMACell struct {
	ID int `json:"id"`
	// CPUs are the host CPUs for shared (floating) vCPUs.
	CPUs []int `json:"cpus,omitempty"`
	// PCPUs are the host CPUs dedicated to pinned vCPUs.
	PCPUs    []int `json:"pcpus,omitempty"`
	MemoryMB int64 `json:"memory_mb"`
	// CPUUsage counts shared vCPUs placed on this cell.
	CPUUsage      int   `json:"cpu_usage,omitempty"`
	MemoryUsageMB int64 `json:"memory_usage_mb,omitempty"`
	// PinnedCPUs are the PCPUs already pinned to instances.
	PinnedCPUs []int `json:"pinned_cpus,omitempty"`
}

// NUMATopology is a host's NUMA layout.
type NUMATopology struct {
	Cells []NUMACell `json:"cells"`
}

func (t *NUMATopology) clone() *NUMATopology {
	if t == nil {
		return nil
	}
	c := &NUMATopology{Cells: slices.Clone(t.Cells)}
	for i := range c.Cells {
		c.Cells[i].PinnedCPUs = slices.Clone(c.Cells[i].PinnedCPUs)
	}
	return c
}

// InstanceNUMACell is one guest NUMA node an instance asks for.
type InstanceNUMACell struct {
	ID       int   `json:"id"`
	VCPUs    int   `json:"vcpus"`
	MemoryMB int64 `json:"memory_mb"`
}

// InstanceNUMA is the guest NUMA topology an instance asks for, derived
// from its flavor extra specs and image properties (hw:numa_nodes,
// hw:numa_cpus.N, hw:numa_mem.N, hw:cpu_policy, hw:mem_page_size and the
// image's hw_* equivalents).
type InstanceNUMA struct {
	Cells []InstanceNUMACell `json:"cells"`
	// Dedicated: every vCPU is pinned to a host PCPU (hw:cpu_policy=dedicated).
	Dedicated bool `json:"dedicated,omitempty"`
}

// instanceNUMA derives the instance's NUMA request, nil when it asks for
// none. Flavor extra specs win over image properties, as in Nova when both
// agree; conflicting values are an error naming the field.
func instanceNUMA(f *compute.Flavor, img map[string]string) (*InstanceNUMA, error) {
	es := f.ExtraSpecs
	get := func(flavorKey, imageKey string) (string, error) {
		fv, iv := es[flavorKey], img[imageKey]
		if fv != "" && iv != "" && fv != iv {
			return "", compute.InvalidInput(flavorKey, "flavor %q and image %s %q conflict", fv, imageKey, iv)
		}
		if fv != "" {
			return fv, nil
		}
		return iv, nil
	}
	policy, err := get("hw:cpu_policy", "hw_cpu_policy")
	if err != nil {
		return nil, err
	}
	switch policy {
	case "", "shared", "dedicated":
	case "mixed":
		return nil, compute.InvalidInput("hw:cpu_policy", "mixed is not supported by this scheduler yet")
	default:
		return nil, compute.InvalidInput("hw:cpu_policy", "%q is not shared, dedicated or mixed", policy)
	}
	nodesStr, err := get("hw:numa_nodes", "hw_numa_nodes")
	if err != nil {
		return nil, err
	}
	pageSize, _ := get("hw:mem_page_size", "hw_mem_page_size")
	n := 0
	if nodesStr != "" {
		n, err = strconv.Atoi(nodesStr)
		if err != nil || n < 1 {
			return nil, compute.InvalidInput("hw:numa_nodes", "%q is not a positive integer", nodesStr)
		}
	}
	if n == 0 {
		if policy != "dedicated" && pageSize == "" {
			return nil, nil
		}
		n = 1
	}
	if n > f.VCPUs {
		return nil, compute.InvalidInput("hw:numa_nodes", "%d NUMA nodes for %d vCPUs", n, f.VCPUs)
	}
	t := &InstanceNUMA{Dedicated: policy == "dedicated", Cells: make([]InstanceNUMACell, n)}
	explicit := false
	var cpuSum int
	var memSum int64
	for i := 0; i < n; i++ {
		t.Cells[i].ID = i
		cs, ms := es[fmt.Sprintf("hw:numa_cpus.%d", i)], es[fmt.Sprintf("hw:numa_mem.%d", i)]
		if cs == "" && ms == "" {
			continue
		}
		if cs == "" || ms == "" {
			return nil, compute.InvalidInput(fmt.Sprintf("hw:numa_cpus.%d", i), "hw:numa_cpus.N and hw:numa_mem.N must be given together")
		}
		explicit = true
		cpus, err := parseCPUSet(cs)
		if err != nil {
			return nil, compute.InvalidInput(fmt.Sprintf("hw:numa_cpus.%d", i), "%v", err)
		}
		mem, err := strconv.ParseInt(ms, 10, 64)
		if err != nil || mem < 1 {
			return nil, compute.InvalidInput(fmt.Sprintf("hw:numa_mem.%d", i), "%q is not a positive integer", ms)
		}
		t.Cells[i].VCPUs, t.Cells[i].MemoryMB = len(cpus), mem
		cpuSum += len(cpus)
		memSum += mem
	}
	if explicit {
		if cpuSum != f.VCPUs || memSum != int64(f.MemoryMB) {
			return nil, compute.InvalidInput("hw:numa_cpus", "NUMA cells add up to %d vCPUs and %d MB, the flavor has %d and %d", cpuSum, memSum, f.VCPUs, f.MemoryMB)
		}
		return t, nil
	}
	if f.VCPUs%n != 0 || f.MemoryMB%n != 0 {
		return nil, compute.InvalidInput("hw:numa_nodes", "%d vCPUs and %d MB cannot be split evenly over %d NUMA nodes", f.VCPUs, f.MemoryMB, n)
	}
	for i := range t.Cells {
		t.Cells[i].VCPUs = f.VCPUs / n
		t.Cells[i].MemoryMB = int64(f.MemoryMB / n)
	}
	return t, nil
}

// parseCPUSet parses "0-3,^2,6".
func parseCPUSet(s string) ([]int, error) {
	var in, ex []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		neg := strings.HasPrefix(part, "^")
		part = strings.TrimPrefix(part, "^")
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad CPU %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad CPU range %q", part)
			}
		}
		for c := a; c <= b; c++ {
			if neg {
				ex = append(ex, c)
			} else {
				in = append(in, c)
			}
		}
	}
	out := in[:0]
	for _, c := range in {
		if !slices.Contains(ex, c) && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty CPU set %q", s)
	}
	return out, nil
}

// cellFits reports whether an instance cell fits on a host cell with the
// given allocation ratios, as Nova's _numa_fit_instance_cell checks: memory
// within the oversubscribed cell memory, shared vCPUs within the
// oversubscribed shared CPUs (and never more than the cell has physically),
// pinned vCPUs on free PCPUs.
func cellFits(h *NUMACell, c *InstanceNUMACell, dedicated bool, cpuRatio, ramRatio float64) bool {
	if float64(c.MemoryMB) > float64(h.MemoryMB)*ramRatio-float64(h.MemoryUsageMB) {
		return false
	}
	if dedicated {
		return c.VCPUs <= len(h.PCPUs)-len(h.PinnedCPUs)
	}
	if c.VCPUs > len(h.CPUs) {
		return false
	}
	return float64(c.VCPUs) <= float64(len(h.CPUs))*cpuRatio-float64(h.CPUUsage)
}

// fitNUMA returns, for each instance cell, the index of the host cell it
// lands on (distinct host cells), or nil when the request cannot fit. It
// tries host cells in order, backtracking, as Nova tries permutations.
func fitNUMA(host *NUMATopology, inst *InstanceNUMA, cpuRatio, ramRatio float64) []int {
	return fitNUMAWith(host, inst, cpuRatio, ramRatio, nil)
}

// fitNUMAWith is fitNUMA where a complete mapping must also satisfy
// accept (the PCI devices the instance asks for must be reachable from
// the chosen cells), as Nova's numa_fit_instance_to_host checks PCI
// requests per permutation.
func fitNUMAWith(host *NUMATopology, inst *InstanceNUMA, cpuRatio, ramRatio float64, accept func(fit []int) bool) []int {
	if host == nil || inst == nil || len(inst.Cells) > len(host.Cells) {
		return nil
	}
	if cpuRatio <= 0 {
		cpuRatio = 1
	}
	if ramRatio <= 0 {
		ramRatio = 1
	}
	out := make([]int, len(inst.Cells))
	used := make([]bool, len(host.Cells))
	var try func(i int) bool
	try = func(i int) bool {
		if i == len(inst.Cells) {
			return accept == nil || accept(out)
		}
		for j := range host.Cells {
			if used[j] || !cellFits(&host.Cells[j], &inst.Cells[i], inst.Dedicated, cpuRatio, ramRatio) {
				continue
			}
			used[j] = true
			out[i] = j
			if try(i + 1) {
				return true
			}
			used[j] = false
		}
		return false
	}
	if !try(0) {
		return nil
	}
	return out
}

// hostCells returns the host cell ids of a fit.
func hostCells(host *NUMATopology, fit []int) []int {
	cells := make([]int, len(fit))
	for i, j := range fit {
		cells[i] = host.Cells[j].ID
	}
	return cells
}

// fitWithPCI fits the instance's NUMA cells so that its PCI requests can
// be served from them; it returns the NUMA fit (nil without a NUMA
// request) and the devices per pool (nil without PCI requests), and ok.
func fitWithPCI(h *HostState, numa *InstanceNUMA, pci []PCIRequest) (fit, take []int, ok bool) {
	if numa == nil {
		if len(pci) == 0 {
			return nil, nil, true
		}
		take = pciFit(h.PCIPools, pci, nil)
		return nil, take, take != nil
	}
	var accept func([]int) bool
	if len(pci) > 0 {
		accept = func(f []int) bool {
			take = pciFit(h.PCIPools, pci, hostCells(h.NUMA, f))
			return take != nil
		}
	}
	fit = fitNUMAWith(h.NUMA, numa, h.CPUAllocationRatio, h.RAMAllocationRatio, accept)
	return fit, take, fit != nil
}

// consumeNUMA applies a fitted instance to the host topology.
func consumeNUMA(host *NUMATopology, inst *InstanceNUMA, fit []int) {
	for i, j := range fit {
		hc, ic := &host.Cells[j], &inst.Cells[i]
		hc.MemoryUsageMB += ic.MemoryMB
		if !inst.Dedicated {
			hc.CPUUsage += ic.VCPUs
			continue
		}
		need := ic.VCPUs
		for _, p := range hc.PCPUs {
			if need == 0 {
				break
			}
			if !slices.Contains(hc.PinnedCPUs, p) {
				hc.PinnedCPUs = append(hc.PinnedCPUs, p)
				need--
			}
		}
	}
}

// releaseNUMA undoes consumeNUMA for the same fit; pinned CPUs are
// released from the last pinned.
func releaseNUMA(host *NUMATopology, inst *InstanceNUMA, fit []int) {
	for i, j := range fit {
		hc, ic := &host.Cells[j], &inst.Cells[i]
		hc.MemoryUsageMB -= ic.MemoryMB
		if !inst.Dedicated {
			hc.CPUUsage -= ic.VCPUs
			continue
		}
		n := min(ic.VCPUs, len(hc.PinnedCPUs))
		hc.PinnedCPUs = hc.PinnedCPUs[:len(hc.PinnedCPUs)-n]
	}
}
