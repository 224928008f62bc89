package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
)

// System metadata keys the agent keeps, Nova's.
const (
	sysOldVMState     = "old_vm_state"
	sysShelvedAt      = "shelved_at"
	sysShelvedImageID = "shelved_image_id"
	sysShelvedHost    = "shelved_host"
)

func (a *Agent) coldMigrator() (compute.ColdMigrator, error) {
	cm, ok := a.o.Driver.(compute.ColdMigrator)
	if !ok || !a.caps.Resize {
		return nil, compute.Unsupported(a.o.Host, "resize")
	}
	return cm, nil
}

func (a *Agent) migrationStatus(ctx context.Context, m *compute.Migration, expected []string, status string) {
	if m == nil {
		return
	}
	if _, err := a.o.Conductor.UpdateMigrationStatus(ctx, m.UUID, expected, status); err != nil {
		a.log.Warn("agent: migration status", "migration", m.UUID, "status", status, "err", err)
	}
}

// freshMigration re-reads the migration the caller sent (its copy may be
// older than the record); a migration the conductor does not know is an
// error.
func (a *Agent) freshMigration(ctx context.Context, m *compute.Migration) (*compute.Migration, error) {
	cur, err := a.o.Conductor.GetMigration(ctx, m.UUID)
	if err != nil {
		return nil, fmt.Errorf("migration %s: %w", m.UUID, err)
	}
	return cur, nil
}

var resizeTasks = []compute.TaskState{
	compute.TaskResizePrep, compute.TaskResizeMigrating, compute.TaskResizeMigrated, compute.TaskResizeFinish,
}

// prepResize runs on the destination (Nova's prep_resize): the resources
// are claimed in placement already; it checks that the driver can take
// the guest, records the flavors on the instance and asks the source to
// send the guest.
func (a *Agent) prepResize(ctx context.Context, args Args) error {
	m := args.Migration
	if m == nil || args.Migrate == nil {
		return compute.InvalidInput("migration", "prep_resize needs the migration and the request")
	}
	return a.do(ctx, op{method: MethodPrepResize, inst: args.Instance, tasks: resizeTasks, onFail: failNone,
		pre: func(inst *compute.Instance) error { return expect(inst, compute.TaskResizePrep) },
		fn: func(ctx context.Context, inst *compute.Instance) error {
			err := a.prep(ctx, inst, m, args.Migrate)
			if err != nil && ctx.Err() == nil && !isStateConflict(err) {
				// No reschedule of resizes here: give the source its
				// allocation back and leave the instance as it was.
				a.fault(ctx, inst.UUID, err)
				a.migrationStatus(ctx, m, nil, compute.MigrationError)
				a.revertAllocations(ctx, inst, m)
				a.update(ctx, inst.UUID, compute.InstanceUpdate{ExpectedTaskStates: resizeTasks, TaskState: compute.Ptr(compute.TaskNone)})
				return &handled{err}
			}
			return err
		}})
}

func (a *Agent) prep(ctx context.Context, inst *compute.Instance, m *compute.Migration, req *compute.MigrateRequest) error {
	if _, err := a.coldMigrator(); err != nil {
		return err
	}
	if m.SourceCompute == a.o.Host && !a.caps.ResizeSameHost {
		return compute.Unsupported(a.o.Host, "resize to the same host")
	}
	newFlavor := inst.Flavor
	if req.NewFlavor != nil {
		newFlavor = *req.NewFlavor
	}
	sys := maps.Clone(inst.SystemMetadata)
	if sys == nil {
		sys = map[string]string{}
	}
	sys[sysOldVMState] = string(inst.VMState)
	old := inst.Flavor
	inst, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskResizePrep},
		OldFlavor:          &old, NewFlavor: &newFlavor, SystemMetadata: sys,
	})
	if err != nil {
		return err
	}
	return a.client.ResizeInstance(ctx, m.SourceCompute, inst, m, *req)
}

