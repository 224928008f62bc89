package conductor

import (
	"context"
	"errors"
	"fmt"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/queue"
)

// Topic is the queue topic the conductor listens on; Version its RPC API
// version.
const (
	Topic   = "conductor"
	Version = "3.0"
)

// ErrStateConflict is the wire form of a lost instance compare-and-swap
// (*compute.StateConflictError): across RPC the caller's error satisfies
// errors.Is with compute.ErrConflict and compute.ErrInvalidState, as the
// in-process error does.
var ErrStateConflict error = stateConflict{}

type stateConflict struct{}

func (stateConflict) Error() string { return "instance state conflict" }

// Is reports whether target is compute.ErrConflict or compute.ErrInvalidState.
func (stateConflict) Is(target error) bool {
	return target == compute.ErrConflict || target == compute.ErrInvalidState
}

// wireStateConflict carries a *compute.StateConflictError to the queue's
// error mapping as ErrStateConflict only (it has no Unwrap, so the plain
// ErrConflict code cannot claim it first).
type wireStateConflict struct{ msg string }

func (w wireStateConflict) Error() string        { return w.msg }
func (w wireStateConflict) Is(target error) bool { return target == ErrStateConflict }

// errorCodes lists the domain errors the conductor's RPC carries, most
// specific first.
var errorCodes = []struct {
	code string
	err  error
}{
	{"compute.state_conflict", ErrStateConflict},
	{"compute.no_valid_host", compute.ErrNoValidHost},
	{"compute.not_found", compute.ErrNotFound},
	{"compute.conflict", compute.ErrConflict},
	{"compute.invalid_state", compute.ErrInvalidState},
	{"compute.locked", compute.ErrLocked},
	{"compute.invalid_input", compute.ErrInvalidInput},
	{"compute.unsupported", compute.ErrUnsupported},
	{"compute.transient", compute.ErrTransient},
	{"compute.quota_exceeded", compute.ErrQuotaExceeded},
	{"compute.unavailable", compute.ErrUnavailable},
}

// RegisterErrors registers the compute sentinels (and ErrStateConflict)
// in codes, so that errors.Is works on errors that crossed the queue.
// Codes or sentinels another package already registered are kept as
// they are, so several packages may register into one shared registry;
// both ends of a conversation must use registries with the same codes.
func RegisterErrors(codes *queue.ErrorCodes) error {
	for _, c := range errorCodes {
		if err := codes.Register(c.code, c.err); err != nil && !errors.Is(err, queue.ErrDuplicate) {
			return err
		}
	}
	return nil
}

// ErrorCodes returns a new registry holding the queue's codes and the
// conductor's (see RegisterErrors).
func ErrorCodes() *queue.ErrorCodes {
	c := queue.NewErrorCodes()
	if err := RegisterErrors(c); err != nil {
		panic(err) // a fresh registry refuses nothing
	}
	return c
}

// toWire maps a *compute.StateConflictError to its wire form.
func toWire(err error) error {
	var sce *compute.StateConflictError
	if errors.As(err, &sce) {
		return wireStateConflict{msg: err.Error()}
	}
	return err
}

// RPC method names, as Nova's conductor names them where it has them.
const (
	mScheduleAndBuild    = "schedule_and_build_instances"
	mMigrateServer       = "migrate_server"
	mRebuildInstance     = "rebuild_instance"
	mUnshelveInstance    = "unshelve_instance"
	mBuildInstances      = "build_instances"
	mInstanceGet         = "instance_get"
	mInstanceList        = "instance_get_all_by_filters"
	mInstanceUpdate      = "instance_update"
	mInstanceSoftDelete  = "instance_soft_delete"
	mActionStart         = "action_start"
	mEventStart          = "action_event_start"
	mEventFinish         = "action_event_finish"
	mFaultCreate         = "instance_fault_create"
	mServiceGet          = "service_get_by_host_and_binary"
	mServiceCreate       = "service_create"
	mServiceHeartbeat    = "service_heartbeat"
	mComputeNodeUpdate   = "compute_node_update"
	mMigrationGet        = "migration_get"
	mMigrationStatus     = "migration_update_status"
	mMigrationsInProg    = "migration_get_in_progress_by_host"
	mBlockDeviceMappings = "block_device_mapping_get_all_by_instance"
	mRequestSpecGet      = "request_spec_get"
)

type migrateArgs struct {
	Instance *compute.Instance      `json:"instance"`
	Request  compute.MigrateRequest `json:"request"`
}

type rebuildArgs struct {
	Instance *compute.Instance      `json:"instance"`
	Request  compute.RebuildRequest `json:"request"`
}

type unshelveArgs struct {
	Instance *compute.Instance       `json:"instance"`
	Request  compute.UnshelveRequest `json:"request"`
}

