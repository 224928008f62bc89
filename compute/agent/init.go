package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/queue"
)

// register adds the RPC handlers to srv.
func (a *Agent) register(srv *queue.Server) error {
	casts := map[string]func(context.Context, Args) error{
		MethodBuildAndRun:    a.buildAndRun,
		MethodTerminate:      a.terminateInstance,
		MethodStop:           a.stopInstance,
		MethodStart:          a.startInstance,
		MethodReboot:         a.rebootInstance,
		MethodPause:          a.pauseInstance,
		MethodUnpause:        a.unpauseInstance,
		MethodSuspend:        a.suspendInstance,
		MethodResume:         a.resumeInstance,
		MethodSnapshot:       a.snapshotInstance,
		MethodShelve:         a.shelveInstance,
		MethodShelveOffload:  a.shelveOffloadInstance,
		MethodUnshelve:       a.unshelveInstance,
		MethodRebuild:        a.rebuildInstance,
		MethodPrepResize:     a.prepResize,
		MethodResizeInstance: a.resizeInstance,
		MethodFinishResize:   a.finishResize,
		MethodConfirmResize:  a.confirmResize,
		MethodRevertResize:   a.revertResize,
		MethodFinishRevert:   a.finishRevertResize,
	}
	for m, fn := range casts {
		if err := queue.Handle(srv, m, func(ctx context.Context, args Args) (struct{}, error) {
			err := fn(ctx, args)
			if isStateConflict(err) {
				err = nil // a stale or repeated message, or a lost race: logged, nothing to report
			}
			return struct{}{}, err
		}); err != nil {
			return err
		}
	}
	return queue.Handle(srv, MethodGetConsoleOutput, a.getConsoleOutput)
}

var buildingTasks = []compute.TaskState{
	compute.TaskScheduling, compute.TaskBlockDeviceMapping, compute.TaskNetworking, compute.TaskSpawning,
}

// initHost is Nova's init_host: re-attach guests, finish or undo what the
// previous run left half-done, destroy guests of deleted or evacuated
// instances. Failures are logged; the agent starts anyway.
func (a *Agent) initHost(ctx context.Context) {
	insts, err := a.o.Conductor.ListInstances(ctx, compute.InstanceFilter{Host: a.o.Host})
	if err != nil {
		a.log.Warn("agent: init_host: list instances", "err", err)
		return
	}
	a.destroyOrphans(ctx)
	for _, inst := range insts {
		if err := a.initInstance(ctx, inst); err != nil && ctx.Err() == nil {
			a.log.Warn("agent: init_host: instance", "instance", inst.UUID, "err", err)
		}
	}
}

// destroyOrphans destroys the guests whose instances are deleted, or
// live on another host with no move in progress involving this one
// (Nova's _destroy_evacuated_instances and the running-deleted cleanup).
func (a *Agent) destroyOrphans(ctx context.Context) {
	guests, err := a.o.Driver.ListGuests(ctx)
	if err != nil || len(guests) == 0 {
		if err != nil {
			a.log.Warn("agent: init_host: list guests", "err", err)
		}
		return
	}
	uuids := make([]string, len(guests))
	for i, g := range guests {
		uuids[i] = g.UUID
	}
	insts, err := a.o.Conductor.ListInstances(ctx, compute.InstanceFilter{UUIDs: uuids, Deleted: compute.ReadDeletedYes})
	if err != nil {
		a.log.Warn("agent: init_host: look up guests' instances", "err", err)
		return
	}
	byUUID := map[string]*compute.Instance{}
	for _, in := range insts {
		byUUID[in.UUID] = in
	}
	moving := map[string]bool{}
	if ms, err := a.o.Conductor.MigrationsInProgress(ctx, a.o.Host); err == nil {
		for _, m := range ms {
			if m.MigrationType != compute.MigrationTypeEvacuate {
				moving[m.InstanceUUID] = true
			}
		}
	} else {
		a.log.Warn("agent: init_host: migrations in progress", "err", err)
		return
	}
	for _, g := range guests {
		in := byUUID[g.UUID]
		if in == nil {
			continue // not ours to judge: leave unknown guests alone
		}
		gone := in.Deleted || in.VMState == compute.VMDeleted
		away := !gone && in.Host != "" && in.Host != a.o.Host && !moving[in.UUID]
		if !gone && !away {
			continue
		}
		a.log.Info("agent: destroying guest of a deleted or moved instance", "instance", g.UUID, "deleted", gone, "host", in.Host)
		if err := compute.IgnoreNotFound(a.o.Driver.Destroy(ctx, g, compute.DestroyOptions{KeepDisks: away})); err != nil {
			a.log.Warn("agent: destroy orphan guest", "instance", g.UUID, "err", err)
			continue
		}
		if away {
			a.dropNodeAllocation(ctx, in)
		}
	}
}

