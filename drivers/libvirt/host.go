package libvirt

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/novakit/novakit/compute"
)

// eventLoop starts libvirt's default event loop once per process: libvirt
// keeps it in C globals, it must be registered before the first connection
// that wants events, and it cannot be stopped. It is the one piece of
// process-wide state the package has.
var eventLoop sync.Once

func startEventLoop() {
	eventLoop.Do(func() {
		if err := libvirt.EventRegisterDefaultImpl(); err != nil {
			return
		}
		go func() {
			for {
				if err := libvirt.EventRunDefaultImpl(); err != nil {
					return
				}
			}
		}()
	})
}

// probe reads the host's capabilities and decides the virt type, machine
// type, consoles and declared capabilities.
func (d *Driver) probe() error {
	capsXML, err := d.conn.GetCapabilities()
	if err != nil {
		return fmt.Errorf("libvirt: capabilities: %w", err)
	}
	var caps libvirtxml.Caps
	if err := caps.Unmarshal(capsXML); err != nil {
		return fmt.Errorf("libvirt: parse capabilities: %w", err)
	}
	connType, err := d.conn.GetType()
	if err != nil {
		return fmt.Errorf("libvirt: hypervisor type: %w", err)
	}
	arch := caps.Host.CPU.Arch
	if arch == "" {
		arch = "x86_64"
	}
	domainTypes := map[string]bool{}
	for _, g := range caps.Guests {
		if g.Arch.Name != arch {
			continue
		}
		for _, dt := range g.Arch.Domains {
			domainTypes[dt.Type] = true
		}
	}
	d.virtType, d.why = ChooseVirtType(d.opts.VirtType, domainTypes, probeKVM())
	if strings.EqualFold(connType, "test") {
		d.virtType, d.why = "test", "libvirt test driver"
	}
	d.host = HostInfo{Arch: arch, VirtType: d.virtType, DefaultMachine: d.opts.MachineType}
	if d.host.DefaultMachine == "" {
		d.host.DefaultMachine = "pc"
	}
	if d.opts.CPUMode == "" {
		d.opts.CPUMode = "none"
		if d.virtType == "kvm" {
			d.opts.CPUMode = "host-model"
		}
	}

	// Graphics the hypervisor offers (domain capabilities; the test driver
	// has none, and never assigns console ports).
	offered := map[string]bool{}
	if dc, err := d.conn.GetDomainCapabilities("", arch, "", d.virtType, 0); err == nil {
		var dcaps libvirtxml.DomainCaps
		if dcaps.Unmarshal(dc) == nil && dcaps.Devices != nil && dcaps.Devices.Graphics != nil {
			for _, e := range dcaps.Devices.Graphics.Enums {
				if e.Name == "type" {
					for _, v := range e.Values {
						offered[v] = true
					}
				}
			}
		}
	}
	want := d.opts.Consoles
	if want == nil {
		want = []compute.ConsoleType{compute.ConsoleVNC, compute.ConsoleSPICE}
	}
	d.vnc = slices.Contains(want, compute.ConsoleVNC) && offered["vnc"]
	d.spice = slices.Contains(want, compute.ConsoleSPICE) && offered["spice"]

	d.hostname = d.opts.Hostname
	if d.hostname == "" {
		if d.hostname, err = d.conn.GetHostname(); err != nil {
			return fmt.Errorf("libvirt: hostname: %w", err)
		}
	}
	d.caps = compute.Capabilities{
		Pause: true, Suspend: true, ConsoleOutput: true,
		Snapshot: true, Resize: true, ResizeSameHost: true,
		Rescue: true, Recover: true, Events: true,
		VNC: d.vnc, SPICE: d.spice,
		ImageCache: true,
		ImageTypes: []string{"aki", "ami", "ari", "qcow2", "raw"},
	}
	return nil
}

