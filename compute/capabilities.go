package compute

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Capabilities declares what a driver can do on a host. A driver returns it
// from [Hypervisor.Capabilities]; the agent consults it before it calls an
// optional operation, reports [Capabilities.Traits] to placement so that
// the scheduler can filter on them, and [Capabilities.Check] verifies that
// the declaration matches the optional interfaces the driver implements.
//
// The fields follow Nova's driver capabilities dict (supports_*), plus the
// operations Nova leaves to NotImplementedError (pause, suspend, consoles…),
// which novakit declares too. The zero value declares nothing beyond the
// required [Hypervisor] methods.
type Capabilities struct {
	// Pause and Suspend: Hypervisor.Pause/Unpause and Suspend/Resume work.
	Pause   bool
	Suspend bool
	// ConsoleOutput: Hypervisor.ConsoleOutput returns the guest's log.
	ConsoleOutput bool

	// Snapshot: the driver implements [Snapshotter].
	Snapshot bool
	// Resize: the driver implements [ColdMigrator] (resize and cold
	// migrate); ResizeSameHost: source and destination may be the same host
	// (supports_migrate_to_same_host).
	Resize         bool
	ResizeSameHost bool
	// LiveMigrate: the driver implements [LiveMigrator].
	LiveMigrate bool
	// Evacuate: guests can be rebuilt here from another, dead host
	// (supports_evacuate).
	Evacuate bool
	// Rescue: the driver implements [Rescuer]; RescueBootFromVolume:
	// rescue works for volume-backed guests (supports_bfv_rescue).
	Rescue               bool
	RescueBootFromVolume bool
	// Recover: the driver implements [Recoverer].
	Recover bool
	// Events: the driver implements [EventSource].
	Events bool

	// Consoles the driver implements through [ConsoleProvider].
	VNC    bool
	SPICE  bool
	Serial bool
	MKS    bool

	// AttachVolume: the driver implements [VolumeAttacher]; the rest are
	// Nova's volume capabilities.
	AttachVolume             bool
	TaggedAttachVolume       bool // supports_tagged_attach_volume
	ExtendVolume             bool // supports_extend_volume
	Multiattach              bool // supports_multiattach
	AttachInterface          bool // supports_attach_interface; implements [InterfaceAttacher]
	TaggedAttachInterface    bool // supports_tagged_attach_interface
	DeviceTagging            bool // supports_device_tagging
	TrustedCerts             bool // supports_trusted_certs
	PCPUs                    bool // supports_pcpus (dedicated host CPUs)
	Accelerators             bool // supports_accelerators
	ImageCache               bool // has_imagecache
	SecureBoot               bool // supports_secure_boot
	StatelessFirmware        bool // supports_stateless_firmware
	VTPM                     bool // supports_vtpm
	SocketPCINUMA            bool // supports_socket_pci_numa_affinity
	RemoteManagedPorts       bool // supports_remote_managed_ports
	AddressSpacePassthrough  bool // supports_address_space_passthrough
	AddressSpaceEmulated     bool // supports_address_space_emulated
	VirtioFS                 bool // supports_virtio_fs
	MemBackingFile           bool // supports_mem_backing_file
	EphemeralEncryption      bool // supports_ephemeral_encryption
	EphemeralEncryptionLUKS  bool // supports_ephemeral_encryption_luks
	EphemeralEncryptionPlain bool // supports_ephemeral_encryption_plain

	// ImageTypes are the disk formats the driver boots from, as Glance
	// names them: "raw", "qcow2", "iso", "ami", "aki", "ari", "vdi", "vhd",
	// "vhdx", "vmdk", "ploop" (supports_image_type_*).
	ImageTypes []string
}