// dropNodeAllocation removes this node's part of an evacuated
// instance's allocations (Nova's remove_provider_tree_from_instance_allocation
// when the source comes back).
func (a *Agent) dropNodeAllocation(ctx context.Context, inst *compute.Instance) {
	node := a.Node()
	if node == nil {
		return
	}
	c, err := a.o.Placement.Consumer(ctx, inst.UUID)
	if err != nil {
		return
	}
	if _, ok := c.Allocations[node.UUID]; !ok {
		return
	}
	rest := map[string]map[string]int64{}
	for rp, pa := range c.Allocations {
		if rp != node.UUID {
			rest[rp] = pa.Resources
		}
	}
	gen := c.Generation
	if err := a.o.Placement.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
		inst.UUID: {Project: c.Project, User: c.User, Generation: &gen, Allocations: rest},
	}); err != nil {
		a.log.Warn("agent: drop the evacuated instance's allocation here", "instance", inst.UUID, "err", err)
	}
}

// initInstance brings one instance of this host to a steady state, as
// Nova's _init_instance does.
func (a *Agent) initInstance(ctx context.Context, inst *compute.Instance) error {
	unlock, err := a.locks.lock(ctx, inst.UUID)
	if err != nil {
		return err
	}
	defer unlock()
	inst, err = a.o.Conductor.GetInstance(ctx, inst.UUID)
	if err != nil {
		return compute.IgnoreNotFound(err)
	}
	g := compute.GuestOf(inst)
	if rec, ok := a.o.Driver.(compute.Recoverer); ok && a.caps.Recover && !g.Handle.IsZero() {
		h, err := rec.Recover(ctx, g)
		switch {
		case err == nil && !slices.Equal(h.Encode(), inst.DriverHandle):
			if in := a.update(ctx, inst.UUID, compute.InstanceUpdate{DriverHandle: h.Encode()}); in != nil {
				inst = in
			}
			g.Handle = h
		case err != nil && !errors.Is(err, compute.ErrNotFound):
			a.log.Warn("agent: recover guest", "instance", inst.UUID, "err", err)
		}
	}
	restart := fmt.Errorf("the compute service on %s restarted while the instance was %s/%s", a.o.Host, inst.VMState, orNone(inst.TaskState))
	errorOut := func() error {
		a.fault(ctx, inst.UUID, restart)
		_, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{inst.TaskState},
			VMState:            compute.Ptr(compute.VMError), TaskState: compute.Ptr(compute.TaskNone),
			PowerState: compute.Ptr(a.powerState(ctx, g)),
		})
		return err
	}
	clearTask := func() error {
		_, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{inst.TaskState},
			TaskState:          compute.Ptr(compute.TaskNone), PowerState: compute.Ptr(a.powerState(ctx, g)),
		})
		return err
	}
	t := inst.TaskState
	switch {
	case (inst.VMState == compute.VMSoftDeleted || inst.VMState == compute.VMError) &&
		t != compute.TaskResizeMigrating && t != compute.TaskDeleting:
		return nil
	case inst.VMState == compute.VMDeleted:
		// A delete that stopped after the state change: finish it.
		return a.terminate(ctx, inst)
	case inst.VMState == compute.VMBuilding || slices.Contains(buildingTasks, t):
		// The build died with the service: the instance goes to ERROR,
		// a half-made guest is destroyed and its claim released, so
		// nothing stays stuck or counted.
		if err := errorOut(); err != nil {
			return err
		}
		if err := a.o.Driver.Destroy(ctx, g, compute.DestroyOptions{}); err != nil && !errors.Is(err, compute.ErrNotFound) {
			a.log.Warn("agent: destroy the guest of a build interrupted by a restart", "instance", inst.UUID, "err", err)
		}
		return a.deleteAllocations(ctx, inst.UUID)
	case slices.Contains(rebuildTasks, t):
		return errorOut()
	case t == compute.TaskDeleting:
		return a.terminate(ctx, inst)
	case slices.Contains(snapshotTasks, t), t == compute.TaskImageBackup:
		return clearTask()
	case t == compute.TaskResizeMigrating:
		// Crashed while sending the disks: bring the guest back here.
		return a.initRevertMigrating(ctx, inst, restart)
	case slices.Contains(resizeTasks, t), t == compute.TaskResizeReverting, t == compute.TaskResizeConfirming:
		return errorOut()
	case slices.Contains(softRebootTasks, t), slices.Contains(hardRebootTasks, t):
		return a.initReboot(ctx, inst, g)
	case t == compute.TaskPoweringOff:
		return a.initRedo(ctx, inst, func() error { return a.o.Driver.PowerOff(ctx, g, a.o.ShutdownTimeout) }, compute.VMStopped)
	case t == compute.TaskPoweringOn:
		return a.initRedo(ctx, inst, func() error { return a.o.Driver.PowerOn(ctx, g) }, compute.VMActive)
	case t != compute.TaskNone:
		// pausing, suspending, shelving …: the power-state sync will
		// reconcile the vm_state; the task is over.
		return clearTask()
	}
	ps := a.powerState(ctx, g)
	if ps != inst.PowerState {
		_, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskNone}, PowerState: &ps,
		})
		return err
	}
	return nil
}

