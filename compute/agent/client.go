package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/queue"
)

// Topic is the RPC topic of compute agents; each agent listens on the
// queue "compute.<host>" (Topic with Server = host), as Nova's computes do.
const Topic = "compute"

// RPCVersion is the compute RPC API version this package speaks.
const RPCVersion = "6.0"

// The RPC method names, Nova's compute rpcapi names.
const (
	MethodBuildAndRun      = "build_and_run_instance"
	MethodTerminate        = "terminate_instance"
	MethodStop             = "stop_instance"
	MethodStart            = "start_instance"
	MethodReboot           = "reboot_instance"
	MethodPause            = "pause_instance"
	MethodUnpause          = "unpause_instance"
	MethodSuspend          = "suspend_instance"
	MethodResume           = "resume_instance"
	MethodSnapshot         = "snapshot_instance"
	MethodShelve           = "shelve_instance"
	MethodShelveOffload    = "shelve_offload_instance"
	MethodUnshelve         = "unshelve_instance"
	MethodRebuild          = "rebuild_instance"
	MethodPrepResize       = "prep_resize"
	MethodResizeInstance   = "resize_instance"
	MethodFinishResize     = "finish_resize"
	MethodConfirmResize    = "confirm_resize"
	MethodRevertResize     = "revert_resize"
	MethodFinishRevert     = "finish_revert_resize"
	MethodGetConsoleOutput = "get_console_output"
)

// Args are the arguments of every compute RPC method: the instance as the
// caller has it, and what the method needs besides. The fields a method
// does not use are empty. It travels as JSON.
type Args struct {
	Instance *compute.Instance `json:"instance"`

	CleanShutdown bool               `json:"clean_shutdown,omitempty"`
	RebootType    compute.RebootType `json:"reboot_type,omitempty"`
	ImageID       string             `json:"image_id,omitempty"`
	TailLines     int                `json:"tail_lines,omitempty"`

	Build      *compute.BuildRequest `json:"build,omitempty"`
	Chosen     *compute.Selection    `json:"chosen,omitempty"`
	Alternates []compute.Selection   `json:"host_list,omitempty"`

	Migration *compute.Migration       `json:"migration,omitempty"`
	Migrate   *compute.MigrateRequest  `json:"migrate,omitempty"`
	Spec      *compute.RequestSpec     `json:"request_spec,omitempty"`
	DiskInfo  []byte                   `json:"disk_info,omitempty"`
	Rebuild   *compute.RebuildRequest  `json:"rebuild,omitempty"`
	Unshelve  *compute.UnshelveRequest `json:"unshelve,omitempty"`
}

// Client sends compute RPCs to agents over a queue: the API's and the
// conductor's (and other agents') way to reach the agent of a host. It
// implements the conductor's Agent interface. Casts return once the
// message is durably enqueued (they never wait for the work, whose
// progress shows in the instance record, its action events and faults);
// the one call, GetConsoleOutput, waits for the reply. The request
// context set on ctx with queue.WithRequestContext travels with every
// message: its RequestID is the instance action the agent records its
// events under. Safe for concurrent use.
type Client struct {
	q *queue.Client
}

// NewClient returns a Client sending through q. q should know the
// compute error codes (see [RegisterErrors]) so that errors keep their
// identity across RPC.
func NewClient(q *queue.Client) *Client { return &Client{q: q} }

func target(host string) queue.Target {
	return queue.Target{Topic: Topic, Server: host, Version: RPCVersion}
}

func (c *Client) cast(ctx context.Context, host, method string, a *Args) error {
	if host == "" {
		return compute.InvalidInput("host", "%s: the instance has no host", method)
	}
	if a.Instance == nil {
		return compute.InvalidInput("instance", "%s: is required", method)
	}
	if err := c.q.Cast(ctx, target(host), method, a); err != nil {
		return fmt.Errorf("agent: cast %s to %s: %w", method, host, err)
	}
	return nil
}

func hostOf(inst *compute.Instance) string {
	if inst == nil {
		return ""
	}
	return inst.Host
}

// StopInstance casts stop_instance to the instance's host. The API has
// set task_state powering-off. cleanShutdown asks the guest to shut down
// within the agent's shutdown timeout before it is forced off.
func (c *Client) StopInstance(ctx context.Context, inst *compute.Instance, cleanShutdown bool) error {
	return c.cast(ctx, hostOf(inst), MethodStop, &Args{Instance: inst, CleanShutdown: cleanShutdown})
}

