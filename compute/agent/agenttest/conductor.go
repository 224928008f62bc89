// Package agenttest is a test harness for compute agents: a control plane
// in one process (a real store, a placement index, an in-memory queue)
// with a minimal implementation of the agent's [agent.Conductor]
// interface over the store, and API-like helpers that boot instances
// and ask agents to act on them the way the compute API does (check the
// action's rule, compare-and-swap the task state, record the action,
// cast).
//
// The conductor here is a harness of the interface, not the product:
// package conductor ships the real one. It reschedules by claiming the
// next alternate's allocation request and casting the build there, with
// no scheduler call.
package agenttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/agent"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/store"
)

// Conductor implements [agent.Conductor] over a store. Agents is how it
// casts rescheduled builds; Placement where it claims their alternates.
// Safe for concurrent use.
type Conductor struct {
	Store     *store.Store
	Placement *placement.Index
	Agents    *agent.Client

	mu      sync.Mutex
	changed chan struct{}
}

// Changed returns a channel closed at the next instance write made
// through the conductor, for waiters that re-read the instance.
func (c *Conductor) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

func (c *Conductor) notify() {
	c.mu.Lock()
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
	c.mu.Unlock()
}

var _ agent.Conductor = (*Conductor)(nil)

// GetInstance implements agent.Conductor.
func (c *Conductor) GetInstance(ctx context.Context, uuid string) (*compute.Instance, error) {
	return c.Store.Instances().Get(ctx, uuid)
}

// ListInstances implements agent.Conductor.
func (c *Conductor) ListInstances(ctx context.Context, f compute.InstanceFilter) ([]*compute.Instance, error) {
	return c.Store.Instances().List(ctx, f, compute.ListOptions{})
}

// UpdateInstance implements agent.Conductor.
func (c *Conductor) UpdateInstance(ctx context.Context, uuid string, u compute.InstanceUpdate) (*compute.Instance, error) {
	defer c.notify()
	return c.Store.Instances().Update(ctx, uuid, u)
}

// SoftDeleteInstance implements agent.Conductor.
func (c *Conductor) SoftDeleteInstance(ctx context.Context, uuid string, u compute.InstanceUpdate) (*compute.Instance, error) {
	defer c.notify()
	return c.Store.Instances().SoftDelete(ctx, uuid, u)
}

// StartInstanceAction implements agent.Conductor.
func (c *Conductor) StartInstanceAction(ctx context.Context, a *compute.InstanceAction) error {
	_, err := c.Store.InstanceActions().Start(ctx, a)
	return err
}

// StartInstanceEvent implements agent.Conductor.
func (c *Conductor) StartInstanceEvent(ctx context.Context, instanceUUID, requestID, event, host string) error {
	_, err := c.Store.InstanceActions().StartEvent(ctx, instanceUUID, requestID, event, host, time.Time{})
	return err
}

// FinishInstanceEvent implements agent.Conductor.
func (c *Conductor) FinishInstanceEvent(ctx context.Context, instanceUUID, requestID, event, result, traceback, details string) error {
	_, err := c.Store.InstanceActions().FinishEvent(ctx, instanceUUID, requestID, event, result, traceback, details)
	return err
}

// AddInstanceFault implements agent.Conductor.
func (c *Conductor) AddInstanceFault(ctx context.Context, f *compute.InstanceFault) error {
	_, err := c.Store.Faults().Add(ctx, f)
	return err
}

// GetService implements agent.Conductor.
func (c *Conductor) GetService(ctx context.Context, host, binary string) (*compute.Service, error) {
	return c.Store.Services().GetByHostBinary(ctx, host, binary)
}

// CreateService implements agent.Conductor.
func (c *Conductor) CreateService(ctx context.Context, svc *compute.Service) (*compute.Service, error) {
	return c.Store.Services().Create(ctx, svc)
}

// ServiceHeartbeat implements agent.Conductor.
func (c *Conductor) ServiceHeartbeat(ctx context.Context, serviceUUID string) (*compute.Service, error) {
	return c.Store.Services().Heartbeat(ctx, serviceUUID)
}

// UpdateComputeNode implements agent.Conductor.
func (c *Conductor) UpdateComputeNode(ctx context.Context, n *compute.ComputeNode) (*compute.ComputeNode, error) {
	nodes := c.Store.ComputeNodes()
	var cur *compute.ComputeNode
	var err error
	if n.UUID != "" {
		cur, err = nodes.Get(ctx, n.UUID)
	} else {
		cur, err = nodes.GetByHostNode(ctx, n.Host, n.HypervisorHostname)
	}
	switch {
	case errors.Is(err, compute.ErrNotFound):
		return nodes.Create(ctx, n)
	case err != nil:
		return nil, err
	}
	return nodes.Update(ctx, cur.UUID, n)
}

// GetMigration implements agent.Conductor.
func (c *Conductor) GetMigration(ctx context.Context, uuid string) (*compute.Migration, error) {
	return c.Store.Migrations().Get(ctx, uuid)
}

// UpdateMigrationStatus implements agent.Conductor.
func (c *Conductor) UpdateMigrationStatus(ctx context.Context, uuid string, expected []string, status string) (*compute.Migration, error) {
	return c.Store.Migrations().Update(ctx, uuid, store.MigrationUpdate{ExpectedStatuses: expected, Status: &status})
}