type uuidArgs struct {
	UUID string `json:"uuid"`
}

type updateArgs struct {
	UUID   string                 `json:"uuid"`
	Update compute.InstanceUpdate `json:"update"`
}

type eventArgs struct {
	InstanceUUID string `json:"instance_uuid"`
	RequestID    string `json:"request_id"`
	Event        string `json:"event"`
	Host         string `json:"host,omitempty"`
	Result       string `json:"result,omitempty"`
	Traceback    string `json:"traceback,omitempty"`
	Details      string `json:"details,omitempty"`
}

type serviceArgs struct {
	Host   string `json:"host"`
	Binary string `json:"binary"`
}

type migrationStatusArgs struct {
	UUID     string   `json:"uuid"`
	Expected []string `json:"expected,omitempty"`
	Status   string   `json:"status"`
}

type none struct{}

// handle registers fn for method, mapping its errors to their wire form.
func handle[A, R any](srv *queue.Server, method string, fn func(context.Context, A) (R, error)) error {
	return queue.Handle(srv, method, func(ctx context.Context, a A) (R, error) {
		r, err := fn(ctx, a)
		return r, toWire(err)
	})
}

// Register registers the conductor's RPC methods, backed by svc, on srv
// (a server on Topic, created with ErrorCodes() or a registry passed
// through RegisterErrors). Call it before srv.Start. Casts run their
// flow in the handler; calls answer with the store's result.
func Register(srv *queue.Server, svc *Service) error {
	errs := []error{
		handle(srv, mScheduleAndBuild, func(ctx context.Context, r *compute.BuildRequest) (none, error) {
			return none{}, svc.ScheduleAndBuildInstances(ctx, r)
		}),
		handle(srv, mMigrateServer, func(ctx context.Context, a migrateArgs) (none, error) {
			return none{}, svc.MigrateServer(ctx, a.Instance, a.Request)
		}),
		handle(srv, mRebuildInstance, func(ctx context.Context, a rebuildArgs) (none, error) {
			return none{}, svc.RebuildInstance(ctx, a.Instance, a.Request)
		}),
		handle(srv, mUnshelveInstance, func(ctx context.Context, a unshelveArgs) (none, error) {
			return none{}, svc.UnshelveInstance(ctx, a.Instance, a.Request)
		}),
		handle(srv, mBuildInstances, func(ctx context.Context, r *compute.RescheduleRequest) (none, error) {
			return none{}, svc.RescheduleInstance(ctx, r)
		}),
		handle(srv, mInstanceGet, func(ctx context.Context, a uuidArgs) (*compute.Instance, error) {
			return svc.GetInstance(ctx, a.UUID)
		}),
		handle(srv, mInstanceList, func(ctx context.Context, f compute.InstanceFilter) ([]*compute.Instance, error) {
			return svc.ListInstances(ctx, f)
		}),
		handle(srv, mInstanceUpdate, func(ctx context.Context, a updateArgs) (*compute.Instance, error) {
			return svc.UpdateInstance(ctx, a.UUID, a.Update)
		}),
		handle(srv, mInstanceSoftDelete, func(ctx context.Context, a updateArgs) (*compute.Instance, error) {
			return svc.SoftDeleteInstance(ctx, a.UUID, a.Update)
		}),
		handle(srv, mActionStart, func(ctx context.Context, a *compute.InstanceAction) (none, error) {
			return none{}, svc.StartInstanceAction(ctx, a)
		}),
		handle(srv, mEventStart, func(ctx context.Context, a eventArgs) (none, error) {
			return none{}, svc.StartInstanceEvent(ctx, a.InstanceUUID, a.RequestID, a.Event, a.Host)
		}),
		handle(srv, mEventFinish, func(ctx context.Context, a eventArgs) (none, error) {
			return none{}, svc.FinishInstanceEvent(ctx, a.InstanceUUID, a.RequestID, a.Event, a.Result, a.Traceback, a.Details)
		}),
		handle(srv, mFaultCreate, func(ctx context.Context, f *compute.InstanceFault) (none, error) {
			return none{}, svc.AddInstanceFault(ctx, f)
		}),
		handle(srv, mServiceGet, func(ctx context.Context, a serviceArgs) (*compute.Service, error) {
			return svc.GetService(ctx, a.Host, a.Binary)
		}),
		handle(srv, mServiceCreate, func(ctx context.Context, a *compute.Service) (*compute.Service, error) {
			return svc.CreateService(ctx, a)
		}),
		handle(srv, mServiceHeartbeat, func(ctx context.Context, a uuidArgs) (*compute.Service, error) {
			return svc.ServiceHeartbeat(ctx, a.UUID)
		}),
		handle(srv, mComputeNodeUpdate, func(ctx context.Context, n *compute.ComputeNode) (*compute.ComputeNode, error) {
			return svc.UpdateComputeNode(ctx, n)
		}),
		handle(srv, mMigrationGet, func(ctx context.Context, a uuidArgs) (*compute.Migration, error) {
			return svc.GetMigration(ctx, a.UUID)
		}),
		handle(srv, mMigrationStatus, func(ctx context.Context, a migrationStatusArgs) (*compute.Migration, error) {
			return svc.UpdateMigrationStatus(ctx, a.UUID, a.Expected, a.Status)
		}),
		handle(srv, mMigrationsInProg, func(ctx context.Context, a serviceArgs) ([]*compute.Migration, error) {
			return svc.MigrationsInProgress(ctx, a.Host)
		}),
		handle(srv, mBlockDeviceMappings, func(ctx context.Context, a uuidArgs) ([]compute.BlockDeviceMapping, error) {
			return svc.BlockDeviceMappings(ctx, a.UUID)
		}),
		handle(srv, mRequestSpecGet, func(ctx context.Context, a uuidArgs) (*compute.RequestSpec, error) {
			return svc.GetRequestSpec(ctx, a.UUID)
		}),
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("conductor: register RPC handlers: %w", err)
	}
	return nil
}

