package libvirt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	golibvirt "libvirt.org/go/libvirt"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/computetest"
	"github.com/novakit/novakit/drivers/libvirt"
)

// The real-guest tests run a tiny guest under libvirtd + QEMU: Debian's
// cloud kernel and a busybox initramfs that prints guestMarker on ttyS0
// (built by testdata/setup.sh into NOVAKIT_LIBVIRT_GUEST_DIR). Without
// libvirtd or the guest they skip, and fail under CI=true or
// NOVAKIT_TEST_SERVICES=require.
const guestMarker = "NOVAKIT-GUEST-BOOTED"

func realURI() string {
	if u := os.Getenv("NOVAKIT_LIBVIRT_URI"); u != "" {
		return u
	}
	return "qemu:///system"
}

func guestDir() string {
	if d := os.Getenv("NOVAKIT_LIBVIRT_GUEST_DIR"); d != "" {
		return d
	}
	return "/var/cache/novakit/libvirt-guest"
}

// guestImages serves the tiny guest: a 1 MiB raw root disk whose image
// names the kernel and ramdisk for a direct kernel boot.
func guestImages(t testing.TB) *memImages {
	t.Helper()
	kernel, err := os.ReadFile(filepath.Join(guestDir(), "vmlinuz"))
	need(t, err == nil, "no guest kernel in "+guestDir())
	initrd, err := os.ReadFile(filepath.Join(guestDir(), "initrd.img"))
	need(t, err == nil, "no guest initramfs in "+guestDir())
	m := newMemImages()
	m.add(compute.ImageMeta{ID: "guest-kernel", Name: "guest-kernel", DiskFormat: "aki", ContainerFormat: "aki"}, kernel)
	m.add(compute.ImageMeta{ID: "guest-initrd", Name: "guest-initrd", DiskFormat: "ari", ContainerFormat: "ari"}, initrd)
	m.add(compute.ImageMeta{ID: "guest", Name: "guest", DiskFormat: "raw", ContainerFormat: "bare", Properties: guestProps()}, rawDisk(1<<20))
	return m
}

func guestProps() map[string]string {
	return map[string]string{"kernel_id": "guest-kernel", "ramdisk_id": "guest-initrd", "os_command_line": "console=ttyS0 panic=-1"}
}

// openReal opens the driver on the real libvirtd, or skips (fails in CI).
func openReal(t testing.TB, dir string, images libvirt.ImageSource) *libvirt.Driver {
	return openRealSoft(t, dir, images, 5*time.Second)
}