// capabilityTraits is Nova's CAPABILITY_TRAITS_MAP (nova/virt/driver.py):
// the capabilities that become COMPUTE_* traits. The image types are added
// by [Capabilities.Traits] from [ImageTypeTraits].
var capabilityTraits = []struct {
	trait string
	has   func(*Capabilities) bool
}{
	{"COMPUTE_NET_ATTACH_INTERFACE", func(c *Capabilities) bool { return c.AttachInterface }},
	{"COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG", func(c *Capabilities) bool { return c.TaggedAttachInterface }},
	{"COMPUTE_DEVICE_TAGGING", func(c *Capabilities) bool { return c.DeviceTagging }},
	{"COMPUTE_VOLUME_ATTACH_WITH_TAG", func(c *Capabilities) bool { return c.TaggedAttachVolume }},
	{"COMPUTE_VOLUME_EXTEND", func(c *Capabilities) bool { return c.ExtendVolume }},
	{"COMPUTE_VOLUME_MULTI_ATTACH", func(c *Capabilities) bool { return c.Multiattach }},
	{"COMPUTE_TRUSTED_CERTS", func(c *Capabilities) bool { return c.TrustedCerts }},
	{"COMPUTE_ACCELERATORS", func(c *Capabilities) bool { return c.Accelerators }},
	{"COMPUTE_RESCUE_BFV", func(c *Capabilities) bool { return c.RescueBootFromVolume }},
	{"COMPUTE_SECURITY_UEFI_SECURE_BOOT", func(c *Capabilities) bool { return c.SecureBoot }},
	{"COMPUTE_SECURITY_STATELESS_FIRMWARE", func(c *Capabilities) bool { return c.StatelessFirmware }},
	{"COMPUTE_SOCKET_PCI_NUMA_AFFINITY", func(c *Capabilities) bool { return c.SocketPCINUMA }},
	{"COMPUTE_REMOTE_MANAGED_PORTS", func(c *Capabilities) bool { return c.RemoteManagedPorts }},
	{"COMPUTE_ADDRESS_SPACE_PASSTHROUGH", func(c *Capabilities) bool { return c.AddressSpacePassthrough }},
	{"COMPUTE_ADDRESS_SPACE_EMULATED", func(c *Capabilities) bool { return c.AddressSpaceEmulated }},
	{"COMPUTE_STORAGE_VIRTIO_FS", func(c *Capabilities) bool { return c.VirtioFS }},
	{"COMPUTE_MEM_BACKING_FILE", func(c *Capabilities) bool { return c.MemBackingFile }},
	{"COMPUTE_EPHEMERAL_ENCRYPTION", func(c *Capabilities) bool { return c.EphemeralEncryption }},
	{"COMPUTE_EPHEMERAL_ENCRYPTION_LUKS", func(c *Capabilities) bool { return c.EphemeralEncryptionLUKS }},
	{"COMPUTE_EPHEMERAL_ENCRYPTION_PLAIN", func(c *Capabilities) bool { return c.EphemeralEncryptionPlain }},
}

// ImageTypeTraits maps the disk formats of [Capabilities.ImageTypes] to
// their traits (COMPUTE_IMAGE_TYPE_*), as Nova reports them.
var ImageTypeTraits = map[string]string{
	"aki": "COMPUTE_IMAGE_TYPE_AKI", "ami": "COMPUTE_IMAGE_TYPE_AMI",
	"ari": "COMPUTE_IMAGE_TYPE_ARI", "iso": "COMPUTE_IMAGE_TYPE_ISO",
	"qcow2": "COMPUTE_IMAGE_TYPE_QCOW2", "raw": "COMPUTE_IMAGE_TYPE_RAW",
	"vdi": "COMPUTE_IMAGE_TYPE_VDI", "vhd": "COMPUTE_IMAGE_TYPE_VHD",
	"vhdx": "COMPUTE_IMAGE_TYPE_VHDX", "vmdk": "COMPUTE_IMAGE_TYPE_VMDK",
	"ploop": "COMPUTE_IMAGE_TYPE_PLOOP",
}

// Traits returns the traits the capabilities give the host's resource
// provider, sorted: what Nova's capabilities_as_traits maps to true. The
// agent adds COMPUTE_NODE (and COMPUTE_STATUS_DISABLED when the service is
// disabled) itself.
func (c Capabilities) Traits() []string {
	var ts []string
	for _, ct := range capabilityTraits {
		if ct.has(&c) {
			ts = append(ts, ct.trait)
		}
	}
	for _, it := range c.ImageTypes {
		if t, ok := ImageTypeTraits[strings.ToLower(it)]; ok {
			ts = append(ts, t)
		}
	}
	slices.Sort(ts)
	return slices.Compact(ts)
}

