package compute

import (
	"context"
	"time"
)

// Hypervisor is the contract a virt driver implements for one compute host
// (one hypervisor node): the operations every driver must offer. What only
// some drivers can do is in optional interfaces that the compute agent finds
// by type assertion ([Snapshotter], [ColdMigrator], [LiveMigrator],
// [Rescuer], [ConsoleProvider], [VolumeAttacher], [InterfaceAttacher],
// [Recoverer], [EventSource]), and what a driver can do is declared, not
// discovered, by [Hypervisor.Capabilities]. Nova's equivalent is
// nova/virt/driver.py's ComputeDriver.
//
// Application code does not call a Hypervisor directly: the compute agent
// wraps it and owns the instance state machine, locking, retries, undo and
// records. A driver never retries and never touches the database; it does
// what it is asked, once, and classifies its failures.
//
// # Guests
//
// Every method but Spawn, ListGuests, HostResources and Capabilities names
// its guest with a [Guest]: the instance UUID and the [Handle] Spawn
// returned. The UUID is the guest's identity on the host: a driver keeps at
// most one guest per UUID.
//
// # Concurrency
//
// All methods may be called from many goroutines at once. Calls on distinct
// guests must be able to run in parallel: a driver must not hold a host-wide
// lock while it waits on slow hypervisor work. The agent serializes the
// state-changing calls (Spawn, Destroy, Reboot, PowerOff, PowerOn, Pause,
// Unpause, Suspend, Resume and the optional operations) on any one guest, as
// Nova does with its per-instance lock; Info, ListGuests, HostResources and
// ConsoleOutput may run alongside anything. A driver must nevertheless stay
// safe (no data race, no corrupted state) when two state-changing calls on
// one guest do overlap, and may fail one of them with an error satisfying
// [ErrInvalidState] or [ErrConflict].
//
// # Blocking and cancellation
//
// Every method that takes a context may block on the hypervisor; the doc
// comment of each says for how long it is expected to. A driver checks ctx
// before it asks the hypervisor for anything and returns ctx's error (or an
// error wrapping it) if ctx is already done; in that case it has done
// nothing. When ctx ends while the hypervisor is working, the driver stops
// waiting, undoes what it can (a half-created guest is destroyed), and
// returns an error wrapping ctx.Err(); what is left is then reported by Info
// and ListGuests, and the agent reconciles from there. A driver must not
// keep ctx, or any slice or map of its arguments, after a call returns.
//
// # Idempotency
//
// Power operations are idempotent in their target state: asking for the
// state a guest is already in (PowerOff of a guest that is shut down,
// Unpause of a running guest) succeeds and does nothing. Reboot is not (each
// call reboots). Spawn of a UUID that exists fails with [ErrConflict] and
// changes nothing. Destroy of a guest that does not exist fails with
// [ErrNotFound]; [IgnoreNotFound] turns that into success for callers, like
// a delete, that only want the guest gone.
//
// # Errors
//
// Errors satisfy errors.Is with one of the domain sentinels, so the agent
// can act on them without knowing the driver: [ErrNotFound] (no such guest;
// build it with [GuestNotFound]), [ErrInvalidState] (the guest's power
// state does not allow the operation; [GuestStateError]), [ErrUnsupported]
// (the driver cannot do this; [Unsupported]), [ErrInvalidInput] (a malformed
// spec or handle), [ErrConflict] (the UUID is taken),
// [ErrResourcesUnavailable] (the host is full; reschedule) and
// [ErrTransient] (nothing was done, the call may be repeated; see
// [Transient] for the rule). Anything else means the hypervisor may have
// acted. Drivers keep the vendor error in the chain (wrap with %w), so
// errors.As reaches it. [Classify] and [IsRetryable] read the class.
type Hypervisor interface {
	// Capabilities declares what the driver can do on this host. It does no
	// I/O, never fails, and returns the same value for the life of the
	// Hypervisor (a driver that probes the host does so when it is opened).
	// The agent reports [Capabilities.Traits] to placement and calls an
	// optional interface only when the matching capability is set.
	Capabilities() Capabilities

	// HostResources reports the host's resources, what its guests use, and
	// what kind of hypervisor it is (Nova's get_available_resource). It may
	// block briefly (one round trip to the hypervisor). Usage counts every
	// guest the driver holds, running or not, and the source side of
	// migrations not yet confirmed.
	HostResources(ctx context.Context) (HostResources, error)

	// Spawn creates the guest spec describes and, if spec.PowerOn, starts
	// it. It returns when the hypervisor has created (and started) the
	// guest, not when the guest's operating system has booted; that may take
	// from milliseconds (fake) to minutes (a large image copied first). The
	// returned Handle is what the agent stores; the guest is then found by
	// spec.Instance.UUID and the Handle.
	//
	// A UUID that already has a guest fails with [ErrConflict] and changes
	// nothing. A host without room fails with [ErrResourcesUnavailable] and
	// creates nothing. On any failure the driver undoes its partial work
	// before it returns; if it could not, it says so in the error (which is
	// then not transient) and the guest is visible to ListGuests for the
	// agent to destroy.
	Spawn(ctx context.Context, spec *SpawnSpec) (Handle, error)

	// Destroy stops the guest at once (no clean shutdown) and removes it
	// from the hypervisor, with its local disks unless opts.KeepDisks
	// (Nova's destroy_disks=False, used when the disks live on shared
	// storage another host is about to use). It releases the guest's
	// resources on the host. Destroy blocks until the guest is gone.
	//
	// A guest that does not exist fails with [ErrNotFound]: Destroy called
	// twice succeeds once and then reports ErrNotFound. If an earlier
	// Destroy was interrupted half-way, a later one removes what is left
	// and succeeds. Wrap with [IgnoreNotFound] to treat "already gone" as
	// done.
	Destroy(ctx context.Context, g Guest, opts DestroyOptions) error

	// Reboot reboots the guest. RebootSoft asks the guest's OS to restart
	// (ACPI) and, when it has not done so within the driver's soft-reboot
	// timeout, falls back to a hard reboot (as Nova's libvirt driver does);
	// it needs a running guest and fails with [ErrInvalidState] otherwise.
	// RebootHard resets the guest from whatever power state it is in
	// (running, shut down, paused, suspended, crashed), as Nova allows. On
	// success the guest is running. Blocks until the guest has been
	// restarted (soft: up to the timeout and then the hard reboot).
	Reboot(ctx context.Context, g Guest, kind RebootType) error

	// PowerOff shuts the guest down. With timeout > 0 it first asks the
	// guest to shut down cleanly (ACPI) and waits up to timeout for it,
	// then forces it off; with timeout 0 it forces it off at once (Nova's
	// power_off(timeout=0)). Blocks until the guest is off, so for about
	// timeout at most plus the forced stop. A guest already shut down
	// succeeds; a paused or suspended guest is forced off (its saved state
	// is dropped).
	PowerOff(ctx context.Context, g Guest, timeout time.Duration) error

	// PowerOn starts a guest that is shut down or crashed. A running guest
	// succeeds and is left alone; a paused or suspended one fails with
	// [ErrInvalidState] (Unpause or Resume it). Blocks until the hypervisor
	// has started the guest.
	PowerOn(ctx context.Context, g Guest) error

	// Pause freezes a running guest in memory (its vCPUs stop; it keeps its
	// memory on the host). A paused guest succeeds; other states fail with
	// [ErrInvalidState]. Drivers without pause (VMware) return
	// [ErrUnsupported] and do not declare Capabilities.Pause. Fast: no I/O
	// beyond the hypervisor call.
	Pause(ctx context.Context, g Guest) error

	// Unpause resumes a paused guest. A running guest succeeds; other states
	// fail with [ErrInvalidState].
	Unpause(ctx context.Context, g Guest) error

	// Suspend saves a running (or paused) guest's memory to disk and stops
	// it (libvirt's managed save). A suspended guest succeeds; other states
	// fail with [ErrInvalidState]. Blocks while the memory is written:
	// seconds for gigabytes. Drivers without it return [ErrUnsupported] and
	// do not declare Capabilities.Suspend.
	Suspend(ctx context.Context, g Guest) error

	// Resume restores a suspended guest to running. A running guest
	// succeeds; other states fail with [ErrInvalidState]. Blocks while the
	// memory is read back.
	Resume(ctx context.Context, g Guest) error

	// Info reports the guest's power state and usage. It is cheap (one
	// hypervisor query) and read-only; the agent's power-state sync calls
	// it for every guest periodically. A guest that does not exist fails
	// with [ErrNotFound].
	Info(ctx context.Context, g Guest) (GuestInfo, error)

	// ListGuests lists the guests on this host that the driver answers
	// for, whatever their power state, each with its UUID and current
	// Handle. The order is unspecified. The agent uses it at start to find
	// guests whose instances were deleted and guests it lost the handle of.
	// Read-only; one query to the hypervisor.
	ListGuests(ctx context.Context) ([]Guest, error)

	// ConsoleOutput returns the tail of the guest's serial console log, at
	// most [MaxConsoleOutput] bytes (Nova's get_console_output). A guest
	// that never ran may have none (empty output, nil error). Drivers that
	// keep no log return [ErrUnsupported] and do not declare
	// Capabilities.ConsoleOutput. Read-only; may read a file on the host.
	ConsoleOutput(ctx context.Context, g Guest) ([]byte, error)
}

