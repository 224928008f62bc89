package fake

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/novakit/novakit/compute"
)

// Snapshot implements compute.Snapshotter: it uploads a small raw "disk"
// naming the guest.
func (h *Host) Snapshot(ctx context.Context, g compute.Guest, spec compute.SnapshotSpec) error {
	if !h.cloud.caps.Snapshot {
		return h.unsupported("snapshot")
	}
	if spec.Upload == nil {
		return compute.InvalidInput("upload", "snapshot spec has no Upload")
	}
	var data []byte
	err := h.op(ctx, MethodSnapshot, g, func(gu *guest) error {
		data = fmt.Appendf(nil, "fake disk of guest %s (%d GB)\n", gu.uuid, gu.diskGB)
		return nil
	})
	if err != nil {
		return err
	}
	if spec.TaskState != nil {
		spec.TaskState(compute.TaskImagePendingUpload)
		spec.TaskState(compute.TaskImageUploading)
	}
	meta := compute.ImageMeta{ID: spec.ImageID, Name: spec.Name, DiskFormat: "raw", ContainerFormat: "bare", Size: int64(len(data))}
	return spec.Upload(ctx, meta, bytes.NewReader(data))
}

// diskInfo is what MigrateDiskAndPowerOff hands to FinishMigration:
// "fake-disk:<source host>/<uuid>".
const diskInfoPrefix = "fake-disk:"

// MigrateDiskAndPowerOff implements compute.ColdMigrator: the guest is
// powered off and set aside on the source (its resources still counted)
// until the migration is confirmed or reverted.
func (h *Host) MigrateDiskAndPowerOff(ctx context.Context, g compute.Guest, spec compute.MigrateSpec) ([]byte, error) {
	if !h.cloud.caps.Resize {
		return nil, h.unsupported("resize/cold migrate")
	}
	if spec.DestHost == h.name && !h.cloud.caps.ResizeSameHost {
		return nil, h.unsupported("resize to the same host")
	}
	if _, err := h.cloud.hostFor(spec.DestHost); err != nil {
		return nil, err
	}
	var info []byte
	err := h.op(ctx, MethodMigrateDisk, g, func(gu *guest) error {
		if h.leftovers[gu.uuid] != nil {
			return &compute.DuplicateError{Kind: "migration of guest", Key: gu.uuid}
		}
		if gu.state != compute.PowerShutdown {
			h.halt(gu, compute.PowerShutdown, compute.LifecycleStopped)
		}
		delete(h.guests, gu.uuid)
		if h.leftovers == nil {
			h.leftovers = make(map[string]*guest)
		}
		h.leftovers[gu.uuid] = gu
		info = []byte(diskInfoPrefix + h.name + "/" + gu.uuid)
		return nil
	})
	return info, err
}

// FinishMigration implements compute.ColdMigrator.
func (h *Host) FinishMigration(ctx context.Context, spec compute.FinishMigrationSpec) (compute.Handle, error) {
	if !h.cloud.caps.Resize {
		return compute.Handle{}, h.unsupported("resize/cold migrate")
	}
	after, err := h.enter(ctx, MethodFinishMigr)
	if err != nil {
		return compute.Handle{}, err
	}
	gu, err := newGuest(&spec.SpawnSpec)
	if err != nil {
		return compute.Handle{}, err
	}
	src, id, ok := strings.Cut(strings.TrimPrefix(string(spec.DiskInfo), diskInfoPrefix), "/")
	if !ok || !bytes.HasPrefix(spec.DiskInfo, []byte(diskInfoPrefix)) || id != gu.uuid || h.cloud.Host(src) == nil {
		return compute.Handle{}, compute.InvalidInput("disk_info", "%q is not the fake's disk info for guest %s", spec.DiskInfo, gu.uuid)
	}
	h.mu.Lock()
	if h.guests[gu.uuid] != nil {
		h.mu.Unlock()
		return compute.Handle{}, &compute.DuplicateError{Kind: "guest", Key: gu.uuid}
	}
	if err := h.claim(gu.size()); err != nil {
		h.mu.Unlock()
		return compute.Handle{}, err
	}
	h.add(gu, spec.PowerOn)
	h.mu.Unlock()
	if after != nil {
		return compute.Handle{}, after
	}
	return h.handle(gu.uuid), nil
}

