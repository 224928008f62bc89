package libvirt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/novakit/novakit/compute"
)

// Snapshot implements compute.Snapshotter the way Nova's cold snapshot
// does: a running or paused guest is saved to disk (managed save) so that
// its root disk is consistent, the disk (overlay and base) is flattened
// into a qcow2 image with qemu-img convert, the guest is restored to its
// former state, and the image is uploaded.
func (d *Driver) Snapshot(ctx context.Context, g compute.Guest, spec compute.SnapshotSpec) error {
	if spec.Upload == nil {
		return compute.InvalidInput("upload", "snapshot without an upload function")
	}
	return d.withDomain(ctx, g, func(dom *libvirt.Domain, ps compute.PowerState, _ bool) error {
		dir := d.instDir(g.UUID)
		st, err := readGuestState(dir)
		if err != nil {
			return fmt.Errorf("libvirt: snapshot %s: %w", g.UUID, err)
		}
		if ps == compute.PowerRunning || ps == compute.PowerPaused {
			flag := libvirt.DOMAIN_SAVE_RUNNING
			if ps == compute.PowerPaused {
				flag = libvirt.DOMAIN_SAVE_PAUSED
			}
			if err := dom.ManagedSave(flag); err != nil {
				return d.wrap(g.UUID, "snapshot: save", err)
			}
			defer func() {
				if err := dom.Create(); err != nil {
					d.log.Error("snapshot: restore failed", "uuid", g.UUID, "err", err)
				}
			}()
		}
		out := filepath.Join(dir, "snapshot-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".qcow2")
		defer os.Remove(out)
		if _, err := d.qemuImg(ctx, "convert", "-f", "qcow2", "-O", "qcow2", filepath.Join(dir, rootDisk), out); err != nil {
			return err
		}
		if spec.TaskState != nil {
			spec.TaskState(compute.TaskImagePendingUpload)
		}
		f, err := os.Open(out)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		meta := compute.ImageMeta{ID: spec.ImageID, Name: spec.Name, DiskFormat: "qcow2", ContainerFormat: "bare",
			Size: fi.Size(), MinRAMMB: st.Image.MinRAMMB, MinDiskGB: st.Flavor.RootGB, Properties: map[string]string{}}
		for k, v := range st.Image.Properties {
			meta.Properties[k] = v
		}
		meta.Properties["image_type"] = "snapshot"
		meta.Properties["instance_uuid"] = g.UUID
		if st.Image.ID != "" {
			meta.Properties["base_image_ref"] = st.Image.ID
		}
		if spec.TaskState != nil {
			spec.TaskState(compute.TaskImageUploading)
		}
		if err := spec.Upload(ctx, meta, f); err != nil {
			return fmt.Errorf("libvirt: snapshot %s: upload: %w", g.UUID, err)
		}
		return nil
	})
}

// diskInfo is what MigrateDiskAndPowerOff hands FinishMigration: where the
// source left the guest's files. The destination reads them there, which
// works on one host and on hosts that share InstancesPath.
type diskInfo struct {
	SourceHost string `json:"source_host"`
	Dir        string `json:"dir"`
}

// MigrateDiskAndPowerOff implements compute.ColdMigrator: it powers the
// guest off (cleanly within spec.PowerOffTimeout, then forced) and moves
// its directory aside to <uuid>_resize, as Nova does; the domain stays
// defined, shut down.
func (d *Driver) MigrateDiskAndPowerOff(ctx context.Context, g compute.Guest, spec compute.MigrateSpec) ([]byte, error) {
	if err := d.PowerOff(ctx, g, spec.PowerOffTimeout); err != nil {
		return nil, err
	}
	unlock, err := d.guestLock(ctx, g.UUID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	dom, err := d.lookup(ctx, g)
	if err != nil {
		return nil, err
	}
	dom.Free()
	if spec.DestHost != "" && spec.DestHost != d.hostname {
		// Files are read in place by the destination: this needs a shared
		// InstancesPath, which the driver cannot check from here.
		d.log.Info("cold migration to another host reads the files through a shared instances path", "uuid", g.UUID, "dest", spec.DestHost)
	}
	dir := d.instDir(g.UUID)
	resize := dir + resizeSuffix
	if _, err := os.Stat(resize); err == nil {
		return nil, fmt.Errorf("%w: %s exists: a migration of %s is not confirmed or reverted", compute.ErrConflict, resize, g.UUID)
	}
	st, err := readGuestState(dir)
	if err != nil {
		return nil, fmt.Errorf("libvirt: migrate %s: %w", g.UUID, err)
	}
	st.MigrationDest = spec.DestHost
	if err := writeGuestState(dir, st); err != nil {
		return nil, err
	}
	if err := os.Rename(dir, resize); err != nil {
		return nil, fmt.Errorf("libvirt: migrate %s: %w", g.UUID, err)
	}
	return json.Marshal(diskInfo{SourceHost: d.hostname, Dir: resize})
}

// FinishMigration implements compute.ColdMigrator: it copies the guest's
// disks from the source's _resize directory into a new directory, grows
// the root and ephemeral disks to the new flavor (shrinking is refused),
// and defines (and starts) the domain with the new flavor.
func (d *Driver) FinishMigration(ctx context.Context, spec compute.FinishMigrationSpec) (compute.Handle, error) {
	if err := ctx.Err(); err != nil {
		return compute.Handle{}, err
	}
	var di diskInfo
	if err := json.Unmarshal(spec.DiskInfo, &di); err != nil || di.Dir == "" {
		return compute.Handle{}, compute.InvalidInput("disk_info", "malformed libvirt disk info")
	}
	uuid := spec.Instance.UUID
	unlock, err := d.guestLock(ctx, uuid)
	if err != nil {
		return compute.Handle{}, err
	}
	defer unlock()
	src, err := readGuestState(di.Dir)
	if err != nil {
		return compute.Handle{}, fmt.Errorf("libvirt: finish migration %s: %w", uuid, err)
	}
	dir := d.instDir(uuid)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return compute.Handle{}, fmt.Errorf("%w: finish migration: %w", compute.ErrConflict, err)
	}
	var u undo
	defer u.unwind()
	u.push(func() { removeAll(dir) })
	st := &guestState{Instance: guestInstance(spec.Instance), Flavor: spec.Flavor, Image: src.Image, Networks: spec.Networks,
		Cmdline: src.Cmdline}
	if spec.Image.ID != "" && len(spec.Image.Properties) > 0 {
		st.Image = spec.Image
	}
	for _, k := range src.Disks {
		nk := k
		from := filepath.Join(di.Dir, filepath.Base(k.Path))
		nk.Path = filepath.Join(dir, filepath.Base(k.Path))
		switch k.Role {
		case "root", "ephemeral":
			if err := copyFile(from, nk.Path); err != nil {
				return compute.Handle{}, err
			}
			want := int64(spec.Flavor.RootGB) << 30
			if k.Role == "ephemeral" {
				want = int64(spec.Flavor.EphemeralGB) << 30
			}
			if want < k.VirtualSize && want > 0 {
				return compute.Handle{}, compute.InvalidInput("flavor", "%s disk cannot shrink from %d to %d bytes", k.Role, k.VirtualSize, want)
			}
			if want > k.VirtualSize {
				if _, err := d.qemuImg(ctx, "resize", "-q", nk.Path, strconv.FormatInt(want, 10)); err != nil {
					return compute.Handle{}, err
				}
				nk.VirtualSize = want
			}
		default:
			if err := copyFile(from, nk.Path); err != nil {
				return compute.Handle{}, err
			}
		}
		st.Disks = append(st.Disks, nk)
	}
	if spec.Flavor.EphemeralGB > 0 && !hasRole(st.Disks, "ephemeral") || spec.Flavor.SwapMB > 0 && !hasRole(st.Disks, "swap") {
		return compute.Handle{}, compute.Unsupported(DriverName, "adding an ephemeral or swap disk in a resize")
	}
	for _, f := range []struct{ src, dst *string }{{&src.Kernel, &st.Kernel}, {&src.Initrd, &st.Initrd}} {
		if *f.src != "" {
			*f.dst = filepath.Join(dir, filepath.Base(*f.src))
			if err := linkOrCopy(filepath.Join(di.Dir, filepath.Base(*f.src)), *f.dst); err != nil {
				return compute.Handle{}, err
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, consoleLog), nil, 0o600); err != nil {
		return compute.Handle{}, err
	}
	if err := writeGuestState(dir, st); err != nil {
		return compute.Handle{}, err
	}
	// On one host the source's domain (same UUID) is still defined: the
	// new definition replaces it, and the undo must not undefine it.
	sameHost := false
	if dom, err := d.conn.LookupDomainByUUIDString(uuid); err == nil {
		sameHost = true
		dom.Free()
	}
	var inner undo
	h, err := d.defineAndStart(ctx, st, spec.PowerOn, &inner)
	if err != nil {
		if !sameHost {
			inner.unwind()
		}
		return compute.Handle{}, err
	}
	u.done()
	return h, nil
}

func hasRole(ds []storedDisk, role string) bool {
	for _, k := range ds {
		if k.Role == role {
			return true
		}
	}
	return false
}

// ConfirmMigration implements compute.ColdMigrator: it removes the
// _resize directory and, when the guest went to another host, the
// source's domain definition. Idempotent.
func (d *Driver) ConfirmMigration(ctx context.Context, g compute.Guest, m compute.Migration) error {
	unlock, err := d.guestLock(ctx, g.UUID)
	if err != nil {
		return err
	}
	defer unlock()
	resize := d.instDir(g.UUID) + resizeSuffix
	st, err := readGuestState(resize)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.MigrationDest != "" && st.MigrationDest != d.hostname {
		if dom, err := d.conn.LookupDomainByUUIDString(g.UUID); err == nil {
			err := d.undefine(dom)
			dom.Free()
			if err != nil {
				return d.wrap(g.UUID, "undefine", err)
			}
		}
	}
	return removeAll(resize)
}

// FinishRevertMigration implements compute.ColdMigrator: it moves the
// _resize directory back and defines (and starts) the guest with the
// flavor it had.
func (d *Driver) FinishRevertMigration(ctx context.Context, g compute.Guest, spec compute.RevertMigrationSpec) (compute.Handle, error) {
	unlock, err := d.guestLock(ctx, g.UUID)
	if err != nil {
		return compute.Handle{}, err
	}
	defer unlock()
	dir := d.instDir(g.UUID)
	resize := dir + resizeSuffix
	st, err := readGuestState(resize)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return compute.Handle{}, fmt.Errorf("%w: nothing kept to revert", compute.GuestNotFound(g.UUID))
		}
		return compute.Handle{}, err
	}
	if _, err := os.Stat(dir); err == nil {
		// The destination on this host was destroyed with KeepDisks, or
		// not at all: its directory is the new guest's, not ours.
		if err := removeAll(dir); err != nil {
			return compute.Handle{}, err
		}
	}
	if err := os.Rename(resize, dir); err != nil {
		return compute.Handle{}, err
	}
	if spec.Flavor.VCPUs > 0 {
		st.Flavor = spec.Flavor
	}
	st.MigrationDest = ""
	if err := writeGuestState(dir, st); err != nil {
		return compute.Handle{}, err
	}
	var u undo
	return d.defineAndStart(ctx, st, spec.PowerOn, &u)
}

