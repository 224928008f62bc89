package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
)

// Traits the agent sets itself besides the driver's capabilities.
const (
	TraitComputeNode    = "COMPUTE_NODE"
	TraitStatusDisabled = "COMPUTE_STATUS_DISABLED"
)

// placementRetries is how often a provider update is retried after a
// generation conflict (Nova retries _update_to_placement 4 times).
const placementRetries = 4

// UpdateResources runs the resource tracker once (Nova's
// update_available_resource): it reads the host's resources from the
// driver, stores the compute node record through the conductor, and
// brings the node's resource provider in placement up to date
// (inventories with reserved amounts and allocation ratios, traits). Run
// calls it at start and every ResourceInterval. Serialized with itself.
func (a *Agent) UpdateResources(ctx context.Context) error { return a.updateResources(ctx) }

func (a *Agent) updateResources(ctx context.Context) error {
	a.trackerMu.Lock()
	defer a.trackerMu.Unlock()
	res, err := a.o.Driver.HostResources(ctx)
	if err != nil {
		return fmt.Errorf("agent: host resources: %w", err)
	}
	if res.Hostname == "" {
		res.Hostname = a.o.Host
	}
	a.mu.Lock()
	prev, failed := a.node, a.failedBuild
	a.mu.Unlock()

	cpuInfo, _ := json.Marshal(res.CPUInfo)
	reservedDiskGB := (a.o.ReservedHostDiskMB + 1023) / 1024
	n := &compute.ComputeNode{
		UUID: res.UUID, Host: a.o.Host, HypervisorHostname: res.Hostname,
		HypervisorType: res.HypervisorType, HypervisorVersion: res.HypervisorVersion, HostIP: res.HostIP,
		VCPUs: res.VCPUs, VCPUsUsed: res.VCPUsUsed,
		MemoryMB: res.MemoryMB, MemoryMBUsed: res.MemoryMBUsed + a.o.ReservedHostMemoryMB,
		LocalGB: res.LocalGB, LocalGBUsed: res.LocalGBUsed + reservedDiskGB,
		DiskAvailableLeast: res.DiskAvailableLeast, RunningVMs: res.RunningVMs,
		CPUInfo: string(cpuInfo),
		Stats: map[string]string{
			"failed_builds": strconv.Itoa(failed),
			"num_instances": strconv.Itoa(res.RunningVMs),
		},
	}
	n.FreeRAMMB = n.MemoryMB - n.MemoryMBUsed
	n.FreeDiskGB = n.LocalGB - n.LocalGBUsed
	if n.UUID == "" && prev != nil && prev.HypervisorHostname == n.HypervisorHostname {
		n.UUID = prev.UUID
	}

	// Placement first when the node has a UUID, so the ratios in effect
	// go into the record; a node without one gets it from the record.
	if n.UUID == "" {
		stored, err := a.o.Conductor.UpdateComputeNode(ctx, n)
		if err != nil {
			return fmt.Errorf("agent: store compute node: %w", err)
		}
		n.UUID = stored.UUID
	}
	ratios, err := a.updatePlacement(ctx, n)
	if err != nil {
		return err
	}
	n.CPUAllocationRatio, n.RAMAllocationRatio, n.DiskAllocationRatio = ratios[0], ratios[1], ratios[2]
	stored, err := a.o.Conductor.UpdateComputeNode(ctx, n)
	if err != nil {
		return fmt.Errorf("agent: store compute node: %w", err)
	}
	a.mu.Lock()
	a.node = stored
	a.mu.Unlock()
	return nil
}

