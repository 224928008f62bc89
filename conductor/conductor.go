package conductor

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/store"
)

// Scheduler is what the conductor needs from the scheduler
// (scheduler.Scheduler in-process, scheduler.Client over the queue).
type Scheduler interface {
	// SelectDestinations returns one list per instance uuid, in order:
	// first the chosen host, already claimed in placement with the
	// instance uuid as consumer, then alternates (not claimed). No host
	// fails with an error wrapping compute.ErrNoValidHost.
	SelectDestinations(ctx context.Context, spec *compute.RequestSpec, instanceUUIDs []string) ([][]compute.Selection, error)
}

// Placement is the subset of the placement method set the conductor uses:
// claiming an alternate's allocation request, releasing a consumer, and
// moving allocations between the instance and migration consumers.
// *placement.Index, store/placementstore.Service and placement/client.Client
// implement it.
type Placement interface {
	SetAllocations(ctx context.Context, allocs map[string]placement.ConsumerAllocations) error
	DeleteAllocations(ctx context.Context, consumer string) error
	Consumer(ctx context.Context, consumer string) (placement.Consumer, error)
}

// Config tunes a Service. The zero value is usable.
type Config struct {
	// MaxAttempts bounds the hosts one build is tried on, the first
	// included (Nova's [scheduler]max_attempts). Default 3.
	MaxAttempts int
	// ServiceDownTime is how long a compute service may go without a
	// heartbeat before it counts as down (evacuate needs its source
	// down). Default compute.DefaultServiceDownTime.
	ServiceDownTime time.Duration
	// StuckAfter is how long an instance or migration may sit in a
	// conductor-owned state (scheduling, pre-migrating, unshelving)
	// without an update before Recover takes it as abandoned. Default
	// 10 minutes; a negative value means "now" (everything found is
	// abandoned, as when no other conductor runs).
	StuckAfter time.Duration
	// Host is this conductor's host name, recorded on action events.
	Host string
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// Service is the conductor in-process: it runs the flows against the
// store, the scheduler, placement and the compute agents. It keeps no
// state of its own between calls: everything a flow needs to resume or
// roll back is in the database (instance states, migration records,
// request specs) and in placement (consumers), so several Services, in
// several processes, may run against one database, and Recover after a
// crash finds every abandoned flow. All methods are safe for concurrent
// use.
type Service struct {
	st     *store.Store
	sched  Scheduler
	pl     Placement
	agents Agent
	cfg    Config
	log    *slog.Logger
}

// New returns a conductor over the store, scheduler, placement and
// agents. None may be nil.
func New(st *store.Store, sched Scheduler, pl Placement, agents Agent, cfg Config) *Service {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.ServiceDownTime <= 0 {
		cfg.ServiceDownTime = compute.DefaultServiceDownTime
	}
	if cfg.StuckAfter == 0 {
		cfg.StuckAfter = 10 * time.Minute
	}
	if cfg.StuckAfter < 0 {
		cfg.StuckAfter = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Host == "" {
		cfg.Host = "conductor"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, sched: sched, pl: pl, agents: agents, cfg: cfg, log: log}
}

// Event names the conductor records on instance actions, as Nova names
// them.
const (
	EventScheduleAndBuild = "conductor_schedule_and_build_instances"
	EventBuildInstances   = "conductor_build_instances"
	EventMigrateServer    = "conductor_migrate_server"
	EventRebuildServer    = "conductor_rebuild_server"
	EventUnshelve         = "conductor_unshelve_instance"
)

// startEvent starts the conductor's event on the request's action,
// creating the action first when the API has not (idempotent by request
// id). Action-log failures never stop a flow: they are logged.
func (s *Service) startEvent(ctx context.Context, inst *compute.Instance, requestID, action, event string) {
	if requestID == "" {
		return
	}
	_, err := s.st.InstanceActions().StartEvent(ctx, inst.UUID, requestID, event, s.cfg.Host, time.Time{})
	if !errors.Is(err, compute.ErrNotFound) {
		if err != nil {
			s.log.Warn("conductor: recording event failed", "instance", inst.UUID, "event", event, "err", err)
		}
		return
	}
	_, err = s.st.InstanceActions().Start(ctx, &compute.InstanceAction{
		Action: action, InstanceUUID: inst.UUID, RequestID: requestID,
		UserID: inst.UserID, ProjectID: inst.ProjectID,
	})
	if err != nil && !errors.Is(err, compute.ErrConflict) {
		s.log.Warn("conductor: recording action failed", "instance", inst.UUID, "request_id", requestID, "err", err)
		return
	}
	if _, err := s.st.InstanceActions().StartEvent(ctx, inst.UUID, requestID, event, s.cfg.Host, time.Time{}); err != nil {
		s.log.Warn("conductor: recording event failed", "instance", inst.UUID, "event", event, "err", err)
	}
}

// finishEvent finishes the conductor's event with success (cause nil) or
// error.
func (s *Service) finishEvent(ctx context.Context, instanceUUID, requestID, event string, cause error) {
	if requestID == "" {
		return
	}
	result, tb := compute.EventSuccess, ""
	if cause != nil {
		result, tb = compute.EventError, cause.Error()
	}
	if _, err := s.st.InstanceActions().FinishEvent(ctx, instanceUUID, requestID, event, result, tb, tb); err != nil &&
		!errors.Is(err, compute.ErrNotFound) {
		s.log.Warn("conductor: finishing event failed", "instance", instanceUUID, "event", event, "err", err)
	}
}

// addFault records a fault; failures are logged.
func (s *Service) addFault(ctx context.Context, instanceUUID, host, message string, cause error) {
	f := &compute.InstanceFault{InstanceUUID: instanceUUID, Code: 500, Message: message, Host: host}
	if cause != nil {
		f.Details = cause.Error()
	}
	if _, err := s.st.Faults().Add(ctx, f); err != nil {
		s.log.Warn("conductor: recording fault failed", "instance", instanceUUID, "err", err)
	}
}

// noValidHostMessage is the fault message of an unschedulable instance,
// as Nova words it.
func noValidHostMessage(err error) string {
	return "No valid host was found. " + err.Error()
}

// transient reports whether err says that nothing was decided (the
// context ended, a backend is unreachable): the flow should be retried,
// not turned into an ERROR.
func transient(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, compute.ErrUnavailable) || errors.Is(err, compute.ErrTransient)
}
