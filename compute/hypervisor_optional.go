package compute

import (
	"context"
	"io"
	"time"
)

// The optional interfaces below are what not every driver can do. The agent
// finds them by type assertion on the [Hypervisor] and calls them only when
// the matching [Capabilities] flag is set; a driver that implements one but
// cannot serve a call in its configuration (a console type not enabled)
// returns an error satisfying [ErrUnsupported]. The concurrency,
// cancellation and error rules of [Hypervisor] apply to every method here.

// Snapshotter takes images of guests (Capabilities.Snapshot).
type Snapshotter interface {
	// Snapshot captures the guest's root disk and hands it to spec.Upload
	// (called once, from Snapshot's goroutine). The guest may be running,
	// shut down, paused or suspended; it is in the same power state when
	// Snapshot returns (a driver that must pause or stop it to take a
	// consistent copy restores it). Blocks while the disk is copied and
	// uploaded: seconds to many minutes. Cancelling ctx aborts the upload
	// and leaves the guest as it was.
	Snapshot(ctx context.Context, g Guest, spec SnapshotSpec) error
}

// SnapshotSpec says where a snapshot goes.
type SnapshotSpec struct {
	// ImageID and Name are those of the image record the API created for
	// the snapshot.
	ImageID string
	Name    string
	// Upload stores the image data: the driver calls it once with the
	// image's metadata (disk and container format, size) and a reader of
	// its bytes, and returns its error. The agent passes the image
	// service's upload.
	Upload func(ctx context.Context, meta ImageMeta, data io.Reader) error
	// TaskState, if set, is told of progress as Nova's update_task_state
	// is: [TaskImagePendingUpload] once the disk is captured,
	// [TaskImageUploading] when the upload starts.
	TaskState func(TaskState)
}

// ColdMigrator moves a guest to another host, or to another flavor, with the
// guest powered off (Capabilities.Resize): Nova's resize and cold migrate,
// nova.md §3.3. The agent on the source calls MigrateDiskAndPowerOff, the
// one on the destination FinishMigration; a confirm calls ConfirmMigration on
// the source, a revert calls Destroy on the destination and then
// FinishRevertMigration on the source. Source and destination may be one
// host when Capabilities.ResizeSameHost is set. Until confirmed or reverted,
// the source keeps what it needs to bring the guest back and counts its
// resources as used.
type ColdMigrator interface {
	// MigrateDiskAndPowerOff, on the source, powers the guest off (cleanly,
	// within spec.PowerOffTimeout, then forced) and makes its disks
	// available to the destination (copy, or nothing on shared storage). It
	// returns opaque disk information for FinishMigration. The guest stays
	// defined on the source, shut down. Blocks while the disks are copied.
	MigrateDiskAndPowerOff(ctx context.Context, g Guest, spec MigrateSpec) (diskInfo []byte, err error)

	// FinishMigration, on the destination, creates the guest from the
	// migrated disks with spec.Flavor (growing the disks when
	// spec.ResizeInstance), starts it if spec.PowerOn, and returns its new
	// Handle. No room fails with [ErrResourcesUnavailable] (the agent then
	// reverts).
	FinishMigration(ctx context.Context, spec FinishMigrationSpec) (Handle, error)

	// ConfirmMigration, on the source, removes what the source kept of the
	// guest and releases its resources. Confirming a migration whose
	// leftovers are already gone succeeds.
	ConfirmMigration(ctx context.Context, g Guest, m Migration) error

	// FinishRevertMigration, on the source, brings the guest back from what
	// the source kept, with its old flavor, powered on if spec.PowerOn,
	// and returns its Handle. The destination's guest has already been
	// destroyed by then.
	FinishRevertMigration(ctx context.Context, g Guest, spec RevertMigrationSpec) (Handle, error)
}

// MigrateSpec is the source side of a cold migration or resize.
type MigrateSpec struct {
	Migration Migration
	// DestHost is the destination's host name (Migration.DestCompute).
	DestHost string
	// Flavor is the flavor the guest will have at the destination (the
	// new one for a resize, the current one for a migration).
	Flavor Flavor
	// PowerOffTimeout is the clean-shutdown budget, as for PowerOff.
	PowerOffTimeout time.Duration
}

// FinishMigrationSpec is the destination side of a cold migration or
// resize: the guest's spawn spec (new flavor, image, networks, block
// devices, PowerOn for an instance that was active) plus the migration.
type FinishMigrationSpec struct {
	SpawnSpec
	Migration Migration
	// DiskInfo is what MigrateDiskAndPowerOff returned on the source.
	DiskInfo []byte
	// ResizeInstance is set when the flavor changed (disks may grow).
	ResizeInstance bool
}