// revertAllocations gives the instance consumer back the allocations the
// conductor moved to the migration consumer (Nova's _revert_allocation).
func (a *Agent) revertAllocations(ctx context.Context, inst *compute.Instance, m *compute.Migration) {
	mc, err := a.o.Placement.Consumer(ctx, m.UUID)
	if err != nil {
		if !errors.Is(err, placement.ErrNotFound) {
			a.log.Warn("agent: read migration allocations", "migration", m.UUID, "err", err)
		}
		return
	}
	allocs := map[string]map[string]int64{}
	for rp, pa := range mc.Allocations {
		allocs[rp] = maps.Clone(pa.Resources)
	}
	ic, err := a.o.Placement.Consumer(ctx, inst.UUID)
	var igen *int64
	if err == nil {
		igen = &ic.Generation
	}
	mgen := mc.Generation
	err = a.o.Placement.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
		inst.UUID: {Project: inst.ProjectID, User: inst.UserID, ConsumerType: placement.ConsumerTypeInstance, Generation: igen, Allocations: allocs},
		m.UUID:    {Project: mc.Project, User: mc.User, Generation: &mgen},
	})
	if err != nil {
		a.log.Warn("agent: revert allocations", "instance", inst.UUID, "migration", m.UUID, "err", err)
	}
}

// resizeInstance runs on the source (Nova's resize_instance): it powers
// the guest off and sends its disks, moves the instance to the
// destination host and asks the destination to finish.
func (a *Agent) resizeInstance(ctx context.Context, args Args) error {
	m := args.Migration
	if m == nil || args.Migrate == nil {
		return compute.InvalidInput("migration", "resize_instance needs the migration and the request")
	}
	return a.do(ctx, op{method: MethodResizeInstance, inst: args.Instance, tasks: resizeTasks, onFail: failError,
		pre: func(inst *compute.Instance) error { return expect(inst, compute.TaskResizePrep) },
		fn: func(ctx context.Context, inst *compute.Instance) error {
			err := a.resizeSource(ctx, inst, m, args.Migrate)
			if err != nil && ctx.Err() == nil && !isStateConflict(err) {
				a.migrationStatus(ctx, m, nil, compute.MigrationError)
			}
			return err
		}})
}

func (a *Agent) resizeSource(ctx context.Context, inst *compute.Instance, m *compute.Migration, req *compute.MigrateRequest) error {
	cm, err := a.coldMigrator()
	if err != nil {
		return err
	}
	a.migrationStatus(ctx, m, nil, compute.MigrationMigrating)
	inst, err = a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskResizePrep}, TaskState: compute.Ptr(compute.TaskResizeMigrating),
	})
	if err != nil {
		return err
	}
	flavor := inst.Flavor
	if inst.NewFlavor != nil {
		flavor = *inst.NewFlavor
	}
	timeout := time.Duration(0)
	if req.CleanShutdown {
		timeout = a.o.ShutdownTimeout
	}
	diskInfo, err := cm.MigrateDiskAndPowerOff(ctx, compute.GuestOf(inst), compute.MigrateSpec{
		Migration: *m, DestHost: m.DestCompute, Flavor: flavor, PowerOffTimeout: timeout,
	})
	if err != nil {
		return err
	}
	a.migrationStatus(ctx, m, nil, compute.MigrationPostMigrating)
	inst, err = a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskResizeMigrating},
		TaskState:          compute.Ptr(compute.TaskResizeMigrated),
		PowerState:         compute.Ptr(compute.PowerShutdown),
		Host:               compute.Ptr(m.DestCompute),
		Node:               compute.Ptr(m.DestNode),
	})
	if err != nil {
		return err
	}
	return a.client.FinishResize(ctx, m.DestCompute, inst, m, *req, diskInfo)
}