// MigrationsInProgress implements agent.Conductor.
func (c *Conductor) MigrationsInProgress(ctx context.Context, host string) ([]*compute.Migration, error) {
	return c.Store.Migrations().InProgressForHost(ctx, host, "")
}

// BlockDeviceMappings implements agent.Conductor.
func (c *Conductor) BlockDeviceMappings(ctx context.Context, instanceUUID string) ([]compute.BlockDeviceMapping, error) {
	bs, err := c.Store.BlockDevices().ListByInstance(ctx, instanceUUID)
	if err != nil {
		return nil, err
	}
	out := make([]compute.BlockDeviceMapping, len(bs))
	for i, b := range bs {
		out[i] = *b
	}
	return out, nil
}

// GetRequestSpec implements agent.Conductor.
func (c *Conductor) GetRequestSpec(ctx context.Context, instanceUUID string) (*compute.RequestSpec, error) {
	return c.Store.RequestSpecs().Get(ctx, instanceUUID)
}

// MaxRetriesMessage is the fault message of a build that ran out of
// hosts, Nova's MaxRetriesExceeded.
const MaxRetriesMessage = "Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance %s."

// RescheduleInstance implements agent.Conductor: it claims the first
// alternate whose allocation request fits and casts the build there;
// with none left the instance goes to ERROR with a fault.
func (c *Conductor) RescheduleInstance(ctx context.Context, req *agent.RescheduleRequest) error {
	defer c.notify()
	inst, err := c.Store.Instances().Get(ctx, req.InstanceUUID)
	if err != nil {
		return err
	}
	alts := req.Alternates
	for len(alts) > 0 {
		chosen := alts[0]
		alts = alts[1:]
		if err := c.Claim(ctx, inst, chosen); err != nil {
			continue
		}
		inst, err = c.Store.Instances().Update(ctx, inst.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskScheduling},
			Host:               &chosen.ServiceHost, Node: &chosen.Nodename,
		})
		if err != nil {
			return err
		}
		br := &compute.BuildRequest{
			RequestID: req.RequestID, InstanceUUIDs: []string{inst.UUID}, Spec: req.Spec,
			AdminPassword: req.AdminPassword, InjectedFiles: req.InjectedFiles, Networks: req.Networks,
			Tags: req.Tags,
		}
		if req.BlockDevices != nil {
			br.BlockDevices = map[string][]compute.BlockDeviceMapping{inst.UUID: req.BlockDevices}
		}
		return c.Agents.BuildAndRunInstance(ctx, chosen.ServiceHost, inst, br, chosen, alts)
	}
	msg := fmt.Sprintf(MaxRetriesMessage, inst.UUID)
	if _, err := c.Store.Faults().Add(ctx, &compute.InstanceFault{InstanceUUID: inst.UUID, Code: 500, Message: msg, Details: req.Reason}); err != nil {
		return err
	}
	_, err = c.Store.Instances().Update(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskScheduling},
		VMState:            compute.Ptr(compute.VMError), TaskState: compute.Ptr(compute.TaskNone),
	})
	return err
}

// allocationRequest is the JSON shape of a Selection's allocation request.
type allocationRequest struct {
	Allocations map[string]struct {
		Resources map[string]int64 `json:"resources"`
	} `json:"allocations"`
}

// Claim puts the selection's allocation request in placement as the
// instance's allocations (consumer = instance uuid), as the scheduler
// and the conductor claim hosts.
func (c *Conductor) Claim(ctx context.Context, inst *compute.Instance, s compute.Selection) error {
	var ar allocationRequest
	if err := json.Unmarshal(s.AllocationRequest, &ar); err != nil {
		return compute.InvalidInput("allocation_request", "%v", err)
	}
	allocs := map[string]map[string]int64{}
	for rp, a := range ar.Allocations {
		allocs[rp] = a.Resources
	}
	ca := placement.ConsumerAllocations{Project: inst.ProjectID, User: inst.UserID, ConsumerType: placement.ConsumerTypeInstance, Allocations: allocs}
	if cur, err := c.Placement.Consumer(ctx, inst.UUID); err == nil {
		ca.Generation = &cur.Generation
	}
	return c.Placement.SetAllocations(ctx, map[string]placement.ConsumerAllocations{inst.UUID: ca})
}

// Selection returns the selection of a host for a flavor: its node
// uuid and an allocation request for the flavor's VCPU, MEMORY_MB and
// DISK_GB on it (no scheduler involved).
func Selection(host, nodeUUID, nodeName string, f compute.Flavor) compute.Selection {
	res := map[string]int64{"VCPU": int64(f.VCPUs), "MEMORY_MB": int64(f.MemoryMB)}
	if d := f.DiskGB(false); d > 0 {
		res["DISK_GB"] = int64(d)
	}
	for k, v := range res {
		if v == 0 {
			delete(res, k)
		}
	}
	ar, _ := json.Marshal(map[string]any{"allocations": map[string]any{nodeUUID: map[string]any{"resources": res}}})
	return compute.Selection{ServiceHost: host, Nodename: nodeName, ComputeNodeUUID: nodeUUID, AllocationRequest: ar, AllocationRequestVersion: "1.36"}
}
