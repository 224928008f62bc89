package conductor

import (
	"context"
	"errors"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

// The methods below are the compute agents' way to the database (the
// agent's Conductor interface in compute/agent): each is one store
// operation with the store's semantics (compare-and-swap, idempotency,
// errors satisfying the compute sentinels). Safe for concurrent use.

// GetInstance returns the live instance, or an error satisfying
// compute.ErrNotFound.
func (s *Service) GetInstance(ctx context.Context, uuid string) (*compute.Instance, error) {
	return s.st.Instances().Get(ctx, uuid)
}

// ListInstances returns every instance matching f, unpaged.
func (s *Service) ListInstances(ctx context.Context, f compute.InstanceFilter) ([]*compute.Instance, error) {
	return s.st.Instances().List(ctx, f, compute.ListOptions{})
}

// UpdateInstance applies u as one compare-and-swap; a lost swap is a
// *compute.StateConflictError (ErrConflict and ErrInvalidState).
func (s *Service) UpdateInstance(ctx context.Context, uuid string, u compute.InstanceUpdate) (*compute.Instance, error) {
	return s.st.Instances().Update(ctx, uuid, u)
}

// SoftDeleteInstance applies u and marks the instance deleted in one
// compare-and-swap.
func (s *Service) SoftDeleteInstance(ctx context.Context, uuid string, u compute.InstanceUpdate) (*compute.Instance, error) {
	return s.st.Instances().SoftDelete(ctx, uuid, u)
}

// StartInstanceAction records an action; idempotent on (instance,
// request id).
func (s *Service) StartInstanceAction(ctx context.Context, a *compute.InstanceAction) error {
	_, err := s.st.InstanceActions().Start(ctx, a)
	return err
}

// StartInstanceEvent records the start of an event of an action that
// exists; idempotent while the event runs.
func (s *Service) StartInstanceEvent(ctx context.Context, instanceUUID, requestID, event, host string) error {
	_, err := s.st.InstanceActions().StartEvent(ctx, instanceUUID, requestID, event, host, time.Time{})
	return err
}

// FinishInstanceEvent records the end of an event; finishing a finished
// event does nothing.
func (s *Service) FinishInstanceEvent(ctx context.Context, instanceUUID, requestID, event, result, traceback, details string) error {
	_, err := s.st.InstanceActions().FinishEvent(ctx, instanceUUID, requestID, event, result, traceback, details)
	return err
}

// AddInstanceFault records a fault (not idempotent: each call adds one).
func (s *Service) AddInstanceFault(ctx context.Context, f *compute.InstanceFault) error {
	_, err := s.st.Faults().Add(ctx, f)
	return err
}

// GetService returns the service registered as (host, binary).
func (s *Service) GetService(ctx context.Context, host, binary string) (*compute.Service, error) {
	return s.st.Services().GetByHostBinary(ctx, host, binary)
}

// CreateService registers a service; a duplicate (host, binary) is
// compute.ErrConflict.
func (s *Service) CreateService(ctx context.Context, svc *compute.Service) (*compute.Service, error) {
	return s.st.Services().Create(ctx, svc)
}

// ServiceHeartbeat counts one report of the service and returns it.
func (s *Service) ServiceHeartbeat(ctx context.Context, serviceUUID string) (*compute.Service, error) {
	return s.st.Services().Heartbeat(ctx, serviceUUID)
}

// UpdateComputeNode creates the node record or replaces its resource
// fields (found by UUID, or by host and hypervisor hostname when the
// UUID is empty) and returns it as stored. Idempotent; two agents racing
// to create one node end with one record.
func (s *Service) UpdateComputeNode(ctx context.Context, n *compute.ComputeNode) (*compute.ComputeNode, error) {
	if n == nil {
		return nil, compute.InvalidInput("compute_node", "is required")
	}
	for attempt := 0; ; attempt++ {
		id := n.UUID
		if id == "" {
			cur, err := s.st.ComputeNodes().GetByHostNode(ctx, n.Host, n.HypervisorHostname)
			if err == nil {
				id = cur.UUID
			} else if !errors.Is(err, compute.ErrNotFound) {
				return nil, err
			}
		}
		if id != "" {
			out, err := s.st.ComputeNodes().Update(ctx, id, n)
			if err == nil || !errors.Is(err, compute.ErrNotFound) {
				return out, err
			}
		}
		out, err := s.st.ComputeNodes().Create(ctx, n)
		if err == nil || !errors.Is(err, compute.ErrConflict) || attempt > 0 {
			return out, err
		}
		// Lost a creation race: the next round updates the winner's row.
	}
}

// GetMigration returns the migration, or compute.ErrNotFound.
func (s *Service) GetMigration(ctx context.Context, uuid string) (*compute.Migration, error) {
	return s.st.Migrations().Get(ctx, uuid)
}

// UpdateMigrationStatus sets the migration's status, as a
// compare-and-swap on expected when it is non-nil (a lost swap is
// compute.ErrConflict).
func (s *Service) UpdateMigrationStatus(ctx context.Context, uuid string, expected []string, status string) (*compute.Migration, error) {
	return s.st.Migrations().Update(ctx, uuid, store.MigrationUpdate{ExpectedStatuses: expected, Status: &status})
}

// MigrationsInProgress returns the migrations from or to host that still
// hold resources.
func (s *Service) MigrationsInProgress(ctx context.Context, host string) ([]*compute.Migration, error) {
	return s.st.Migrations().InProgressForHost(ctx, host, "")
}

// BlockDeviceMappings returns the instance's block device mappings in
// boot index order (empty for none).
func (s *Service) BlockDeviceMappings(ctx context.Context, instanceUUID string) ([]compute.BlockDeviceMapping, error) {
	bdms, err := s.st.BlockDevices().ListByInstance(ctx, instanceUUID)
	if err != nil {
		return nil, err
	}
	out := make([]compute.BlockDeviceMapping, len(bdms))
	for i, b := range bdms {
		out[i] = *b
	}
	return out, nil
}

// GetRequestSpec returns the instance's stored request spec, or
// compute.ErrNotFound.
func (s *Service) GetRequestSpec(ctx context.Context, instanceUUID string) (*compute.RequestSpec, error) {
	return s.st.RequestSpecs().Get(ctx, instanceUUID)
}