// finishResize runs on the destination (Nova's finish_resize): it brings
// the guest up from the migrated disks with the new flavor; the instance
// is then resized (VERIFY_RESIZE).
func (a *Agent) finishResize(ctx context.Context, args Args) error {
	m := args.Migration
	if m == nil {
		return compute.InvalidInput("migration", "finish_resize needs the migration")
	}
	return a.do(ctx, op{method: MethodFinishResize, inst: args.Instance, tasks: resizeTasks, onFail: failError,
		pre: func(inst *compute.Instance) error { return expect(inst, compute.TaskResizeMigrated) },
		fn: func(ctx context.Context, inst *compute.Instance) error {
			err := a.finishDest(ctx, inst, m, args.DiskInfo)
			if err != nil && ctx.Err() == nil && !isStateConflict(err) {
				a.migrationStatus(ctx, m, nil, compute.MigrationError)
			}
			return err
		}})
}

func (a *Agent) finishDest(ctx context.Context, inst *compute.Instance, m *compute.Migration, diskInfo []byte) error {
	cm, err := a.coldMigrator()
	if err != nil {
		return err
	}
	inst, err = a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskResizeMigrated}, TaskState: compute.Ptr(compute.TaskResizeFinish),
	})
	if err != nil {
		return err
	}
	flavor := inst.Flavor
	if inst.NewFlavor != nil {
		flavor = *inst.NewFlavor
	}
	image, err := a.imageMeta(ctx, inst.ImageRef)
	if err != nil {
		image = compute.ImageMeta{ID: inst.ImageRef}
	}
	bdms, _ := a.o.Conductor.BlockDeviceMappings(ctx, inst.UUID)
	powerOn := inst.SystemMetadata[sysOldVMState] != string(compute.VMStopped)
	h, err := cm.FinishMigration(ctx, compute.FinishMigrationSpec{
		SpawnSpec: compute.SpawnSpec{Instance: inst, Flavor: flavor, Image: image, BlockDevices: bdms, KeyData: inst.KeyData, PowerOn: powerOn},
		Migration: *m, DiskInfo: diskInfo, ResizeInstance: inst.NewFlavor != nil && inst.NewFlavor.FlavorID != inst.Flavor.FlavorID,
	})
	if err != nil {
		return err
	}
	a.migrationStatus(ctx, m, nil, compute.MigrationFinished)
	_, err = a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskResizeFinish},
		VMState:            compute.Ptr(compute.VMResized),
		TaskState:          compute.Ptr(compute.TaskNone),
		PowerState:         compute.Ptr(a.powerState(ctx, compute.Guest{UUID: inst.UUID, Handle: h})),
		Flavor:             &flavor,
		DriverHandle:       h.Encode(),
	})
	return err
}

// confirmResize runs on the source (Nova's confirm_resize): the source
// drops what it kept and its allocation (held by the migration
// consumer); the instance goes back to active or stopped.
func (a *Agent) confirmResize(ctx context.Context, args Args) error {
	m := args.Migration
	if m == nil {
		return compute.InvalidInput("migration", "confirm_resize needs the migration")
	}
	return a.do(ctx, op{method: MethodConfirmResize, inst: args.Instance, onFail: failError,
		tasks: []compute.TaskState{compute.TaskNone, compute.TaskResizeConfirming},
		pre: func(inst *compute.Instance) error {
			if inst.VMState != compute.VMResized {
				return &compute.StateConflictError{InstanceUUID: inst.UUID, ExpectedVM: []compute.VMState{compute.VMResized}, ActualVM: inst.VMState, ActualTask: inst.TaskState}
			}
			return nil
		},
		fn: func(ctx context.Context, inst *compute.Instance) error {
			m, err := a.freshMigration(ctx, m)
			if err != nil {
				return err
			}
			cm, err := a.coldMigrator()
			if err != nil {
				return err
			}
			if err := cm.ConfirmMigration(ctx, compute.Guest{UUID: inst.UUID}, *m); err != nil && !errors.Is(err, compute.ErrNotFound) {
				a.migrationStatus(ctx, m, nil, compute.MigrationError)
				return err
			}
			if err := a.deleteAllocations(ctx, m.UUID); err != nil {
				return err
			}
			a.migrationStatus(ctx, m, nil, compute.MigrationConfirmed)
			// The guest lives on the destination: its recorded power
			// state says whether the instance is back to active or
			// stopped.
			vm := compute.VMActive
			if inst.PowerState == compute.PowerShutdown {
				vm = compute.VMStopped
			}
			_, err = a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
				ExpectedVMStates:   []compute.VMState{compute.VMResized},
				ExpectedTaskStates: []compute.TaskState{compute.TaskNone, compute.TaskResizeConfirming},
				VMState:            &vm, TaskState: compute.Ptr(compute.TaskNone), ClearResizeFlavors: true,
			})
			return err
		}})
}

