package compute

import "slices"

// Action is an operation a caller asks of an instance. Its value is the
// name Nova records in the instance's action log (os-instance-actions),
// except where two operations share one record name (soft and hard
// reboot both record "reboot"); see [Action.RecordName].
type Action string

// The actions novakit checks against instance state, named as Nova's
// instance_actions module names them.
const (
	ActionCreate             Action = "create"
	ActionDelete             Action = "delete"
	ActionSoftDelete         Action = "softDelete"
	ActionForceDelete        Action = "forceDelete"
	ActionRestore            Action = "restore"
	ActionStop               Action = "stop"
	ActionStart              Action = "start"
	ActionReboot             Action = "reboot"
	ActionRebootHard         Action = "rebootHard"
	ActionRebuild            Action = "rebuild"
	ActionResize             Action = "resize"
	ActionMigrate            Action = "migrate"
	ActionConfirmResize      Action = "confirmResize"
	ActionRevertResize       Action = "revertResize"
	ActionShelve             Action = "shelve"
	ActionShelveOffload      Action = "shelveOffload"
	ActionUnshelve           Action = "unshelve"
	ActionPause              Action = "pause"
	ActionUnpause            Action = "unpause"
	ActionSuspend            Action = "suspend"
	ActionResume             Action = "resume"
	ActionRescue             Action = "rescue"
	ActionUnrescue           Action = "unrescue"
	ActionChangePassword     Action = "changePassword"
	ActionCreateImage        Action = "createImage"
	ActionCreateBackup       Action = "createBackup"
	ActionLiveMigrate        Action = "live-migration"
	ActionLiveForceComplete  Action = "live_migration_force_complete"
	ActionLiveMigrationAbort Action = "live_migration_cancel"
	ActionEvacuate           Action = "evacuate"
	ActionAttachVolume       Action = "attach_volume"
	ActionDetachVolume       Action = "detach_volume"
	ActionAttachInterface    Action = "attach_interface"
	ActionDetachInterface    Action = "detach_interface"
	ActionUpdateMetadata     Action = "updateMetadata"
	ActionGetConsole         Action = "getConsole"
	ActionTriggerCrashDump   Action = "trigger_crash_dump"
	ActionLock               Action = "lock"
	ActionUnlock             Action = "unlock"
	ActionResetState         Action = "resetState"
)

// RecordName is the action name Nova writes in the instance action log.
func (a Action) RecordName() string {
	switch a {
	case ActionRebootHard:
		return string(ActionReboot)
	case ActionSoftDelete, ActionForceDelete:
		return string(ActionDelete)
	}
	return string(a)
}

// Rule says in which states an action is allowed and what the API does to
// the instance before handing the action on. It is Nova's
// check_instance_state / check_instance_lock / check_instance_host
// decorators, written down as data.
type Rule struct {
	// VMStates the instance must be in; nil allows every vm_state.
	VMStates []VMState
	// TaskStates the instance must be in; nil allows every task_state.
	// [TaskNone] stands for "no task running".
	TaskStates []TaskState
	// RejectTasks lists task states that refuse the action even though
	// TaskStates is nil (consoles refuse deleting and migrating guests).
	RejectTasks []TaskState
	// MustHaveLaunched: the instance must have launched (LaunchedAt set).
	MustHaveLaunched bool
	// NeedsHost: the instance must be on a host.
	NeedsHost bool
	// LockChecked: a locked instance refuses the action unless the caller
	// is an admin.
	LockChecked bool
	// SetsTask is the task state the API sets (compare-and-swap against
	// VMStates/TaskStates) before it casts the work; TaskNone when the
	// action sets none.
	SetsTask TaskState
}

var (
	idle        = []TaskState{TaskNone}
	powerActive = []VMState{VMActive}
)

