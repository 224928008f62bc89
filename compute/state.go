package compute

import "strings"

// VMState is the stable state of an instance (Nova's vm_state). The zero
// value is not a valid state.
type VMState string

// The vm_state values Nova keeps, with Nova's spelling.
const (
	VMActive           VMState = "active"
	VMBuilding         VMState = "building"
	VMPaused           VMState = "paused"
	VMSuspended        VMState = "suspended"
	VMStopped          VMState = "stopped"
	VMRescued          VMState = "rescued"
	VMResized          VMState = "resized"
	VMSoftDeleted      VMState = "soft-delete"
	VMDeleted          VMState = "deleted"
	VMError            VMState = "error"
	VMShelved          VMState = "shelved"
	VMShelvedOffloaded VMState = "shelved_offloaded"
)

// VMStates lists every valid VMState in a fixed order.
var VMStates = []VMState{
	VMActive, VMBuilding, VMPaused, VMSuspended, VMStopped, VMRescued, VMResized,
	VMSoftDeleted, VMDeleted, VMError, VMShelved, VMShelvedOffloaded,
}

// Valid reports whether s is one of [VMStates].
func (s VMState) Valid() bool {
	for _, v := range VMStates {
		if v == s {
			return true
		}
	}
	return false
}

// TaskState is the transient state of an instance while an operation runs
// (Nova's task_state). [TaskNone] (the empty string) means no task, which
// Nova stores as NULL.
type TaskState string

// The task_state values Nova keeps, with Nova's spelling.
const (
	TaskNone                       TaskState = ""
	TaskScheduling                 TaskState = "scheduling"
	TaskBlockDeviceMapping         TaskState = "block_device_mapping"
	TaskNetworking                 TaskState = "networking"
	TaskSpawning                   TaskState = "spawning"
	TaskImageSnapshot              TaskState = "image_snapshot"
	TaskImageSnapshotPending       TaskState = "image_snapshot_pending"
	TaskImagePendingUpload         TaskState = "image_pending_upload"
	TaskImageUploading             TaskState = "image_uploading"
	TaskImageBackup                TaskState = "image_backup"
	TaskUpdatingPassword           TaskState = "updating_password"
	TaskResizePrep                 TaskState = "resize_prep"
	TaskResizeMigrating            TaskState = "resize_migrating"
	TaskResizeMigrated             TaskState = "resize_migrated"
	TaskResizeFinish               TaskState = "resize_finish"
	TaskResizeReverting            TaskState = "resize_reverting"
	TaskResizeConfirming           TaskState = "resize_confirming"
	TaskRebooting                  TaskState = "rebooting"
	TaskRebootPending              TaskState = "reboot_pending"
	TaskRebootStarted              TaskState = "reboot_started"
	TaskRebootingHard              TaskState = "rebooting_hard"
	TaskRebootPendingHard          TaskState = "reboot_pending_hard"
	TaskRebootStartedHard          TaskState = "reboot_started_hard"
	TaskPausing                    TaskState = "pausing"
	TaskUnpausing                  TaskState = "unpausing"
	TaskSuspending                 TaskState = "suspending"
	TaskResuming                   TaskState = "resuming"
	TaskPoweringOff                TaskState = "powering-off"
	TaskPoweringOn                 TaskState = "powering-on"
	TaskRescuing                   TaskState = "rescuing"
	TaskUnrescuing                 TaskState = "unrescuing"
	TaskRebuilding                 TaskState = "rebuilding"
	TaskRebuildBlockDeviceMapping  TaskState = "rebuild_block_device_mapping"
	TaskRebuildSpawning            TaskState = "rebuild_spawning"
	TaskMigrating                  TaskState = "migrating"
	TaskDeleting                   TaskState = "deleting"
	TaskSoftDeleting               TaskState = "soft-deleting"
	TaskRestoring                  TaskState = "restoring"
	TaskShelving                   TaskState = "shelving"
	TaskShelvingImagePendingUpload TaskState = "shelving_image_pending_upload"
	TaskShelvingImageUploading     TaskState = "shelving_image_uploading"
	TaskShelvingOffloading         TaskState = "shelving_offloading"
	TaskUnshelving                 TaskState = "unshelving"
)