// revertResize runs on the destination (Nova's revert_resize): it
// destroys the guest there and hands back to the source.
func (a *Agent) revertResize(ctx context.Context, args Args) error {
	m := args.Migration
	if m == nil {
		return compute.InvalidInput("migration", "revert_resize needs the migration")
	}
	task := taskOf(compute.ActionRevertResize)
	return a.do(ctx, op{method: MethodRevertResize, inst: args.Instance, tasks: []compute.TaskState{task}, onFail: failError,
		pre: func(inst *compute.Instance) error { return expect(inst, task) },
		fn: func(ctx context.Context, inst *compute.Instance) error {
			m, err := a.freshMigration(ctx, m)
			if err != nil {
				return err
			}
			if err := compute.IgnoreNotFound(a.o.Driver.Destroy(ctx, compute.GuestOf(inst), compute.DestroyOptions{})); err != nil {
				return err
			}
			a.migrationStatus(ctx, m, nil, compute.MigrationReverted)
			return a.client.FinishRevertResize(ctx, m.SourceCompute, inst, m)
		}})
}

// finishRevertResize runs on the source (Nova's finish_revert_resize):
// the allocations go back to the instance consumer, the guest comes back
// with its old flavor, and the instance is active (or stopped) on the
// source again.
func (a *Agent) finishRevertResize(ctx context.Context, args Args) error {
	m := args.Migration
	if m == nil {
		return compute.InvalidInput("migration", "finish_revert_resize needs the migration")
	}
	task := taskOf(compute.ActionRevertResize)
	return a.do(ctx, op{method: MethodFinishRevert, inst: args.Instance, tasks: []compute.TaskState{task}, onFail: failError,
		pre: func(inst *compute.Instance) error { return expect(inst, task) },
		fn: func(ctx context.Context, inst *compute.Instance) error {
			m, err := a.freshMigration(ctx, m)
			if err != nil {
				return err
			}
			return a.finishRevert(ctx, inst, m, task)
		}})
}

func (a *Agent) finishRevert(ctx context.Context, inst *compute.Instance, m *compute.Migration, task compute.TaskState) error {
	cm, err := a.coldMigrator()
	if err != nil {
		return err
	}
	old := inst.Flavor
	if inst.OldFlavor != nil {
		old = *inst.OldFlavor
	}
	a.revertAllocations(ctx, inst, m)
	powerOn := inst.SystemMetadata[sysOldVMState] != string(compute.VMStopped)
	h, err := cm.FinishRevertMigration(ctx, compute.Guest{UUID: inst.UUID}, compute.RevertMigrationSpec{Migration: *m, Flavor: old, PowerOn: powerOn})
	if err != nil {
		return err
	}
	vm := compute.VMActive
	if !powerOn {
		vm = compute.VMStopped
	}
	_, err = a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{task},
		VMState:            &vm, TaskState: compute.Ptr(compute.TaskNone),
		PowerState: compute.Ptr(a.powerState(ctx, compute.Guest{UUID: inst.UUID, Handle: h})),
		Host:       compute.Ptr(a.o.Host), Node: compute.Ptr(m.SourceNode),
		Flavor: &old, ClearResizeFlavors: true, DriverHandle: h.Encode(),
	})
	return err
}

// snapshotter returns the driver's Snapshotter and the image service.
func (a *Agent) snapshotter() (compute.Snapshotter, error) {
	s, ok := a.o.Driver.(compute.Snapshotter)
	if !ok || !a.caps.Snapshot {
		return nil, compute.Unsupported(a.o.Host, "snapshot")
	}
	if a.o.Images == nil {
		return nil, compute.Unsupported(a.o.Host, "snapshot (no image service configured)")
	}
	return s, nil
}

