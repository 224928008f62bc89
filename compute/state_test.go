package compute_test

import (
	"errors"
	"testing"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatusFollowsNovaStateMap(t *testing.T) {
	cases := []struct {
		vm   compute.VMState
		task compute.TaskState
		want string
	}{
		{compute.VMActive, compute.TaskNone, "ACTIVE"},
		{compute.VMActive, compute.TaskRebooting, "REBOOT"},
		{compute.VMActive, compute.TaskRebootStartedHard, "HARD_REBOOT"},
		{compute.VMActive, compute.TaskUpdatingPassword, "PASSWORD"},
		{compute.VMActive, compute.TaskRebuildSpawning, "REBUILD"},
		{compute.VMActive, compute.TaskMigrating, "MIGRATING"},
		{compute.VMActive, compute.TaskResizeFinish, "RESIZE"},
		{compute.VMActive, compute.TaskPoweringOff, "ACTIVE"},
		{compute.VMActive, compute.TaskDeleting, "ACTIVE"},
		{compute.VMBuilding, compute.TaskScheduling, "BUILD"},
		{compute.VMBuilding, compute.TaskSpawning, "BUILD"},
		{compute.VMStopped, compute.TaskNone, "SHUTOFF"},
		{compute.VMStopped, compute.TaskResizePrep, "RESIZE"},
		{compute.VMStopped, compute.TaskRebuilding, "REBUILD"},
		{compute.VMResized, compute.TaskNone, "VERIFY_RESIZE"},
		{compute.VMResized, compute.TaskResizeReverting, "REVERT_RESIZE"},
		{compute.VMPaused, compute.TaskMigrating, "MIGRATING"},
		{compute.VMPaused, compute.TaskNone, "PAUSED"},
		{compute.VMSuspended, compute.TaskNone, "SUSPENDED"},
		{compute.VMRescued, compute.TaskNone, "RESCUE"},
		{compute.VMError, compute.TaskNone, "ERROR"},
		{compute.VMError, compute.TaskRebuilding, "REBUILD"},
		{compute.VMDeleted, compute.TaskNone, "DELETED"},
		{compute.VMSoftDeleted, compute.TaskNone, "SOFT_DELETED"},
		{compute.VMShelved, compute.TaskNone, "SHELVED"},
		{compute.VMShelvedOffloaded, compute.TaskUnshelving, "SHELVED_OFFLOADED"},
		{compute.VMState("bogus"), compute.TaskNone, "UNKNOWN"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, compute.Status(c.vm, c.task), "%s/%s", c.vm, c.task)
	}
}

// Every (vm_state, task_state) pair lands in exactly the pairs that
// StatesForStatus returns for its own status, and in no other status's.
func TestStatesForStatusIsTheExactReverseOfStatus(t *testing.T) {
	statuses := map[string]bool{}
	for _, vm := range compute.VMStates {
		for _, task := range append([]compute.TaskState{compute.TaskNone}, compute.TaskStates...) {
			statuses[compute.Status(vm, task)] = true
		}
	}
	for status := range statuses {
		pairs, ok := compute.StatesForStatus(status)
		require.True(t, ok, status)
		for _, vm := range compute.VMStates {
			for _, task := range append([]compute.TaskState{compute.TaskNone}, compute.TaskStates...) {
				matched := false
				for _, p := range pairs {
					matched = matched || p.Matches(vm, task)
				}
				assert.Equal(t, compute.Status(vm, task) == status, matched, "status %s vm %s task %q", status, vm, task)
			}
		}
	}
	_, ok := compute.StatesForStatus("NOT_A_STATUS")
	assert.False(t, ok)
	_, ok = compute.StatesForStatus(" active ")
	assert.True(t, ok, "status filters are case-insensitive")
}

func launched(vm compute.VMState, task compute.TaskState) *compute.Instance {
	return &compute.Instance{UUID: "u1", VMState: vm, TaskState: task, Host: "h1", LaunchedAt: time.Unix(1, 0)}
}

func TestCheckActionFollowsNovaGuards(t *testing.T) {
	cases := []struct {
		name   string
		inst   *compute.Instance
		action compute.Action
		admin  bool
		want   error // nil, ErrInvalidState or ErrLocked
		attr   string
	}{
		{"stop active", launched(compute.VMActive, compute.TaskNone), compute.ActionStop, false, nil, ""},
		{"stop error", launched(compute.VMError, compute.TaskNone), compute.ActionStop, false, nil, ""},
		{"stop stopped", launched(compute.VMStopped, compute.TaskNone), compute.ActionStop, false, compute.ErrInvalidState, "vm_state"},
		{"stop while powering-off", launched(compute.VMActive, compute.TaskPoweringOff), compute.ActionStop, false, compute.ErrInvalidState, "task_state"},
		{"start stopped", launched(compute.VMStopped, compute.TaskNone), compute.ActionStart, false, nil, ""},
		{"soft reboot paused", launched(compute.VMPaused, compute.TaskNone), compute.ActionReboot, false, compute.ErrInvalidState, "vm_state"},
		{"hard reboot paused", launched(compute.VMPaused, compute.TaskNone), compute.ActionRebootHard, false, nil, ""},
		{"hard reboot over soft reboot", launched(compute.VMActive, compute.TaskRebooting), compute.ActionRebootHard, false, nil, ""},
		{"hard reboot while deleting", launched(compute.VMActive, compute.TaskDeleting), compute.ActionRebootHard, false, compute.ErrInvalidState, "task_state"},
		{"delete anything", launched(compute.VMBuilding, compute.TaskSpawning), compute.ActionDelete, false, nil, ""},
		{"delete never launched", &compute.Instance{UUID: "u", VMState: compute.VMError}, compute.ActionDelete, false, nil, ""},
		{"pause never launched", &compute.Instance{UUID: "u", VMState: compute.VMActive, Host: "h"}, compute.ActionPause, false, compute.ErrInvalidState, "launched_at"},
		{"stop without host", &compute.Instance{UUID: "u", VMState: compute.VMActive, LaunchedAt: time.Unix(1, 0)}, compute.ActionStop, false, compute.ErrInvalidState, "host"},
		{"confirm resized", launched(compute.VMResized, compute.TaskNone), compute.ActionConfirmResize, false, nil, ""},
		{"unshelve offloaded", launched(compute.VMShelvedOffloaded, compute.TaskNone), compute.ActionUnshelve, false, nil, ""},
		{"console while migrating", launched(compute.VMActive, compute.TaskMigrating), compute.ActionGetConsole, false, compute.ErrInvalidState, "task_state"},
		{"console while paused", launched(compute.VMPaused, compute.TaskNone), compute.ActionGetConsole, false, nil, ""},
		{"abort live migration", launched(compute.VMActive, compute.TaskMigrating), compute.ActionLiveMigrationAbort, false, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := compute.CheckAction(c.inst, c.action, compute.CheckOptions{IsAdmin: c.admin})
			if c.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, c.want)
			var ise *compute.InvalidStateError
			if errors.As(err, &ise) {
				assert.Equal(t, c.attr, ise.Attr)
			}
		})
	}
}