// TaskStates lists every valid TaskState other than [TaskNone].
var TaskStates = []TaskState{
	TaskScheduling, TaskBlockDeviceMapping, TaskNetworking, TaskSpawning,
	TaskImageSnapshot, TaskImageSnapshotPending, TaskImagePendingUpload,
	TaskImageUploading, TaskImageBackup, TaskUpdatingPassword, TaskResizePrep,
	TaskResizeMigrating, TaskResizeMigrated, TaskResizeFinish, TaskResizeReverting,
	TaskResizeConfirming, TaskRebooting, TaskRebootPending, TaskRebootStarted,
	TaskRebootingHard, TaskRebootPendingHard, TaskRebootStartedHard, TaskPausing,
	TaskUnpausing, TaskSuspending, TaskResuming, TaskPoweringOff, TaskPoweringOn,
	TaskRescuing, TaskUnrescuing, TaskRebuilding, TaskRebuildBlockDeviceMapping,
	TaskRebuildSpawning, TaskMigrating, TaskDeleting, TaskSoftDeleting,
	TaskRestoring, TaskShelving, TaskShelvingImagePendingUpload,
	TaskShelvingImageUploading, TaskShelvingOffloading, TaskUnshelving,
}

// Valid reports whether s is [TaskNone] or one of [TaskStates].
func (s TaskState) Valid() bool {
	if s == TaskNone {
		return true
	}
	for _, v := range TaskStates {
		if v == s {
			return true
		}
	}
	return false
}

// PowerState is the power state of a guest as its hypervisor reports it.
// The numbers are Nova's and are what the API shows as
// OS-EXT-STS:power_state.
type PowerState int

// Nova's power states. 2 and 5 are unused, as in Nova.
const (
	PowerNoState   PowerState = 0
	PowerRunning   PowerState = 1
	PowerPaused    PowerState = 3
	PowerShutdown  PowerState = 4
	PowerCrashed   PowerState = 6
	PowerSuspended PowerState = 7
)

// String returns Nova's name for the power state ("pending" for NOSTATE).
func (p PowerState) String() string {
	switch p {
	case PowerNoState:
		return "pending"
	case PowerRunning:
		return "running"
	case PowerPaused:
		return "paused"
	case PowerShutdown:
		return "shutdown"
	case PowerCrashed:
		return "crashed"
	case PowerSuspended:
		return "suspended"
	}
	return "unknown"
}

// Valid reports whether p is one of Nova's power states.
func (p PowerState) Valid() bool { return p.String() != "unknown" }

// API statuses, as the compute API shows them in a server's "status".
const (
	StatusActive           = "ACTIVE"
	StatusBuild            = "BUILD"
	StatusReboot           = "REBOOT"
	StatusHardReboot       = "HARD_REBOOT"
	StatusPassword         = "PASSWORD"
	StatusRebuild          = "REBUILD"
	StatusMigrating        = "MIGRATING"
	StatusResize           = "RESIZE"
	StatusVerifyResize     = "VERIFY_RESIZE"
	StatusRevertResize     = "REVERT_RESIZE"
	StatusShutoff          = "SHUTOFF"
	StatusPaused           = "PAUSED"
	StatusSuspended        = "SUSPENDED"
	StatusRescue           = "RESCUE"
	StatusError            = "ERROR"
	StatusDeleted          = "DELETED"
	StatusSoftDeleted      = "SOFT_DELETED"
	StatusShelved          = "SHELVED"
	StatusShelvedOffloaded = "SHELVED_OFFLOADED"
	StatusUnknown          = "UNKNOWN"
)

// statusRule is one row of Nova's _STATE_MAP: the default status of a
// vm_state and the task_states that override it.
type statusRule struct {
	vm        VMState
	def       string
	overrides map[TaskState]string
}

var (
	rebootTasks      = []TaskState{TaskRebooting, TaskRebootPending, TaskRebootStarted}
	hardRebootTasks  = []TaskState{TaskRebootingHard, TaskRebootPendingHard, TaskRebootStartedHard}
	rebuildTasks     = []TaskState{TaskRebuilding, TaskRebuildBlockDeviceMapping, TaskRebuildSpawning}
	resizeTasks      = []TaskState{TaskResizePrep, TaskResizeMigrating, TaskResizeMigrated, TaskResizeFinish}
	statusRulesTable = buildStatusRules()
)