// snapshot uploads the guest's root disk into image id, moving the task
// state along (mapped by rename, for shelving).
func (a *Agent) snapshot(ctx context.Context, inst *compute.Instance, imageID string, from compute.TaskState, rename map[compute.TaskState]compute.TaskState) error {
	s, err := a.snapshotter()
	if err != nil {
		return err
	}
	name := inst.Name
	if m, err := a.o.Images.ImageMeta(ctx, imageID); err == nil && m.Name != "" {
		name = m.Name
	}
	cur := from
	var terr error
	step := func(t compute.TaskState) {
		if r, ok := rename[t]; ok {
			t = r
		}
		if terr != nil || t == cur {
			return
		}
		if _, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{cur}, TaskState: &t,
		}); err != nil {
			terr = err
			return
		}
		cur = t
	}
	err = s.Snapshot(ctx, compute.GuestOf(inst), compute.SnapshotSpec{
		ImageID: imageID, Name: name, TaskState: step,
		Upload: func(ctx context.Context, _ compute.ImageMeta, data io.Reader) error {
			step(compute.TaskImageUploading)
			if terr != nil {
				return terr
			}
			return a.o.Images.Upload(ctx, imageID, data)
		},
	})
	if err == nil {
		err = terr
	}
	return err
}

var snapshotTasks = []compute.TaskState{
	compute.TaskImageSnapshotPending, compute.TaskImageSnapshot, compute.TaskImagePendingUpload, compute.TaskImageUploading,
}

// snapshotInstance is Nova's snapshot_instance.
func (a *Agent) snapshotInstance(ctx context.Context, args Args) error {
	return a.do(ctx, op{method: MethodSnapshot, inst: args.Instance, tasks: snapshotTasks, onFail: failRevert,
		pre: func(inst *compute.Instance) error { return expect(inst, compute.TaskImageSnapshotPending) },
		fn: func(ctx context.Context, inst *compute.Instance) error {
			if _, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
				ExpectedTaskStates: []compute.TaskState{compute.TaskImageSnapshotPending}, TaskState: compute.Ptr(compute.TaskImageSnapshot),
			}); err != nil {
				return err
			}
			err := a.snapshot(ctx, inst, args.ImageID, compute.TaskImageSnapshot, nil)
			if err != nil {
				if a.o.Images != nil && ctx.Err() == nil {
					if derr := a.o.Images.DeleteImage(ctx, args.ImageID); derr != nil {
						a.log.Debug("agent: delete failed snapshot image", "image", args.ImageID, "err", derr)
					}
				}
				return err
			}
			_, err = a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
				ExpectedTaskStates: snapshotTasks, TaskState: compute.Ptr(compute.TaskNone),
			})
			return err
		}})
}

var shelveTasks = []compute.TaskState{
	compute.TaskShelving, compute.TaskShelvingImagePendingUpload, compute.TaskShelvingImageUploading, compute.TaskShelvingOffloading,
}

