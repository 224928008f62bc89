package libvirt_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kdomanski/iso9660"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/computetest"
	"github.com/novakit/novakit/drivers/libvirt"
)

// testImages serves the image the conformance suite boots ("computetest",
// raw, 1 MiB) and a qcow2-free kernel/ramdisk pair for direct boots.
func testImages() *memImages {
	m := newMemImages()
	m.add(compute.ImageMeta{ID: "computetest", Name: "computetest", DiskFormat: "raw", ContainerFormat: "bare"}, rawDisk(1<<20))
	m.add(compute.ImageMeta{ID: "kernel", DiskFormat: "aki", ContainerFormat: "aki"}, []byte("not really a kernel"))
	m.add(compute.ImageMeta{ID: "ramdisk", DiskFormat: "ari", ContainerFormat: "ari"}, []byte("not really a ramdisk"))
	return m
}

// openTest opens a driver on libvirt's test hypervisor. Connections to
// test:///default opened while another is open share its state, which is
// how Reopen reaches "the same host".
func openTest(t testing.TB, dir string, images libvirt.ImageSource) *libvirt.Driver {
	t.Helper()
	need(t, haveQemuImg(), "qemu-img is not installed (Debian: qemu-utils)")
	d, err := libvirt.Open(context.Background(), "test:///default", libvirt.Options{
		Images: images, InstancesPath: dir, Hostname: "testhost", SoftRebootTimeout: 2 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// openPeer opens a second host for migrations: a test hypervisor with its
// own state (a node file: each connection to it is a separate host) and
// its own instances path on the same file system.
func openPeer(t testing.TB) *libvirt.Driver {
	t.Helper()
	node := filepath.Join(t.TempDir(), "peer-node.xml")
	require.NoError(t, os.WriteFile(node, []byte(`<node><cpu><mhz>2000</mhz><model>x86_64</model><active>4</active><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads></cpu><memory>8388608</memory></node>`), 0o644))
	d, err := libvirt.Open(context.Background(), "test://"+node, libvirt.Options{
		Images: testImages(), InstancesPath: t.TempDir(), Hostname: "peerhost", SoftRebootTimeout: 2 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func testHarness() computetest.Harness {
	return computetest.Harness{
		Peer:          func(t *testing.T, hv compute.Hypervisor) compute.Hypervisor { return openPeer(t) },
		NewHypervisor: func(t *testing.T) compute.Hypervisor { return openTest(t, t.TempDir(), testImages()) },
		Reopen: func(t *testing.T, hv compute.Hypervisor) compute.Hypervisor {
			d := hv.(*libvirt.Driver)
			return openTest(t, d.InstancesPath(), testImages())
		},
	}
}

func TestConformanceTestDriver(t *testing.T) {
	d := openTest(t, t.TempDir(), testImages())
	f := computetest.FeaturesFor(d.Capabilities())
	f.BootTimeout, f.OpTimeout = 30*time.Second, 30*time.Second
	computetest.Run(t, testHarness(), f)
}

func TestOpenReportsVirtType(t *testing.T) {
	d := openTest(t, t.TempDir(), testImages())
	vt, why := d.VirtType()
	require.Equal(t, "test", vt)
	require.NotEmpty(t, why)
	c := d.Capabilities()
	require.False(t, c.VNC || c.SPICE, "the test driver assigns no console ports, so none is declared")
	require.Contains(t, c.Traits(), "COMPUTE_IMAGE_TYPE_QCOW2")
}

func TestOpenBadURIFails(t *testing.T) {
	_, err := libvirt.Open(context.Background(), "nosuchdriver:///x", libvirt.Options{InstancesPath: t.TempDir()})
	require.Error(t, err)
}

func spec(t testing.TB, mod func(*compute.SpawnSpec)) *compute.SpawnSpec {
	s := computetest.DefaultSpec(t.(*testing.T))
	if mod != nil {
		mod(s)
	}
	return s
}

func TestSpawnMakesDisksAndCachesTheImageOnce(t *testing.T) {
	dir := t.TempDir()
	images := testImages()
	d := openTest(t, dir, images)
	ctx := context.Background()
	var guests []compute.Guest
	for range 2 {
		s := spec(t, func(s *compute.SpawnSpec) {
			s.Flavor.EphemeralGB, s.Flavor.SwapMB = 1, 256
			s.ConfigDrive = &compute.ConfigDrive{Files: map[string][]byte{
				"openstack/latest/meta_data.json": []byte(`{"uuid":"` + s.Instance.UUID + `"}`),
				"openstack/latest/user_data":      []byte("#cloud-config\n"),
				"ec2/2009-04-04/meta-data.json":   []byte(`{}`),
			}}
		})
		h, err := d.Spawn(ctx, s)
		require.NoError(t, err)
		guests = append(guests, compute.Guest{UUID: s.Instance.UUID, Handle: h})
	}
	require.Equal(t, 1, images.downloads("computetest"), "the base image is fetched once")
	inst := filepath.Join(dir, guests[0].UUID)
	for _, f := range []string{"disk", "disk.eph0", "disk.swap", "disk.config", "console.log", "guest.json"} {
		require.FileExists(t, filepath.Join(inst, f))
	}
	// The overlay is backed by the cached base and sized from the flavor.
	out := qemuImgInfo(t, filepath.Join(inst, "disk"))
	require.Contains(t, out, `"virtual-size": 1073741824`)
	require.Contains(t, out, filepath.Join(dir, "_base"))

	// The config drive is an ISO 9660 image labelled config-2 with the
	// OpenStack layout.
	f, err := os.Open(filepath.Join(inst, "disk.config"))
	require.NoError(t, err)
	defer f.Close()
	img, err := iso9660.OpenImage(f)
	require.NoError(t, err)
	label, err := img.Label()
	require.NoError(t, err)
	require.Equal(t, "config-2", label)
	root, err := img.RootDir()
	require.NoError(t, err)
	require.Equal(t, []string{"ec2", "ec2/2009-04-04", "ec2/2009-04-04/meta-data.json", "openstack", "openstack/latest",
		"openstack/latest/meta_data.json", "openstack/latest/user_data"}, isoTree(t, root, ""))

	require.NoError(t, d.Destroy(ctx, guests[0], compute.DestroyOptions{}))
	require.NoDirExists(t, inst)
	require.NoError(t, d.Destroy(ctx, guests[1], compute.DestroyOptions{KeepDisks: true}))
	require.DirExists(t, filepath.Join(dir, guests[1].UUID))
}

func isoTree(t *testing.T, f *iso9660.File, prefix string) []string {
	kids, err := f.GetChildren()
	require.NoError(t, err)
	var out []string
	for _, k := range kids {
		p := prefix + k.Name()
		out = append(out, p)
		if k.IsDir() {
			out = append(out, isoTree(t, k, p+"/")...)
		}
	}
	return out
}

func execOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func qemuImgInfo(t *testing.T, p string) string {
	out, err := execOut("qemu-img", "info", "--output=json", p)
	require.NoError(t, err, out)
	return out
}

func TestSpawnFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	d := openTest(t, dir, testImages())
	ctx := context.Background()
	for name, mod := range map[string]func(*compute.SpawnSpec){
		"missing image":  func(s *compute.SpawnSpec) { s.Image.ID = "nope" },
		"bad disk bus":   func(s *compute.SpawnSpec) { s.Image.Properties = map[string]string{"hw_disk_bus": "floppy"} },
		"bad topology":   func(s *compute.SpawnSpec) { s.Flavor.ExtraSpecs = map[string]string{"hw:cpu_sockets": "x"} },
		"missing kernel": func(s *compute.SpawnSpec) { s.Image.Properties = map[string]string{"kernel_id": "nokernel"} },
		"bad config drive": func(s *compute.SpawnSpec) {
			s.ConfigDrive = &compute.ConfigDrive{Files: map[string][]byte{"../x": nil}}
		},
		"canceled": nil,
	} {
		t.Run(name, func(t *testing.T) {
			s := spec(t, mod)
			c := ctx
			if mod == nil {
				cc, cancel := context.WithCancel(ctx)
				cancel()
				c = cc
			}
			_, err := d.Spawn(c, s)
			require.Error(t, err)
			require.NoDirExists(t, filepath.Join(dir, s.Instance.UUID))
			gs, err := d.ListGuests(ctx)
			require.NoError(t, err)
			for _, g := range gs {
				require.NotEqual(t, s.Instance.UUID, g.UUID)
			}
		})
	}
}

func TestSpawnErrorsNameTheField(t *testing.T) {
	d := openTest(t, t.TempDir(), testImages())
	s := spec(t, func(s *compute.SpawnSpec) { s.Image.Properties = map[string]string{"hw_disk_bus": "floppy"} })
	_, err := d.Spawn(context.Background(), s)
	require.ErrorIs(t, err, compute.ErrInvalidInput)
	require.Contains(t, err.Error(), "hw_disk_bus")

	// A qcow2 image of 2 GiB (virtual) does not fit a 1 GB root disk; it
	// does with root_gb 0, which sizes the disk from the image.
	tmp := filepath.Join(t.TempDir(), "big.qcow2")
	out, err := execOut("qemu-img", "create", "-q", "-f", "qcow2", tmp, "2G")
	require.NoError(t, err, out)
	b, err := os.ReadFile(tmp)
	require.NoError(t, err)
	images := testImages()
	images.add(compute.ImageMeta{ID: "big", DiskFormat: "qcow2"}, b)
	d = openTest(t, t.TempDir(), images)
	s = spec(t, func(s *compute.SpawnSpec) { s.Flavor.RootGB = 1; s.Image.ID = "big" })
	_, err = d.Spawn(context.Background(), s)
	require.ErrorIs(t, err, compute.ErrInvalidInput)
	require.Contains(t, err.Error(), "flavor.root_gb")
	s = spec(t, func(s *compute.SpawnSpec) { s.Flavor.RootGB = 0; s.Image.ID = "big" })
	_, err = d.Spawn(context.Background(), s)
	require.NoError(t, err)
	require.NoError(t, d.Destroy(context.Background(), compute.Guest{UUID: s.Instance.UUID}, compute.DestroyOptions{}))
}

func TestDirectKernelBootDomain(t *testing.T) {
	dir := t.TempDir()
	d := openTest(t, dir, testImages())
	s := spec(t, func(s *compute.SpawnSpec) {
		s.Image.Properties = map[string]string{"kernel_id": "kernel", "ramdisk_id": "ramdisk", "os_command_line": "console=ttyS0 quiet"}
	})
	h, err := d.Spawn(context.Background(), s)
	require.NoError(t, err)
	x, err := d.DomainXML(context.Background(), compute.Guest{UUID: s.Instance.UUID, Handle: h})
	require.NoError(t, err)
	inst := filepath.Join(dir, s.Instance.UUID)
	require.Contains(t, x, "<kernel>"+filepath.Join(inst, "kernel")+"</kernel>")
	require.Contains(t, x, "<initrd>"+filepath.Join(inst, "ramdisk")+"</initrd>")
	require.Contains(t, x, "<cmdline>console=ttyS0 quiet</cmdline>")
	require.Contains(t, x, MetadataNSForTest)
}

// MetadataNSForTest is the namespace every guest's metadata carries.
var MetadataNSForTest = libvirt.MetadataNS

func TestEventsEndWithClose(t *testing.T) {
	d := openTest(t, t.TempDir(), testImages())
	ch, err := d.Events(context.Background())
	require.NoError(t, err)
	require.NoError(t, d.Close())
	select {
	case _, ok := <-ch:
		for ok {
			_, ok = <-ch
		}
	case <-time.After(5 * time.Second):
		t.Fatal("events channel not closed by Close")
	}
}

func TestHandleOfOtherVersionIsInvalidInput(t *testing.T) {
	d := openTest(t, t.TempDir(), testImages())
	s := spec(t, nil)
	h, err := d.Spawn(context.Background(), s)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = d.Destroy(context.Background(), compute.Guest{UUID: s.Instance.UUID}, compute.DestroyOptions{})
	})
	h.Version = 99
	_, err = d.Info(context.Background(), compute.Guest{UUID: s.Instance.UUID, Handle: h})
	require.ErrorIs(t, err, compute.ErrInvalidInput)
	_, err = d.Recover(context.Background(), compute.Guest{UUID: s.Instance.UUID, Handle: h})
	require.ErrorIs(t, err, compute.ErrInvalidInput)
	require.True(t, strings.Contains(err.Error(), "version"))
}
