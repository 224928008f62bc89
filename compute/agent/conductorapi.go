package agent

import (
	"context"

	"github.com/novakit/novakit/compute"
)

// Binary is the service binary name the agent registers under, as Nova's
// compute service does.
const Binary = "nova-compute"

// Conductor is everything the agent needs from the rest of the control
// plane. As in Nova, the compute agent never touches the database: every
// read and write of a record goes through the conductor (RPC in a
// deployment, in-process in an all-in-one). The conductor implements it
// as conductor.Client (over the queue) and conductor.Service
// (in-process).
//
// All methods may be called concurrently. Each blocks for one round trip
// (one RPC call, or one store transaction in-process) except
// [Conductor.RescheduleInstance], which is a cast: it returns once the
// request is durably queued. Errors keep their domain meaning across RPC:
// a missing record satisfies errors.Is(err, compute.ErrNotFound), a lost
// compare-and-swap errors.Is(err, compute.ErrConflict) (a
// *compute.StateConflictError in-process), bad input
// compute.ErrInvalidInput.
type Conductor interface {
	// GetInstance returns the live (not soft-deleted) instance, or an
	// error satisfying compute.ErrNotFound.
	GetInstance(ctx context.Context, uuid string) (*compute.Instance, error)

	// ListInstances returns the instances matching f, in no particular
	// order and without paging. The agent uses Host (the instances on
	// this host, Nova's InstanceList.get_by_host), UUIDs (to learn which
	// guests on the hypervisor still have an instance) and Deleted
	// (compute.ReadDeletedYes to see soft-deleted instances whose guests
	// must be destroyed).
	ListInstances(ctx context.Context, f compute.InstanceFilter) ([]*compute.Instance, error)

	// UpdateInstance applies u as one compare-and-swap (see
	// compute.InstanceUpdate) and returns the instance as stored after
	// it. A lost swap fails with an error satisfying compute.ErrConflict
	// and compute.ErrInvalidState (Nova's UnexpectedTaskStateError); a
	// missing or deleted instance with compute.ErrNotFound.
	UpdateInstance(ctx context.Context, uuid string, u compute.InstanceUpdate) (*compute.Instance, error)

	// SoftDeleteInstance applies u like UpdateInstance and, in the same
	// swap, marks the instance deleted (vm_state deleted, no task, power
	// state NOSTATE, terminated_at and deleted_at now): the last step of
	// terminate_instance once the guest is gone. Quota usage is counted
	// from live instances, so nothing else needs freeing.
	SoftDeleteInstance(ctx context.Context, uuid string, u compute.InstanceUpdate) (*compute.Instance, error)

	// StartInstanceAction records an action on the instance's action
	// log (os-instance-actions) for actions the agent starts itself (the
	// power-state sync's "stop"). Idempotent on (InstanceUUID, RequestID).
	StartInstanceAction(ctx context.Context, a *compute.InstanceAction) error

	// StartInstanceEvent records that this host started a step (event,
	// "compute_<method>") of the action with requestID, as Nova's
	// wrap_instance_event does. The action must exist (else
	// compute.ErrNotFound). Idempotent while the event runs (the store's
	// InstanceActions.StartEvent semantics).
	StartInstanceEvent(ctx context.Context, instanceUUID, requestID, event, host string) error

	// FinishInstanceEvent records the end of the running event: result
	// compute.EventSuccess or compute.EventError, with the error's text as
	// traceback and details. Finishing an already finished event does
	// nothing (InstanceActions.FinishEvent semantics).
	FinishInstanceEvent(ctx context.Context, instanceUUID, requestID, event, result, traceback, details string) error

	// AddInstanceFault records why an instance went to ERROR, or why an
	// action on it failed; the API shows the newest as the server's fault.
	AddInstanceFault(ctx context.Context, f *compute.InstanceFault) error

	// GetService returns the live service registered as (host, binary),
	// or an error satisfying compute.ErrNotFound.
	GetService(ctx context.Context, host, binary string) (*compute.Service, error)

	// CreateService registers a service and returns it as stored. A
	// service with the same (Host, Binary) fails with an error satisfying
	// compute.ErrConflict; the agent then reads it with GetService.
	CreateService(ctx context.Context, svc *compute.Service) (*compute.Service, error)

	// ServiceHeartbeat adds one to the service's report count and sets
	// its last-seen time to now (Nova's servicegroup db driver), and
	// returns the service (with its Disabled flag, which the agent turns
	// into the COMPUTE_STATUS_DISABLED trait). Missing: compute.ErrNotFound.
	ServiceHeartbeat(ctx context.Context, serviceUUID string) (*compute.Service, error)

	// UpdateComputeNode stores the node record as the resource tracker
	// computed it: it creates it when no node with n.UUID (or, with an
	// empty UUID, with (n.Host, n.HypervisorHostname)) exists, and
	// replaces its resource fields otherwise. It returns the record as
	// stored (UUID assigned on create). Idempotent.
	UpdateComputeNode(ctx context.Context, n *compute.ComputeNode) (*compute.ComputeNode, error)

	// GetMigration returns the migration record, or compute.ErrNotFound.
	GetMigration(ctx context.Context, uuid string) (*compute.Migration, error)

	// UpdateMigrationStatus sets the migration's status as one
	// compare-and-swap: when expected is non-nil and the stored status is
	// none of them nothing is written and the error satisfies
	// compute.ErrConflict. It returns the migration as stored.
	UpdateMigrationStatus(ctx context.Context, uuid string, expected []string, status string) (*compute.Migration, error)

	// MigrationsInProgress returns the migrations that involve host (as
	// source or destination) and still hold resources (status not
	// confirmed, reverted, error, failed, completed, cancelled or done):
	// the resource tracker's and init_host's view of moves in flight.
	MigrationsInProgress(ctx context.Context, host string) ([]*compute.Migration, error)

	// BlockDeviceMappings returns the instance's block device mappings,
	// boot index order, empty for none.
	BlockDeviceMappings(ctx context.Context, instanceUUID string) ([]compute.BlockDeviceMapping, error)

	// GetRequestSpec returns the request spec stored for the instance, or
	// compute.ErrNotFound.
	GetRequestSpec(ctx context.Context, instanceUUID string) (*compute.RequestSpec, error)

	// RescheduleInstance hands a build that failed on this host back to
	// the conductor with the alternates that are left (Nova's
	// build_instances with host_lists): the conductor claims the next
	// alternate and casts the build there, or, with none left (or all
	// failing to claim), puts the instance in ERROR with a fault
	// (MaxRetriesExceeded). The agent has already set task_state back to
	// scheduling, cleared host/node and deleted this host's allocations.
	// A cast: it returns once the request is durably queued.
	RescheduleInstance(ctx context.Context, req *RescheduleRequest) error
}

// RescheduleRequest is a build handed back to the conductor for another
// host: an alias of compute.RescheduleRequest, so that the conductor
// implements [Conductor] without importing this package.
type RescheduleRequest = compute.RescheduleRequest
