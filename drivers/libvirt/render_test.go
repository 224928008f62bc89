package libvirt_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	golibvirt "libvirt.org/go/libvirt"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/drivers/libvirt"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func goldenInstance() *compute.Instance {
	return &compute.Instance{ID: 42, UUID: "5f6c7a3e-1b2d-4c5e-8f9a-0b1c2d3e4f5a", Name: "web-1", Hostname: "web-1", ProjectID: "proj", UserID: "user"}
}

const goldenDir = "/var/lib/novakit/instances/5f6c7a3e-1b2d-4c5e-8f9a-0b1c2d3e4f5a"

func goldenConfig(t *testing.T, f compute.Flavor, img compute.ImageMeta, h libvirt.HostInfo, configDrive bool) *libvirt.GuestConfig {
	t.Helper()
	disks, err := libvirt.PlanDisks(goldenDir, f, img, h, configDrive, "")
	require.NoError(t, err)
	return &libvirt.GuestConfig{
		Instance: goldenInstance(), Flavor: f, Image: img, Host: h, Disks: disks,
		ConsoleLog: goldenDir + "/console.log", VNC: true, SPICE: true, Listen: "127.0.0.1", Version: "novakit-test",
	}
}

var qemuHost = libvirt.HostInfo{Arch: "x86_64", VirtType: "qemu", DefaultMachine: "pc"}

func TestRenderDomainGolden(t *testing.T) {
	small := compute.Flavor{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1}
	cases := map[string]func() *libvirt.GuestConfig{
		"minimal": func() *libvirt.GuestConfig {
			return goldenConfig(t, small, compute.ImageMeta{ID: "img-1"}, qemuHost, false)
		},
		"direct-kernel-boot": func() *libvirt.GuestConfig {
			img := compute.ImageMeta{ID: "img-2", Properties: map[string]string{"kernel_id": "k", "ramdisk_id": "r", "os_command_line": "console=ttyS0 panic=-1"}}
			c := goldenConfig(t, small, img, qemuHost, false)
			c.Kernel, c.Initrd, c.Cmdline = goldenDir+"/kernel", goldenDir+"/ramdisk", "console=ttyS0 panic=-1"
			c.SPICE = false
			return c
		},
		"full": func() *libvirt.GuestConfig {
			f := compute.Flavor{FlavorID: "big", Name: "m1.big", VCPUs: 8, MemoryMB: 4096, RootGB: 20, EphemeralGB: 10, SwapMB: 1024,
				ExtraSpecs: map[string]string{"hw:cpu_max_sockets": "2", "hw:cpu_threads": "2", "quota:cpu_shares": "2048", "quota:cpu_quota": "-1"}}
			img := compute.ImageMeta{ID: "img-3", Properties: map[string]string{
				"hw_disk_bus": "scsi", "hw_machine_type": "q35", "hw_firmware_type": "uefi", "hw_video_model": "qxl", "hw_vif_model": "e1000"}}
			c := goldenConfig(t, f, img, libvirt.HostInfo{Arch: "x86_64", VirtType: "kvm", DefaultMachine: "pc"}, true)
			c.CPUMode = "host-model"
			c.Networks = []compute.NetworkInterface{
				{PortID: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", MAC: "fa:16:3e:00:00:01", VIFType: "ovs", MTU: 1450},
				{PortID: "port-two", MAC: "fa:16:3e:00:00:02", VIFType: "bridge", Bridge: "br0", Model: "virtio"},
				{PortID: "port-three", MAC: "fa:16:3e:00:00:03", VIFType: "tap"},
			}
			return c
		},
		"custom-cpu-model-ide": func() *libvirt.GuestConfig {
			f := small
			f.ExtraSpecs = map[string]string{"hw:cpu_model": "Haswell-noTSX"}
			img := compute.ImageMeta{ID: "img-4", Properties: map[string]string{"hw_disk_bus": "ide"}}
			c := goldenConfig(t, f, img, qemuHost, true)
			c.VNC, c.SPICE = false, false
			c.ConsoleLog = ""
			return c
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			x, err := libvirt.RenderDomainXML(mk())
			require.NoError(t, err)
			x += "\n"
			p := filepath.Join("testdata", "golden", name+".xml")
			if *update {
				require.NoError(t, os.WriteFile(p, []byte(x), 0o644))
			}
			want, err := os.ReadFile(p)
			require.NoError(t, err, "run go test -run Golden -update to create it")
			require.Equal(t, string(want), x)
			again, err := libvirt.RenderDomainXML(mk())
			require.NoError(t, err)
			require.Equal(t, x, again+"\n", "rendering is deterministic")
		})
	}
}