func TestLockedInstanceRefusesOwnerButNotAdmin(t *testing.T) {
	inst := launched(compute.VMActive, compute.TaskNone)
	inst.Locked = true
	err := compute.CheckAction(inst, compute.ActionStop, compute.CheckOptions{})
	require.ErrorIs(t, err, compute.ErrLocked)
	require.NoError(t, compute.CheckAction(inst, compute.ActionStop, compute.CheckOptions{IsAdmin: true}))
	require.NoError(t, compute.CheckAction(inst, compute.ActionCreateImage, compute.CheckOptions{}), "snapshots ignore the lock")
}

func TestEveryActionHasARuleAndTransitionsMatchIt(t *testing.T) {
	_, ok := compute.RuleFor(compute.Action("nope"))
	assert.False(t, ok)
	require.ErrorIs(t, compute.CheckAction(launched(compute.VMActive, ""), "nope", compute.CheckOptions{}), compute.ErrInvalidInput)

	r, ok := compute.RuleFor(compute.ActionStop)
	require.True(t, ok)
	u := r.Transition()
	assert.Equal(t, []compute.VMState{compute.VMActive, compute.VMError}, u.ExpectedVMStates)
	assert.Equal(t, []compute.TaskState{compute.TaskNone}, u.ExpectedTaskStates)
	require.NotNil(t, u.TaskState)
	assert.Equal(t, compute.TaskPoweringOff, *u.TaskState)
	assert.Equal(t, "reboot", compute.ActionRebootHard.RecordName())
}

