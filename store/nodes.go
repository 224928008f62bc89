package store

import (
	"context"
	"maps"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
	"github.com/novakit/novakit/store/internal/ent/computenode"
	"github.com/novakit/novakit/store/internal/ent/predicate"
)

// ComputeNodes is the store's view of hypervisor nodes and the resources
// their compute agents report (Nova's compute_nodes). Get one with
// [Store.ComputeNodes]; it is a small value, safe for concurrent use.
type ComputeNodes struct{ s *Store }

// ComputeNodes returns the compute node repository.
func (s *Store) ComputeNodes() ComputeNodes { return ComputeNodes{s} }

// ComputeNodeFilter selects compute nodes for [ComputeNodes.List]; empty
// fields do not filter.
type ComputeNodeFilter struct {
	// Host keeps the nodes of one compute host.
	Host string
	// HypervisorHostnamePattern keeps nodes whose hypervisor hostname
	// contains it, ignoring case: Nova's hypervisor_hostname_pattern,
	// which is a SQL LIKE '%pattern%' (here % and _ match themselves).
	HypervisorHostnamePattern string
}

// Create stores a compute node and returns it as stored (ID, CreatedAt
// and UpdatedAt set; an empty UUID gets a new one). Host and
// HypervisorHostname are required, the UUID must be a UUID and resource
// counts and allocation ratios may not be negative, else a
// *compute.InvalidInputError names the field. A node with the same
// (Host, HypervisorHostname) or UUID gives a *compute.DuplicateError.
func (r ComputeNodes) Create(ctx context.Context, n *compute.ComputeNode) (*compute.ComputeNode, error) {
	if n == nil {
		return nil, compute.InvalidInput("compute_node", "is required")
	}
	id, err := uuidField("uuid", n.UUID, true)
	if err != nil {
		return nil, err
	}
	if err := validateNode(n); err != nil {
		return nil, err
	}
	now := r.s.ts()
	c := r.s.w.ComputeNode.Create().SetUUID(id).SetCreatedAt(now).SetUpdatedAt(now)
	setNode(c.Mutation(), n)
	row, err := c.Save(ctx)
	if err != nil {
		return nil, r.s.classify(err, "compute node", n.Host+"/"+n.HypervisorHostname)
	}
	return toNode(row), nil
}

func validateNode(n *compute.ComputeNode) error {
	if err := required("host", n.Host); err != nil {
		return err
	}
	if err := required("hypervisor_hostname", n.HypervisorHostname); err != nil {
		return err
	}
	for _, c := range []struct {
		field string
		v     int
	}{
		{"vcpus", n.VCPUs}, {"vcpus_used", n.VCPUsUsed}, {"memory_mb", n.MemoryMB},
		{"memory_mb_used", n.MemoryMBUsed}, {"local_gb", n.LocalGB}, {"local_gb_used", n.LocalGBUsed},
		{"running_vms", n.RunningVMs}, {"current_workload", n.CurrentWorkload},
	} {
		if c.v < 0 {
			return compute.InvalidInput(c.field, "must be 0 or more")
		}
	}
	for _, c := range []struct {
		field string
		v     float64
	}{
		{"cpu_allocation_ratio", n.CPUAllocationRatio}, {"ram_allocation_ratio", n.RAMAllocationRatio},
		{"disk_allocation_ratio", n.DiskAllocationRatio},
	} {
		if c.v < 0 {
			return compute.InvalidInput(c.field, "must be 0 (unset) or more")
		}
	}
	return nil
}

// setNode sets every mutable field of a node (all but id, uuid and
// created_at) on a create or update mutation.
func setNode(m *ent.ComputeNodeMutation, n *compute.ComputeNode) {
	m.SetHost(n.Host)
	m.SetHypervisorHostname(n.HypervisorHostname)
	m.SetHypervisorType(n.HypervisorType)
	m.SetHypervisorVersion(n.HypervisorVersion)
	m.SetHostIP(n.HostIP)
	m.SetVcpus(n.VCPUs)
	m.SetVcpusUsed(n.VCPUsUsed)
	m.SetMemoryMB(n.MemoryMB)
	m.SetMemoryMBUsed(n.MemoryMBUsed)
	m.SetLocalGB(n.LocalGB)
	m.SetLocalGBUsed(n.LocalGBUsed)
	m.SetFreeRAMMB(n.FreeRAMMB)
	m.SetFreeDiskGB(n.FreeDiskGB)
	m.SetDiskAvailableLeast(n.DiskAvailableLeast)
	m.SetCurrentWorkload(n.CurrentWorkload)
	m.SetRunningVms(n.RunningVMs)
	m.SetCPUInfo(n.CPUInfo)
	if len(n.Stats) > 0 {
		m.SetStats(maps.Clone(n.Stats))
	} else {
		m.ClearStats()
	}
	m.SetCPUAllocationRatio(n.CPUAllocationRatio)
	m.SetRAMAllocationRatio(n.RAMAllocationRatio)
	m.SetDiskAllocationRatio(n.DiskAllocationRatio)
}

// Get returns the compute node with the UUID, or an error satisfying
// errors.Is(err, compute.ErrNotFound).
func (r ComputeNodes) Get(ctx context.Context, uuid string) (*compute.ComputeNode, error) {
	row, err := r.s.r.ComputeNode.Query().Where(computenode.UUID(uuid)).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "compute node", uuid)
	}
	return toNode(row), nil
}

