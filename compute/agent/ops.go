package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/queue"
)

// failMode says what a failed operation does to the instance.
type failMode int

const (
	// failRevert sets the task state back to none (Nova's
	// reverts_task_state) and records a fault.
	failRevert failMode = iota
	// failError puts the instance in ERROR with a fault.
	failError
	// failNone records the fault and leaves the record alone (the
	// operation wrote its own outcome).
	failNone
)

// handled marks an error whose consequences the operation already wrote
// (fault, states): do only finishes the event.
type handled struct{ err error }

func (h *handled) Error() string { return h.err.Error() }
func (h *handled) Unwrap() error { return h.err }

// op is one instance operation run by do.
type op struct {
	method string
	inst   *compute.Instance // as the caller sent it
	// tasks are the task states the operation may leave the instance in
	// while it runs; reverting or erroring out expects one of them.
	tasks  []compute.TaskState
	onFail failMode
	// missingOK runs fn with the caller's record when the instance is
	// gone (terminate).
	missingOK bool
	// requestID overrides the request id from the message's context.
	requestID string
	// pre checks the instance as read before anything is recorded: a
	// message that finds the instance in another state (repeated,
	// stale) fails it and does nothing, not even an action event.
	pre func(inst *compute.Instance) error
	fn  func(ctx context.Context, inst *compute.Instance) error
}

// requestIDFrom returns the request id the message carries, or a new one.
func requestIDFrom(ctx context.Context) string {
	if rc, ok := queue.RequestContextFrom(ctx); ok && rc.RequestID != "" {
		return rc.RequestID
	}
	return "req-" + uuid.NewString()
}

// do runs an instance operation as Nova's compute manager decorators do:
// under the instance's lock, between an action event's start and finish,
// with a fault and a revert (or ERROR) when it fails.
func (a *Agent) do(ctx context.Context, o op) error {
	if o.inst == nil || o.inst.UUID == "" {
		return compute.InvalidInput("instance", "%s: is required", o.method)
	}
	ctx, cancel := a.opCtx(ctx)
	defer cancel()
	unlock, err := a.locks.lock(ctx, o.inst.UUID)
	if err != nil {
		return err
	}
	defer unlock()
	reqID := o.requestID
	if reqID == "" {
		reqID = requestIDFrom(ctx)
	}
	event := "compute_" + o.method
	inst, err := a.o.Conductor.GetInstance(ctx, o.inst.UUID)
	if errors.Is(err, compute.ErrNotFound) && o.missingOK {
		inst, err = o.inst, nil
	}
	if err == nil && o.pre != nil {
		if err := o.pre(inst); err != nil {
			a.log.Info("agent: ignoring a stale or repeated message", "method", o.method, "instance", inst.UUID, "err", err)
			return err
		}
	}
	evStarted := a.startEvent(ctx, o.inst.UUID, reqID, event)
	if err == nil {
		err = o.fn(ctx, inst)
	}
	if evStarted {
		a.finishEvent(ctx, o.inst.UUID, reqID, event, err)
	}
	if err == nil {
		return nil
	}
	var h *handled
	switch {
	case ctx.Err() != nil:
		// The agent is stopping: what is half-done is the next start's
		// to clean up (initHost).
		a.log.Warn("agent: operation interrupted", "method", o.method, "instance", o.inst.UUID, "err", err)
	case errors.As(err, &h):
	case errors.Is(err, compute.ErrNotFound) && inst == nil:
		a.log.Info("agent: instance gone", "method", o.method, "instance", o.inst.UUID)
	case isStateConflict(err):
		// Someone else changed the instance (a delete): theirs wins.
		a.log.Info("agent: instance changed under the operation", "method", o.method, "instance", o.inst.UUID, "err", err)
	default:
		a.log.Warn("agent: operation failed", "method", o.method, "instance", o.inst.UUID, "err", err)
		a.fault(ctx, o.inst.UUID, err)
		switch o.onFail {
		case failRevert:
			a.update(ctx, o.inst.UUID, compute.InstanceUpdate{ExpectedTaskStates: o.tasks, TaskState: compute.Ptr(compute.TaskNone)})
		case failError:
			a.setError(ctx, o.inst.UUID, o.tasks)
		}
	}
	return err
}

