package libvirt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/novakit/novakit/compute"
)

// guestLock serializes state-changing calls on one guest.
func (d *Driver) guestLock(ctx context.Context, uuid string) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d.locks.lock(ctx, "guest:"+uuid)
}

// withDomain runs fn under the guest's lock with its domain (freed when fn
// returns) and the power state read just before: the shape of every call
// that changes one existing guest.
func (d *Driver) withDomain(ctx context.Context, g compute.Guest, fn func(dom *libvirt.Domain, ps compute.PowerState, active bool) error) error {
	unlock, err := d.guestLock(ctx, g.UUID)
	if err != nil {
		return err
	}
	defer unlock()
	dom, err := d.lookup(ctx, g)
	if err != nil {
		return err
	}
	defer dom.Free()
	ps, active, err := d.domState(g.UUID, dom)
	if err != nil {
		return err
	}
	return fn(dom, ps, active)
}

// Spawn implements compute.Hypervisor: it makes the guest's directory and
// disks (image cache, qcow2 overlay, ephemeral, swap, config drive,
// kernel and ramdisk), renders and defines the domain and, with
// spec.PowerOn, starts it. Every step pushes its undo; a failure or a
// canceled ctx unwinds them, so a failed Spawn leaves nothing.
func (d *Driver) Spawn(ctx context.Context, spec *compute.SpawnSpec) (compute.Handle, error) {
	if err := ctx.Err(); err != nil {
		return compute.Handle{}, err
	}
	if spec == nil || spec.Instance == nil || spec.Instance.UUID == "" {
		return compute.Handle{}, compute.InvalidInput("instance", "spawn spec without an instance UUID")
	}
	uuid := spec.Instance.UUID
	unlock, err := d.guestLock(ctx, uuid)
	if err != nil {
		return compute.Handle{}, err
	}
	defer unlock()
	if dom, err := d.conn.LookupDomainByUUIDString(uuid); err == nil {
		dom.Free()
		return compute.Handle{}, fmt.Errorf("%w: guest %s already exists on this host", compute.ErrConflict, uuid)
	}
	dir := d.instDir(uuid)
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return compute.Handle{}, fmt.Errorf("%w: instance directory %s exists (kept disks of an earlier guest)", compute.ErrConflict, dir)
		}
		return compute.Handle{}, fmt.Errorf("libvirt: %w", err)
	}
	var u undo
	defer u.unwind()
	u.push(func() { removeAll(dir) })
	st, err := d.createDisks(ctx, dir, spec)
	if err != nil {
		return compute.Handle{}, err
	}
	if err := writeGuestState(dir, st); err != nil {
		return compute.Handle{}, err
	}
	h, err := d.defineAndStart(ctx, st, spec.PowerOn, &u)
	if err != nil {
		return compute.Handle{}, err
	}
	u.done()
	return h, nil
}

// defineAndStart renders st, defines the domain (replacing the definition
// of the same UUID, as a resize or rescue does) and starts it if start.
// It pushes its undo steps onto u.
func (d *Driver) defineAndStart(ctx context.Context, st *guestState, start bool, u *undo) (compute.Handle, error) {
	uuid := st.Instance.UUID
	xml, err := RenderDomainXML(d.guestConfig(st))
	if err != nil {
		return compute.Handle{}, err
	}
	if err := ctx.Err(); err != nil {
		return compute.Handle{}, err
	}
	dom, err := d.conn.DomainDefineXML(xml)
	if err != nil {
		return compute.Handle{}, d.wrap(uuid, "define", err)
	}
	defer dom.Free()
	u.push(func() { d.undefine(dom) })
	if err := ctx.Err(); err != nil {
		return compute.Handle{}, err
	}
	if start {
		if err := dom.Create(); err != nil {
			return compute.Handle{}, d.wrap(uuid, "start", err)
		}
		u.push(func() { _ = dom.Destroy() })
		if err := ctx.Err(); err != nil {
			return compute.Handle{}, err
		}
	}
	name, err := dom.GetName()
	if err != nil {
		return compute.Handle{}, d.wrap(uuid, "name", err)
	}
	return makeHandle(name, uuid), nil
}

// undefine removes a domain's definition with its managed save image,
// snapshot metadata and NVRAM, falling back to a plain undefine for
// hypervisors without those flags.
func (d *Driver) undefine(dom *libvirt.Domain) error {
	err := dom.UndefineFlags(libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | libvirt.DOMAIN_UNDEFINE_NVRAM)
	var le libvirt.Error
	if errors.As(err, &le) && le.Code != libvirt.ERR_NO_DOMAIN {
		if hs, _ := dom.HasManagedSaveImage(0); hs {
			_ = dom.ManagedSaveRemove(0)
		}
		err = dom.Undefine()
	}
	return err
}

