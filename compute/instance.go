package compute

import (
	"fmt"
	"time"
)

// Instance is a server: Nova's instances row with its flavor, metadata and
// tags. The (VMState, TaskState) pair is the source of truth for what the
// instance is doing; [Instance.Status] derives the API status from it.
//
// An Instance value is a snapshot: changing it changes nothing stored.
// Writes go through the store's compare-and-swap update.
type Instance struct {
	// ID is the store's sequence number; it makes the guest name
	// (see [Instance.GuestName]). Zero until the instance is stored.
	ID   int64  `json:"id,omitempty"`
	UUID string `json:"uuid"`
	// Name is the display name given by the user.
	Name        string `json:"name"`
	Hostname    string `json:"hostname,omitempty"`
	Description string `json:"description,omitempty"`
	ProjectID   string `json:"project_id"`
	UserID      string `json:"user_id"`

	ImageRef string `json:"image_ref,omitempty"`
	// Flavor is the instance's own copy of its flavor, taken at boot (and
	// replaced when a resize is confirmed).
	Flavor Flavor `json:"flavor"`
	// OldFlavor and NewFlavor are set while a resize is in progress.
	OldFlavor *Flavor `json:"old_flavor,omitempty"`
	NewFlavor *Flavor `json:"new_flavor,omitempty"`

	VMState    VMState    `json:"vm_state"`
	TaskState  TaskState  `json:"task_state,omitempty"`
	PowerState PowerState `json:"power_state"`

	// Host is the compute service's host; Node the hypervisor node on it.
	Host             string `json:"host,omitempty"`
	Node             string `json:"node,omitempty"`
	AvailabilityZone string `json:"availability_zone,omitempty"`

	KeyName     string            `json:"key_name,omitempty"`
	KeyData     string            `json:"key_data,omitempty"`
	UserData    string            `json:"user_data,omitempty"` // base64, as given to the API
	ConfigDrive bool              `json:"config_drive,omitempty"`
	AccessIPv4  string            `json:"access_ip_v4,omitempty"`
	AccessIPv6  string            `json:"access_ip_v6,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	// SystemMetadata holds what novakit records about the instance for
	// itself (image properties at boot, old vm_state across a resize…).
	SystemMetadata map[string]string `json:"system_metadata,omitempty"`
	Tags           []string          `json:"tags,omitempty"`

	// ReservationID groups the instances of one multi-create request
	// ("r-" and 8 characters); LaunchIndex is the position in it.
	ReservationID string `json:"reservation_id,omitempty"`
	LaunchIndex   int    `json:"launch_index"`

	Locked       bool   `json:"locked,omitempty"`
	LockedBy     string `json:"locked_by,omitempty"` // "admin" or "owner"
	LockedReason string `json:"locked_reason,omitempty"`

	RootDeviceName string `json:"root_device_name,omitempty"`
	Progress       int    `json:"progress"`
	DiskConfig     string `json:"disk_config,omitempty"` // "AUTO" or "MANUAL"

	// DriverHandle is the opaque, driver-versioned handle that Spawn
	// returned; the compute agent hands it back to the driver to find
	// the guest again after a restart.
	DriverHandle []byte `json:"driver_handle,omitempty"`

	LaunchedAt   time.Time `json:"launched_at,omitzero"`
	TerminatedAt time.Time `json:"terminated_at,omitzero"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
	// DeletedAt is set, and Deleted true, once the row is soft-deleted.
	DeletedAt time.Time `json:"deleted_at,omitzero"`
	Deleted   bool      `json:"deleted,omitempty"`
}

// Status returns the compute API status of the instance (see [Status]).
func (i *Instance) Status() string { return Status(i.VMState, i.TaskState) }

// GuestName returns the name a hypervisor gives the guest, from Nova's
// default instance_name_template "instance-%08x".
func (i *Instance) GuestName() string { return fmt.Sprintf("instance-%08x", i.ID) }