func isStateConflict(err error) bool {
	var sc *compute.StateConflictError
	return errors.As(err, &sc) || (errors.Is(err, compute.ErrConflict) && errors.Is(err, compute.ErrInvalidState))
}

// expect fails with a *compute.StateConflictError when inst is not in one
// of the task states: a repeated or stale message.
func expect(inst *compute.Instance, tasks ...compute.TaskState) error {
	for _, t := range tasks {
		if inst.TaskState == t {
			return nil
		}
	}
	return &compute.StateConflictError{InstanceUUID: inst.UUID, ExpectedTask: tasks, ActualVM: inst.VMState, ActualTask: inst.TaskState}
}

// taskOf is the task state the API sets for an action (compute.RuleFor).
func taskOf(act compute.Action) compute.TaskState {
	r, ok := compute.RuleFor(act)
	if !ok {
		panic("agent: no rule for action " + string(act))
	}
	return r.SetsTask
}

func (a *Agent) startEvent(ctx context.Context, uuid, reqID, event string) bool {
	if err := a.o.Conductor.StartInstanceEvent(ctx, uuid, reqID, event, a.o.Host); err != nil {
		a.log.Debug("agent: no action event", "instance", uuid, "request_id", reqID, "event", event, "err", err)
		return false
	}
	return true
}

func (a *Agent) finishEvent(ctx context.Context, uuid, reqID, event string, err error) {
	result, tb, details := compute.EventSuccess, "", ""
	if err != nil {
		result, tb, details = compute.EventError, err.Error(), err.Error()
	}
	wctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
	}
	if ferr := a.o.Conductor.FinishInstanceEvent(wctx, uuid, reqID, event, result, tb, details); ferr != nil {
		a.log.Debug("agent: finish action event", "instance", uuid, "event", event, "err", ferr)
	}
}

// faultCode is the HTTP-like code Nova records for an error.
func faultCode(err error) int {
	switch {
	case errors.Is(err, compute.ErrNotFound):
		return 404
	case errors.Is(err, compute.ErrInvalidInput):
		return 400
	case errors.Is(err, compute.ErrInvalidState), errors.Is(err, compute.ErrConflict):
		return 409
	case errors.Is(err, compute.ErrUnsupported):
		return 501
	}
	return 500
}

func (a *Agent) fault(ctx context.Context, uuid string, err error) {
	msg := err.Error()
	if len(msg) > 255 {
		msg = msg[:255]
	}
	f := &compute.InstanceFault{InstanceUUID: uuid, Code: faultCode(err), Message: msg, Details: err.Error(), Host: a.o.Host}
	if ferr := a.o.Conductor.AddInstanceFault(ctx, f); ferr != nil {
		a.log.Warn("agent: record fault", "instance", uuid, "err", ferr)
	}
}

// update writes u and logs a failure; it returns the stored instance or
// nil.
func (a *Agent) update(ctx context.Context, uuid string, u compute.InstanceUpdate) *compute.Instance {
	inst, err := a.o.Conductor.UpdateInstance(ctx, uuid, u)
	if err != nil {
		a.log.Warn("agent: update instance", "instance", uuid, "err", err)
		return nil
	}
	return inst
}

func (a *Agent) setError(ctx context.Context, uuid string, tasks []compute.TaskState) {
	a.update(ctx, uuid, compute.InstanceUpdate{
		ExpectedTaskStates: tasks,
		VMState:            compute.Ptr(compute.VMError),
		TaskState:          compute.Ptr(compute.TaskNone),
	})
}

