// Package libvirt is the KVM/QEMU [compute.Hypervisor] of novakit, driving
// libvirt through libvirt.org/go/libvirt and rendering domains with
// libvirt.org/go/libvirtxml (Nova's nova/virt/libvirt).
//
//	d, err := libvirt.Open(ctx, "qemu:///system", libvirt.Options{Images: images})
//	defer d.Close()
//	h, err := d.Spawn(ctx, spec)
//
// "test:///default" opens libvirt's in-process test hypervisor (no
// daemon, no QEMU): the domains are bookkeeping only, but disks, config
// drives and the image cache are made for real.
//
// # Building
//
// This is the only novakit package that imports the libvirt binding, so
// only programs that import it need libvirt to build. The binding is cgo:
// either install the headers (Debian: apt-get install libvirt-dev
// pkg-config) and build as usual, or build with -tags libvirt_dlopen, which
// needs no headers and loads libvirt.so.0 when the program starts. Either
// way the program needs libvirt's shared libraries at run time, and
// qemu-img (Debian: qemu-utils) to inspect and convert images, snapshot
// and resize (new qcow2 overlays and blank disks are written in-process by
// [WriteQcow2], which is much cheaper than a fork and exec of qemu-img).
//
// # Virt type
//
// With Options.VirtType empty the driver uses "kvm" when the host's
// capabilities list a kvm domain type and /dev/kvm passes a probe (opens,
// speaks API version 12, backed by kvm_intel or kvm_amd), and "qemu" (TCG)
// otherwise; [Driver.VirtType] says which and why. Software-nested KVM
// (kvm-pvm) cannot boot a stock kernel and is refused by the probe.
//
// # Guests on the host
//
// Each guest is the domain instance-%08x (Instance.GuestName) with the
// instance's UUID, carrying a <novakit:instance> element in namespace
// [MetadataNS] in its metadata; the driver answers for those domains only.
// Its files live in InstancesPath/<uuid>: disk (a qcow2 overlay on the
// cached raw base image in InstancesPath/_base, sized from the flavor),
// disk.eph0 and disk.swap (blank qcow2; not formatted), disk.config (the
// ISO 9660 config drive, label config-2), kernel and ramdisk (from the
// image's kernel_id and ramdisk_id, for a direct kernel boot with its
// os_command_line), console.log (the first serial port), and guest.json
// (what the domain is rendered from, so that a resize, rescue or revert
// can render it again; it keeps no password or user data).
//
// # Domain XML
//
// [RenderDomain] is a pure function of a [GuestConfig]: flavor (vCPUs,
// memory, hw:cpu_{sockets,cores,threads} and hw:cpu_max_* topology,
// quota:cpu_* tuning, and hw:cpu_model, a novakit extension naming a
// custom CPU model), image properties (hw_disk_bus, hw_cdrom_bus,
// hw_machine_type, hw_firmware_type, hw_video_model, hw_vif_model,
// hw_cpu_* topology), the host (architecture, domain type) and the disks
// [PlanDisks] placed. Golden files in testdata/golden pin its output
// (go test -run Golden -update rewrites them).
//
// # Operations
//
// Spawn makes the files, defines the domain and starts it, with an undo
// stack that removes everything on failure. Soft reboot is an ACPI
// shutdown and a start, falling back to a hard reboot (stop and start)
// after Options.SoftRebootTimeout. Suspend is libvirt's managed save.
// Snapshot is Nova's cold snapshot (managed save, qemu-img convert of the
// root disk to qcow2, restore, upload). Resize and cold migration move the
// guest's directory aside to <uuid>_resize and copy its disks into a new
// one (on one host, or between hosts sharing InstancesPath); confirm
// removes the _resize directory (and, for another host, the source's
// domain) and revert moves it back. A guest migrated to another host is
// not listed by the source until the migration is reverted. Rescue boots the
// rescue image first with the guest's disks after it. Consoles are the
// VNC and SPICE ports libvirt assigns (autoport) on 127.0.0.1 by default.
// Lifecycle events come from libvirt's event loop, which the package
// starts once per process (libvirt keeps it in C globals).
package libvirt