// Rescue implements compute.Rescuer as Nova does: it keeps the guest's
// definition aside, boots the rescue image (a fresh overlay on the cached
// image, with its kernel and ramdisk when it has them) as the first disk
// with the guest's own disks after it. A rescued guest succeeds.
func (d *Driver) Rescue(ctx context.Context, g compute.Guest, spec compute.RescueSpec) error {
	return d.withDomain(ctx, g, func(dom *libvirt.Domain, _ compute.PowerState, _ bool) error {
		dir := d.instDir(g.UUID)
		if _, err := os.Stat(filepath.Join(dir, unrescueFile)); err == nil {
			return nil
		}
		st, err := readGuestState(dir)
		if err != nil {
			return fmt.Errorf("libvirt: rescue %s: %w", g.UUID, err)
		}
		img := spec.Image
		if img.ID == "" {
			img = st.Image
		}
		rs := *st
		rs.Image = img
		base, vsize, err := d.cachedImage(ctx, img.ID, true)
		if err != nil {
			return err
		}
		rp := filepath.Join(dir, rescueDisk)
		os.Remove(rp) // a rescue interrupted before it kept unrescue.json
		if err := WriteQcow2(rp, roundUp512(vsize), base, "raw"); err != nil {
			return fmt.Errorf("libvirt: rescue disk: %w", err)
		}
		var u undo
		defer u.unwind()
		u.push(func() { os.Remove(rp) })
		disks, err := PlanDisks(dir, st.Flavor, img, d.host, hasRole(st.Disks, "config"), rp)
		if err != nil {
			return err
		}
		rs.Disks = nil
		for _, k := range disks {
			rs.Disks = append(rs.Disks, storedDisk{Disk: k})
		}
		rs.Kernel, rs.Initrd = "", ""
		if kid := prop(img, PropKernelID); kid != "" {
			kp, _, err := d.cachedImage(ctx, kid, false)
			if err != nil {
				return err
			}
			rs.Kernel = filepath.Join(dir, kernelFile+".rescue")
			if err := linkOrCopy(kp, rs.Kernel); err != nil {
				return err
			}
			if rid := prop(img, PropRamdiskID); rid != "" {
				rpth, _, err := d.cachedImage(ctx, rid, false)
				if err != nil {
					return err
				}
				rs.Initrd = filepath.Join(dir, ramdiskFile+".rescue")
				if err := linkOrCopy(rpth, rs.Initrd); err != nil {
					return err
				}
			}
			rs.Cmdline = prop(img, PropCommandLine)
		}
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, unrescueFile), b, 0o644); err != nil {
			return err
		}
		u.push(func() { os.Remove(filepath.Join(dir, unrescueFile)) })
		if active, _ := dom.IsActive(); active {
			if err := dom.Destroy(); err != nil {
				return d.wrap(g.UUID, "rescue: stop", err)
			}
		}
		if hs, _ := dom.HasManagedSaveImage(0); hs {
			_ = dom.ManagedSaveRemove(0)
		}
		var inner undo
		if _, err := d.defineAndStart(ctx, &rs, true, &inner); err != nil {
			d.restoreDefinition(st)
			return err
		}
		u.done()
		return nil
	})
}