// ConfirmMigration implements compute.ColdMigrator.
func (h *Host) ConfirmMigration(ctx context.Context, g compute.Guest, m compute.Migration) error {
	if !h.cloud.caps.Resize {
		return h.unsupported("resize/cold migrate")
	}
	after, err := h.enter(ctx, MethodConfirmMigr)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if gu := h.leftovers[g.UUID]; gu != nil {
		delete(h.leftovers, g.UUID)
		h.release(gu)
	}
	h.mu.Unlock()
	return after
}

// FinishRevertMigration implements compute.ColdMigrator.
func (h *Host) FinishRevertMigration(ctx context.Context, g compute.Guest, spec compute.RevertMigrationSpec) (compute.Handle, error) {
	if !h.cloud.caps.Resize {
		return compute.Handle{}, h.unsupported("resize/cold migrate")
	}
	after, err := h.enter(ctx, MethodRevertMigr)
	if err != nil {
		return compute.Handle{}, err
	}
	h.mu.Lock()
	gu := h.leftovers[g.UUID]
	switch {
	case gu != nil && h.guests[g.UUID] != nil:
		h.mu.Unlock()
		return compute.Handle{}, fmt.Errorf("fake: revert of %s: the new guest is still on this host, destroy it first: %w", g.UUID, compute.ErrInvalidState)
	case gu != nil:
		delete(h.leftovers, g.UUID)
		h.guests[g.UUID] = gu // the map exists: the guest was in it before
		if spec.PowerOn {
			h.start(gu)
		}
	case h.guests[g.UUID] == nil:
		h.mu.Unlock()
		return compute.Handle{}, compute.GuestNotFound(g.UUID)
	}
	h.mu.Unlock()
	if after != nil {
		return compute.Handle{}, after
	}
	return h.handle(g.UUID), nil
}

const liveDataPrefix = "fake-live:"

// PreLiveMigration implements compute.LiveMigrator: it reserves the guest's
// resources on the destination.
func (h *Host) PreLiveMigration(ctx context.Context, spec compute.LiveMigrationSpec) ([]byte, error) {
	if !h.cloud.caps.LiveMigrate {
		return nil, h.unsupported("live migration")
	}
	if spec.DestHost != h.name {
		return nil, compute.InvalidInput("dest_host", "PreLiveMigration runs on the destination %s, not %s", spec.DestHost, h.name)
	}
	after, err := h.enter(ctx, MethodPreLive)
	if err != nil {
		return nil, err
	}
	gu, err := newGuest(&spec.Spawn)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.guests[gu.uuid] != nil || h.incoming[gu.uuid] != nil {
		return nil, &compute.DuplicateError{Kind: "guest", Key: gu.uuid}
	}
	if err := h.claim(gu.size()); err != nil {
		return nil, err
	}
	if h.incoming == nil {
		h.incoming = make(map[string]*guest)
	}
	h.incoming[gu.uuid] = gu
	return []byte(liveDataPrefix + h.name + "/" + gu.uuid), after
}

// LiveMigrate implements compute.LiveMigrator: the guest moves, in its
// power state, to the destination prepared by PreLiveMigration.
func (h *Host) LiveMigrate(ctx context.Context, g compute.Guest, spec compute.LiveMigrationSpec, data []byte) error {
	if !h.cloud.caps.LiveMigrate {
		return h.unsupported("live migration")
	}
	dest, err := h.cloud.hostFor(spec.DestHost)
	if err != nil {
		return err
	}
	if dest == h {
		return compute.InvalidInput("dest_host", "cannot live-migrate to the same host")
	}
	if string(data) != liveDataPrefix+dest.name+"/"+g.UUID {
		return compute.InvalidInput("migrate_data", "not prepared by PreLiveMigration on %s", dest.name)
	}
	after, err := h.enter(ctx, MethodLiveMigrate)
	if err != nil {
		return err
	}
	// Take the guest off the source, then hand it to the destination;
	// never both locks at once.
	h.mu.Lock()
	gu, err := h.find(g)
	if err == nil && gu.state != compute.PowerRunning && gu.state != compute.PowerPaused {
		err = compute.GuestStateError(gu.uuid, compute.ActionLiveMigrate, gu.state)
	}
	if err == nil {
		delete(h.guests, gu.uuid)
		h.release(gu)
	}
	h.mu.Unlock()
	if err != nil {
		return err
	}
	dest.mu.Lock()
	in := dest.incoming[gu.uuid]
	if in != nil {
		delete(dest.incoming, gu.uuid)
		in.state, in.since, in.cpu, in.boots, in.rescued = gu.state, gu.since, gu.cpu, gu.boots, gu.rescued
		in.vols, in.nics = gu.vols, gu.nics
		dest.add(in, false)
		if in.state == compute.PowerRunning {
			dest.emit(in.uuid, compute.LifecycleResumed, compute.PowerRunning)
		}
	}
	dest.mu.Unlock()
	if in == nil { // rolled back meanwhile: the guest stays on the source
		h.mu.Lock()
		_ = h.claim(gu.size())
		h.guests[gu.uuid] = gu
		h.mu.Unlock()
		return fmt.Errorf("fake: destination %s is no longer prepared for %s: %w", dest.name, gu.uuid, compute.ErrInvalidState)
	}
	return after
}