func orNone(t compute.TaskState) string {
	if t == compute.TaskNone {
		return "None"
	}
	return string(t)
}

// initReboot retries a reboot that was pending, or finishes one that
// started, as Nova's _retry_reboot decides.
func (a *Agent) initReboot(ctx context.Context, inst *compute.Instance, g compute.Guest) error {
	ps := a.powerState(ctx, g)
	t := inst.TaskState
	started := t == compute.TaskRebootStarted || t == compute.TaskRebootStartedHard
	if started && ps == compute.PowerRunning {
		_, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{t}, VMState: compute.Ptr(compute.VMActive),
			TaskState: compute.Ptr(compute.TaskNone), PowerState: &ps,
		})
		return err
	}
	kind, tasks, st := compute.RebootSoft, softRebootTasks, compute.TaskRebootStarted
	if started || slices.Contains(hardRebootTasks, t) {
		kind, tasks, st = compute.RebootHard, append(slices.Clone(hardRebootTasks), softRebootTasks...), compute.TaskRebootStartedHard
	}
	return a.reboot(ctx, inst, kind, tasks, st)
}

// initRedo repeats a stop or start that the previous run did not finish.
func (a *Agent) initRedo(ctx context.Context, inst *compute.Instance, call func() error, to compute.VMState) error {
	t := inst.TaskState
	if err := call(); err != nil {
		a.fault(ctx, inst.UUID, err)
		_, uerr := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{t}, TaskState: compute.Ptr(compute.TaskNone),
		})
		return errors.Join(err, uerr)
	}
	_, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{t}, VMState: &to, TaskState: compute.Ptr(compute.TaskNone),
		PowerState: compute.Ptr(a.powerState(ctx, compute.GuestOf(inst))),
	})
	return err
}

// initRevertMigrating rolls back a resize that stopped while the source
// was sending the disks: the source brings its guest back.
func (a *Agent) initRevertMigrating(ctx context.Context, inst *compute.Instance, cause error) error {
	ms, err := a.o.Conductor.MigrationsInProgress(ctx, a.o.Host)
	if err != nil {
		return err
	}
	var m *compute.Migration
	for _, x := range ms {
		if x.InstanceUUID == inst.UUID && x.SourceCompute == a.o.Host {
			m = x
		}
	}
	cm, cerr := a.coldMigrator()
	if m == nil || cerr != nil {
		a.fault(ctx, inst.UUID, cause)
		a.setError(ctx, inst.UUID, []compute.TaskState{inst.TaskState})
		return nil
	}
	old := inst.Flavor
	if inst.OldFlavor != nil {
		old = *inst.OldFlavor
	}
	powerOn := inst.SystemMetadata[sysOldVMState] != string(compute.VMStopped)
	h, err := cm.FinishRevertMigration(ctx, compute.Guest{UUID: inst.UUID}, compute.RevertMigrationSpec{Migration: *m, Flavor: old, PowerOn: powerOn})
	if err != nil {
		a.fault(ctx, inst.UUID, err)
		a.setError(ctx, inst.UUID, []compute.TaskState{inst.TaskState})
		a.migrationStatus(ctx, m, nil, compute.MigrationError)
		return nil
	}
	a.revertAllocations(ctx, inst, m)
	a.migrationStatus(ctx, m, nil, compute.MigrationError)
	_, err = a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{inst.TaskState}, TaskState: compute.Ptr(compute.TaskNone),
		PowerState:   compute.Ptr(a.powerState(ctx, compute.Guest{UUID: inst.UUID, Handle: h})),
		DriverHandle: h.Encode(), ClearResizeFlavors: true, Flavor: &old,
	})
	return err
}