// MaxConsoleOutput is the most console output a driver returns: the last
// 100 KiB, as Nova's libvirt driver keeps.
const MaxConsoleOutput = 100 << 10

// RebootType says how to reboot a guest.
type RebootType string

// Reboot types, spelt as the compute API spells them.
const (
	RebootSoft RebootType = "SOFT"
	RebootHard RebootType = "HARD"
)

// DestroyOptions modifies [Hypervisor.Destroy].
type DestroyOptions struct {
	// KeepDisks leaves the guest's disks in place (Nova's
	// destroy_disks=False): for shared storage that another host is about
	// to use, and for the destination of a reverted resize on shared
	// storage.
	KeepDisks bool
}

// SpawnSpec is everything a driver needs to create a guest. It is built by
// the compute agent; the driver reads it and must not modify or keep it.
type SpawnSpec struct {
	// Instance is the instance the guest is for. The driver uses its UUID
	// (the guest's identity), ID (through [Instance.GuestName]), Name,
	// Hostname, ProjectID, UserID and Metadata (for the guest's own
	// metadata). It must not rely on its states or on Instance.Flavor.
	Instance *Instance
	// Flavor is the size to give the guest: vCPUs, memory, root, ephemeral
	// and swap disks, and extra specs (hw:cpu_*, quota:*). During a resize
	// it is the new flavor, which is why it is separate from Instance.
	Flavor Flavor
	// Image is the image to boot from (its properties hw_disk_bus,
	// hw_machine_type, hw_firmware_type … shape the guest). Its ID is empty
	// for a guest that boots from a volume.
	Image ImageMeta
	// UserData is the user data for the guest (decoded, not base64), given
	// to it through the config drive or the metadata service.
	UserData []byte
	// KeyData is the public key (OpenSSH format) to inject, if any.
	KeyData string
	// AdminPassword is the password to set, if any. Drivers must not log it.
	AdminPassword string
	// InjectedFiles are files to put into the guest (the compute API's
	// "personality", deprecated in Nova but still accepted).
	InjectedFiles []InjectedFile
	// ConfigDrive, when set, asks for a config drive with these files.
	ConfigDrive *ConfigDrive
	// Networks are the guest's network interfaces, ports already bound.
	Networks []NetworkInterface
	// BlockDevices are the guest's block device mappings (image, volume,
	// blank, swap, ephemeral), as the store keeps them; volumes carry
	// their ConnectionInfo.
	BlockDevices []BlockDeviceMapping
	// PowerOn starts the guest once created (Nova's power_on, true for
	// every boot). False leaves it created and shut down: finish_migration
	// of a stopped instance, unshelve to stopped.
	PowerOn bool
}