// PostLiveMigrationAtDestination implements compute.LiveMigrator.
func (h *Host) PostLiveMigrationAtDestination(ctx context.Context, g compute.Guest) (compute.Handle, error) {
	if !h.cloud.caps.LiveMigrate {
		return compute.Handle{}, h.unsupported("live migration")
	}
	after, err := h.enter(ctx, MethodPostLive)
	if err != nil {
		return compute.Handle{}, err
	}
	h.mu.Lock()
	_, err = h.find(compute.Guest{UUID: g.UUID})
	h.mu.Unlock()
	if err != nil {
		return compute.Handle{}, err
	}
	if after != nil {
		return compute.Handle{}, after
	}
	return h.handle(g.UUID), nil
}

// RollbackLiveMigrationAtDestination implements compute.LiveMigrator.
func (h *Host) RollbackLiveMigrationAtDestination(ctx context.Context, g compute.Guest) error {
	if !h.cloud.caps.LiveMigrate {
		return h.unsupported("live migration")
	}
	after, err := h.enter(ctx, MethodRollbackLive)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if in := h.incoming[g.UUID]; in != nil {
		delete(h.incoming, g.UUID)
		h.release(in)
	}
	h.mu.Unlock()
	return after
}

// Rescue implements compute.Rescuer.
func (h *Host) Rescue(ctx context.Context, g compute.Guest, spec compute.RescueSpec) error {
	if !h.cloud.caps.Rescue {
		return h.unsupported("rescue")
	}
	return h.op(ctx, MethodRescue, g, func(gu *guest) error {
		if gu.rescued {
			return nil
		}
		if gu.state != compute.PowerShutdown {
			h.halt(gu, compute.PowerShutdown, compute.LifecycleStopped)
		}
		gu.rescued = true
		h.start(gu)
		return nil
	})
}

// Unrescue implements compute.Rescuer.
func (h *Host) Unrescue(ctx context.Context, g compute.Guest) error {
	if !h.cloud.caps.Rescue {
		return h.unsupported("unrescue")
	}
	return h.op(ctx, MethodUnrescue, g, func(gu *guest) error {
		if !gu.rescued {
			return nil
		}
		if gu.state != compute.PowerShutdown {
			h.halt(gu, compute.PowerShutdown, compute.LifecycleStopped)
		}
		gu.rescued = false
		h.start(gu)
		return nil
	})
}

// Rescued reports whether the guest is rescued (for tests).
func (h *Host) Rescued(uuid string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	gu := h.guests[uuid]
	return gu != nil && gu.rescued
}