// GetByHostNode returns the node of the host with the hypervisor
// hostname, or ErrNotFound.
func (r ComputeNodes) GetByHostNode(ctx context.Context, host, hypervisorHostname string) (*compute.ComputeNode, error) {
	row, err := r.s.r.ComputeNode.Query().
		Where(computenode.Host(host), computenode.HypervisorHostname(hypervisorHostname)).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "compute node", host+"/"+hypervisorHostname)
	}
	return toNode(row), nil
}

// List returns the nodes that match the filter in creation order (row
// id), as the API lists hypervisors, paged by opts.Limit and opts.Marker
// (a node UUID; an unknown one gives a *compute.MarkerNotFoundError).
// opts.Sort is refused with a *compute.InvalidInputError.
func (r ComputeNodes) List(ctx context.Context, f ComputeNodeFilter, opts compute.ListOptions) ([]*compute.ComputeNode, error) {
	if err := checkPage(opts, "compute nodes"); err != nil {
		return nil, err
	}
	var preds []predicate.ComputeNode
	if f.Host != "" {
		preds = append(preds, computenode.Host(f.Host))
	}
	if f.HypervisorHostnamePattern != "" {
		preds = append(preds, computenode.HypervisorHostnameContainsFold(f.HypervisorHostnamePattern))
	}
	if opts.Marker != "" {
		id, err := r.s.r.ComputeNode.Query().Where(computenode.UUID(opts.Marker)).OnlyID(ctx)
		if ent.IsNotFound(err) {
			return nil, &compute.MarkerNotFoundError{Marker: opts.Marker}
		}
		if err != nil {
			return nil, r.s.classify(err, "compute node", opts.Marker)
		}
		preds = append(preds, computenode.IDGT(id))
	}
	q := r.s.r.ComputeNode.Query().Where(preds...).Order(ent.Asc(computenode.FieldID))
	if opts.Limit > 0 {
		q = q.Limit(opts.Limit)
	}
	rows, err := q.All(ctx)
	if err != nil {
		return nil, r.s.classify(err, "compute nodes", "list")
	}
	out := make([]*compute.ComputeNode, len(rows))
	for i, row := range rows {
		out[i] = toNode(row)
	}
	return out, nil
}

// Update replaces every mutable field of the node (all but ID, UUID and
// CreatedAt) with n's, sets UpdatedAt to now and returns the node as
// stored: the resource tracker's periodic report. The write is one
// statement, so a concurrent reader sees the old report or the new one,
// never a mix; of two concurrent writers the last one wins, as in Nova,
// whose single writer per node is its compute agent. A missing node
// gives ErrNotFound; bad fields as in Create; moving the node onto a
// (Host, HypervisorHostname) another node has a *compute.DuplicateError.
func (r ComputeNodes) Update(ctx context.Context, uuid string, n *compute.ComputeNode) (*compute.ComputeNode, error) {
	if n == nil {
		return nil, compute.InvalidInput("compute_node", "is required")
	}
	if err := validateNode(n); err != nil {
		return nil, err
	}
	var out *compute.ComputeNode
	err := r.s.withTx(ctx, func(tx *ent.Tx) error {
		id, err := tx.ComputeNode.Query().Where(computenode.UUID(uuid)).OnlyID(ctx)
		if err != nil {
			return r.s.classify(err, "compute node", uuid)
		}
		up := tx.ComputeNode.UpdateOneID(id).SetUpdatedAt(r.s.ts())
		setNode(up.Mutation(), n)
		row, err := up.Save(ctx)
		if err != nil {
			return r.s.classify(err, "compute node", uuid)
		}
		out = toNode(row)
		return nil
	})
	return out, err
}

// Delete removes the compute node. A missing node gives ErrNotFound.
func (r ComputeNodes) Delete(ctx context.Context, uuid string) error {
	n, err := r.s.w.ComputeNode.Delete().Where(computenode.UUID(uuid)).Exec(ctx)
	if err != nil {
		return r.s.classify(err, "compute node", uuid)
	}
	if n == 0 {
		return compute.NotFound("compute node", uuid)
	}
	return nil
}

func toNode(e *ent.ComputeNode) *compute.ComputeNode {
	return &compute.ComputeNode{
		ID: int64(e.ID), UUID: e.UUID, Host: e.Host, HypervisorHostname: e.HypervisorHostname,
		HypervisorType: e.HypervisorType, HypervisorVersion: e.HypervisorVersion, HostIP: e.HostIP,
		VCPUs: e.Vcpus, VCPUsUsed: e.VcpusUsed, MemoryMB: e.MemoryMB, MemoryMBUsed: e.MemoryMBUsed,
		LocalGB: e.LocalGB, LocalGBUsed: e.LocalGBUsed, FreeRAMMB: e.FreeRAMMB, FreeDiskGB: e.FreeDiskGB,
		DiskAvailableLeast: e.DiskAvailableLeast, CurrentWorkload: e.CurrentWorkload, RunningVMs: e.RunningVms,
		CPUInfo: e.CPUInfo, Stats: nilIfEmpty(e.Stats), CPUAllocationRatio: e.CPUAllocationRatio,
		RAMAllocationRatio: e.RAMAllocationRatio, DiskAllocationRatio: e.DiskAllocationRatio,
		CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
	}
}