// StartInstance casts start_instance (task_state powering-on).
func (c *Client) StartInstance(ctx context.Context, inst *compute.Instance) error {
	return c.cast(ctx, hostOf(inst), MethodStart, &Args{Instance: inst})
}

// RebootInstance casts reboot_instance (task_state rebooting or
// rebooting_hard).
func (c *Client) RebootInstance(ctx context.Context, inst *compute.Instance, hard bool) error {
	t := compute.RebootSoft
	if hard {
		t = compute.RebootHard
	}
	return c.cast(ctx, hostOf(inst), MethodReboot, &Args{Instance: inst, RebootType: t})
}

// PauseInstance casts pause_instance (task_state pausing).
func (c *Client) PauseInstance(ctx context.Context, inst *compute.Instance) error {
	return c.cast(ctx, hostOf(inst), MethodPause, &Args{Instance: inst})
}

// UnpauseInstance casts unpause_instance (task_state unpausing).
func (c *Client) UnpauseInstance(ctx context.Context, inst *compute.Instance) error {
	return c.cast(ctx, hostOf(inst), MethodUnpause, &Args{Instance: inst})
}

// SuspendInstance casts suspend_instance (task_state suspending).
func (c *Client) SuspendInstance(ctx context.Context, inst *compute.Instance) error {
	return c.cast(ctx, hostOf(inst), MethodSuspend, &Args{Instance: inst})
}

// ResumeInstance casts resume_instance (task_state resuming).
func (c *Client) ResumeInstance(ctx context.Context, inst *compute.Instance) error {
	return c.cast(ctx, hostOf(inst), MethodResume, &Args{Instance: inst})
}

// TerminateInstance casts terminate_instance (task_state deleting): the
// agent destroys the guest, soft-deletes the record and releases the
// instance's allocations.
func (c *Client) TerminateInstance(ctx context.Context, inst *compute.Instance) error {
	return c.cast(ctx, hostOf(inst), MethodTerminate, &Args{Instance: inst})
}

// SnapshotInstance casts snapshot_instance (task_state
// image_snapshot_pending): the agent uploads the guest's root disk into
// the image record imageID, which the API created.
func (c *Client) SnapshotInstance(ctx context.Context, inst *compute.Instance, imageID string) error {
	if imageID == "" {
		return compute.InvalidInput("image_id", "is required")
	}
	return c.cast(ctx, hostOf(inst), MethodSnapshot, &Args{Instance: inst, ImageID: imageID})
}

// ShelveInstance casts shelve_instance (task_state shelving). imageID is
// the image record the snapshot goes to, "" for a volume-backed instance.
func (c *Client) ShelveInstance(ctx context.Context, inst *compute.Instance, imageID string) error {
	return c.cast(ctx, hostOf(inst), MethodShelve, &Args{Instance: inst, ImageID: imageID, CleanShutdown: true})
}

// ShelveOffloadInstance casts shelve_offload_instance (task_state
// shelving_offloading).
func (c *Client) ShelveOffloadInstance(ctx context.Context, inst *compute.Instance) error {
	return c.cast(ctx, hostOf(inst), MethodShelveOffload, &Args{Instance: inst, CleanShutdown: true})
}

// ConfirmResize casts confirm_resize to the migration's source host,
// which drops what it kept of the guest.
func (c *Client) ConfirmResize(ctx context.Context, inst *compute.Instance, migration *compute.Migration) error {
	if migration == nil {
		return compute.InvalidInput("migration", "is required")
	}
	return c.cast(ctx, migration.SourceCompute, MethodConfirmResize, &Args{Instance: inst, Migration: migration})
}

// RevertResize casts revert_resize to the migration's destination host
// (task_state resize_reverting), which destroys its guest and hands back
// to the source with finish_revert_resize.
func (c *Client) RevertResize(ctx context.Context, inst *compute.Instance, migration *compute.Migration) error {
	if migration == nil {
		return compute.InvalidInput("migration", "is required")
	}
	return c.cast(ctx, migration.DestCompute, MethodRevertResize, &Args{Instance: inst, Migration: migration})
}

// FinishRevertResize casts finish_revert_resize to host, the source of a
// reverted migration (sent by the destination's agent).
func (c *Client) FinishRevertResize(ctx context.Context, host string, inst *compute.Instance, migration *compute.Migration) error {
	return c.cast(ctx, host, MethodFinishRevert, &Args{Instance: inst, Migration: migration})
}