// SyncPowerStates compares every instance of this host that runs no task
// with what the driver reports, and reconciles them as Nova's
// _sync_power_states does: the stored power state follows the
// hypervisor; an active instance whose guest shut down, crashed or was
// suspended is stopped (an action "stop" is recorded); a stopped one
// whose guest runs is forced off again; a paused one whose guest shut
// down is stopped. Locked instances get their power state updated only.
// Run calls it at start and every PowerSyncInterval. Safe to call
// concurrently with operations: each instance is synced under its lock.
func (a *Agent) SyncPowerStates(ctx context.Context) {
	insts, err := a.o.Conductor.ListInstances(ctx, compute.InstanceFilter{Host: a.o.Host})
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("agent: power sync: list instances", "err", err)
		}
		return
	}
	for _, in := range insts {
		if ctx.Err() != nil {
			return
		}
		if in.TaskState != compute.TaskNone {
			continue
		}
		if err := a.syncPowerState(ctx, in.UUID); err != nil && ctx.Err() == nil {
			a.log.Warn("agent: power sync", "instance", in.UUID, "err", err)
		}
	}
}

func (a *Agent) syncPowerState(ctx context.Context, id string) error {
	unlock, err := a.locks.lock(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	inst, err := a.o.Conductor.GetInstance(ctx, id)
	if err != nil {
		return compute.IgnoreNotFound(err)
	}
	if inst.TaskState != compute.TaskNone || inst.Host != a.o.Host {
		return nil
	}
	g := compute.GuestOf(inst)
	ps := a.powerState(ctx, g)
	if ps != inst.PowerState {
		in, err := a.o.Conductor.UpdateInstance(ctx, id, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskNone}, PowerState: &ps,
		})
		if err != nil {
			return compute.IgnoreNotFound(err)
		}
		inst = in
	}
	off := ps == compute.PowerShutdown || ps == compute.PowerCrashed
	switch inst.VMState {
	case compute.VMActive:
		if off || ps == compute.PowerSuspended {
			if inst.Locked {
				return nil
			}
			a.log.Info("agent: power sync: instance shut down behind our back; stopping it", "instance", id, "power_state", ps)
			return a.syncStop(ctx, inst, g, "stop")
		}
		if ps == compute.PowerNoState || ps == compute.PowerPaused {
			a.log.Warn("agent: power sync: active instance's guest is not running", "instance", id, "power_state", ps)
		}
	case compute.VMStopped:
		if ps != compute.PowerNoState && ps != compute.PowerShutdown && ps != compute.PowerCrashed && !inst.Locked {
			a.log.Info("agent: power sync: stopped instance is running; forcing it off", "instance", id, "power_state", ps)
			return a.syncStop(ctx, inst, g, "stop")
		}
	case compute.VMPaused:
		if off && !inst.Locked {
			return a.syncStop(ctx, inst, g, "stop")
		}
	}
	return nil
}

// syncStop stops an instance on the power sync's behalf, as Nova's sync
// calls the compute API's stop (or force_stop): an action is recorded,
// the guest forced off, the instance stopped.
func (a *Agent) syncStop(ctx context.Context, inst *compute.Instance, g compute.Guest, action string) error {
	reqID := "req-" + uuid.NewString()
	if _, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedVMStates: []compute.VMState{inst.VMState}, ExpectedTaskStates: []compute.TaskState{compute.TaskNone},
		TaskState: compute.Ptr(compute.TaskPoweringOff),
	}); err != nil {
		return compute.IgnoreNotFound(err)
	}
	if err := a.o.Conductor.StartInstanceAction(ctx, &compute.InstanceAction{
		Action: action, InstanceUUID: inst.UUID, RequestID: reqID, UserID: inst.UserID, ProjectID: inst.ProjectID, StartTime: a.o.Now().UTC(),
	}); err != nil {
		a.log.Debug("agent: power sync: record action", "instance", inst.UUID, "err", err)
	}
	event := "compute_" + MethodStop
	started := a.startEvent(ctx, inst.UUID, reqID, event)
	err := a.o.Driver.PowerOff(ctx, g, 0)
	u := compute.InstanceUpdate{ExpectedTaskStates: []compute.TaskState{compute.TaskPoweringOff}, TaskState: compute.Ptr(compute.TaskNone)}
	if err == nil {
		u.VMState = compute.Ptr(compute.VMStopped)
		u.PowerState = compute.Ptr(a.powerState(ctx, g))
	} else {
		a.fault(ctx, inst.UUID, err)
	}
	_, uerr := a.o.Conductor.UpdateInstance(ctx, inst.UUID, u)
	err = errors.Join(err, uerr)
	if started {
		a.finishEvent(ctx, inst.UUID, reqID, event, err)
	}
	return err
}
