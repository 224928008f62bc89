package libvirt

import (
	"fmt"
	"html"
	"slices"
	"strconv"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/novakit/novakit/compute"
)

// MetadataNS is the XML namespace of the <novakit:instance> element the
// driver writes into every domain's <metadata>. The driver answers for the
// domains that carry it and leaves every other domain on the host alone.
const MetadataNS = "http://novakit.dev/xmlns/libvirt/instance/1.0"

// HostInfo is what the renderer needs to know of the host: the
// architecture and domain type to use, and the graphics it offers.
type HostInfo struct {
	// Arch is the guest architecture ("x86_64").
	Arch string
	// VirtType is the libvirt domain type: "kvm", "qemu" or "test".
	VirtType string
	// DefaultMachine is the machine type used when the image names none
	// ("pc").
	DefaultMachine string
}

// Disk is one disk of a guest as the renderer places it.
type Disk struct {
	// Path is the file on the host, Format its format ("qcow2", "raw").
	Path   string
	Format string
	// Device is "disk" or "cdrom".
	Device string
	// Bus is the bus ("virtio", "ide", "sata", "scsi", "usb"); Dev the
	// target device name ("vda", "hdd").
	Bus string
	Dev string
	// ReadOnly marks the disk read-only (config drives).
	ReadOnly bool
	// Role says what the disk is for: "root", "ephemeral", "swap",
	// "config", "rescue".
	Role string
}

// GuestConfig is everything [RenderDomain] turns into domain XML. It is a
// plain value: rendering is a pure function of it.
type GuestConfig struct {
	Instance *compute.Instance
	Flavor   compute.Flavor
	Image    compute.ImageMeta
	Host     HostInfo
	Disks    []Disk
	// Kernel, Initrd and Cmdline are set for a direct kernel boot.
	Kernel, Initrd, Cmdline string
	// ConsoleLog is the file the guest's first serial port writes to.
	ConsoleLog string
	// VNC and SPICE add those consoles, listening on Listen.
	VNC, SPICE bool
	Listen     string
	Networks   []compute.NetworkInterface
	// CPUMode and CPUModel are the host's default CPU configuration
	// (Nova's [libvirt]cpu_mode and cpu_models); the flavor's
	// hw:cpu_model extra spec overrides the model.
	CPUMode, CPUModel string
	// Version is written into the guest's SMBIOS.
	Version string
}

// Image properties the renderer reads (Glance's names, as Nova reads them).
const (
	PropDiskBus      = "hw_disk_bus"
	PropCDROMBus     = "hw_cdrom_bus"
	PropMachineType  = "hw_machine_type"
	PropFirmwareType = "hw_firmware_type"
	PropVideoModel   = "hw_video_model"
	PropVIFModel     = "hw_vif_model"
	PropCommandLine  = "os_command_line"
	PropKernelID     = "kernel_id"
	PropRamdiskID    = "ramdisk_id"
)

var (
	diskBuses   = []string{"virtio", "ide", "sata", "scsi", "usb"}
	videoModels = []string{"virtio", "vga", "cirrus", "qxl", "bochs", "none"}
	vifModels   = []string{"virtio", "e1000", "e1000e", "rtl8139", "ne2k_pci", "pcnet"}
)

func prop(img compute.ImageMeta, key string) string { return strings.TrimSpace(img.Properties[key]) }

// DiskBus returns the bus of the guest's disks: the image's hw_disk_bus or
// virtio. An unknown bus is an error naming the property.
func DiskBus(img compute.ImageMeta) (string, error) {
	b := prop(img, PropDiskBus)
	if b == "" {
		return "virtio", nil
	}
	if !slices.Contains(diskBuses, b) {
		return "", compute.InvalidInput(PropDiskBus, "unknown disk bus %q (want one of %s)", b, strings.Join(diskBuses, ", "))
	}
	return b, nil
}

// MachineType returns the machine type for the image on the host.
func MachineType(img compute.ImageMeta, h HostInfo) string {
	if m := prop(img, PropMachineType); m != "" {
		return m
	}
	if h.DefaultMachine != "" {
		return h.DefaultMachine
	}
	return "pc"
}

// CDROMBus returns the bus of CD-ROMs (config drive): hw_cdrom_bus, else
// ide on i440fx machines and sata on q35, as Nova chooses.
func CDROMBus(img compute.ImageMeta, h HostInfo) (string, error) {
	if b := prop(img, PropCDROMBus); b != "" {
		if !slices.Contains(diskBuses, b) || b == "virtio" {
			return "", compute.InvalidInput(PropCDROMBus, "unknown CD-ROM bus %q", b)
		}
		return b, nil
	}
	if strings.Contains(MachineType(img, h), "q35") {
		return "sata", nil
	}
	return "ide", nil
}