// powerState asks the driver; a missing guest is NOSTATE.
func (a *Agent) powerState(ctx context.Context, g compute.Guest) compute.PowerState {
	info, err := a.o.Driver.Info(ctx, g)
	if err != nil {
		if !errors.Is(err, compute.ErrNotFound) {
			a.log.Warn("agent: guest info", "instance", g.UUID, "err", err)
		}
		return compute.PowerNoState
	}
	return info.PowerState
}

// deleteAllocations releases a consumer's allocations; a consumer that
// has none is fine.
func (a *Agent) deleteAllocations(ctx context.Context, consumer string) error {
	err := a.o.Placement.DeleteAllocations(ctx, consumer)
	if err != nil && !errors.Is(err, placement.ErrNotFound) && !errors.Is(err, compute.ErrNotFound) {
		return fmt.Errorf("release allocations of %s: %w", consumer, err)
	}
	return nil
}

// powerOp is stop, start, pause, unpause, suspend and resume: one driver
// call between the task state the API set and the vm_state it leads to.
func (a *Agent) powerOp(ctx context.Context, method string, in *compute.Instance, act compute.Action, to compute.VMState, call func(ctx context.Context, g compute.Guest) error) error {
	task := taskOf(act)
	return a.do(ctx, op{method: method, inst: in, tasks: []compute.TaskState{task}, onFail: failRevert,
		pre: func(inst *compute.Instance) error { return expect(inst, task) },
		fn: func(ctx context.Context, inst *compute.Instance) error {
			g := compute.GuestOf(inst)
			if err := call(ctx, g); err != nil {
				return err
			}
			_, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
				ExpectedTaskStates: []compute.TaskState{task},
				VMState:            compute.Ptr(to),
				TaskState:          compute.Ptr(compute.TaskNone),
				PowerState:         compute.Ptr(a.powerState(ctx, g)),
			})
			return err
		}})
}

func (a *Agent) stopInstance(ctx context.Context, args Args) error {
	timeout := time.Duration(0)
	if args.CleanShutdown {
		timeout = a.o.ShutdownTimeout
	}
	return a.powerOp(ctx, MethodStop, args.Instance, compute.ActionStop, compute.VMStopped,
		func(ctx context.Context, g compute.Guest) error { return a.o.Driver.PowerOff(ctx, g, timeout) })
}

func (a *Agent) startInstance(ctx context.Context, args Args) error {
	return a.powerOp(ctx, MethodStart, args.Instance, compute.ActionStart, compute.VMActive, a.o.Driver.PowerOn)
}

func (a *Agent) pauseInstance(ctx context.Context, args Args) error {
	return a.powerOp(ctx, MethodPause, args.Instance, compute.ActionPause, compute.VMPaused, a.o.Driver.Pause)
}

func (a *Agent) unpauseInstance(ctx context.Context, args Args) error {
	return a.powerOp(ctx, MethodUnpause, args.Instance, compute.ActionUnpause, compute.VMActive, a.o.Driver.Unpause)
}

func (a *Agent) suspendInstance(ctx context.Context, args Args) error {
	return a.powerOp(ctx, MethodSuspend, args.Instance, compute.ActionSuspend, compute.VMSuspended, a.o.Driver.Suspend)
}

func (a *Agent) resumeInstance(ctx context.Context, args Args) error {
	return a.powerOp(ctx, MethodResume, args.Instance, compute.ActionResume, compute.VMActive, a.o.Driver.Resume)
}

var (
	softRebootTasks = []compute.TaskState{compute.TaskRebooting, compute.TaskRebootPending, compute.TaskRebootStarted}
	hardRebootTasks = []compute.TaskState{compute.TaskRebootingHard, compute.TaskRebootPendingHard, compute.TaskRebootStartedHard}
)