// RevertMigrationSpec is the source side of a reverted migration.
type RevertMigrationSpec struct {
	Migration Migration
	// Flavor is the flavor the guest had before the resize.
	Flavor Flavor
	// PowerOn: the instance was not stopped before the resize.
	PowerOn bool
}

// LiveMigrator moves a running guest to another host without stopping it
// (Capabilities.LiveMigrate). The conductor asks the destination's agent to
// PreLiveMigration, the source's to LiveMigrate, and then the destination's
// to PostLiveMigrationAtDestination, or RollbackLiveMigrationAtDestination
// when anything failed.
type LiveMigrator interface {
	// PreLiveMigration, on the destination, checks that the host can take
	// the guest (resources, CPU compatibility) and prepares for it
	// (networks, volumes). It returns opaque migration data for
	// LiveMigrate. No room fails with [ErrResourcesUnavailable].
	PreLiveMigration(ctx context.Context, spec LiveMigrationSpec) (data []byte, err error)

	// LiveMigrate, on the source, moves the running guest to spec.DestHost
	// and blocks until the move completed or failed: seconds to hours,
	// bounded by ctx. On success the guest is gone from the source (its
	// resources released); on failure it still runs on the source.
	LiveMigrate(ctx context.Context, g Guest, spec LiveMigrationSpec, data []byte) error

	// PostLiveMigrationAtDestination, on the destination, finishes taking
	// the guest over and returns its Handle there.
	PostLiveMigrationAtDestination(ctx context.Context, g Guest) (Handle, error)

	// RollbackLiveMigrationAtDestination, on the destination, undoes
	// PreLiveMigration (and removes a half-arrived guest). Rolling back
	// what was never prepared succeeds.
	RollbackLiveMigrationAtDestination(ctx context.Context, g Guest) error
}

// LiveMigrationSpec describes one live migration.
type LiveMigrationSpec struct {
	Migration Migration
	// Spawn is the guest's spec as the destination will run it (same
	// flavor; networks and block devices as bound for the destination).
	Spawn SpawnSpec
	// SourceHost and DestHost are the host names.
	SourceHost string
	DestHost   string
	// BlockMigration copies local disks too (no shared storage).
	BlockMigration bool
}

// Rescuer boots a guest from a rescue image with its own disk attached as a
// secondary one (Capabilities.Rescue).
type Rescuer interface {
	// Rescue stops the guest and boots it from spec.Image (the guest's own
	// image when the API named none) with its original root disk attached.
	// A guest already rescued succeeds. Blocks until the rescue guest is
	// started.
	Rescue(ctx context.Context, g Guest, spec RescueSpec) error
	// Unrescue stops the rescue guest and boots the original one. A guest
	// not rescued succeeds.
	Unrescue(ctx context.Context, g Guest) error
}

// RescueSpec says how to rescue a guest.
type RescueSpec struct {
	Image         ImageMeta
	AdminPassword string
}

// ConsoleType is a kind of graphical or serial console a driver exposes.
type ConsoleType string

// Console types, as the driver interface names them (the API's novnc and
// xvpvnc are both VNC, spice-html5 is SPICE, webmks is MKS).
const (
	ConsoleVNC    ConsoleType = "vnc"
	ConsoleSPICE  ConsoleType = "spice"
	ConsoleSerial ConsoleType = "serial"
	ConsoleMKS    ConsoleType = "mks"
)

// ConsoleProvider exposes guests' consoles to the console proxies
// (Capabilities.VNC, SPICE, Serial, MKS).
type ConsoleProvider interface {
	// Console returns where the proxy connects to reach the guest's console
	// of type t. A type the driver does not offer (in this configuration)
	// fails with [ErrUnsupported]; a guest that is not running with
	// [ErrInvalidState]. Read-only and fast.
	Console(ctx context.Context, g Guest, t ConsoleType) (ConsoleEndpoint, error)
}

// ConsoleEndpoint is where a console proxy connects (Nova's ConsoleVNC,
// ConsoleSpice, ConsoleSerial, ConsoleMKS).
type ConsoleEndpoint struct {
	Type ConsoleType
	Host string // address the proxy dials, e.g. "127.0.0.1"
	Port int
	// TLSPort is SPICE's TLS port, 0 when none.
	TLSPort int
	// InternalAccessPath is a path or ticket the proxy sends after
	// connecting (MKS, some VNC set-ups), "" when none.
	InternalAccessPath string
}