// DeviceName returns the target device name of the index-th device on bus
// ("vda", "sdb", "hdc").
func DeviceName(bus string, index int) string {
	prefix := "sd"
	switch bus {
	case "virtio":
		prefix = "vd"
	case "ide":
		prefix = "hd"
	}
	var suffix string
	for n := index; ; n = n/26 - 1 {
		suffix = string(rune('a'+n%26)) + suffix
		if n < 26 {
			break
		}
	}
	return prefix + suffix
}

// RenderDomain renders the domain of a guest. It is a pure function of
// cfg: it reads no file and asks the host nothing. Malformed flavor extra
// specs or image properties fail with an error satisfying
// compute.ErrInvalidInput that names the field.
func RenderDomain(cfg *GuestConfig) (*libvirtxml.Domain, error) {
	if cfg.Instance == nil || cfg.Instance.UUID == "" {
		return nil, compute.InvalidInput("instance", "no instance UUID")
	}
	f := cfg.Flavor
	if f.VCPUs < 1 {
		return nil, compute.InvalidInput("flavor.vcpus", "must be at least 1")
	}
	if f.MemoryMB < 1 {
		return nil, compute.InvalidInput("flavor.memory_mb", "must be at least 1")
	}
	topo, err := CPUTopology(f, cfg.Image)
	if err != nil {
		return nil, err
	}
	cpu, err := renderCPU(cfg, topo)
	if err != nil {
		return nil, err
	}
	tune, err := renderCPUTune(f)
	if err != nil {
		return nil, err
	}
	inst := cfg.Instance
	d := &libvirtxml.Domain{
		Type:     cfg.Host.VirtType,
		Name:     inst.GuestName(),
		UUID:     inst.UUID,
		Metadata: &libvirtxml.DomainMetadata{XML: renderMetadata(cfg)},
		Memory:   &libvirtxml.DomainMemory{Value: uint(f.MemoryMB) * 1024, Unit: "KiB"},
		VCPU:     &libvirtxml.DomainVCPU{Placement: "static", Value: uint(f.VCPUs)},
		CPUTune:  tune,
		SysInfo:  []libvirtxml.DomainSysInfo{{SMBIOS: renderSMBIOS(cfg)}},
		OS: &libvirtxml.DomainOS{
			Type:   &libvirtxml.DomainOSType{Arch: cfg.Host.Arch, Machine: MachineType(cfg.Image, cfg.Host), Type: "hvm"},
			SMBios: &libvirtxml.DomainSMBios{Mode: "sysinfo"},
		},
		Features: &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}, APIC: &libvirtxml.DomainFeatureAPIC{}},
		CPU:      cpu,
		Clock: &libvirtxml.DomainClock{Offset: "utc", Timer: []libvirtxml.DomainTimer{
			{Name: "pit", TickPolicy: "delay"}, {Name: "rtc", TickPolicy: "catchup"}, {Name: "hpet", Present: "no"},
		}},
		OnPoweroff: "destroy", OnReboot: "restart", OnCrash: "destroy",
		Devices: &libvirtxml.DomainDeviceList{},
	}
	switch fw := prop(cfg.Image, PropFirmwareType); fw {
	case "", "bios":
	case "uefi":
		d.OS.Firmware = "efi"
	default:
		return nil, compute.InvalidInput(PropFirmwareType, "unknown firmware type %q (want bios or uefi)", fw)
	}
	if cfg.Kernel != "" {
		d.OS.Kernel, d.OS.Initrd, d.OS.Cmdline = cfg.Kernel, cfg.Initrd, cfg.Cmdline
	} else {
		d.OS.BootDevices = []libvirtxml.DomainBootDevice{{Dev: "hd"}}
		if len(cfg.Disks) > 0 && cfg.Disks[0].Device == "cdrom" {
			d.OS.BootDevices = []libvirtxml.DomainBootDevice{{Dev: "cdrom"}}
		}
	}
	dev := d.Devices
	for _, k := range cfg.Disks {
		dev.Disks = append(dev.Disks, renderDisk(k))
	}
	for i, n := range cfg.Networks {
		nic, err := renderInterface(n, cfg.Image, i)
		if err != nil {
			return nil, err
		}
		dev.Interfaces = append(dev.Interfaces, nic)
	}
	port := uint(0)
	if cfg.ConsoleLog != "" {
		dev.Serials = []libvirtxml.DomainSerial{{
			Source: &libvirtxml.DomainChardevSource{File: &libvirtxml.DomainChardevSourceFile{Path: cfg.ConsoleLog, Append: "on"}},
			Target: &libvirtxml.DomainSerialTarget{Port: &port},
		}}
	} else {
		dev.Serials = []libvirtxml.DomainSerial{{
			Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
			Target: &libvirtxml.DomainSerialTarget{Port: &port},
		}}
	}
	// The console is the first serial port (libvirt aliases the two when
	// their sources match).
	dev.Consoles = []libvirtxml.DomainConsole{{Source: dev.Serials[0].Source, Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &port}}}
	video := prop(cfg.Image, PropVideoModel)
	if video == "" {
		video = "virtio"
	}
	if !slices.Contains(videoModels, video) {
		return nil, compute.InvalidInput(PropVideoModel, "unknown video model %q (want one of %s)", video, strings.Join(videoModels, ", "))
	}
	if cfg.VNC || cfg.SPICE {
		listen := cfg.Listen
		if listen == "" {
			listen = "127.0.0.1"
		}
		lst := []libvirtxml.DomainGraphicListener{{Address: &libvirtxml.DomainGraphicListenerAddress{Address: listen}}}
		if cfg.VNC {
			dev.Graphics = append(dev.Graphics, libvirtxml.DomainGraphic{VNC: &libvirtxml.DomainGraphicVNC{AutoPort: "yes", Listen: listen, Listeners: lst}})
		}
		if cfg.SPICE {
			dev.Graphics = append(dev.Graphics, libvirtxml.DomainGraphic{Spice: &libvirtxml.DomainGraphicSpice{AutoPort: "yes", Listen: listen, Listeners: lst}})
		}
		dev.Videos = []libvirtxml.DomainVideo{{Model: libvirtxml.DomainVideoModel{Type: video}}}
		dev.Inputs = []libvirtxml.DomainInput{{Type: "tablet", Bus: "usb"}}
	}
	dev.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "virtio", Stats: &libvirtxml.DomainMemBalloonStats{Period: 10}}
	return d, nil
}