// ChooseVirtType decides the libvirt domain type: forced when force is
// set; else "kvm" when the host's capabilities list kvm for the guest
// architecture and the KVM probe passed (kvmErr nil), "qemu" (TCG)
// otherwise. The reason says which test decided.
func ChooseVirtType(force string, domainTypes map[string]bool, kvmErr error) (virtType, reason string) {
	switch {
	case force != "":
		return force, "configured"
	case !domainTypes["kvm"]:
		return "qemu", "the hypervisor's capabilities list no kvm domain type"
	case kvmErr != nil:
		return "qemu", "kvm is listed but the KVM probe failed: " + kvmErr.Error()
	}
	return "kvm", "kvm is listed and the KVM probe passed"
}

// probeKVM checks that /dev/kvm is usable for a stock guest: it opens,
// speaks KVM API version 12, and is backed by hardware virtualisation
// (the kvm_intel or kvm_amd module). Software-nested KVM such as kvm-pvm
// passes the first two but cannot boot an ordinary kernel, so it fails the
// third.
func probeKVM() error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	const kvmGetAPIVersion = 0xAE00
	v, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), kvmGetAPIVersion, 0)
	if errno != 0 {
		return fmt.Errorf("KVM_GET_API_VERSION: %w", errno)
	}
	if v != 12 {
		return fmt.Errorf("KVM API version %d, want 12", v)
	}
	for _, m := range []string{"kvm_intel", "kvm_amd"} {
		if _, err := os.Stat("/sys/module/" + m); err == nil {
			return nil
		}
	}
	if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
		return fmt.Errorf("/dev/kvm is kvm-pvm (software nested virtualisation), which cannot boot a stock kernel")
	}
	return fmt.Errorf("neither kvm_intel nor kvm_amd is loaded")
}

// isOurs reports whether the domain carries the driver's metadata.
func isOurs(dom *libvirt.Domain) bool {
	_, err := dom.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, MetadataNS, libvirt.DOMAIN_AFFECT_CURRENT)
	return err == nil
}

// migratedAway reports whether the guest was cold-migrated to another host
// and not yet confirmed or reverted: its files wait in <uuid>_resize and
// its own directory is gone. Such a guest is no longer this host's to
// list, though its domain stays defined until the migration is confirmed.
func (d *Driver) migratedAway(uuid string) bool {
	if _, err := os.Stat(d.instDir(uuid)); err == nil {
		return false
	}
	st, err := readGuestState(d.instDir(uuid) + resizeSuffix)
	return err == nil && st.MigrationDest != "" && st.MigrationDest != d.hostname
}

// ListGuests implements compute.Hypervisor: the domains that carry the
// driver's metadata, whatever their state, but for those migrated to
// another host and not yet confirmed.
func (d *Driver) ListGuests(ctx context.Context) ([]compute.Guest, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	doms, err := d.conn.ListAllDomains(0)
	if err != nil {
		return nil, d.wrap("", "list", err)
	}
	var gs []compute.Guest
	for i := range doms {
		dom := &doms[i]
		if isOurs(dom) {
			name, err1 := dom.GetName()
			uuid, err2 := dom.GetUUIDString()
			if err1 == nil && err2 == nil && !d.migratedAway(uuid) {
				gs = append(gs, compute.Guest{UUID: uuid, Handle: makeHandle(name, uuid)})
			}
		}
		dom.Free()
	}
	return gs, nil
}