func openRealSoft(t testing.TB, dir string, images libvirt.ImageSource, softReboot time.Duration) *libvirt.Driver {
	t.Helper()
	need(t, haveQemuImg(), "qemu-img is not installed (Debian: qemu-utils)")
	c, err := golibvirt.NewConnect(realURI())
	need(t, err == nil, "libvirtd does not answer on "+realURI())
	if typ, err := c.GetType(); err != nil || typ != "QEMU" {
		c.Close()
		need(t, false, realURI()+" is not a QEMU hypervisor")
	}
	c.Close()
	d, err := libvirt.Open(context.Background(), realURI(), libvirt.Options{
		Images: images, InstancesPath: dir, SoftRebootTimeout: softReboot,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// guestSpec is the tiny guest: 1 vCPU, 128 MB, 1 GB root disk.
func guestSpec() *compute.SpawnSpec {
	id := uuid.New()
	return &compute.SpawnSpec{
		Instance: &compute.Instance{
			ID:   int64(binary.BigEndian.Uint32(id[:4]) >> 1),
			UUID: id.String(), Name: "guest-" + id.String()[:8], Hostname: "guest-" + id.String()[:8],
			ProjectID: "libvirt-test", UserID: "libvirt-test",
		},
		Flavor:  compute.Flavor{FlavorID: "tiny", Name: "tiny", VCPUs: 1, MemoryMB: 128, RootGB: 1},
		Image:   compute.ImageMeta{ID: "guest", Name: "guest", DiskFormat: "raw", ContainerFormat: "bare", Properties: guestProps()},
		PowerOn: true,
	}
}

func TestConformanceRealQEMU(t *testing.T) {
	images := guestImages(t)
	dir := t.TempDir()
	d := openReal(t, dir, images)
	vt, why := d.VirtType()
	t.Logf("virt type %s (%s)", vt, why)
	f := computetest.FeaturesFor(d.Capabilities())
	f.BootTimeout, f.OpTimeout = 3*time.Minute, 2*time.Minute
	f.Concurrency = 2
	f.ConsoleMarker = guestMarker
	computetest.Run(t, computetest.Harness{
		NewHypervisor: func(t *testing.T) compute.Hypervisor { return d },
		Reopen:        func(t *testing.T, hv compute.Hypervisor) compute.Hypervisor { return openReal(t, dir, images) },
		NewSpec:       func(t *testing.T) *compute.SpawnSpec { return guestSpec() },
	}, f)
}

// waitConsole waits until the guest's console shows marker n times.
func waitConsole(t *testing.T, d *libvirt.Driver, g compute.Guest, marker string, n int, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := d.ConsoleOutput(context.Background(), g)
		require.NoError(t, err)
		if bytes.Count(out, []byte(marker)) >= n {
			return string(out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("console of %s shows %q %d times, want %d, after %v:\n%s", g.UUID, marker, bytes.Count(out, []byte(marker)), n, timeout, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRealGuestLifecycle boots the tiny guest and checks it from the
// outside: its own marker on the serial console, its disk seen as vda, the
// VNC port answering RFB, a hard and a soft reboot (each boots again; the
// soft one through the guest's ACPI power button), a clean power-off (the
// guest shut itself down), a snapshot that is a qcow2 image, and a delete
// that leaves nothing.
func TestRealGuestLifecycle(t *testing.T) {
	images := guestImages(t)
	dir := t.TempDir()
	d := openRealSoft(t, dir, images, 2*time.Minute)
	ctx := context.Background()
	s := guestSpec()
	s.ConfigDrive = &compute.ConfigDrive{Files: map[string][]byte{"openstack/latest/meta_data.json": []byte(`{"uuid":"` + s.Instance.UUID + `"}`)}}
	h, err := d.Spawn(ctx, s)
	require.NoError(t, err)
	g := compute.Guest{UUID: s.Instance.UUID, Handle: h}
	t.Cleanup(func() { _ = compute.IgnoreNotFound(d.Destroy(ctx, g, compute.DestroyOptions{})) })

	out := waitConsole(t, d, g, guestMarker, 1, 3*time.Minute)
	out = waitConsole(t, d, g, "NOVAKIT-GUEST-DISKS", 1, time.Minute)
	require.Contains(t, out, "vda", "the guest sees its qcow2 root disk")

	if d.Capabilities().VNC {
		ep, err := d.Console(ctx, g, compute.ConsoleVNC)
		require.NoError(t, err)
		require.Equal(t, "127.0.0.1", ep.Host)
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port)), 10*time.Second)
		require.NoError(t, err)
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		banner := make([]byte, 12)
		_, err = io.ReadFull(conn, banner)
		conn.Close()
		require.NoError(t, err)
		require.Equal(t, "RFB ", string(banner[:4]), "VNC banner %q", banner)
	} else {
		t.Error("the QEMU host declares no VNC console")
	}
	if d.Capabilities().SPICE {
		ep, err := d.Console(ctx, g, compute.ConsoleSPICE)
		require.NoError(t, err)
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port)), 10*time.Second)
		require.NoError(t, err)
		conn.Close()
	}

	require.NoError(t, d.Reboot(ctx, g, compute.RebootHard))
	waitConsole(t, d, g, guestMarker, 2, 3*time.Minute)
	waitConsole(t, d, g, "NOVAKIT-GUEST-DISKS", 2, time.Minute) // acpid is up
	require.NoError(t, d.Reboot(ctx, g, compute.RebootSoft))
	out = waitConsole(t, d, g, guestMarker, 3, 3*time.Minute)
	require.Contains(t, out, "NOVAKIT-GUEST-POWER-BUTTON", "the soft reboot went through the guest's ACPI power button")
	waitConsole(t, d, g, "NOVAKIT-GUEST-DISKS", 3, time.Minute)

	require.NoError(t, d.PowerOff(ctx, g, 2*time.Minute))
	require.Equal(t, golibvirt.DOMAIN_SHUTOFF_SHUTDOWN, shutoffReason(t, g.UUID), "the guest shut itself down")
	require.NoError(t, d.PowerOn(ctx, g))
	waitConsole(t, d, g, guestMarker, 4, 3*time.Minute)

	var snap compute.ImageMeta
	require.NoError(t, d.Snapshot(ctx, g, compute.SnapshotSpec{ImageID: "snap-1", Name: "snap",
		Upload: func(ctx context.Context, meta compute.ImageMeta, r io.Reader) error {
			snap = meta
			return images.Upload(ctx, meta, r)
		}}))
	require.Equal(t, "qcow2", snap.DiskFormat)
	rc, err := images.Download(ctx, "snap-1")
	require.NoError(t, err)
	head := make([]byte, 4)
	_, err = io.ReadFull(rc, head)
	require.NoError(t, err)
	require.Equal(t, "QFI\xfb", string(head), "the snapshot is a qcow2 image")
	info, err := d.Info(ctx, g)
	require.NoError(t, err)
	require.Equal(t, compute.PowerRunning, info.PowerState, "a snapshot keeps the guest running")

	require.NoError(t, d.Destroy(ctx, g, compute.DestroyOptions{}))
	_, err = d.Info(ctx, g)
	require.ErrorIs(t, err, compute.ErrNotFound)
	require.NoDirExists(t, filepath.Join(dir, g.UUID))
}

// shutoffReason asks libvirt why the guest's domain is shut off.
func shutoffReason(t *testing.T, uuid string) golibvirt.DomainShutoffReason {
	c, err := golibvirt.NewConnect(realURI())
	require.NoError(t, err)
	defer c.Close()
	dom, err := c.LookupDomainByUUIDString(uuid)
	require.NoError(t, err)
	defer dom.Free()
	st, reason, err := dom.GetState()
	require.NoError(t, err)
	require.Equal(t, golibvirt.DOMAIN_SHUTOFF, st)
	return golibvirt.DomainShutoffReason(reason)
}