// RenderDomainXML is [RenderDomain] marshalled to the XML libvirt takes.
func RenderDomainXML(cfg *GuestConfig) (string, error) {
	d, err := RenderDomain(cfg)
	if err != nil {
		return "", err
	}
	return d.Marshal()
}

func renderDisk(k Disk) libvirtxml.DomainDisk {
	dd := libvirtxml.DomainDisk{
		Device: k.Device,
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: k.Format},
		Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: k.Path}},
		Target: &libvirtxml.DomainDiskTarget{Dev: k.Dev, Bus: k.Bus},
	}
	if k.Device == "disk" {
		dd.Driver.Cache = "none"
		dd.Driver.Discard = "ignore"
	}
	if k.ReadOnly {
		dd.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
	}
	return dd
}

func renderInterface(n compute.NetworkInterface, img compute.ImageMeta, i int) (libvirtxml.DomainInterface, error) {
	model := n.Model
	if model == "" {
		model = prop(img, PropVIFModel)
	}
	if model == "" {
		model = "virtio"
	}
	if !slices.Contains(vifModels, model) {
		return libvirtxml.DomainInterface{}, compute.InvalidInput(PropVIFModel, "unknown NIC model %q (want one of %s)", model, strings.Join(vifModels, ", "))
	}
	nic := libvirtxml.DomainInterface{Model: &libvirtxml.DomainInterfaceModel{Type: model}}
	if n.MAC != "" {
		nic.MAC = &libvirtxml.DomainInterfaceMAC{Address: n.MAC}
	}
	dev := "tap" + n.PortID
	if len(dev) > 14 {
		dev = dev[:14]
	}
	switch n.VIFType {
	case "bridge":
		if n.Bridge == "" {
			return nic, compute.InvalidInput(fmt.Sprintf("networks[%d].bridge", i), "a bridge VIF needs its bridge")
		}
		nic.Source = &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: n.Bridge}}
		nic.Target = &libvirtxml.DomainInterfaceTarget{Dev: dev}
	case "ovs":
		br := n.Bridge
		if br == "" {
			br = "br-int"
		}
		nic.Source = &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: br}}
		nic.VirtualPort = &libvirtxml.DomainInterfaceVirtualPort{Params: &libvirtxml.DomainInterfaceVirtualPortParams{
			OpenVSwitch: &libvirtxml.DomainInterfaceVirtualPortParamsOpenVSwitch{InterfaceID: n.PortID},
		}}
		nic.Target = &libvirtxml.DomainInterfaceTarget{Dev: dev}
	case "", "tap", "ethernet":
		nic.Source = &libvirtxml.DomainInterfaceSource{Ethernet: &libvirtxml.DomainInterfaceSourceEthernet{}}
		nic.Target = &libvirtxml.DomainInterfaceTarget{Dev: dev}
	case "user":
		nic.Source = &libvirtxml.DomainInterfaceSource{User: &libvirtxml.DomainInterfaceSourceUser{}}
	default:
		return nic, compute.InvalidInput(fmt.Sprintf("networks[%d].vif_type", i), "unsupported VIF type %q", n.VIFType)
	}
	if n.MTU > 0 {
		nic.MTU = &libvirtxml.DomainInterfaceMTU{Size: uint(n.MTU)}
	}
	return nic, nil
}

