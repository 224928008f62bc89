package libvirt

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kdomanski/iso9660"

	"github.com/novakit/novakit/compute"
)

// Files in InstancesPath, named as Nova's libvirt driver names them.
const (
	baseDir       = "_base"
	resizeSuffix  = "_resize"
	stateFile     = "guest.json"
	unrescueFile  = "unrescue.json"
	consoleLog    = "console.log"
	rootDisk      = "disk"
	ephemeralDisk = "disk.eph0"
	swapDisk      = "disk.swap"
	configDisk    = "disk.config"
	rescueDisk    = "disk.rescue"
	kernelFile    = "kernel"
	ramdiskFile   = "ramdisk"
)

// storedDisk is a Disk with the size it may grow to.
type storedDisk struct {
	Disk
	VirtualSize int64 `json:"virtual_size"`
}

// guestState is what the driver keeps of a guest in its directory
// (guest.json): enough to render its domain again for a reboot, resize,
// rescue or revert. It holds no secrets (no admin password, no user data).
type guestState struct {
	Instance compute.Instance           `json:"instance"`
	Flavor   compute.Flavor             `json:"flavor"`
	Image    compute.ImageMeta          `json:"image"`
	Networks []compute.NetworkInterface `json:"networks,omitempty"`
	Disks    []storedDisk               `json:"disks"`
	Kernel   string                     `json:"kernel,omitempty"`
	Initrd   string                     `json:"initrd,omitempty"`
	Cmdline  string                     `json:"cmdline,omitempty"`
	// Migration, set in a _resize directory, names the destination host.
	MigrationDest string `json:"migration_dest,omitempty"`
}

func (d *Driver) instDirPath(name string) string { return filepath.Join(d.opts.InstancesPath, name) }