func overrides(pairs ...any) map[TaskState]string {
	m := map[TaskState]string{}
	for i := 0; i < len(pairs); i += 2 {
		st := pairs[i+1].(string)
		switch t := pairs[i].(type) {
		case TaskState:
			m[t] = st
		case []TaskState:
			for _, x := range t {
				m[x] = st
			}
		}
	}
	return m
}

func buildStatusRules() []statusRule {
	return []statusRule{
		{VMActive, StatusActive, overrides(
			rebootTasks, StatusReboot, hardRebootTasks, StatusHardReboot,
			TaskUpdatingPassword, StatusPassword, rebuildTasks, StatusRebuild,
			TaskMigrating, StatusMigrating, resizeTasks, StatusResize)},
		{VMBuilding, StatusBuild, nil},
		{VMStopped, StatusShutoff, overrides(resizeTasks, StatusResize, rebuildTasks, StatusRebuild)},
		{VMResized, StatusVerifyResize, overrides(TaskResizeReverting, StatusRevertResize)},
		{VMPaused, StatusPaused, overrides(TaskMigrating, StatusMigrating)},
		{VMSuspended, StatusSuspended, nil},
		{VMRescued, StatusRescue, nil},
		{VMError, StatusError, overrides(rebuildTasks, StatusRebuild)},
		{VMDeleted, StatusDeleted, nil},
		{VMSoftDeleted, StatusSoftDeleted, nil},
		{VMShelved, StatusShelved, nil},
		{VMShelvedOffloaded, StatusShelvedOffloaded, nil},
	}
}

// Status returns the compute API status of an instance in the given
// vm_state and task_state, following Nova's state map: a task_state that
// the vm_state does not override leaves the vm_state's default status, and
// an unknown vm_state gives [StatusUnknown].
func Status(vm VMState, task TaskState) string {
	for _, r := range statusRulesTable {
		if r.vm != vm {
			continue
		}
		if s, ok := r.overrides[task]; ok {
			return s
		}
		return r.def
	}
	return StatusUnknown
}

// StatePair is a set of (vm_state, task_state) combinations sharing one
// vm_state: either the listed Tasks, or, with AnyTask, every task state
// (including [TaskNone]) except those in Except.
type StatePair struct {
	VM      VMState
	Tasks   []TaskState // the task states that give the status, when !AnyTask
	AnyTask bool        // every task state except Except gives the status
	Except  []TaskState // with AnyTask: task states that give another status
}

// Matches reports whether an instance in (vm, task) is in the set.
func (p StatePair) Matches(vm VMState, task TaskState) bool {
	if vm != p.VM {
		return false
	}
	list := p.Tasks
	if p.AnyTask {
		list = p.Except
	}
	for _, t := range list {
		if t == task {
			return !p.AnyTask
		}
	}
	return p.AnyTask
}

// StatesForStatus is the reverse of [Status], used to filter servers by
// status: it returns the (vm_state, task_state) combinations whose status
// is the given one (case-insensitive). ok is false when the status is not
// one the API knows; Nova answers such a filter with an empty list before
// microversion 2.38 and 400 from 2.38.
func StatesForStatus(status string) (pairs []StatePair, ok bool) {
	status = strings.ToUpper(strings.TrimSpace(status))
	for _, r := range statusRulesTable {
		var matched []TaskState
		for t, s := range r.overrides {
			if s == status {
				matched = append(matched, t)
			}
		}
		sortTasks(matched)
		if len(matched) > 0 {
			pairs = append(pairs, StatePair{VM: r.vm, Tasks: matched})
		}
		if r.def == status {
			var except []TaskState
			for t := range r.overrides {
				except = append(except, t)
			}
			sortTasks(except)
			pairs = append(pairs, StatePair{VM: r.vm, AnyTask: true, Except: except})
		}
	}
	return pairs, len(pairs) > 0
}

func sortTasks(ts []TaskState) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j] < ts[j-1]; j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}