func TestRenderDomainRejectsBadInputNamingTheField(t *testing.T) {
	base := compute.Flavor{FlavorID: "1", Name: "t", VCPUs: 4, MemoryMB: 256, RootGB: 1}
	cases := []struct {
		name  string
		specs map[string]string
		props map[string]string
		field string
		want  error
	}{
		{"disk bus", nil, map[string]string{"hw_disk_bus": "floppy"}, "hw_disk_bus", compute.ErrInvalidInput},
		{"cdrom bus", nil, map[string]string{"hw_cdrom_bus": "virtio"}, "hw_cdrom_bus", compute.ErrInvalidInput},
		{"firmware", nil, map[string]string{"hw_firmware_type": "coreboot"}, "hw_firmware_type", compute.ErrInvalidInput},
		{"video", nil, map[string]string{"hw_video_model": "voodoo"}, "hw_video_model", compute.ErrInvalidInput},
		{"sockets not a number", map[string]string{"hw:cpu_sockets": "two"}, nil, "hw:cpu_sockets", compute.ErrInvalidInput},
		{"image above flavor max", map[string]string{"hw:cpu_max_sockets": "1"}, map[string]string{"hw_cpu_sockets": "2"}, "hw_cpu_sockets", compute.ErrInvalidInput},
		{"image max above flavor max", map[string]string{"hw:cpu_max_cores": "2"}, map[string]string{"hw_cpu_max_cores": "4"}, "hw_cpu_max_cores", compute.ErrInvalidInput},
		{"no topology fits", map[string]string{"hw:cpu_max_sockets": "1", "hw:cpu_max_cores": "1", "hw:cpu_max_threads": "2"}, nil, "hw:cpu_max_sockets", compute.ErrInvalidInput},
		{"quota", map[string]string{"quota:cpu_shares": "lots"}, nil, "quota:cpu_shares", compute.ErrInvalidInput},
		{"pinning", map[string]string{"hw:cpu_policy": "dedicated"}, nil, "dedicated", compute.ErrUnsupported},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := base
			f.ExtraSpecs = tc.specs
			img := compute.ImageMeta{ID: "i", Properties: tc.props}
			cfg := &libvirt.GuestConfig{Instance: goldenInstance(), Flavor: f, Image: img, Host: qemuHost}
			disks, err := libvirt.PlanDisks(goldenDir, f, img, qemuHost, true, "")
			if err == nil {
				cfg.Disks = disks
				_, err = libvirt.RenderDomain(cfg)
			}
			require.ErrorIs(t, err, tc.want)
			require.Contains(t, err.Error(), tc.field)
		})
	}
}

func TestCPUTopology(t *testing.T) {
	cases := []struct {
		vcpus int
		specs map[string]string
		props map[string]string
		want  libvirt.Topology
	}{
		{1, nil, nil, libvirt.Topology{Sockets: 1, Cores: 1, Threads: 1}},
		{8, nil, nil, libvirt.Topology{Sockets: 8, Cores: 1, Threads: 1}},
		{8, map[string]string{"hw:cpu_max_sockets": "2"}, nil, libvirt.Topology{Sockets: 2, Cores: 4, Threads: 1}},
		{8, map[string]string{"hw:cpu_max_sockets": "2", "hw:cpu_threads": "2"}, nil, libvirt.Topology{Sockets: 2, Cores: 2, Threads: 2}},
		{8, map[string]string{"hw:cpu_sockets": "3"}, nil, libvirt.Topology{Sockets: 8, Cores: 1, Threads: 1}}, // 3 does not divide 8: ignored, as Nova does
		{4, nil, map[string]string{"hw_cpu_cores": "2"}, libvirt.Topology{Sockets: 2, Cores: 2, Threads: 1}},
		{6, map[string]string{"hw:cpu_max_sockets": "1"}, map[string]string{"hw_cpu_threads": "2"}, libvirt.Topology{Sockets: 1, Cores: 3, Threads: 2}},
	}
	for _, tc := range cases {
		got, err := libvirt.CPUTopology(compute.Flavor{VCPUs: tc.vcpus, ExtraSpecs: tc.specs}, compute.ImageMeta{Properties: tc.props})
		require.NoError(t, err)
		require.Equal(t, tc.want, got, "vcpus %d specs %v props %v", tc.vcpus, tc.specs, tc.props)
		require.Equal(t, tc.vcpus, got.Sockets*got.Cores*got.Threads)
	}
}