func readGuestState(dir string) (*guestState, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var st guestState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("libvirt: %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

func writeGuestState(dir string, st *guestState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}

// guestConfig turns the kept state into the renderer's input.
func (d *Driver) guestConfig(st *guestState) *GuestConfig {
	inst := st.Instance
	cfg := &GuestConfig{
		Instance: &inst, Flavor: st.Flavor, Image: st.Image, Host: d.host,
		Kernel: st.Kernel, Initrd: st.Initrd, Cmdline: st.Cmdline,
		ConsoleLog: filepath.Join(d.instDir(inst.UUID), consoleLog),
		VNC:        d.vnc, SPICE: d.spice, Listen: d.opts.ConsoleListen,
		Networks: st.Networks, CPUMode: d.opts.CPUMode, CPUModel: d.opts.CPUModel,
		Version: d.opts.Version,
	}
	for _, k := range st.Disks {
		cfg.Disks = append(cfg.Disks, k.Disk)
	}
	return cfg
}

// PlanDisks places a guest's disks on their buses: root, ephemeral and
// swap on the image's disk bus (vda, vdb, vdc …), the config drive as a
// CD-ROM on the CD-ROM bus. A rescue disk, when rescuePath is set, comes
// first and the guest's own disks follow it. Pure.
func PlanDisks(dir string, f compute.Flavor, img compute.ImageMeta, h HostInfo, configDrive bool, rescuePath string) ([]Disk, error) {
	bus, err := DiskBus(img)
	if err != nil {
		return nil, err
	}
	var ds []Disk
	n := 0
	add := func(p, role string) {
		ds = append(ds, Disk{Path: p, Format: "qcow2", Device: "disk", Bus: bus, Dev: DeviceName(bus, n), Role: role})
		n++
	}
	if rescuePath != "" {
		add(rescuePath, "rescue")
	}
	add(filepath.Join(dir, rootDisk), "root")
	if f.EphemeralGB > 0 {
		add(filepath.Join(dir, ephemeralDisk), "ephemeral")
	}
	if f.SwapMB > 0 {
		add(filepath.Join(dir, swapDisk), "swap")
	}
	if configDrive {
		cb, err := CDROMBus(img, h)
		if err != nil {
			return nil, err
		}
		// Device names share their prefix across buses (sata and scsi
		// are both sd*): count every disk with the CD-ROM's prefix.
		prefix := DeviceName(cb, 0)[:2]
		idx := 0
		for _, k := range ds {
			if strings.HasPrefix(k.Dev, prefix) {
				idx++
			}
		}
		if cb == "ide" && idx <= 3 {
			idx = 3 // hdd: Nova's place for the config drive on IDE
		}
		ds = append(ds, Disk{Path: filepath.Join(dir, configDisk), Format: "raw", Device: "cdrom", Bus: cb, Dev: DeviceName(cb, idx), ReadOnly: true, Role: "config"})
	}
	return ds, nil
}

// qemuImg runs qemu-img; ctx ending kills it.
func (d *Driver) qemuImg(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, d.opts.QemuImg, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("libvirt: qemu-img %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

type imgInfo struct {
	Format          string `json:"format"`
	VirtualSize     int64  `json:"virtual-size"`
	BackingFilename string `json:"backing-filename"`
}

func (d *Driver) imageInfo(ctx context.Context, p string) (imgInfo, error) {
	var ii imgInfo
	out, err := d.qemuImg(ctx, "info", "--output=json", p)
	if err != nil {
		return ii, err
	}
	if err := json.Unmarshal(out, &ii); err != nil {
		return ii, fmt.Errorf("libvirt: qemu-img info %s: %w", p, err)
	}
	return ii, nil
}

// cachedImage fetches image id into the image cache (_base) once and
// returns its path and, for disk images, its virtual size. Disk images are
// converted to raw (Nova's force_raw_images); kernels and ramdisks are
// kept as they come. An image with a backing file is refused.
func (d *Driver) cachedImage(ctx context.Context, id string, disk bool) (string, int64, error) {
	sum := sha1.Sum([]byte(id))
	p := filepath.Join(d.opts.InstancesPath, baseDir, hex.EncodeToString(sum[:]))
	unlock, err := d.locks.lock(ctx, "image:"+p)
	if err != nil {
		return "", 0, err
	}
	defer unlock()
	if _, err := os.Stat(p); err == nil {
		if !disk {
			return p, 0, nil
		}
		if vs, ok := d.baseSizes.Load(p); ok {
			return p, vs.(int64), nil
		}
		ii, err := d.imageInfo(ctx, p)
		if err == nil {
			d.baseSizes.Store(p, ii.VirtualSize)
		}
		return p, ii.VirtualSize, err
	}
	if d.opts.Images == nil {
		return "", 0, compute.InvalidInput("image", "the libvirt driver has no image source (Options.Images)")
	}
	rc, err := d.opts.Images.Download(ctx, id)
	if err != nil {
		return "", 0, fmt.Errorf("libvirt: download image %s: %w", id, err)
	}
	defer rc.Close()
	tmp := p + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return "", 0, err
	}
	_, err = io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		if ctx.Err() != nil {
			return "", 0, ctx.Err()
		}
		return "", 0, fmt.Errorf("libvirt: download image %s: %w", id, err)
	}
	var vsize int64
	if disk {
		ii, err := d.imageInfo(ctx, tmp)
		if err != nil {
			os.Remove(tmp)
			return "", 0, err
		}
		if ii.BackingFilename != "" {
			os.Remove(tmp)
			return "", 0, compute.InvalidInput("image", "image %s has a backing file; refused", id)
		}
		if ii.Format != "raw" {
			conv := p + ".converted"
			if _, err := d.qemuImg(ctx, "convert", "-f", ii.Format, "-O", "raw", tmp, conv); err != nil {
				os.Remove(tmp)
				os.Remove(conv)
				return "", 0, err
			}
			os.Remove(tmp)
			tmp = conv
		}
		vsize = ii.VirtualSize
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return "", 0, err
	}
	if disk {
		d.baseSizes.Store(p, vsize)
	}
	return p, vsize, nil
}

// linkOrCopy hard-links src to dst (read-only files: kernels, ramdisks
// from the cache), copying when a link is not possible.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return copyFile(src, dst)
}

// copyFile copies src to dst (disks that will be written).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// createDisks makes the guest's disks in dir (which exists) and returns
// the state to keep. Root: a qcow2 overlay on the cached base, sized from
// the flavor (the image's size when root_gb is 0); ephemeral and swap:
// blank qcow2 files; config drive: an ISO 9660 image; kernel and ramdisk
// (kernel_id/ramdisk_id image properties) copied from the cache.
func (d *Driver) createDisks(ctx context.Context, dir string, spec *compute.SpawnSpec) (*guestState, error) {
	if spec.Image.ID == "" {
		return nil, compute.Unsupported(DriverName, "boot from volume")
	}
	img := spec.Image
	if len(img.Properties) == 0 && d.opts.Images != nil {
		// The agent passes the image record; fetch it when it came bare.
		if m, err := d.opts.Images.ImageMeta(ctx, img.ID); err == nil {
			img = m
		}
	}
	st := &guestState{Instance: guestInstance(spec.Instance), Flavor: spec.Flavor, Image: img, Networks: spec.Networks}
	disks, err := PlanDisks(dir, spec.Flavor, img, d.host, spec.ConfigDrive != nil, "")
	if err != nil {
		return nil, err
	}
	base, vsize, err := d.cachedImage(ctx, img.ID, true)
	if err != nil {
		return nil, err
	}
	for _, k := range disks {
		var size int64
		switch k.Role {
		case "root":
			size = int64(spec.Flavor.RootGB) << 30
			if size == 0 {
				size = vsize
			}
			if vsize > size {
				return nil, compute.InvalidInput("flavor.root_gb", "the image is %d bytes, more than the flavor's %d GB root disk", vsize, spec.Flavor.RootGB)
			}
			if err := WriteQcow2(k.Path, roundUp512(size), base, "raw"); err != nil {
				return nil, fmt.Errorf("libvirt: root disk: %w", err)
			}
		case "ephemeral", "swap":
			size = int64(spec.Flavor.EphemeralGB) << 30
			if k.Role == "swap" {
				size = int64(spec.Flavor.SwapMB) << 20
			}
			if err := WriteQcow2(k.Path, roundUp512(size), "", ""); err != nil {
				return nil, fmt.Errorf("libvirt: %s disk: %w", k.Role, err)
			}
		case "config":
			if err := WriteConfigDrive(k.Path, spec.ConfigDrive); err != nil {
				return nil, err
			}
		}
		st.Disks = append(st.Disks, storedDisk{Disk: k, VirtualSize: size})
	}
	if kid := prop(img, PropKernelID); kid != "" {
		kp, _, err := d.cachedImage(ctx, kid, false)
		if err != nil {
			return nil, fmt.Errorf("kernel %s: %w", kid, err)
		}
		st.Kernel = filepath.Join(dir, kernelFile)
		if err := linkOrCopy(kp, st.Kernel); err != nil {
			return nil, err
		}
		if rid := prop(img, PropRamdiskID); rid != "" {
			rp, _, err := d.cachedImage(ctx, rid, false)
			if err != nil {
				return nil, fmt.Errorf("ramdisk %s: %w", rid, err)
			}
			st.Initrd = filepath.Join(dir, ramdiskFile)
			if err := linkOrCopy(rp, st.Initrd); err != nil {
				return nil, err
			}
		}
		st.Cmdline = prop(img, PropCommandLine)
		if st.Cmdline == "" {
			st.Cmdline = "root=/dev/vda console=tty0 console=ttyS0"
		}
	}
	if err := os.WriteFile(filepath.Join(dir, consoleLog), nil, 0o600); err != nil {
		return nil, err
	}
	return st, nil
}

// guestInstance keeps the fields of the instance the domain is rendered
// from (no states, no flavor, no secrets).
func guestInstance(i *compute.Instance) compute.Instance {
	return compute.Instance{ID: i.ID, UUID: i.UUID, Name: i.Name, Hostname: i.Hostname, ProjectID: i.ProjectID, UserID: i.UserID}
}

// WriteConfigDrive writes the config drive cd as an ISO 9660 image at p,
// labelled cd.Label ("config-2" when empty), with cd.Files at their paths
// ("openstack/latest/meta_data.json" …). ISO 9660 level 1 names are
// lower-case letters, digits, "_", "-" and "."; other characters become
// "_", as the writer mangles them (Nova's layout needs none).
func WriteConfigDrive(p string, cd *compute.ConfigDrive) error {
	label := cd.Label
	if label == "" {
		label = "config-2"
	}
	w, err := iso9660.NewWriter()
	if err != nil {
		return fmt.Errorf("libvirt: config drive: %w", err)
	}
	defer w.Cleanup()
	names := make([]string, 0, len(cd.Files))
	for n := range cd.Files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		clean := path.Clean("/" + n)[1:]
		if clean == "" || clean != strings.TrimPrefix(n, "/") || strings.Contains(n, "..") {
			return compute.InvalidInput("config_drive.files", "bad path %q", n)
		}
		if err := w.AddFile(bytes.NewReader(cd.Files[n]), clean); err != nil {
			return fmt.Errorf("libvirt: config drive %s: %w", n, err)
		}
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if err := w.WriteTo(f, label); err != nil {
		f.Close()
		return fmt.Errorf("libvirt: config drive: %w", err)
	}
	return f.Close()
}

// removeAll removes a path, ignoring a missing one.
func removeAll(p string) error {
	if err := os.RemoveAll(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func roundUp512(n int64) int64 { return (n + 511) &^ 511 }