func renderSMBIOS(cfg *GuestConfig) *libvirtxml.DomainSysInfoSMBIOS {
	e := func(n, v string) libvirtxml.DomainSysInfoEntry {
		return libvirtxml.DomainSysInfoEntry{Name: n, Value: v}
	}
	return &libvirtxml.DomainSysInfoSMBIOS{
		System: &libvirtxml.DomainSysInfoSystem{Entry: []libvirtxml.DomainSysInfoEntry{
			// cloud-init recognises an OpenStack guest by these two.
			e("manufacturer", "OpenStack Foundation"), e("product", "OpenStack Nova"),
			e("version", cfg.Version), e("serial", cfg.Instance.UUID), e("uuid", cfg.Instance.UUID),
			e("family", "Virtual Machine"),
		}},
	}
}

func renderMetadata(cfg *GuestConfig) string {
	x := html.EscapeString
	i, f := cfg.Instance, cfg.Flavor
	var b strings.Builder
	fmt.Fprintf(&b, `<novakit:instance xmlns:novakit="%s">`, MetadataNS)
	fmt.Fprintf(&b, `<novakit:name>%s</novakit:name>`, x(i.Name))
	fmt.Fprintf(&b, `<novakit:flavor name="%s" id="%s"><novakit:memory>%d</novakit:memory><novakit:disk>%d</novakit:disk><novakit:swap>%d</novakit:swap><novakit:ephemeral>%d</novakit:ephemeral><novakit:vcpus>%d</novakit:vcpus></novakit:flavor>`,
		x(f.Name), x(f.FlavorID), f.MemoryMB, f.RootGB, f.SwapMB, f.EphemeralGB, f.VCPUs)
	fmt.Fprintf(&b, `<novakit:owner><novakit:user uuid="%s"/><novakit:project uuid="%s"/></novakit:owner>`, x(i.UserID), x(i.ProjectID))
	if cfg.Image.ID != "" {
		fmt.Fprintf(&b, `<novakit:root type="image" uuid="%s"/>`, x(cfg.Image.ID))
	}
	b.WriteString(`</novakit:instance>`)
	return b.String()
}

// Topology is a guest CPU layout.
type Topology struct{ Sockets, Cores, Threads int }

// topology extra specs and image properties, as Nova names them.
var topoKeys = [3]string{"sockets", "cores", "threads"}

func intSpec(src map[string]string, key, field string) (int, error) {
	v, ok := src[key]
	if !ok || strings.TrimSpace(v) == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return 0, compute.InvalidInput(field, "must be a positive integer, got %q", v)
	}
	return n, nil
}