func TestDeviceNameAndPlanDisks(t *testing.T) {
	require.Equal(t, "vda", libvirt.DeviceName("virtio", 0))
	require.Equal(t, "sdc", libvirt.DeviceName("scsi", 2))
	require.Equal(t, "hdd", libvirt.DeviceName("ide", 3))
	require.Equal(t, "vdaa", libvirt.DeviceName("virtio", 26))
	f := compute.Flavor{VCPUs: 1, MemoryMB: 64, RootGB: 1, EphemeralGB: 1, SwapMB: 64}
	ds, err := libvirt.PlanDisks("/x", f, compute.ImageMeta{}, qemuHost, true, "/x/disk.rescue")
	require.NoError(t, err)
	var got []string
	for _, d := range ds {
		got = append(got, d.Role+":"+d.Dev+":"+d.Bus)
	}
	require.Equal(t, []string{"rescue:vda:virtio", "root:vdb:virtio", "ephemeral:vdc:virtio", "swap:vdd:virtio", "config:hdd:ide"}, got)
	ds, err = libvirt.PlanDisks("/x", f, compute.ImageMeta{Properties: map[string]string{"hw_machine_type": "pc-q35-7.2", "hw_disk_bus": "sata"}}, qemuHost, true, "")
	require.NoError(t, err)
	require.Equal(t, "sdd", ds[len(ds)-1].Dev, "the config drive follows the SATA disks on q35")
}

func TestChooseVirtType(t *testing.T) {
	kvm := map[string]bool{"qemu": true, "kvm": true}
	vt, _ := libvirt.ChooseVirtType("", kvm, nil)
	require.Equal(t, "kvm", vt)
	vt, why := libvirt.ChooseVirtType("", kvm, errors.New("kvm-pvm"))
	require.Equal(t, "qemu", vt)
	require.Contains(t, why, "kvm-pvm")
	vt, _ = libvirt.ChooseVirtType("", map[string]bool{"qemu": true}, nil)
	require.Equal(t, "qemu", vt)
	vt, _ = libvirt.ChooseVirtType("kvm", map[string]bool{"qemu": true}, errors.New("x"))
	require.Equal(t, "kvm", vt)
}

// FuzzRenderDomain feeds arbitrary extra specs and image properties to the
// renderer: it must never panic, and every refusal is invalid input or
// unsupported.
func FuzzRenderDomain(f *testing.F) {
	f.Add(4, "hw:cpu_sockets", "2", "hw_disk_bus", "scsi")
	f.Add(1, "hw:cpu_max_threads", "0", "hw_cpu_cores", "-1")
	f.Add(3, "quota:cpu_quota", "-5", "hw_firmware_type", "uefi")
	f.Fuzz(func(t *testing.T, vcpus int, sk, sv, pk, pv string) {
		if vcpus < 1 || vcpus > 64 {
			return
		}
		fl := compute.Flavor{VCPUs: vcpus, MemoryMB: 64, RootGB: 1, ExtraSpecs: map[string]string{sk: sv}}
		img := compute.ImageMeta{ID: "i", Properties: map[string]string{pk: pv}}
		disks, err := libvirt.PlanDisks("/x", fl, img, qemuHost, true, "")
		if err == nil {
			_, err = libvirt.RenderDomainXML(&libvirt.GuestConfig{Instance: goldenInstance(), Flavor: fl, Image: img, Host: qemuHost, Disks: disks})
		}
		if err != nil && !errors.Is(err, compute.ErrInvalidInput) && !errors.Is(err, compute.ErrUnsupported) {
			t.Fatalf("unclassified error: %v", err)
		}
	})
}

// TestGoldenDomainsPassLibvirtSchema defines every golden domain on
// libvirt's test hypervisor with schema validation on, so the renderer's
// output is XML libvirt accepts, not just XML we expect.
func TestGoldenDomainsPassLibvirtSchema(t *testing.T) {
	conn, err := golibvirt.NewConnect("test:///default")
	require.NoError(t, err)
	defer conn.Close()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.xml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, p := range files {
		x, err := os.ReadFile(p)
		require.NoError(t, err)
		dom, err := conn.DomainDefineXMLFlags(string(x), golibvirt.DOMAIN_DEFINE_VALIDATE)
		require.NoError(t, err, p)
		require.NoError(t, dom.Undefine())
		dom.Free()
	}
}