// shelveInstance is Nova's shelve_instance: power off, snapshot (unless
// volume-backed), shelved; and offloaded at once when
// ShelvedOffloadTime is 0.
func (a *Agent) shelveInstance(ctx context.Context, args Args) error {
	return a.do(ctx, op{method: MethodShelve, inst: args.Instance, tasks: shelveTasks, onFail: failRevert,
		pre: func(inst *compute.Instance) error { return expect(inst, compute.TaskShelving) },
		fn: func(ctx context.Context, inst *compute.Instance) error {
			g := compute.GuestOf(inst)
			timeout := time.Duration(0)
			if args.CleanShutdown {
				timeout = a.o.ShutdownTimeout
			}
			if err := a.o.Driver.PowerOff(ctx, g, timeout); err != nil {
				return err
			}
			if args.ImageID != "" {
				if err := a.snapshot(ctx, inst, args.ImageID, compute.TaskShelving, map[compute.TaskState]compute.TaskState{
					compute.TaskImagePendingUpload: compute.TaskShelvingImagePendingUpload,
					compute.TaskImageUploading:     compute.TaskShelvingImageUploading,
				}); err != nil {
					return err
				}
			}
			sys := maps.Clone(inst.SystemMetadata)
			if sys == nil {
				sys = map[string]string{}
			}
			sys[sysShelvedAt] = a.o.Now().UTC().Format(time.RFC3339)
			sys[sysShelvedImageID] = args.ImageID
			sys[sysShelvedHost] = a.o.Host
			// Offloading at once keeps a task running, so that the
			// instance is never seen idle in between (as Nova does).
			offload := a.o.ShelvedOffloadTime == 0
			next := compute.TaskNone
			if offload {
				next = compute.TaskShelvingOffloading
			}
			inst, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
				ExpectedTaskStates: shelveTasks,
				VMState:            compute.Ptr(compute.VMShelved),
				TaskState:          &next,
				PowerState:         compute.Ptr(a.powerState(ctx, g)),
				SystemMetadata:     sys,
			})
			if err != nil || !offload {
				return err
			}
			return a.offload(ctx, inst, []compute.TaskState{next})
		}})
}

// PollShelved offloads the shelved instances of this host that have been
// shelved for ShelvedOffloadTime or longer (Nova's
// _poll_shelved_instances); Run calls it every ShelvedPollInterval when
// ShelvedOffloadTime is positive. Each offload runs under the instance's
// lock with task state shelving_offloading.
func (a *Agent) PollShelved(ctx context.Context) {
	if a.o.ShelvedOffloadTime <= 0 {
		return
	}
	insts, err := a.o.Conductor.ListInstances(ctx, compute.InstanceFilter{
		Host: a.o.Host, VMStates: []compute.VMState{compute.VMShelved}, TaskStates: []compute.TaskState{compute.TaskNone},
	})
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("agent: poll shelved: list instances", "err", err)
		}
		return
	}
	now := a.o.Now()
	for _, in := range insts {
		at, err := time.Parse(time.RFC3339, in.SystemMetadata[sysShelvedAt])
		if err != nil || now.Sub(at) < a.o.ShelvedOffloadTime || in.TaskState != compute.TaskNone {
			continue
		}
		task := taskOf(compute.ActionShelveOffload)
		err = a.do(ctx, op{method: MethodShelveOffload, inst: in, requestID: "req-" + in.UUID, tasks: []compute.TaskState{task}, onFail: failRevert,
			fn: func(ctx context.Context, inst *compute.Instance) error {
				inst, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
					ExpectedVMStates: []compute.VMState{compute.VMShelved}, ExpectedTaskStates: []compute.TaskState{compute.TaskNone},
					TaskState: &task,
				})
				if err != nil {
					return err
				}
				return a.offload(ctx, inst, []compute.TaskState{task})
			}})
		if err != nil && ctx.Err() == nil {
			a.log.Warn("agent: poll shelved: offload", "instance", in.UUID, "err", err)
		}
	}
}

// shelveOffloadInstance is Nova's shelve_offload_instance.
func (a *Agent) shelveOffloadInstance(ctx context.Context, args Args) error {
	task := taskOf(compute.ActionShelveOffload)
	return a.do(ctx, op{method: MethodShelveOffload, inst: args.Instance, tasks: []compute.TaskState{task}, onFail: failRevert,
		pre: func(inst *compute.Instance) error { return expect(inst, task) },
		fn: func(ctx context.Context, inst *compute.Instance) error {
			return a.offload(ctx, inst, []compute.TaskState{task})
		}})
}

// offload destroys a shelved instance's guest, releases its allocations
// and takes it off the host.
func (a *Agent) offload(ctx context.Context, inst *compute.Instance, expected []compute.TaskState) error {
	if err := compute.IgnoreNotFound(a.o.Driver.Destroy(ctx, compute.GuestOf(inst), compute.DestroyOptions{})); err != nil {
		return err
	}
	if _, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedVMStates:   []compute.VMState{compute.VMShelved},
		ExpectedTaskStates: expected,
		VMState:            compute.Ptr(compute.VMShelvedOffloaded),
		TaskState:          compute.Ptr(compute.TaskNone),
		PowerState:         compute.Ptr(compute.PowerNoState),
		Host:               compute.Ptr(""),
		Node:               compute.Ptr(""),
	}); err != nil {
		return err
	}
	return a.deleteAllocations(ctx, inst.UUID)
}