func TestStateValuesAreValid(t *testing.T) {
	for _, s := range compute.VMStates {
		assert.True(t, s.Valid())
	}
	for _, s := range compute.TaskStates {
		assert.True(t, s.Valid())
	}
	assert.True(t, compute.TaskNone.Valid())
	assert.False(t, compute.VMState("x").Valid())
	assert.False(t, compute.TaskState("x").Valid())
	assert.Equal(t, "running", compute.PowerRunning.String())
	assert.False(t, compute.PowerState(2).Valid())
}

func TestErrorsClassify(t *testing.T) {
	nf := compute.NotFound("instance", "u1")
	assert.ErrorIs(t, nf, compute.ErrNotFound)
	assert.Equal(t, "instance u1 could not be found", nf.Error())
	sc := &compute.StateConflictError{InstanceUUID: "u", ExpectedTask: []compute.TaskState{compute.TaskNone}, ActualVM: compute.VMActive, ActualTask: compute.TaskDeleting}
	assert.ErrorIs(t, sc, compute.ErrConflict)
	assert.ErrorIs(t, sc, compute.ErrInvalidState)
	assert.Contains(t, sc.Error(), "expected task_state in [None]")
	assert.ErrorIs(t, &compute.DuplicateError{Kind: "flavor", Key: "m1"}, compute.ErrConflict)
	assert.ErrorIs(t, compute.InvalidInput("ram", "bad"), compute.ErrInvalidInput)
	assert.ErrorIs(t, &compute.MarkerNotFoundError{Marker: "m"}, compute.ErrNotFound)
}

func TestServiceIsUp(t *testing.T) {
	now := time.Unix(1000, 0)
	s := &compute.Service{LastSeenUp: now.Add(-30 * time.Second)}
	assert.True(t, s.IsUp(now, compute.DefaultServiceDownTime))
	s.LastSeenUp = now.Add(-61 * time.Second)
	assert.False(t, s.IsUp(now, compute.DefaultServiceDownTime))
	s = &compute.Service{CreatedAt: now, ForcedDown: true}
	assert.False(t, s.IsUp(now, compute.DefaultServiceDownTime))
	s.ForcedDown = false
	assert.True(t, s.IsUp(now, compute.DefaultServiceDownTime), "a new service counts from its creation")
}

func TestFlavorValidationNamesTheField(t *testing.T) {
	f := compute.Flavor{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1, SwapMB: 1500, EphemeralGB: 2}
	require.NoError(t, f.Validate())
	assert.Equal(t, 5, f.DiskGB(false))
	assert.Equal(t, 4, f.DiskGB(true))
	f.MemoryMB = 0
	var iie *compute.InvalidInputError
	require.ErrorAs(t, f.Validate(), &iie)
	assert.Equal(t, "ram", iie.Field)
}

func TestServerGroupValidation(t *testing.T) {
	g := compute.ServerGroup{Policy: compute.PolicyAntiAffinity, Rules: map[string]int{"max_server_per_host": 2}}
	require.NoError(t, g.Validate())
	g.Policy = compute.PolicyAffinity
	require.ErrorIs(t, g.Validate(), compute.ErrInvalidInput)
	g = compute.ServerGroup{Policy: "nope"}
	require.ErrorIs(t, g.Validate(), compute.ErrInvalidInput)
}