// Console implements compute.ConsoleProvider: endpoints on 127.0.0.1 with
// ports derived from the guest's slot on the host (VNC 5900+, SPICE
// 15900+ with TLS 25900+, serial 10000+). Nothing listens there.
func (h *Host) Console(ctx context.Context, g compute.Guest, t compute.ConsoleType) (compute.ConsoleEndpoint, error) {
	caps := &h.cloud.caps
	on := map[compute.ConsoleType]bool{compute.ConsoleVNC: caps.VNC, compute.ConsoleSPICE: caps.SPICE, compute.ConsoleSerial: caps.Serial}[t]
	if !on {
		return compute.ConsoleEndpoint{}, h.unsupported("console " + string(t))
	}
	var ep compute.ConsoleEndpoint
	err := h.op(ctx, MethodConsole, g, func(gu *guest) error {
		if gu.state != compute.PowerRunning && gu.state != compute.PowerPaused {
			return compute.GuestStateError(gu.uuid, compute.ActionGetConsole, gu.state)
		}
		s := int(gu.slot % 10000)
		ep = compute.ConsoleEndpoint{Type: t, Host: "127.0.0.1"}
		switch t {
		case compute.ConsoleVNC:
			ep.Port = 5900 + s
		case compute.ConsoleSPICE:
			ep.Port, ep.TLSPort = 15900+s, 25900+s
		case compute.ConsoleSerial:
			ep.Port = 10000 + s
		}
		return nil
	})
	return ep, err
}

// AttachVolume implements compute.VolumeAttacher.
func (h *Host) AttachVolume(ctx context.Context, g compute.Guest, bdm compute.BlockDeviceMapping) error {
	if !h.cloud.caps.AttachVolume {
		return h.unsupported("attach volume")
	}
	if bdm.VolumeID == "" {
		return compute.InvalidInput("volume_id", "block device mapping has no volume")
	}
	return h.op(ctx, MethodAttachVolume, g, func(gu *guest) error {
		if !slices.Contains(gu.vols, bdm.VolumeID) {
			gu.vols = append(gu.vols, strings.Clone(bdm.VolumeID))
		}
		return nil
	})
}

// DetachVolume implements compute.VolumeAttacher.
func (h *Host) DetachVolume(ctx context.Context, g compute.Guest, volumeID string) error {
	if !h.cloud.caps.AttachVolume {
		return h.unsupported("detach volume")
	}
	return h.op(ctx, MethodDetachVolume, g, func(gu *guest) error {
		i := slices.Index(gu.vols, volumeID)
		if i < 0 {
			return compute.NotFound("volume attachment", volumeID)
		}
		gu.vols = slices.Delete(gu.vols, i, i+1)
		return nil
	})
}

// Volumes lists the volumes attached to a guest (for tests).
func (h *Host) Volumes(uuid string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if gu := h.guests[uuid]; gu != nil {
		return slices.Clone(gu.vols)
	}
	return nil
}

// AttachInterface implements compute.InterfaceAttacher.
func (h *Host) AttachInterface(ctx context.Context, g compute.Guest, nic compute.NetworkInterface) error {
	if !h.cloud.caps.AttachInterface {
		return h.unsupported("attach interface")
	}
	if nic.PortID == "" {
		return compute.InvalidInput("port_id", "interface has no port")
	}
	return h.op(ctx, MethodAttachIface, g, func(gu *guest) error {
		if !slices.Contains(gu.nics, nic.PortID) {
			gu.nics = append(gu.nics, strings.Clone(nic.PortID))
		}
		return nil
	})
}

// DetachInterface implements compute.InterfaceAttacher.
func (h *Host) DetachInterface(ctx context.Context, g compute.Guest, portID string) error {
	if !h.cloud.caps.AttachInterface {
		return h.unsupported("detach interface")
	}
	return h.op(ctx, MethodDetachIface, g, func(gu *guest) error {
		i := slices.Index(gu.nics, portID)
		if i < 0 {
			return compute.NotFound("interface attachment", portID)
		}
		gu.nics = slices.Delete(gu.nics, i, i+1)
		return nil
	})
}

// Interfaces lists the ports plugged into a guest (for tests).
func (h *Host) Interfaces(uuid string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if gu := h.guests[uuid]; gu != nil {
		return slices.Clone(gu.nics)
	}
	return nil
}

// Recover implements compute.Recoverer. The fake's guests live in memory,
// so there is nothing to re-open: it checks that the guest is there and
// returns its handle.
func (h *Host) Recover(ctx context.Context, g compute.Guest) (compute.Handle, error) {
	if !h.cloud.caps.Recover {
		return compute.Handle{}, h.unsupported("recover")
	}
	err := h.op(ctx, MethodRecover, g, func(*guest) error { return nil })
	if err != nil {
		return compute.Handle{}, err
	}
	return h.handle(g.UUID), nil
}