// unshelveInstance is Nova's unshelve_instance: a shelved instance is
// powered on where it is; an offloaded one is spawned here from its
// shelved image (the scheduler claimed its resources). A failed unshelve
// of an offloaded instance leaves it offloaded, its claim released.
func (a *Agent) unshelveInstance(ctx context.Context, args Args) error {
	task := taskOf(compute.ActionUnshelve)
	return a.do(ctx, op{method: MethodUnshelve, inst: args.Instance, tasks: []compute.TaskState{task}, onFail: failRevert,
		pre: func(inst *compute.Instance) error { return expect(inst, task) },
		fn: func(ctx context.Context, inst *compute.Instance) error {
			sys := maps.Clone(inst.SystemMetadata)
			imageID := sys[sysShelvedImageID]
			delete(sys, sysShelvedAt)
			delete(sys, sysShelvedImageID)
			delete(sys, sysShelvedHost)
			if sys == nil {
				sys = map[string]string{}
			}
			u := compute.InstanceUpdate{
				ExpectedTaskStates: []compute.TaskState{task},
				VMState:            compute.Ptr(compute.VMActive),
				TaskState:          compute.Ptr(compute.TaskNone),
				SystemMetadata:     sys,
			}
			g := compute.GuestOf(inst)
			if inst.VMState == compute.VMShelved {
				if err := a.o.Driver.PowerOn(ctx, g); err != nil {
					return err
				}
			} else {
				node := a.nodeName()
				if args.Chosen != nil && args.Chosen.Nodename != "" {
					node = args.Chosen.Nodename
				}
				h, err := a.unshelveSpawn(ctx, inst, imageID)
				if err != nil {
					if ctx.Err() == nil {
						if derr := a.deleteAllocations(ctx, inst.UUID); derr != nil {
							a.log.Warn("agent: release allocations after failed unshelve", "instance", inst.UUID, "err", derr)
						}
					}
					return err
				}
				g.Handle = h
				u.Host, u.Node, u.DriverHandle = compute.Ptr(a.o.Host), &node, h.Encode()
			}
			u.PowerState = compute.Ptr(a.powerState(ctx, g))
			// The shelved snapshot has served; Nova deletes it before the
			// final save, so an unshelved instance never leaves it behind.
			if imageID != "" && a.o.Images != nil {
				if err := a.o.Images.DeleteImage(ctx, imageID); err != nil && !errors.Is(err, compute.ErrNotFound) {
					a.log.Warn("agent: delete shelved image", "instance", inst.UUID, "image", imageID, "err", err)
				}
			}
			if _, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, u); err != nil {
				return err
			}
			return nil
		}})
}

func (a *Agent) unshelveSpawn(ctx context.Context, inst *compute.Instance, imageID string) (compute.Handle, error) {
	image := compute.ImageMeta{}
	if imageID != "" {
		m, err := a.imageMeta(ctx, imageID)
		if err != nil {
			return compute.Handle{}, err
		}
		image = m
	}
	bdms, err := a.o.Conductor.BlockDeviceMappings(ctx, inst.UUID)
	if err != nil && !errors.Is(err, compute.ErrNotFound) {
		return compute.Handle{}, err
	}
	return a.o.Driver.Spawn(ctx, &compute.SpawnSpec{
		Instance: inst, Flavor: inst.Flavor, Image: image, BlockDevices: bdms, KeyData: inst.KeyData, PowerOn: true,
	})
}

var rebuildTasks = []compute.TaskState{compute.TaskRebuilding, compute.TaskRebuildBlockDeviceMapping, compute.TaskRebuildSpawning}