// InstanceUpdate is a partial update of an instance, applied as one
// compare-and-swap: when ExpectedVMStates or ExpectedTaskStates is non-nil
// the update applies only if the stored instance is in one of those
// states, and otherwise fails with a *StateConflictError. Nil pointer
// fields are left as they are; nil maps and slices too.
type InstanceUpdate struct {
	ExpectedVMStates   []VMState   `json:"expected_vm_states,omitempty"`
	ExpectedTaskStates []TaskState `json:"expected_task_states,omitempty"`

	VMState    *VMState    `json:"vm_state,omitempty"`
	TaskState  *TaskState  `json:"task_state,omitempty"`
	PowerState *PowerState `json:"power_state,omitempty"`

	Name             *string `json:"name,omitempty"`
	Hostname         *string `json:"hostname,omitempty"`
	Description      *string `json:"description,omitempty"`
	Host             *string `json:"host,omitempty"`
	Node             *string `json:"node,omitempty"`
	AvailabilityZone *string `json:"availability_zone,omitempty"`
	AccessIPv4       *string `json:"access_ip_v4,omitempty"`
	AccessIPv6       *string `json:"access_ip_v6,omitempty"`
	ImageRef         *string `json:"image_ref,omitempty"`
	RootDeviceName   *string `json:"root_device_name,omitempty"`
	Progress         *int    `json:"progress,omitempty"`

	Locked       *bool   `json:"locked,omitempty"`
	LockedBy     *string `json:"locked_by,omitempty"`
	LockedReason *string `json:"locked_reason,omitempty"`

	Flavor *Flavor `json:"flavor,omitempty"`
	// OldFlavor and NewFlavor: set with SetResizeFlavors; ClearResizeFlavors
	// removes both.
	OldFlavor          *Flavor `json:"old_flavor,omitempty"`
	NewFlavor          *Flavor `json:"new_flavor,omitempty"`
	ClearResizeFlavors bool    `json:"clear_resize_flavors,omitempty"`

	// Metadata and SystemMetadata replace the whole map when non-nil.
	Metadata       map[string]string `json:"metadata,omitempty"`
	SystemMetadata map[string]string `json:"system_metadata,omitempty"`
	// Tags replaces the tag list when non-nil.
	Tags []string `json:"tags,omitempty"`

	DriverHandle []byte `json:"driver_handle,omitempty"`

	LaunchedAt   *time.Time `json:"launched_at,omitempty"`
	TerminatedAt *time.Time `json:"terminated_at,omitempty"`
}

// Ptr returns a pointer to v, for filling the pointer fields of updates.
func Ptr[T any](v T) *T { return &v }

// ReadDeleted says whether a query sees soft-deleted rows.
type ReadDeleted int

const (
	// ReadDeletedNo (the default) hides soft-deleted rows.
	ReadDeletedNo ReadDeleted = iota
	// ReadDeletedYes shows live and soft-deleted rows.
	ReadDeletedYes
	// ReadDeletedOnly shows only soft-deleted rows.
	ReadDeletedOnly
)

// InstanceFilter selects instances for a listing. Zero fields do not
// filter; all given fields must match. It follows the compute API's
// server list filters.
type InstanceFilter struct {
	ProjectID     string
	UserID        string
	Host          string
	Node          string
	UUIDs         []string
	ImageRef      string
	FlavorID      string // the flavor's API id
	ReservationID string
	KeyName       string
	// AvailabilityZone matches exactly.
	AvailabilityZone string
	// Name is a regular expression matched against the display name (as
	// Nova's name filter is); Hostname matches exactly.
	Name     string
	Hostname string
	// States keeps instances matching any of the pairs (the reverse of
	// the status map, see [StatesForStatus]).
	States     []StatePair
	VMStates   []VMState
	TaskStates []TaskState
	PowerState *PowerState
	Locked     *bool
	// ChangesSince keeps instances updated at or after the time;
	// ChangesBefore at or before it. Either one makes deleted instances
	// visible, as in Nova, unless Deleted says otherwise explicitly.
	ChangesSince  time.Time
	ChangesBefore time.Time
	// Tag filters (comma lists in the API): all of Tags, any of TagsAny,
	// not all of NotTags, none of NotTagsAny.
	Tags       []string
	TagsAny    []string
	NotTags    []string
	NotTagsAny []string
	Deleted    ReadDeleted
}

// SortKey is one sort column of a listing and its direction.
type SortKey struct {
	Key  string
	Desc bool
}

// InstanceSortKeys are the keys instances can be sorted by: the compute
// API's sort_key values.
var InstanceSortKeys = []string{
	"created_at", "updated_at", "launched_at", "terminated_at", "display_name",
	"uuid", "id", "vm_state", "task_state", "power_state", "host", "node",
	"availability_zone", "hostname", "project_id", "user_id", "key_name",
	"image_ref", "locked", "launch_index", "reservation_id", "progress",
}

// ListOptions pages and sorts a listing. Limit 0 means no limit. Marker is
// the key (uuid for instances) of the last item of the previous page; the
// listing continues after it in the same sort order, and a marker that
// does not exist fails with ErrNotFound wrapped in a *MarkerNotFoundError.
// Without Sort, instances come newest first (created_at desc, id desc), as
// Nova lists them.
type ListOptions struct {
	Limit  int
	Marker string
	Sort   []SortKey
}

// MarkerNotFoundError says that a listing's marker does not exist. It
// satisfies errors.Is(err, ErrNotFound); the API answers 400 "marker [x]
// not found".
type MarkerNotFoundError struct{ Marker string }

func (e *MarkerNotFoundError) Error() string { return "marker [" + e.Marker + "] not found" }

// Is reports whether target is ErrNotFound or ErrInvalidInput.
func (e *MarkerNotFoundError) Is(target error) bool {
	return target == ErrNotFound || target == ErrInvalidInput
}