// VolumeAttacher hot-plugs volumes (Capabilities.AttachVolume).
type VolumeAttacher interface {
	// AttachVolume attaches the volume of bdm (its ConnectionInfo, device
	// name, bus, tag) to the guest. A volume already attached succeeds.
	// Blocks until the guest sees the device.
	AttachVolume(ctx context.Context, g Guest, bdm BlockDeviceMapping) error
	// DetachVolume detaches the volume. A volume not attached fails with
	// [ErrNotFound]. Blocks until the guest released the device (bounded
	// by ctx).
	DetachVolume(ctx context.Context, g Guest, volumeID string) error
}

// InterfaceAttacher hot-plugs network interfaces
// (Capabilities.AttachInterface).
type InterfaceAttacher interface {
	// AttachInterface plugs the NIC into the guest. A port already attached
	// succeeds.
	AttachInterface(ctx context.Context, g Guest, nic NetworkInterface) error
	// DetachInterface unplugs the NIC of the port. A port not attached
	// fails with [ErrNotFound].
	DetachInterface(ctx context.Context, g Guest, portID string) error
}

// Recoverer re-attaches to guests after the agent restarts
// (Capabilities.Recover), as Nomad's RecoverTask does.
type Recoverer interface {
	// Recover finds the guest g names, by its Handle (and UUID), and makes
	// the driver ready to operate on it again (re-open consoles, event
	// subscriptions, monitors). It returns the Handle the agent should
	// store from now on: the same one, or an upgraded one when the driver
	// changed its handle format. A guest that is gone fails with
	// [ErrNotFound]; a handle of a version the driver no longer reads with
	// [ErrInvalidInput]. Idempotent; read-only towards the guest (it does
	// not change its power state).
	Recover(ctx context.Context, g Guest) (Handle, error)
}

// EventSource reports guests' lifecycle changes as they happen
// (Capabilities.Events), so that the agent's power-state sync can react at
// once instead of waiting for its next poll.
type EventSource interface {
	// Events returns a channel of lifecycle events for the guests on this
	// host, closed when ctx is done or the driver is closed. Each call
	// makes a new subscription. Delivery is best-effort: a subscriber that
	// does not keep up loses events (the periodic sync remains the
	// backstop), and events caused by the agent's own calls are reported
	// too. It does not block.
	Events(ctx context.Context) (<-chan LifecycleEvent, error)
}

// Lifecycle is the kind of a [LifecycleEvent] (Nova's virt event
// transitions).
type Lifecycle string

// Lifecycle transitions.
const (
	LifecycleStarted   Lifecycle = "started"
	LifecycleStopped   Lifecycle = "stopped"
	LifecyclePaused    Lifecycle = "paused"
	LifecycleResumed   Lifecycle = "resumed"
	LifecycleSuspended Lifecycle = "suspended"
)

// LifecycleEvent is one change of a guest's power state.
type LifecycleEvent struct {
	UUID       string
	Transition Lifecycle
	// PowerState is the state the guest went to.
	PowerState PowerState
	Time       time.Time
}

// UnsupportedPause is embedded by drivers without pause: its Pause and
// Unpause return [ErrUnsupported]. Such drivers leave Capabilities.Pause
// false.
type UnsupportedPause struct{ Driver string }

// Pause returns an error satisfying ErrUnsupported.
func (u UnsupportedPause) Pause(context.Context, Guest) error { return Unsupported(u.Driver, "pause") }

// Unpause returns an error satisfying ErrUnsupported.
func (u UnsupportedPause) Unpause(context.Context, Guest) error {
	return Unsupported(u.Driver, "unpause")
}

// UnsupportedSuspend is embedded by drivers without suspend: its Suspend and
// Resume return [ErrUnsupported]. Such drivers leave Capabilities.Suspend
// false.
type UnsupportedSuspend struct{ Driver string }

// Suspend returns an error satisfying ErrUnsupported.
func (u UnsupportedSuspend) Suspend(context.Context, Guest) error {
	return Unsupported(u.Driver, "suspend")
}

// Resume returns an error satisfying ErrUnsupported.
func (u UnsupportedSuspend) Resume(context.Context, Guest) error {
	return Unsupported(u.Driver, "resume")
}

// UnsupportedConsoleOutput is embedded by drivers that keep no console log.
type UnsupportedConsoleOutput struct{ Driver string }

// ConsoleOutput returns an error satisfying ErrUnsupported.
func (u UnsupportedConsoleOutput) ConsoleOutput(context.Context, Guest) ([]byte, error) {
	return nil, Unsupported(u.Driver, "console output")
}