func (d *Driver) restoreDefinition(st *guestState) {
	if x, err := RenderDomainXML(d.guestConfig(st)); err == nil {
		if dom, err := d.conn.DomainDefineXML(x); err == nil {
			dom.Free()
		}
	}
}

// Unrescue implements compute.Rescuer: it stops the rescue guest, defines
// the guest as it was and boots it, and removes the rescue files. A guest
// not rescued succeeds.
func (d *Driver) Unrescue(ctx context.Context, g compute.Guest) error {
	return d.withDomain(ctx, g, func(dom *libvirt.Domain, _ compute.PowerState, _ bool) error {
		dir := d.instDir(g.UUID)
		b, err := os.ReadFile(filepath.Join(dir, unrescueFile))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		var st guestState
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("libvirt: unrescue %s: %w", g.UUID, err)
		}
		if active, _ := dom.IsActive(); active {
			if err := dom.Destroy(); err != nil {
				return d.wrap(g.UUID, "unrescue: stop", err)
			}
		}
		var u undo
		if _, err := d.defineAndStart(ctx, &st, true, &u); err != nil {
			return err
		}
		for _, f := range []string{unrescueFile, rescueDisk, kernelFile + ".rescue", ramdiskFile + ".rescue"} {
			os.Remove(filepath.Join(dir, f))
		}
		return nil
	})
}