// GetConsoleOutput calls get_console_output on the instance's host and
// returns the last tailLines lines of the guest's console log (all of
// what the driver keeps when tailLines <= 0). A driver without console
// logs answers an error satisfying compute.ErrUnsupported (when the
// client's error codes know it).
func (c *Client) GetConsoleOutput(ctx context.Context, inst *compute.Instance, tailLines int) (string, error) {
	host := hostOf(inst)
	if host == "" {
		return "", compute.InvalidInput("host", "get_console_output: the instance has no host")
	}
	var out string
	if err := c.q.Call(ctx, target(host), MethodGetConsoleOutput, &Args{Instance: inst, TailLines: tailLines}, &out); err != nil {
		return "", fmt.Errorf("agent: get_console_output on %s: %w", host, err)
	}
	return out, nil
}

// BuildAndRunInstance casts build_and_run_instance to host (see the
// conductor's Agent interface for the arguments).
func (c *Client) BuildAndRunInstance(ctx context.Context, host string, inst *compute.Instance, req *compute.BuildRequest, chosen compute.Selection, alternates []compute.Selection) error {
	return c.cast(ctx, host, MethodBuildAndRun, &Args{Instance: inst, Build: req, Chosen: &chosen, Alternates: alternates})
}

// PrepResize casts prep_resize to the destination host.
func (c *Client) PrepResize(ctx context.Context, host string, inst *compute.Instance, migration *compute.Migration, req compute.MigrateRequest, spec *compute.RequestSpec, chosen compute.Selection, alternates []compute.Selection) error {
	return c.cast(ctx, host, MethodPrepResize, &Args{Instance: inst, Migration: migration, Migrate: &req, Spec: spec, Chosen: &chosen, Alternates: alternates})
}

// ResizeInstance casts resize_instance to the source host.
func (c *Client) ResizeInstance(ctx context.Context, host string, inst *compute.Instance, migration *compute.Migration, req compute.MigrateRequest) error {
	return c.cast(ctx, host, MethodResizeInstance, &Args{Instance: inst, Migration: migration, Migrate: &req})
}

// FinishResize casts finish_resize to the destination host.
func (c *Client) FinishResize(ctx context.Context, host string, inst *compute.Instance, migration *compute.Migration, req compute.MigrateRequest, diskInfo []byte) error {
	return c.cast(ctx, host, MethodFinishResize, &Args{Instance: inst, Migration: migration, Migrate: &req, DiskInfo: diskInfo})
}

// RebuildInstance casts rebuild_instance to host.
func (c *Client) RebuildInstance(ctx context.Context, host string, inst *compute.Instance, req compute.RebuildRequest, migration *compute.Migration, chosen *compute.Selection) error {
	return c.cast(ctx, host, MethodRebuild, &Args{Instance: inst, Rebuild: &req, Migration: migration, Chosen: chosen})
}

// UnshelveInstance casts unshelve_instance to host.
func (c *Client) UnshelveInstance(ctx context.Context, host string, inst *compute.Instance, req compute.UnshelveRequest, spec *compute.RequestSpec, chosen *compute.Selection) error {
	return c.cast(ctx, host, MethodUnshelve, &Args{Instance: inst, Unshelve: &req, Spec: spec, Chosen: chosen})
}

// errorCodes are the wire codes of the compute domain sentinels that
// [RegisterErrors] registers.
var errorCodes = []struct {
	code string
	err  error
}{
	{"compute.not_found", compute.ErrNotFound},
	{"compute.conflict", compute.ErrConflict},
	{"compute.invalid_state", compute.ErrInvalidState},
	{"compute.locked", compute.ErrLocked},
	{"compute.invalid_input", compute.ErrInvalidInput},
	{"compute.unsupported", compute.ErrUnsupported},
	{"compute.transient", compute.ErrTransient},
	{"compute.quota_exceeded", compute.ErrQuotaExceeded},
	{"compute.unavailable", compute.ErrUnavailable},
	{"compute.no_valid_host", compute.ErrNoValidHost},
	{"compute.resources_unavailable", compute.ErrResourcesUnavailable},
}

// RegisterErrors registers the compute domain sentinels
// (compute.ErrNotFound, ErrConflict, ErrInvalidState …) in codes under
// "compute.*" wire codes, so that errors.Is works across RPC. Codes or
// sentinels already registered (by another package using the same
// names) are left as they are; it is idempotent.
func RegisterErrors(codes *queue.ErrorCodes) error {
	for _, c := range errorCodes {
		if err := codes.Register(c.code, c.err); err != nil && !errors.Is(err, queue.ErrDuplicate) {
			return err
		}
	}
	return nil
}