// rebuildInstance is Nova's rebuild_instance: in place (destroy and
// spawn again from the new image) or, for an evacuation, on this host
// for an instance whose host is down. A stopped instance stays stopped.
// Failure puts the instance in ERROR (and the evacuation's migration in
// failed).
func (a *Agent) rebuildInstance(ctx context.Context, args Args) error {
	if args.Rebuild == nil {
		return compute.InvalidInput("rebuild", "rebuild_instance needs the request")
	}
	req := args.Rebuild
	return a.do(ctx, op{method: MethodRebuild, inst: args.Instance, tasks: rebuildTasks, onFail: failError,
		pre: func(inst *compute.Instance) error { return expect(inst, compute.TaskRebuilding) },
		fn: func(ctx context.Context, inst *compute.Instance) error {
			err := a.rebuild(ctx, inst, req, args.Migration, args.Chosen)
			if err != nil && ctx.Err() == nil && !isStateConflict(err) && args.Migration != nil {
				a.migrationStatus(ctx, args.Migration, nil, compute.MigrationFailed)
			}
			return err
		}})
}

func (a *Agent) rebuild(ctx context.Context, inst *compute.Instance, req *compute.RebuildRequest, m *compute.Migration, chosen *compute.Selection) error {
	evac := req.Evacuate || m != nil
	powerOn := inst.VMState != compute.VMStopped
	if evac {
		if !a.caps.Evacuate {
			return compute.Unsupported(a.o.Host, "evacuate")
		}
		powerOn = req.TargetState != compute.VMStopped
		a.migrationStatus(ctx, m, nil, compute.MigrationRunning)
	}
	imageRef := req.ImageRef
	if imageRef == "" {
		imageRef = inst.ImageRef
	}
	u := compute.InstanceUpdate{ExpectedTaskStates: []compute.TaskState{compute.TaskRebuilding}, TaskState: compute.Ptr(compute.TaskRebuildBlockDeviceMapping)}
	node := a.nodeName()
	if chosen != nil && chosen.Nodename != "" {
		node = chosen.Nodename
	}
	if evac {
		u.Host, u.Node = compute.Ptr(a.o.Host), &node
	}
	inst, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, u)
	if err != nil {
		return err
	}
	if !evac {
		if err := compute.IgnoreNotFound(a.o.Driver.Destroy(ctx, compute.GuestOf(inst), compute.DestroyOptions{})); err != nil {
			return err
		}
	}
	var image compute.ImageMeta
	if req.Image != nil && req.Image.ID == imageRef {
		image = *req.Image
	} else if image, err = a.imageMeta(ctx, imageRef); err != nil {
		return err
	}
	bdms, err := a.o.Conductor.BlockDeviceMappings(ctx, inst.UUID)
	if err != nil && !errors.Is(err, compute.ErrNotFound) {
		return err
	}
	inst, err = a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskRebuildBlockDeviceMapping}, TaskState: compute.Ptr(compute.TaskRebuildSpawning),
	})
	if err != nil {
		return err
	}
	h, err := a.o.Driver.Spawn(ctx, &compute.SpawnSpec{
		Instance: inst, Flavor: inst.Flavor, Image: image, BlockDevices: bdms, KeyData: inst.KeyData,
		AdminPassword: req.AdminPassword, InjectedFiles: req.InjectedFiles, PowerOn: powerOn,
	})
	if err != nil {
		return err
	}
	vm := compute.VMActive
	if !powerOn {
		vm = compute.VMStopped
	}
	if _, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedTaskStates: []compute.TaskState{compute.TaskRebuildSpawning},
		VMState:            &vm, TaskState: compute.Ptr(compute.TaskNone),
		PowerState: compute.Ptr(a.powerState(ctx, compute.Guest{UUID: inst.UUID, Handle: h})),
		ImageRef:   &imageRef, DriverHandle: h.Encode(), LaunchedAt: compute.Ptr(a.o.Now().UTC()),
	}); err != nil {
		return err
	}
	a.migrationStatus(ctx, m, nil, compute.MigrationDone)
	return nil
}