// Destroy implements compute.Hypervisor: it stops the domain at once,
// undefines it, and removes the guest's directory unless opts.KeepDisks.
// A guest whose domain is gone but whose directory is left (an interrupted
// Destroy) has the directory removed and succeeds.
func (d *Driver) Destroy(ctx context.Context, g compute.Guest, opts compute.DestroyOptions) error {
	unlock, err := d.guestLock(ctx, g.UUID)
	if err != nil {
		return err
	}
	defer unlock()
	dom, err := d.lookup(ctx, g)
	if errors.Is(err, compute.ErrNotFound) {
		dir := d.instDir(g.UUID)
		if _, serr := os.Stat(filepath.Join(dir, stateFile)); serr == nil && !opts.KeepDisks {
			return removeAll(dir)
		}
		return err
	}
	if err != nil {
		return err
	}
	defer dom.Free()
	if active, err := dom.IsActive(); err == nil && active {
		if err := dom.Destroy(); err != nil && !isCode(err, libvirt.ERR_OPERATION_INVALID) {
			return d.wrap(g.UUID, "destroy", err)
		}
	}
	if err := d.undefine(dom); err != nil && !isCode(err, libvirt.ERR_NO_DOMAIN) {
		return d.wrap(g.UUID, "undefine", err)
	}
	if !opts.KeepDisks {
		if err := removeAll(d.instDir(g.UUID)); err != nil {
			return fmt.Errorf("libvirt: remove disks of %s: %w", g.UUID, err)
		}
	}
	return nil
}

func isCode(err error, code libvirt.ErrorNumber) bool {
	var le libvirt.Error
	return errors.As(err, &le) && le.Code == code
}

