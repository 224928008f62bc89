package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/novakit/novakit/compute"
)

// orphanAge is how long a build of this host may sit in
// block_device_mapping or spawning with no operation of this agent
// working on it before ReapOrphanedBuilds takes it as abandoned.
const orphanAge = 30 * time.Second

// ReapOrphanedBuilds finds builds of this host that no operation of this
// agent is running any more — left in block_device_mapping or spawning
// when a call to the conductor failed midway (a conductor killed while
// holding the request, a queue outage) — and ends them the way a restart
// would: a fault, ERROR, the half-made guest destroyed and the claim
// released. Only this agent moves an instance of its host into those
// task states, so a build it is not running and that has not changed for
// a while is abandoned. The agent runs it every resource interval; it is
// safe to call at any time.
func (a *Agent) ReapOrphanedBuilds(ctx context.Context) {
	insts, err := a.o.Conductor.ListInstances(ctx, compute.InstanceFilter{Host: a.o.Host, VMStates: []compute.VMState{compute.VMBuilding}})
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("agent: list instances for orphaned builds", "err", err)
		}
		return
	}
	now := a.o.Now()
	for _, inst := range insts {
		if inst.VMState != compute.VMBuilding ||
			(inst.TaskState != compute.TaskBlockDeviceMapping && inst.TaskState != compute.TaskSpawning) ||
			now.Sub(inst.UpdatedAt) < orphanAge {
			continue
		}
		// A build in progress holds the instance's lock: skip it.
		lctx, cancel := context.WithTimeout(ctx, time.Millisecond)
		unlock, err := a.locks.lock(lctx, inst.UUID)
		cancel()
		if err != nil {
			continue
		}
		a.reapOne(ctx, inst)
		unlock()
	}
}

func (a *Agent) reapOne(ctx context.Context, inst *compute.Instance) {
	cause := fmt.Errorf("the build on %s was abandoned in %s (a call it depended on failed); the instance was put in ERROR", a.o.Host, inst.TaskState)
	a.fault(ctx, inst.UUID, cause)
	if _, err := a.o.Conductor.UpdateInstance(ctx, inst.UUID, compute.InstanceUpdate{
		ExpectedVMStates:   []compute.VMState{compute.VMBuilding},
		ExpectedTaskStates: []compute.TaskState{inst.TaskState},
		VMState:            compute.Ptr(compute.VMError),
		TaskState:          compute.Ptr(compute.TaskNone),
	}); err != nil {
		if !isStateConflict(err) && !errors.Is(err, compute.ErrNotFound) {
			a.log.Warn("agent: error out orphaned build", "instance", inst.UUID, "err", err)
		}
		return
	}
	a.log.Warn("agent: orphaned build put in ERROR", "instance", inst.UUID, "task_state", inst.TaskState)
	if err := a.o.Driver.Destroy(ctx, compute.GuestOf(inst), compute.DestroyOptions{}); err != nil && !errors.Is(err, compute.ErrNotFound) {
		a.log.Warn("agent: destroy orphaned build's guest", "instance", inst.UUID, "err", err)
	}
	if err := a.deleteAllocations(ctx, inst.UUID); err != nil {
		a.log.Warn("agent: release orphaned build's allocations", "instance", inst.UUID, "err", err)
	}
}