// actionRules is the single table of allowed states. It is read-only.
var actionRules = map[Action]Rule{
	ActionCreate:      {VMStates: []VMState{VMBuilding}, TaskStates: []TaskState{TaskScheduling, TaskNone}},
	ActionDelete:      {LockChecked: true, SetsTask: TaskDeleting},
	ActionSoftDelete:  {MustHaveLaunched: true, LockChecked: true, SetsTask: TaskSoftDeleting},
	ActionForceDelete: {TaskStates: idle, LockChecked: true, SetsTask: TaskDeleting},
	ActionRestore:     {VMStates: []VMState{VMSoftDeleted}, TaskStates: idle, MustHaveLaunched: true, SetsTask: TaskRestoring},
	ActionStop:        {VMStates: []VMState{VMActive, VMError}, TaskStates: idle, MustHaveLaunched: true, NeedsHost: true, LockChecked: true, SetsTask: TaskPoweringOff},
	ActionStart:       {VMStates: []VMState{VMStopped}, TaskStates: idle, MustHaveLaunched: true, NeedsHost: true, LockChecked: true, SetsTask: TaskPoweringOn},
	ActionReboot:      {VMStates: powerActive, TaskStates: idle, MustHaveLaunched: true, LockChecked: true, SetsTask: TaskRebooting},
	ActionRebootHard: {
		VMStates: []VMState{VMActive, VMStopped, VMPaused, VMSuspended, VMError},
		TaskStates: []TaskState{TaskNone, TaskRebooting, TaskRebootPending, TaskRebootStarted,
			TaskResuming, TaskRebootingHard, TaskUnpausing, TaskPausing, TaskSuspending},
		MustHaveLaunched: true, LockChecked: true, SetsTask: TaskRebootingHard,
	},
	ActionRebuild:            {VMStates: []VMState{VMActive, VMStopped, VMError}, TaskStates: idle, MustHaveLaunched: true, LockChecked: true, SetsTask: TaskRebuilding},
	ActionResize:             {VMStates: []VMState{VMActive, VMStopped}, TaskStates: idle, MustHaveLaunched: true, NeedsHost: true, LockChecked: true, SetsTask: TaskResizePrep},
	ActionMigrate:            {VMStates: []VMState{VMActive, VMStopped}, TaskStates: idle, MustHaveLaunched: true, NeedsHost: true, LockChecked: true, SetsTask: TaskResizePrep},
	ActionConfirmResize:      {VMStates: []VMState{VMResized}, TaskStates: idle, MustHaveLaunched: true, LockChecked: true},
	ActionRevertResize:       {VMStates: []VMState{VMResized}, TaskStates: idle, MustHaveLaunched: true, LockChecked: true, SetsTask: TaskResizeReverting},
	ActionShelve:             {VMStates: []VMState{VMActive, VMStopped, VMPaused, VMSuspended}, TaskStates: idle, MustHaveLaunched: true, LockChecked: true, SetsTask: TaskShelving},
	ActionShelveOffload:      {VMStates: []VMState{VMShelved}, TaskStates: idle, MustHaveLaunched: true, LockChecked: true, SetsTask: TaskShelvingOffloading},
	ActionUnshelve:           {VMStates: []VMState{VMShelved, VMShelvedOffloaded}, TaskStates: idle, MustHaveLaunched: true, LockChecked: true, SetsTask: TaskUnshelving},
	ActionPause:              {VMStates: powerActive, TaskStates: idle, MustHaveLaunched: true, LockChecked: true, SetsTask: TaskPausing},
	ActionUnpause:            {VMStates: []VMState{VMPaused}, TaskStates: idle, MustHaveLaunched: true, LockChecked: true, SetsTask: TaskUnpausing},
	ActionSuspend:            {VMStates: powerActive, TaskStates: idle, MustHaveLaunched: true, LockChecked: true, SetsTask: TaskSuspending},
	ActionResume:             {VMStates: []VMState{VMSuspended}, TaskStates: idle, MustHaveLaunched: true, LockChecked: true, SetsTask: TaskResuming},
	ActionRescue:             {VMStates: []VMState{VMActive, VMStopped, VMError}, TaskStates: idle, MustHaveLaunched: true, LockChecked: true, SetsTask: TaskRescuing},
	ActionUnrescue:           {VMStates: []VMState{VMRescued}, TaskStates: idle, MustHaveLaunched: true, LockChecked: true, SetsTask: TaskUnrescuing},
	ActionChangePassword:     {VMStates: powerActive, TaskStates: idle, MustHaveLaunched: true, LockChecked: true, SetsTask: TaskUpdatingPassword},
	ActionCreateImage:        {VMStates: []VMState{VMActive, VMStopped, VMPaused, VMSuspended}, TaskStates: idle, MustHaveLaunched: true, SetsTask: TaskImageSnapshotPending},
	ActionCreateBackup:       {VMStates: []VMState{VMActive, VMStopped, VMPaused, VMSuspended}, TaskStates: idle, MustHaveLaunched: true, SetsTask: TaskImageBackup},
	ActionLiveMigrate:        {VMStates: []VMState{VMActive, VMPaused}, TaskStates: idle, MustHaveLaunched: true, NeedsHost: true, LockChecked: true, SetsTask: TaskMigrating},
	ActionLiveForceComplete:  {VMStates: powerActive, TaskStates: []TaskState{TaskMigrating}, MustHaveLaunched: true, LockChecked: true},
	ActionLiveMigrationAbort: {TaskStates: []TaskState{TaskMigrating}, MustHaveLaunched: true, LockChecked: true},
	ActionEvacuate:           {VMStates: []VMState{VMActive, VMStopped, VMError}, TaskStates: idle, MustHaveLaunched: true, NeedsHost: true, SetsTask: TaskRebuilding},
	ActionAttachVolume: {VMStates: []VMState{VMActive, VMPaused, VMStopped, VMResized, VMSoftDeleted, VMShelved, VMShelvedOffloaded},
		TaskStates: idle, MustHaveLaunched: false, LockChecked: true},
	ActionDetachVolume: {VMStates: []VMState{VMActive, VMPaused, VMStopped, VMResized, VMSoftDeleted, VMShelved, VMShelvedOffloaded},
		TaskStates: idle, MustHaveLaunched: false, LockChecked: true},
	ActionAttachInterface: {VMStates: []VMState{VMActive, VMPaused, VMStopped}, TaskStates: idle, MustHaveLaunched: true, LockChecked: true},
	ActionDetachInterface: {VMStates: []VMState{VMActive, VMPaused, VMStopped}, TaskStates: idle, MustHaveLaunched: true, LockChecked: true},
	ActionUpdateMetadata:  {VMStates: []VMState{VMActive, VMPaused, VMSuspended, VMStopped}, TaskStates: idle, MustHaveLaunched: true, LockChecked: true},
	ActionGetConsole:      {RejectTasks: []TaskState{TaskDeleting, TaskMigrating}, NeedsHost: true},
	ActionTriggerCrashDump: {VMStates: []VMState{VMActive, VMPaused, VMRescued, VMResized, VMError},
		TaskStates: idle, MustHaveLaunched: true, LockChecked: true},
	ActionLock:       {},
	ActionUnlock:     {},
	ActionResetState: {},
}