// HostResources implements compute.Hypervisor (Nova's
// get_available_resource): CPUs and memory from the node, disk from the
// file system of InstancesPath, usage from the guests (vCPUs of the
// running ones) and the host's memory statistics.
func (d *Driver) HostResources(ctx context.Context) (compute.HostResources, error) {
	var r compute.HostResources
	if err := ctx.Err(); err != nil {
		return r, err
	}
	ni, err := d.conn.GetNodeInfo()
	if err != nil {
		return r, d.wrap("", "node info", err)
	}
	ver, err := d.conn.GetVersion()
	if err != nil {
		return r, d.wrap("", "version", err)
	}
	typ, err := d.conn.GetType()
	if err != nil {
		return r, d.wrap("", "type", err)
	}
	r.Hostname = d.hostname
	r.HypervisorType = typ
	r.HypervisorVersion = int(ver)
	r.VCPUs = int(ni.Cpus)
	r.MemoryMB = int(ni.Memory / 1024)
	r.CPUInfo = compute.CPUInfo{Arch: d.host.Arch, Model: ni.Model,
		Topology: compute.CPUTopology{Sockets: int(ni.Sockets) * int(ni.Nodes), Cores: int(ni.Cores), Threads: int(ni.Threads)}}
	if capsXML, err := d.conn.GetCapabilities(); err == nil {
		var caps libvirtxml.Caps
		if caps.Unmarshal(capsXML) == nil {
			if m := caps.Host.CPU.Model; m != "" {
				r.CPUInfo.Model = m
			}
			r.CPUInfo.Vendor = caps.Host.CPU.Vendor
			for _, f := range caps.Host.CPU.FeatureFlags {
				r.CPUInfo.Features = append(r.CPUInfo.Features, f.Name)
			}
			slices.Sort(r.CPUInfo.Features)
			seen := map[compute.SupportedInstance]bool{}
			for _, g := range caps.Guests {
				for _, dt := range g.Arch.Domains {
					si := compute.SupportedInstance{Arch: g.Arch.Name, HypervisorType: dt.Type, VMMode: g.OSType}
					if !seen[si] {
						seen[si] = true
						r.SupportedInstances = append(r.SupportedInstances, si)
					}
				}
			}
		}
	}

	doms, err := d.conn.ListAllDomains(0)
	if err != nil {
		return r, d.wrap("", "list", err)
	}
	memDomains := 0
	for i := range doms {
		dom := &doms[i]
		if isOurs(dom) {
			r.RunningVMs++
			if info, err := dom.GetInfo(); err == nil {
				if info.State == libvirt.DOMAIN_RUNNING || info.State == libvirt.DOMAIN_PAUSED || info.State == libvirt.DOMAIN_BLOCKED {
					r.VCPUsUsed += int(info.NrVirtCpu)
					memDomains += int(info.MaxMem / 1024)
				}
			}
		}
		dom.Free()
	}
	r.MemoryMBUsed = memDomains
	if ms, err := d.conn.GetMemoryStats(libvirt.NODE_MEMORY_STATS_ALL_CELLS, 0); err == nil && ms.TotalSet && ms.FreeSet {
		used := int((ms.Total - ms.Free - ms.Buffers - ms.Cached) / 1024)
		if used > 0 {
			r.MemoryMBUsed = used
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.opts.InstancesPath, &st); err != nil {
		return r, fmt.Errorf("libvirt: statfs %s: %w", d.opts.InstancesPath, err)
	}
	const gib = 1 << 30
	total := int(st.Blocks * uint64(st.Bsize) / gib)
	free := int(st.Bavail * uint64(st.Bsize) / gib)
	r.LocalGB, r.LocalGBUsed = total, total-free
	r.DiskAvailableLeast = free - d.overcommittedGB()
	if r.DiskAvailableLeast < 0 {
		r.DiskAvailableLeast = 0
	}
	return r, nil
}

// overcommittedGB is how much the guests' thin disks may still grow: their
// virtual sizes minus what they take now, as Nova's disk_available_least
// counts it.
func (d *Driver) overcommittedGB() int {
	ents, err := os.ReadDir(d.opts.InstancesPath)
	if err != nil {
		return 0
	}
	var over int64
	for _, e := range ents {
		if !e.IsDir() || e.Name() == baseDir {
			continue
		}
		st, err := readGuestState(d.instDirPath(e.Name()))
		if err != nil {
			continue
		}
		for _, k := range st.Disks {
			var fs syscall.Stat_t
			if syscall.Stat(k.Path, &fs) == nil {
				if grow := k.VirtualSize - fs.Blocks*512; grow > 0 {
					over += grow
				}
			}
		}
	}
	return int(over >> 30)
}