// waitState polls the domain until pred holds or the deadline passes; it
// reports whether pred held.
func (d *Driver) waitState(ctx context.Context, uuid string, dom *libvirt.Domain, until time.Time, pred func(compute.PowerState, bool) bool) (bool, error) {
	for {
		ps, active, err := d.domState(uuid, dom)
		if err != nil {
			return false, err
		}
		if pred(ps, active) {
			return true, nil
		}
		if !time.Now().Before(until) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Reboot implements compute.Hypervisor. Soft: ACPI shutdown, wait up to
// Options.SoftRebootTimeout for the guest to stop, start it again; a guest
// that does not stop in time gets a hard reboot. Hard: stop at once (drop
// a managed save), start.
func (d *Driver) Reboot(ctx context.Context, g compute.Guest, kind compute.RebootType) error {
	return d.withDomain(ctx, g, func(dom *libvirt.Domain, ps compute.PowerState, active bool) error {
		switch kind {
		case compute.RebootSoft:
			if ps != compute.PowerRunning {
				return compute.GuestStateError(g.UUID, compute.ActionReboot, ps)
			}
			if err := dom.Shutdown(); err != nil {
				return d.wrap(g.UUID, "shutdown", err)
			}
			off, err := d.waitState(ctx, g.UUID, dom, time.Now().Add(d.opts.SoftRebootTimeout), func(_ compute.PowerState, active bool) bool { return !active })
			if err != nil {
				return err
			}
			if off {
				return d.wrap(g.UUID, "start", dom.Create())
			}
			d.log.Info("soft reboot timed out; hard reboot", "uuid", g.UUID, "timeout", d.opts.SoftRebootTimeout)
			return d.hardReboot(g.UUID, dom, true)
		case compute.RebootHard:
			return d.hardReboot(g.UUID, dom, active)
		}
		return compute.InvalidInput("reboot_type", "unknown reboot type %q", kind)
	})
}

func (d *Driver) hardReboot(uuid string, dom *libvirt.Domain, active bool) error {
	if active {
		if err := dom.Destroy(); err != nil && !isCode(err, libvirt.ERR_OPERATION_INVALID) {
			return d.wrap(uuid, "destroy", err)
		}
	}
	if hs, _ := dom.HasManagedSaveImage(0); hs {
		if err := dom.ManagedSaveRemove(0); err != nil {
			return d.wrap(uuid, "remove managed save", err)
		}
	}
	return d.wrap(uuid, "start", dom.Create())
}

// PowerOff implements compute.Hypervisor.
func (d *Driver) PowerOff(ctx context.Context, g compute.Guest, timeout time.Duration) error {
	return d.withDomain(ctx, g, func(dom *libvirt.Domain, ps compute.PowerState, active bool) error {
		if !active {
			if ps == compute.PowerSuspended {
				return d.wrap(g.UUID, "remove managed save", dom.ManagedSaveRemove(0))
			}
			return nil
		}
		if timeout > 0 && ps == compute.PowerRunning {
			if err := dom.Shutdown(); err == nil {
				off, err := d.waitState(ctx, g.UUID, dom, time.Now().Add(timeout), func(_ compute.PowerState, active bool) bool { return !active })
				if err != nil {
					return err
				}
				if off {
					return nil
				}
			}
		}
		if err := dom.Destroy(); err != nil && !isCode(err, libvirt.ERR_OPERATION_INVALID) {
			return d.wrap(g.UUID, "destroy", err)
		}
		return nil
	})
}

// PowerOn implements compute.Hypervisor.
func (d *Driver) PowerOn(ctx context.Context, g compute.Guest) error {
	return d.withDomain(ctx, g, func(dom *libvirt.Domain, ps compute.PowerState, active bool) error {
		switch {
		case ps == compute.PowerRunning:
			return nil
		case ps == compute.PowerPaused || ps == compute.PowerSuspended:
			return compute.GuestStateError(g.UUID, compute.ActionStart, ps)
		case active: // crashed but kept
			if err := dom.Destroy(); err != nil {
				return d.wrap(g.UUID, "destroy", err)
			}
		}
		return d.wrap(g.UUID, "start", dom.Create())
	})
}

// transition runs a state change guarded by the guest's power state: done
// states succeed at once, allowed ones run op, others are invalid.
func (d *Driver) transition(ctx context.Context, g compute.Guest, a compute.Action, done, allowed []compute.PowerState, op func(*libvirt.Domain) error) error {
	return d.withDomain(ctx, g, func(dom *libvirt.Domain, ps compute.PowerState, _ bool) error {
		for _, s := range done {
			if ps == s {
				return nil
			}
		}
		for _, s := range allowed {
			if ps == s {
				return d.wrap(g.UUID, string(a), op(dom))
			}
		}
		return compute.GuestStateError(g.UUID, a, ps)
	})
}

// Pause implements compute.Hypervisor (virDomainSuspend).
func (d *Driver) Pause(ctx context.Context, g compute.Guest) error {
	return d.transition(ctx, g, compute.ActionPause, []compute.PowerState{compute.PowerPaused}, []compute.PowerState{compute.PowerRunning},
		func(dom *libvirt.Domain) error { return dom.Suspend() })
}

// Unpause implements compute.Hypervisor (virDomainResume).
func (d *Driver) Unpause(ctx context.Context, g compute.Guest) error {
	return d.transition(ctx, g, compute.ActionUnpause, []compute.PowerState{compute.PowerRunning}, []compute.PowerState{compute.PowerPaused},
		func(dom *libvirt.Domain) error { return dom.Resume() })
}

// Suspend implements compute.Hypervisor with libvirt's managed save.
func (d *Driver) Suspend(ctx context.Context, g compute.Guest) error {
	return d.transition(ctx, g, compute.ActionSuspend, []compute.PowerState{compute.PowerSuspended}, []compute.PowerState{compute.PowerRunning, compute.PowerPaused},
		func(dom *libvirt.Domain) error { return dom.ManagedSave(libvirt.DOMAIN_SAVE_RUNNING) })
}

// Resume implements compute.Hypervisor: starting a domain with a managed
// save image restores it.
func (d *Driver) Resume(ctx context.Context, g compute.Guest) error {
	return d.transition(ctx, g, compute.ActionResume, []compute.PowerState{compute.PowerRunning}, []compute.PowerState{compute.PowerSuspended},
		func(dom *libvirt.Domain) error { return dom.Create() })
}

// Info implements compute.Hypervisor.
func (d *Driver) Info(ctx context.Context, g compute.Guest) (compute.GuestInfo, error) {
	dom, err := d.lookup(ctx, g)
	if err != nil {
		return compute.GuestInfo{}, err
	}
	defer dom.Free()
	ps, _, err := d.domState(g.UUID, dom)
	if err != nil {
		return compute.GuestInfo{}, err
	}
	info, err := dom.GetInfo()
	if err != nil {
		return compute.GuestInfo{}, d.wrap(g.UUID, "info", err)
	}
	name, _ := dom.GetName()
	return compute.GuestInfo{
		PowerState: ps, CPUTime: time.Duration(info.CpuTime),
		VCPUs: int(info.NrVirtCpu), MemoryMB: int(info.MaxMem / 1024), ID: name,
	}, nil
}

// ConsoleOutput implements compute.Hypervisor: the last MaxConsoleOutput
// bytes of the guest's serial log file.
func (d *Driver) ConsoleOutput(ctx context.Context, g compute.Guest) ([]byte, error) {
	dom, err := d.lookup(ctx, g)
	if err != nil {
		return nil, err
	}
	dom.Free()
	f, err := os.Open(filepath.Join(d.instDir(g.UUID), consoleLog))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("libvirt: console log of %s: %w", g.UUID, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if off := st.Size() - compute.MaxConsoleOutput; off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return nil, err
		}
	}
	return io.ReadAll(io.LimitReader(f, compute.MaxConsoleOutput))
}