// Console implements compute.ConsoleProvider: the VNC or SPICE port
// libvirt gave the running guest, on Options.ConsoleHost.
func (d *Driver) Console(ctx context.Context, g compute.Guest, t compute.ConsoleType) (compute.ConsoleEndpoint, error) {
	var ep compute.ConsoleEndpoint
	if !(t == compute.ConsoleVNC && d.vnc || t == compute.ConsoleSPICE && d.spice) {
		if err := ctx.Err(); err != nil {
			return ep, err
		}
		return ep, compute.Unsupported(DriverName, "console "+string(t))
	}
	dom, err := d.lookup(ctx, g)
	if err != nil {
		return ep, err
	}
	defer dom.Free()
	ps, active, err := d.domState(g.UUID, dom)
	if err != nil {
		return ep, err
	}
	if !active {
		return ep, compute.GuestStateError(g.UUID, compute.ActionGetConsole, ps)
	}
	x, err := dom.GetXMLDesc(0)
	if err != nil {
		return ep, d.wrap(g.UUID, "xml", err)
	}
	var dx libvirtxml.Domain
	if err := dx.Unmarshal(x); err != nil {
		return ep, fmt.Errorf("libvirt: domain XML of %s: %w", g.UUID, err)
	}
	ep = compute.ConsoleEndpoint{Type: t, Host: d.opts.ConsoleHost}
	if dx.Devices != nil {
		for _, gr := range dx.Devices.Graphics {
			switch {
			case t == compute.ConsoleVNC && gr.VNC != nil:
				ep.Port = gr.VNC.Port
			case t == compute.ConsoleSPICE && gr.Spice != nil:
				ep.Port = gr.Spice.Port
				if gr.Spice.TLSPort > 0 {
					ep.TLSPort = gr.Spice.TLSPort
				}
			}
		}
	}
	if ep.Port <= 0 {
		return compute.ConsoleEndpoint{}, fmt.Errorf("%w: guest %s has no %s port yet", compute.ErrInvalidState, g.UUID, t)
	}
	return ep, nil
}