// InjectedFile is one file to put into the guest's file system.
type InjectedFile struct {
	Path     string
	Contents []byte
}

// ConfigDrive is the content of a config drive: the files of the OpenStack
// (and EC2) metadata layout, keyed by path ("openstack/latest/meta_data.json",
// "openstack/latest/user_data", "ec2/latest/meta-data.json" …). The agent
// renders them, so that the config drive and the metadata service say the
// same thing; the driver only packs them into the volume labelled Label
// (ISO 9660 or vfat, as Nova's config_drive_format says).
type ConfigDrive struct {
	Label string // "config-2" when empty
	Files map[string][]byte
}

// NetworkInterface is one virtual NIC of a guest, as the network service
// bound its port. Until novakit has a network service it is a placeholder
// the fake driver only counts; the field set follows Nova's VIF model.
type NetworkInterface struct {
	PortID    string   `json:"port_id"`
	NetworkID string   `json:"network_id,omitempty"`
	MAC       string   `json:"mac,omitempty"`
	FixedIPs  []string `json:"fixed_ips,omitempty"`
	// VIFType is how the NIC is plugged ("ovs", "bridge", "tap" …) and
	// Bridge the bridge or device it is plugged into.
	VIFType string `json:"vif_type,omitempty"`
	Bridge  string `json:"bridge,omitempty"`
	Model   string `json:"model,omitempty"` // "virtio", "e1000" … (hw_vif_model)
	MTU     int    `json:"mtu,omitempty"`
	Tag     string `json:"tag,omitempty"` // device tag (2.32+)
}