// updatePlacement ensures the node's root provider and pushes its
// inventories and traits, re-reading and retrying on generation
// conflicts. It returns the allocation ratios in effect (VCPU, MEMORY_MB,
// DISK_GB).
func (a *Agent) updatePlacement(ctx context.Context, n *compute.ComputeNode) ([3]float64, error) {
	var ratios [3]float64
	_, err := a.o.Placement.Provider(ctx, n.UUID)
	created := false
	if errors.Is(err, placement.ErrNotFound) || errors.Is(err, compute.ErrNotFound) {
		_, err = a.o.Placement.CreateProvider(ctx, placement.ProviderSpec{UUID: n.UUID, Name: n.HypervisorHostname})
		created = err == nil
		if errors.Is(err, placement.ErrDuplicateName) || errors.Is(err, compute.ErrConflict) {
			_, err = a.o.Placement.Provider(ctx, n.UUID) // created concurrently
		}
	}
	if err != nil {
		return ratios, fmt.Errorf("agent: resource provider %s (%s): %w", n.UUID, n.HypervisorHostname, err)
	}
	for attempt := 0; ; attempt++ {
		cur, gen, err := a.o.Placement.Inventories(ctx, n.UUID)
		if err != nil {
			return ratios, fmt.Errorf("agent: read inventories of %s: %w", n.UUID, err)
		}
		want := a.inventories(n, cur, created)
		ratios = [3]float64{ratioOf(want, "VCPU"), ratioOf(want, "MEMORY_MB"), ratioOf(want, "DISK_GB")}
		if maps.Equal(cur, want) {
			break
		}
		_, _, err = a.o.Placement.SetInventories(ctx, n.UUID, gen, want)
		if err == nil {
			break
		}
		if !errors.Is(err, placement.ErrGenerationConflict) || attempt >= placementRetries {
			return ratios, fmt.Errorf("agent: set inventories of %s: %w", n.UUID, err)
		}
	}
	for attempt := 0; ; attempt++ {
		cur, gen, err := a.o.Placement.Traits(ctx, n.UUID)
		if err != nil {
			return ratios, fmt.Errorf("agent: read traits of %s: %w", n.UUID, err)
		}
		want := a.traits(cur)
		if slices.Equal(sortedCopy(cur), want) {
			break
		}
		_, err = a.o.Placement.SetTraits(ctx, n.UUID, gen, want)
		if err == nil {
			break
		}
		if !errors.Is(err, placement.ErrGenerationConflict) || attempt >= placementRetries {
			return ratios, fmt.Errorf("agent: set traits of %s: %w", n.UUID, err)
		}
	}
	return ratios, nil
}

func ratioOf(invs map[string]placement.Inventory, rc string) float64 {
	if inv, ok := invs[rc]; ok {
		return inv.AllocationRatio
	}
	return 0
}

// inventories is the node's VCPU, MEMORY_MB and DISK_GB inventory in
// Nova's shape. A forced ratio (Options.*AllocationRatio) wins; otherwise
// the provider keeps the ratio placement has, and a new inventory takes
// the initial ratio.
func (a *Agent) inventories(n *compute.ComputeNode, cur map[string]placement.Inventory, created bool) map[string]placement.Inventory {
	out := map[string]placement.Inventory{}
	add := func(rc string, total, reserved int, forced, initial float64) {
		if total <= 0 {
			return
		}
		ratio := forced
		if ratio <= 0 {
			if c, ok := cur[rc]; ok && !created && c.AllocationRatio > 0 {
				ratio = c.AllocationRatio
			} else {
				ratio = initial
			}
		}
		out[rc] = placement.Inventory{
			Total: int64(total), Reserved: int64(min(reserved, total)), MinUnit: 1, MaxUnit: int64(total),
			StepSize: 1, AllocationRatio: ratio,
		}
	}
	add("VCPU", n.VCPUs, a.o.ReservedHostCPUs, a.o.CPUAllocationRatio, a.o.InitialCPUAllocationRatio)
	add("MEMORY_MB", n.MemoryMB, a.o.ReservedHostMemoryMB, a.o.RAMAllocationRatio, a.o.InitialRAMAllocationRatio)
	add("DISK_GB", n.LocalGB, (a.o.ReservedHostDiskMB+1023)/1024, a.o.DiskAllocationRatio, a.o.InitialDiskAllocationRatio)
	return out
}

// traits is the provider's trait set: the traits set by others are kept,
// the ones capabilities decide follow the driver, plus COMPUTE_NODE and
// COMPUTE_STATUS_DISABLED while the service is disabled.
func (a *Agent) traits(cur []string) []string {
	managed := compute.ManagedTraits()
	var out []string
	for _, t := range cur {
		if t == TraitStatusDisabled || slices.Contains(managed, t) {
			continue
		}
		out = append(out, t)
	}
	out = append(out, a.caps.Traits()...)
	out = append(out, TraitComputeNode)
	if svc := a.Service(); svc != nil && svc.Disabled {
		out = append(out, TraitStatusDisabled)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
