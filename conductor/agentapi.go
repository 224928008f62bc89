package conductor

import (
	"context"

	"github.com/novakit/novakit/compute"
)

// Agent is what the conductor needs from the compute agents: the casts it
// sends to the compute service on one host (queue topic "compute.<host>").
// agent.Client in package compute/agent implements it with exactly these
// signatures.
//
// Every method is a cast: it returns once the message is durably enqueued
// for the host's agent (or with the enqueue error), never waiting for the
// work. The host argument names the agent the cast goes to; the instance
// is the record as the conductor has it after its last write (for a build:
// vm_state building, task_state still scheduling, as Nova leaves it, with
// host and node already set to the chosen selection's; the agent's first
// write expects task_state scheduling or None). The
// receiving agent reports progress and failure through the conductor's
// agent-facing calls (instance updates, action events, faults,
// reschedules), never through the cast's result.
//
// Casts may be delivered more than once (a redelivered message after an
// agent restart); agents make each one idempotent by the instance's state
// and the request id it carries.
type Agent interface {
	// BuildAndRunInstance asks host to build and start inst (Nova's
	// build_and_run_instance). req is the build request the instance
	// belongs to (its spec, networks, block devices, files and password;
	// the agent uses req.BlockDevices[inst.UUID]); chosen is the
	// selection the conductor placed the instance on (its allocation is
	// claimed in placement under consumer inst.UUID) and alternates the
	// remaining selections, unclaimed, which the agent hands back to the
	// conductor when it asks for a reschedule.
	BuildAndRunInstance(ctx context.Context, host string, inst *compute.Instance, req *compute.BuildRequest, chosen compute.Selection, alternates []compute.Selection) error

	// PrepResize asks the destination host to claim resources for a resize
	// or cold migration (Nova's prep_resize). migration is the record the
	// conductor created (status pre-migrating, dest filled in from
	// chosen); the instance's old allocation has already been moved to
	// the migration's consumer on the source, and the instance consumer
	// holds the destination allocation of chosen. spec is the request
	// spec with the new flavor. On success the destination casts
	// ResizeInstance to the source.
	PrepResize(ctx context.Context, host string, inst *compute.Instance, migration *compute.Migration, req compute.MigrateRequest, spec *compute.RequestSpec, chosen compute.Selection, alternates []compute.Selection) error

	// ResizeInstance asks the source host to power the guest off and send
	// its disks (Nova's resize_instance). Sent by the destination's agent
	// after PrepResize; the conductor declares it so that the whole
	// resize protocol has one signature set.
	ResizeInstance(ctx context.Context, host string, inst *compute.Instance, migration *compute.Migration, req compute.MigrateRequest) error

	// FinishResize asks the destination host to bring the guest up from
	// the migrated disks (Nova's finish_resize). diskInfo is the opaque
	// value the source driver's MigrateDiskAndPowerOff returned. Sent by
	// the source's agent after ResizeInstance.
	FinishResize(ctx context.Context, host string, inst *compute.Instance, migration *compute.Migration, req compute.MigrateRequest, diskInfo []byte) error

	// RebuildInstance asks host to rebuild inst (Nova's rebuild_instance).
	// For an in-place rebuild host is inst.Host and migration and chosen
	// are nil. For an evacuation (req.Evacuate) host is the new host,
	// migration is the evacuation's record (status accepted → pre-migrating)
	// and chosen the selection whose allocation the instance consumer now
	// holds on the new host, next to its old allocation on the down host.
	RebuildInstance(ctx context.Context, host string, inst *compute.Instance, req compute.RebuildRequest, migration *compute.Migration, chosen *compute.Selection) error

	// UnshelveInstance asks host to bring a shelved instance back (Nova's
	// unshelve_instance). For a shelved_offloaded instance chosen is the
	// selection the scheduler made (claimed under consumer inst.UUID); for
	// a shelved one still on its host, chosen is nil and host is
	// inst.Host. spec is the instance's request spec as used for the
	// scheduling.
	UnshelveInstance(ctx context.Context, host string, inst *compute.Instance, req compute.UnshelveRequest, spec *compute.RequestSpec, chosen *compute.Selection) error
}