// GuestInfo is what a driver reports of one guest (Nova's InstanceInfo plus
// the usage its diagnostics show).
type GuestInfo struct {
	// PowerState is the guest's power state now. A driver that cannot tell
	// reports [PowerNoState].
	PowerState PowerState
	// CPUTime is the CPU time the guest has used since it was last started;
	// zero when the driver cannot tell.
	CPUTime time.Duration
	// VCPUs and MemoryMB are the vCPUs and memory the guest is given.
	VCPUs    int
	MemoryMB int
	// ID is the hypervisor's own name or id for the guest (libvirt domain
	// name, VMware moref), for logs and diagnostics.
	ID string
}

// HostResources is what a host has and uses (Nova's get_available_resource
// result). The compute agent turns it into the ComputeNode record and the
// placement inventory.
type HostResources struct {
	// Hostname is the hypervisor hostname (the node name, the resource
	// provider's name); UUID the node's stable UUID, when the driver has
	// one (the fake derives it from the name), else empty and the agent
	// assigns one.
	Hostname string
	UUID     string
	// HostIP is the host's management address, if known.
	HostIP string

	HypervisorType string // "fake", "QEMU", "VMware vCenter Server" …
	// HypervisorVersion as Nova encodes it: major*1000000 + minor*1000 +
	// micro (so 1000 is 0.1.0, Nova's fake).
	HypervisorVersion int

	VCPUs        int
	VCPUsUsed    int
	MemoryMB     int
	MemoryMBUsed int
	LocalGB      int
	LocalGBUsed  int
	// DiskAvailableLeast is the disk (GB) left if every guest's disk grew
	// to its full size; drivers that do not over-commit disk report
	// LocalGB - LocalGBUsed.
	DiskAvailableLeast int
	// RunningVMs counts the guests on the host, whatever their state.
	RunningVMs int

	CPUInfo            CPUInfo
	SupportedInstances []SupportedInstance
}

// CPUInfo describes the host's CPUs; the agent stores it as JSON in
// ComputeNode.CPUInfo, in Nova's shape.
type CPUInfo struct {
	Arch     string      `json:"arch"`
	Model    string      `json:"model"`
	Vendor   string      `json:"vendor"`
	Topology CPUTopology `json:"topology"`
	Features []string    `json:"features"`
}

// CPUTopology is a CPU layout.
type CPUTopology struct {
	Sockets int `json:"sockets"`
	Cores   int `json:"cores"`
	Threads int `json:"threads"`
}

// SupportedInstance is one (architecture, hypervisor type, VM mode) the host
// can run, as Nova's supported_instances lists them: ("x86_64", "qemu",
// "hvm").
type SupportedInstance struct {
	Arch           string `json:"arch"`
	HypervisorType string `json:"hypervisor_type"`
	VMMode         string `json:"vm_mode"`
}