// Recover implements compute.Recoverer: it finds the guest by its handle
// (or UUID) and returns a current handle. Read-only.
func (d *Driver) Recover(ctx context.Context, g compute.Guest) (compute.Handle, error) {
	dom, err := d.lookup(ctx, g)
	if err != nil {
		return compute.Handle{}, err
	}
	defer dom.Free()
	if !isOurs(dom) {
		return compute.Handle{}, fmt.Errorf("%w: domain %s is not a novakit guest", compute.ErrInvalidInput, g.UUID)
	}
	name, err := dom.GetName()
	if err != nil {
		return compute.Handle{}, d.wrap(g.UUID, "name", err)
	}
	return makeHandle(name, g.UUID), nil
}

// subscription is one Events channel.
type subscription struct {
	d    *Driver
	id   int
	mu   sync.Mutex
	ch   chan compute.LifecycleEvent
	done bool
}

func (s *subscription) send(ev compute.LifecycleEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	select {
	case s.ch <- ev:
	default: // a subscriber that does not keep up loses events
	}
}

func (s *subscription) stop() {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.done = true
	close(s.ch)
	s.mu.Unlock()
	_ = s.d.conn.DomainEventDeregister(s.id)
}

// Events implements compute.EventSource with libvirt's domain lifecycle
// events (every domain on the connection; the agent ignores UUIDs it does
// not know).
func (d *Driver) Events(ctx context.Context) (<-chan compute.LifecycleEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &subscription{d: d, ch: make(chan compute.LifecycleEvent, 256)}
	id, err := d.conn.DomainEventLifecycleRegister(nil, func(_ *libvirt.Connect, dom *libvirt.Domain, ev *libvirt.DomainEventLifecycle) {
		uuid, err := dom.GetUUIDString()
		if err != nil {
			return
		}
		if le, ok := LifecycleOf(ev.Event, ev.Detail); ok {
			le.UUID, le.Time = uuid, time.Now()
			s.send(le)
		}
	})
	if err != nil {
		return nil, d.wrap("", "events", err)
	}
	s.id = id
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		s.stop()
		return s.ch, nil
	}
	d.subs[s] = struct{}{}
	d.mu.Unlock()
	go func() {
		<-ctx.Done()
		d.mu.Lock()
		delete(d.subs, s)
		d.mu.Unlock()
		s.stop()
	}()
	return s.ch, nil
}

// LifecycleOf maps a libvirt lifecycle event to the contract's, as Nova's
// libvirt host does; ok is false for events that change no power state.
func LifecycleOf(ev libvirt.DomainEventType, detail int) (compute.LifecycleEvent, bool) {
	switch ev {
	case libvirt.DOMAIN_EVENT_STARTED:
		return compute.LifecycleEvent{Transition: compute.LifecycleStarted, PowerState: compute.PowerRunning}, true
	case libvirt.DOMAIN_EVENT_STOPPED:
		if libvirt.DomainEventStoppedDetailType(detail) == libvirt.DOMAIN_EVENT_STOPPED_SAVED {
			return compute.LifecycleEvent{Transition: compute.LifecycleSuspended, PowerState: compute.PowerSuspended}, true
		}
		if libvirt.DomainEventStoppedDetailType(detail) == libvirt.DOMAIN_EVENT_STOPPED_CRASHED {
			return compute.LifecycleEvent{Transition: compute.LifecycleStopped, PowerState: compute.PowerCrashed}, true
		}
		return compute.LifecycleEvent{Transition: compute.LifecycleStopped, PowerState: compute.PowerShutdown}, true
	case libvirt.DOMAIN_EVENT_SUSPENDED:
		return compute.LifecycleEvent{Transition: compute.LifecyclePaused, PowerState: compute.PowerPaused}, true
	case libvirt.DOMAIN_EVENT_RESUMED:
		return compute.LifecycleEvent{Transition: compute.LifecycleResumed, PowerState: compute.PowerRunning}, true
	case libvirt.DOMAIN_EVENT_PMSUSPENDED:
		return compute.LifecycleEvent{Transition: compute.LifecycleSuspended, PowerState: compute.PowerSuspended}, true
	case libvirt.DOMAIN_EVENT_CRASHED:
		return compute.LifecycleEvent{Transition: compute.LifecycleStopped, PowerState: compute.PowerCrashed}, true
	}
	return compute.LifecycleEvent{}, false
}