// CPUTopology chooses the guest's CPU topology from the flavor's
// hw:cpu_{sockets,cores,threads} and hw:cpu_max_* extra specs and the
// image's hw_cpu_* properties, as Nova does: the flavor's values bound the
// image's (an image asking for more than the flavor's maximum is an error),
// preferred values are honoured when they divide the vCPU count, and among
// the layouts that fit, the one with the most sockets wins (then cores).
func CPUTopology(f compute.Flavor, img compute.ImageMeta) (Topology, error) {
	var pref, maxes [3]int
	for i, k := range topoKeys {
		fv, err := intSpec(f.ExtraSpecs, "hw:cpu_"+k, "hw:cpu_"+k)
		if err != nil {
			return Topology{}, err
		}
		fmax, err := intSpec(f.ExtraSpecs, "hw:cpu_max_"+k, "hw:cpu_max_"+k)
		if err != nil {
			return Topology{}, err
		}
		iv, err := intSpec(img.Properties, "hw_cpu_"+k, "hw_cpu_"+k)
		if err != nil {
			return Topology{}, err
		}
		imax, err := intSpec(img.Properties, "hw_cpu_max_"+k, "hw_cpu_max_"+k)
		if err != nil {
			return Topology{}, err
		}
		maxes[i] = 65536
		if fmax > 0 {
			maxes[i] = fmax
		}
		if imax > 0 {
			if fmax > 0 && imax > fmax {
				return Topology{}, compute.InvalidInput("hw_cpu_max_"+k, "image maximum %d exceeds the flavor's hw:cpu_max_%s %d", imax, k, fmax)
			}
			maxes[i] = imax
		}
		pref[i] = fv
		if iv > 0 {
			if iv > maxes[i] {
				return Topology{}, compute.InvalidInput("hw_cpu_"+k, "image asks for %d, more than the maximum %d", iv, maxes[i])
			}
			pref[i] = iv
		}
		if pref[i] > maxes[i] {
			return Topology{}, compute.InvalidInput("hw:cpu_"+k, "%d is more than the maximum %d", pref[i], maxes[i])
		}
	}
	n := f.VCPUs
	var fits, preferred []Topology
	for s := 1; s <= n; s++ {
		for c := 1; c <= n/s; c++ {
			if n%(s*c) != 0 {
				continue
			}
			t := n / (s * c)
			if s > maxes[0] || c > maxes[1] || t > maxes[2] {
				continue
			}
			tp := Topology{s, c, t}
			fits = append(fits, tp)
			if (pref[0] == 0 || pref[0] == s) && (pref[1] == 0 || pref[1] == c) && (pref[2] == 0 || pref[2] == t) {
				preferred = append(preferred, tp)
			}
		}
	}
	pick := preferred
	if len(pick) == 0 {
		pick = fits
	}
	if len(pick) == 0 {
		return Topology{}, compute.InvalidInput("hw:cpu_max_sockets", "no CPU topology of %d vCPUs fits within %d sockets, %d cores, %d threads", n, maxes[0], maxes[1], maxes[2])
	}
	slices.SortStableFunc(pick, func(a, b Topology) int {
		if a.Sockets != b.Sockets {
			return b.Sockets - a.Sockets
		}
		return b.Cores - a.Cores
	})
	return pick[0], nil
}

func renderCPU(cfg *GuestConfig, topo Topology) (*libvirtxml.DomainCPU, error) {
	mode, model := cfg.CPUMode, cfg.CPUModel
	if m := strings.TrimSpace(cfg.Flavor.ExtraSpecs["hw:cpu_model"]); m != "" {
		mode, model = "custom", m
	}
	if p := cfg.Flavor.ExtraSpecs["hw:cpu_policy"]; p == "dedicated" {
		return nil, compute.Unsupported(DriverName, "hw:cpu_policy=dedicated (CPU pinning)")
	}
	cpu := &libvirtxml.DomainCPU{Topology: &libvirtxml.DomainCPUTopology{Sockets: topo.Sockets, Cores: topo.Cores, Threads: topo.Threads}}
	switch mode {
	case "", "none":
	case "host-model", "host-passthrough", "maximum":
		if cfg.Host.VirtType == "qemu" && mode != "maximum" {
			return nil, compute.InvalidInput("cpu_mode", "%s needs KVM; this host runs QEMU (TCG)", mode)
		}
		cpu.Mode = mode
	case "custom":
		if model == "" {
			return nil, compute.InvalidInput("hw:cpu_model", "custom CPU mode needs a model")
		}
		cpu.Mode, cpu.Match = "custom", "exact"
		cpu.Model = &libvirtxml.DomainCPUModel{Value: model, Fallback: "forbid"}
	default:
		return nil, compute.InvalidInput("cpu_mode", "unknown CPU mode %q", mode)
	}
	return cpu, nil
}

func renderCPUTune(f compute.Flavor) (*libvirtxml.DomainCPUTune, error) {
	var tune libvirtxml.DomainCPUTune
	set := false
	for _, k := range []string{"quota:cpu_shares", "quota:cpu_period", "quota:cpu_quota"} {
		v, ok := f.ExtraSpecs[k]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 && k != "quota:cpu_quota" {
			return nil, compute.InvalidInput(k, "must be an integer, got %q", v)
		}
		set = true
		switch k {
		case "quota:cpu_shares":
			tune.Shares = &libvirtxml.DomainCPUTuneShares{Value: uint(n)}
		case "quota:cpu_period":
			tune.Period = &libvirtxml.DomainCPUTunePeriod{Value: uint64(n)}
		case "quota:cpu_quota":
			tune.Quota = &libvirtxml.DomainCPUTuneQuota{Value: n}
		}
	}
	if !set {
		return nil, nil
	}
	return &tune, nil
}