// RuleFor returns the state rule of an action; ok is false for an action
// the table does not know.
func RuleFor(a Action) (r Rule, ok bool) {
	r, ok = actionRules[a]
	return r, ok
}

// Allowed reports whether the rule admits an instance in (vm, task),
// ignoring launch, host and lock checks.
func (r Rule) Allowed(vm VMState, task TaskState) bool {
	if r.VMStates != nil && !slices.Contains(r.VMStates, vm) {
		return false
	}
	if r.TaskStates != nil && !slices.Contains(r.TaskStates, task) {
		return false
	}
	return !slices.Contains(r.RejectTasks, task)
}

// CheckOptions carries what CheckAction needs to know about the caller.
type CheckOptions struct {
	// IsAdmin lets the caller act on a locked instance.
	IsAdmin bool
}

// CheckAction reports whether the action may run on the instance as it is
// now. It returns nil, an *InvalidStateError (errors.Is ErrInvalidState)
// naming the offending attribute, or an error satisfying errors.Is
// ErrLocked. An action missing from the table is refused with
// ErrInvalidInput. The check reads inst only; the caller still writes the
// new task state with a compare-and-swap (see [Rule.SetsTask]) because
// the record may change between the check and the write.
func CheckAction(inst *Instance, a Action, opts CheckOptions) error {
	r, ok := actionRules[a]
	if !ok {
		return InvalidInput("action", "unknown action %q", a)
	}
	if r.LockChecked && inst.Locked && !opts.IsAdmin {
		return &lockedError{uuid: inst.UUID}
	}
	if r.VMStates != nil && !slices.Contains(r.VMStates, inst.VMState) {
		return &InvalidStateError{InstanceUUID: inst.UUID, Action: a, Attr: "vm_state", State: string(inst.VMState)}
	}
	if (r.TaskStates != nil && !slices.Contains(r.TaskStates, inst.TaskState)) || slices.Contains(r.RejectTasks, inst.TaskState) {
		return &InvalidStateError{InstanceUUID: inst.UUID, Action: a, Attr: "task_state", State: taskString(inst.TaskState)}
	}
	if r.MustHaveLaunched && inst.LaunchedAt.IsZero() {
		return &InvalidStateError{InstanceUUID: inst.UUID, Action: a, Attr: "launched_at", State: "None"}
	}
	if r.NeedsHost && inst.Host == "" {
		return &InvalidStateError{InstanceUUID: inst.UUID, Action: a, Attr: "host", State: "None"}
	}
	return nil
}

// Transition returns the compare-and-swap update that starts the action:
// it expects the rule's vm and task states and sets the rule's task state.
// The caller adds any other fields it changes.
func (r Rule) Transition() InstanceUpdate {
	u := InstanceUpdate{ExpectedVMStates: r.VMStates, ExpectedTaskStates: r.TaskStates}
	if r.SetsTask != TaskNone {
		t := r.SetsTask
		u.TaskState = &t
	}
	return u
}

type lockedError struct{ uuid string }

func (e *lockedError) Error() string { return "Instance " + e.uuid + " is locked" }

func (e *lockedError) Is(target error) bool { return target == ErrLocked || target == ErrConflict }