// ManagedTraits returns every trait that capabilities decide, sorted,
// whether this value sets it or not. The agent removes from the resource
// provider those of them that [Capabilities.Traits] does not return (an
// operator cannot claim a capability the driver does not declare) and
// leaves every other trait alone, as Nova's resource tracker does.
func ManagedTraits() []string {
	ts := make([]string, 0, len(capabilityTraits)+len(ImageTypeTraits))
	for _, ct := range capabilityTraits {
		ts = append(ts, ct.trait)
	}
	for _, t := range ImageTypeTraits {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// Check reports whether the capabilities match the optional interfaces h
// implements: every declared optional operation must have its interface
// (Snapshot → [Snapshotter], Resize → [ColdMigrator], LiveMigrate →
// [LiveMigrator], Rescue → [Rescuer], any console → [ConsoleProvider],
// AttachVolume → [VolumeAttacher], AttachInterface → [InterfaceAttacher],
// Recover → [Recoverer], Events → [EventSource]), and dependent flags need
// their base (ResizeSameHost needs Resize …). The agent runs it once at
// start; the conformance suite too. The error lists every mismatch.
func (c Capabilities) Check(h Hypervisor) error {
	var errs []error
	need := func(declared bool, name string, ok bool) {
		if declared && !ok {
			errs = append(errs, fmt.Errorf("capability %s is declared but the driver does not implement its interface", name))
		}
	}
	_, snap := h.(Snapshotter)
	_, cold := h.(ColdMigrator)
	_, live := h.(LiveMigrator)
	_, resc := h.(Rescuer)
	_, cons := h.(ConsoleProvider)
	_, vol := h.(VolumeAttacher)
	_, nic := h.(InterfaceAttacher)
	_, rec := h.(Recoverer)
	_, ev := h.(EventSource)
	need(c.Snapshot, "Snapshot", snap)
	need(c.Resize, "Resize", cold)
	need(c.LiveMigrate, "LiveMigrate", live)
	need(c.Rescue, "Rescue", resc)
	need(c.VNC || c.SPICE || c.Serial || c.MKS, "VNC/SPICE/Serial/MKS", cons)
	need(c.AttachVolume, "AttachVolume", vol)
	need(c.AttachInterface, "AttachInterface", nic)
	need(c.Recover, "Recover", rec)
	need(c.Events, "Events", ev)
	base := func(flag bool, name string, on bool, onName string) {
		if flag && !on {
			errs = append(errs, fmt.Errorf("capability %s needs %s", name, onName))
		}
	}
	base(c.ResizeSameHost, "ResizeSameHost", c.Resize, "Resize")
	base(c.RescueBootFromVolume, "RescueBootFromVolume", c.Rescue, "Rescue")
	base(c.TaggedAttachVolume || c.ExtendVolume || c.Multiattach, "TaggedAttachVolume/ExtendVolume/Multiattach", c.AttachVolume, "AttachVolume")
	base(c.TaggedAttachInterface, "TaggedAttachInterface", c.AttachInterface, "AttachInterface")
	for _, it := range c.ImageTypes {
		if _, ok := ImageTypeTraits[strings.ToLower(it)]; !ok {
			errs = append(errs, fmt.Errorf("unknown image type %q", it))
		}
	}
	return errors.Join(errs...)
}

// Consoles returns the console types the capabilities declare, in a fixed
// order.
func (c Capabilities) Consoles() []ConsoleType {
	var cs []ConsoleType
	for _, x := range []struct {
		on bool
		t  ConsoleType
	}{{c.VNC, ConsoleVNC}, {c.SPICE, ConsoleSPICE}, {c.Serial, ConsoleSerial}, {c.MKS, ConsoleMKS}} {
		if x.on {
			cs = append(cs, x.t)
		}
	}
	return cs
}