// rebootInstance reboots as Nova does: task reboot_started(_hard), the
// driver's reboot, then active. A failed reboot that leaves the guest
// running only records a fault; otherwise the instance goes to ERROR.
func (a *Agent) rebootInstance(ctx context.Context, args Args) error {
	kind := args.RebootType
	if kind == "" {
		kind = compute.RebootSoft
	}
	tasks, started := softRebootTasks, compute.TaskRebootStarted
	if kind == compute.RebootHard {
		tasks, started = hardRebootTasks, compute.TaskRebootStartedHard
	}
	return a.do(ctx, op{method: MethodReboot, inst: args.Instance, tasks: tasks, onFail: failNone,
		pre: func(inst *compute.Instance) error { return expect(inst, tasks...) },
		fn: func(ctx context.Context, inst *compute.Instance) error {
			return a.reboot(ctx, inst, kind, tasks, started)
		}})
}

func (a *Agent) reboot(ctx context.Context, inst *compute.Instance, kind compute.RebootType, tasks []compute.TaskState, started compute.TaskState) error {
	if err := expect(inst, tasks...); err != nil {
		return err
	}
	if _, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: tasks, TaskState: compute.Ptr(started),
	}); err != nil {
		return err
	}
	g := compute.GuestOf(inst)
	rerr := a.o.Driver.Reboot(ctx, g, kind)
	if rerr != nil && ctx.Err() != nil {
		return rerr
	}
	ps := a.powerState(ctx, g)
	u := compute.InstanceUpdate{ExpectedTaskStates: []compute.TaskState{started}, TaskState: compute.Ptr(compute.TaskNone), PowerState: &ps}
	if rerr == nil || ps == compute.PowerRunning {
		u.VMState = compute.Ptr(compute.VMActive)
	} else {
		u.VMState = compute.Ptr(compute.VMError)
	}
	if rerr != nil {
		a.fault(ctx, inst.UUID, rerr)
	}
	if _, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, u); err != nil {
		return err
	}
	if rerr != nil {
		return &handled{rerr}
	}
	return nil
}

// terminateInstance is Nova's _delete_instance: destroy the guest, mark
// the record deleted, release the allocations. A failure puts the
// instance in ERROR (the delete may be asked again).
func (a *Agent) terminateInstance(ctx context.Context, args Args) error {
	return a.do(ctx, op{method: MethodTerminate, inst: args.Instance, onFail: failError, missingOK: true,
		fn: func(ctx context.Context, inst *compute.Instance) error { return a.terminate(ctx, inst) }})
}

func (a *Agent) terminate(ctx context.Context, inst *compute.Instance) error {
	if err := compute.IgnoreNotFound(a.o.Driver.Destroy(ctx, compute.GuestOf(inst), compute.DestroyOptions{})); err != nil {
		return fmt.Errorf("destroy guest: %w", err)
	}
	// Allocations go before the record is marked deleted: whoever sees
	// the instance deleted sees its resources free, and a crash between
	// the two leaves the instance in deleting, which the next start
	// finishes (both steps are idempotent).
	if err := a.deleteAllocations(ctx, inst.UUID); err != nil {
		return err
	}
	if !inst.Deleted {
		if _, err := a.o.Conductor.SoftDeleteInstance(ctx, inst.UUID, compute.InstanceUpdate{}); err != nil && !errors.Is(err, compute.ErrNotFound) {
			return err
		}
	}
	return nil
}

func (a *Agent) getConsoleOutput(ctx context.Context, args Args) (string, error) {
	if args.Instance == nil {
		return "", compute.InvalidInput("instance", "is required")
	}
	inst, err := a.o.Conductor.GetInstance(ctx, args.Instance.UUID)
	if err != nil {
		return "", err
	}
	out, err := a.o.Driver.ConsoleOutput(ctx, compute.GuestOf(inst))
	if err != nil {
		return "", err
	}
	return tail(string(out), args.TailLines), nil
}

// tail returns the last n lines of s (all of s when n <= 0).
func tail(s string, n int) string {
	if n <= 0 {
		return s
	}
	t := strings.TrimSuffix(s, "\n")
	i := len(t)
	for range n {
		j := strings.LastIndexByte(t[:i], '\n')
		if j < 0 {
			return s
		}
		i = j
	}
	return s[i+1:]
}