// Serve creates a server on Topic for host on tr, registers svc on it
// and starts it. Stop it with its Stop method.
func Serve(ctx context.Context, tr *queue.Transport, host string, svc *Service, codes *queue.ErrorCodes) (*queue.Server, error) {
	if codes == nil {
		codes = ErrorCodes()
	}
	srv, err := tr.NewServer(queue.ServerConfig{Topic: Topic, Server: host, Version: Version, Errors: codes})
	if err != nil {
		return nil, err
	}
	if err := Register(srv, svc); err != nil {
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	return srv, nil
}

// Client is the conductor over the queue: what the API (casts for build,
// rebuild and unshelve, a call for migrate) and the compute agents (calls
// for every record operation, a cast for reschedules) use in a
// deployment. Build its queue.Client with ErrorCodes() (or a registry
// passed through RegisterErrors) so errors keep their meaning. Safe for
// concurrent use.
type Client struct {
	c      *queue.Client
	target queue.Target
}

// NewClient returns a conductor client sending through c.
func NewClient(c *queue.Client) *Client {
	return &Client{c: c, target: queue.Target{Topic: Topic, Version: Version}}
}

func (c *Client) call(ctx context.Context, method string, args, reply any) error {
	return c.c.Call(ctx, c.target, method, args, reply)
}

func (c *Client) cast(ctx context.Context, method string, args any) error {
	return c.c.Cast(ctx, c.target, method, args)
}

// ScheduleAndBuildInstances casts the build; it returns once the request
// is durably queued.
func (c *Client) ScheduleAndBuildInstances(ctx context.Context, req *compute.BuildRequest) error {
	if err := validateBuild(req); err != nil {
		return err
	}
	return c.cast(ctx, mScheduleAndBuild, req)
}

// MigrateServer calls the conductor and waits for the flow to be handed
// to the destination (or for its error: NoValidHost satisfies
// errors.Is(err, compute.ErrNoValidHost)).
func (c *Client) MigrateServer(ctx context.Context, inst *compute.Instance, req compute.MigrateRequest) error {
	return c.call(ctx, mMigrateServer, migrateArgs{inst, req}, nil)
}

// RebuildInstance casts a rebuild or evacuation.
func (c *Client) RebuildInstance(ctx context.Context, inst *compute.Instance, req compute.RebuildRequest) error {
	return c.cast(ctx, mRebuildInstance, rebuildArgs{inst, req})
}

// UnshelveInstance casts an unshelve.
func (c *Client) UnshelveInstance(ctx context.Context, inst *compute.Instance, req compute.UnshelveRequest) error {
	return c.cast(ctx, mUnshelveInstance, unshelveArgs{inst, req})
}

// RescheduleInstance casts a failed build back for another host.
func (c *Client) RescheduleInstance(ctx context.Context, req *compute.RescheduleRequest) error {
	return c.cast(ctx, mBuildInstances, req)
}

// GetInstance: see Service.GetInstance.
func (c *Client) GetInstance(ctx context.Context, uuid string) (*compute.Instance, error) {
	var out *compute.Instance
	return out, c.call(ctx, mInstanceGet, uuidArgs{uuid}, &out)
}

// ListInstances: see Service.ListInstances.
func (c *Client) ListInstances(ctx context.Context, f compute.InstanceFilter) ([]*compute.Instance, error) {
	var out []*compute.Instance
	return out, c.call(ctx, mInstanceList, f, &out)
}

// UpdateInstance: see Service.UpdateInstance. A lost swap satisfies
// errors.Is with compute.ErrConflict and compute.ErrInvalidState.
func (c *Client) UpdateInstance(ctx context.Context, uuid string, u compute.InstanceUpdate) (*compute.Instance, error) {
	var out *compute.Instance
	return out, c.call(ctx, mInstanceUpdate, updateArgs{uuid, u}, &out)
}

// SoftDeleteInstance: see Service.SoftDeleteInstance.
func (c *Client) SoftDeleteInstance(ctx context.Context, uuid string, u compute.InstanceUpdate) (*compute.Instance, error) {
	var out *compute.Instance
	return out, c.call(ctx, mInstanceSoftDelete, updateArgs{uuid, u}, &out)
}

// StartInstanceAction: see Service.StartInstanceAction.
func (c *Client) StartInstanceAction(ctx context.Context, a *compute.InstanceAction) error {
	return c.call(ctx, mActionStart, a, nil)
}

// StartInstanceEvent: see Service.StartInstanceEvent.
func (c *Client) StartInstanceEvent(ctx context.Context, instanceUUID, requestID, event, host string) error {
	return c.call(ctx, mEventStart, eventArgs{InstanceUUID: instanceUUID, RequestID: requestID, Event: event, Host: host}, nil)
}

// FinishInstanceEvent: see Service.FinishInstanceEvent.
func (c *Client) FinishInstanceEvent(ctx context.Context, instanceUUID, requestID, event, result, traceback, details string) error {
	return c.call(ctx, mEventFinish, eventArgs{InstanceUUID: instanceUUID, RequestID: requestID, Event: event,
		Result: result, Traceback: traceback, Details: details}, nil)
}

// AddInstanceFault: see Service.AddInstanceFault.
func (c *Client) AddInstanceFault(ctx context.Context, f *compute.InstanceFault) error {
	return c.call(ctx, mFaultCreate, f, nil)
}

// GetService: see Service.GetService.
func (c *Client) GetService(ctx context.Context, host, binary string) (*compute.Service, error) {
	var out *compute.Service
	return out, c.call(ctx, mServiceGet, serviceArgs{host, binary}, &out)
}

// CreateService: see Service.CreateService.
func (c *Client) CreateService(ctx context.Context, svc *compute.Service) (*compute.Service, error) {
	var out *compute.Service
	return out, c.call(ctx, mServiceCreate, svc, &out)
}

// ServiceHeartbeat: see Service.ServiceHeartbeat.
func (c *Client) ServiceHeartbeat(ctx context.Context, serviceUUID string) (*compute.Service, error) {
	var out *compute.Service
	return out, c.call(ctx, mServiceHeartbeat, uuidArgs{serviceUUID}, &out)
}

// UpdateComputeNode: see Service.UpdateComputeNode.
func (c *Client) UpdateComputeNode(ctx context.Context, n *compute.ComputeNode) (*compute.ComputeNode, error) {
	var out *compute.ComputeNode
	return out, c.call(ctx, mComputeNodeUpdate, n, &out)
}

// GetMigration: see Service.GetMigration.
func (c *Client) GetMigration(ctx context.Context, uuid string) (*compute.Migration, error) {
	var out *compute.Migration
	return out, c.call(ctx, mMigrationGet, uuidArgs{uuid}, &out)
}

// UpdateMigrationStatus: see Service.UpdateMigrationStatus.
func (c *Client) UpdateMigrationStatus(ctx context.Context, uuid string, expected []string, status string) (*compute.Migration, error) {
	var out *compute.Migration
	return out, c.call(ctx, mMigrationStatus, migrationStatusArgs{uuid, expected, status}, &out)
}

// MigrationsInProgress: see Service.MigrationsInProgress.
func (c *Client) MigrationsInProgress(ctx context.Context, host string) ([]*compute.Migration, error) {
	var out []*compute.Migration
	return out, c.call(ctx, mMigrationsInProg, serviceArgs{Host: host}, &out)
}

// BlockDeviceMappings: see Service.BlockDeviceMappings.
func (c *Client) BlockDeviceMappings(ctx context.Context, instanceUUID string) ([]compute.BlockDeviceMapping, error) {
	var out []compute.BlockDeviceMapping
	return out, c.call(ctx, mBlockDeviceMappings, uuidArgs{instanceUUID}, &out)
}

// GetRequestSpec: see Service.GetRequestSpec.
func (c *Client) GetRequestSpec(ctx context.Context, instanceUUID string) (*compute.RequestSpec, error) {
	var out *compute.RequestSpec
	return out, c.call(ctx, mRequestSpecGet, uuidArgs{instanceUUID}, &out)
}
