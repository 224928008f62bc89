package fake

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/novakit/novakit/compute"
)

// Host is one simulated hypervisor host of a [Cloud]: a compute.Hypervisor
// with every optional interface. Its state is in memory, guarded by one
// mutex held only for map and counter updates (never across an injected
// delay), so calls on distinct guests run in parallel.
type Host struct {
	cloud    *Cloud
	name     string
	uuid     string
	capacity Capacity

	mu        sync.Mutex
	guests    map[string]*guest
	leftovers map[string]*guest // source side of unconfirmed cold migrations
	incoming  map[string]*guest // destination side of prepared live migrations
	used      Capacity
	nextSlot  uint32
	subs      []*subscriber
}

var (
	_ compute.Hypervisor        = (*Host)(nil)
	_ compute.Snapshotter       = (*Host)(nil)
	_ compute.ColdMigrator      = (*Host)(nil)
	_ compute.LiveMigrator      = (*Host)(nil)
	_ compute.Rescuer           = (*Host)(nil)
	_ compute.ConsoleProvider   = (*Host)(nil)
	_ compute.VolumeAttacher    = (*Host)(nil)
	_ compute.InterfaceAttacher = (*Host)(nil)
	_ compute.Recoverer         = (*Host)(nil)
	_ compute.EventSource       = (*Host)(nil)
)

// guest is one simulated guest. It is kept small: a cloud of 10,000 hosts
// holds 100,000 of them.
type guest struct {
	uuid    string
	id      int64 // instance ID, for the guest name
	cpu     time.Duration
	since   int64 // UnixNano when it last started running
	vcpus   int32
	memMB   int32
	diskGB  int32
	slot    uint32
	boots   uint32
	state   compute.PowerState
	rescued bool
	vols    []string
	nics    []string
}

type subscriber struct {
	ch chan compute.LifecycleEvent
}

// Name is the host's name (its hypervisor hostname).
func (h *Host) Name() string { return h.name }

// UUID is the host's node UUID ([NodeUUID] of its name).
func (h *Host) UUID() string { return h.uuid }

// Cloud is the cloud the host belongs to.
func (h *Host) Cloud() *Cloud { return h.cloud }

// GuestCount is the number of guests on the host.
func (h *Host) GuestCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.guests)
}

// Capabilities implements compute.Hypervisor.
func (h *Host) Capabilities() compute.Capabilities { return h.cloud.caps }

// handleVersion is the version of the fake's handles: Data is
// "<host>/<uuid>".
const handleVersion = 1

func (h *Host) handle(uuid string) compute.Handle {
	b := make([]byte, 0, len(h.name)+1+len(uuid))
	b = append(append(append(b, h.name...), '/'), uuid...)
	return compute.Handle{Version: handleVersion, Data: b}
}

// find returns the guest g names; h.mu must be held.
func (h *Host) find(g compute.Guest) (*guest, error) {
	if g.UUID == "" {
		return nil, compute.InvalidInput("uuid", "guest has no UUID")
	}
	if !g.Handle.IsZero() {
		if g.Handle.Version != handleVersion {
			return nil, compute.InvalidInput("driver_handle", "fake handle version %d is not %d", g.Handle.Version, handleVersion)
		}
		host, id, ok := bytes.Cut(g.Handle.Data, []byte{'/'})
		if !ok || string(id) != g.UUID {
			return nil, compute.InvalidInput("driver_handle", "handle %q does not name guest %s", g.Handle.Data, g.UUID)
		}
		if string(host) != h.name {
			return nil, fmt.Errorf("fake: handle names host %s, this is %s: %w", host, h.name, compute.GuestNotFound(g.UUID))
		}
	}
	gu := h.guests[g.UUID]
	if gu == nil {
		return nil, compute.GuestNotFound(g.UUID)
	}
	return gu, nil
}

func (h *Host) unsupported(op string) error { return compute.Unsupported(DriverName, op) }

// HostResources implements compute.Hypervisor.
func (h *Host) HostResources(ctx context.Context) (compute.HostResources, error) {
	after, err := h.enter(ctx, MethodHostResources)
	if err != nil {
		return compute.HostResources{}, err
	}
	h.mu.Lock()
	used, n := h.used, len(h.guests)
	h.mu.Unlock()
	if after != nil {
		return compute.HostResources{}, after
	}
	return compute.HostResources{
		Hostname: h.name, UUID: h.uuid, HostIP: "127.0.0.1",
		HypervisorType: "fake", HypervisorVersion: 1000,
		VCPUs: h.capacity.VCPUs, VCPUsUsed: used.VCPUs,
		MemoryMB: h.capacity.MemoryMB, MemoryMBUsed: used.MemoryMB,
		LocalGB: h.capacity.DiskGB, LocalGBUsed: used.DiskGB,
		DiskAvailableLeast: h.capacity.DiskGB - used.DiskGB,
		RunningVMs:         n,
		CPUInfo: compute.CPUInfo{
			Arch: "x86_64", Model: "Nehalem", Vendor: "Intel",
			Topology: compute.CPUTopology{Sockets: 4, Cores: 4, Threads: 1},
			Features: []string{"xtpr"},
		},
		SupportedInstances: []compute.SupportedInstance{{Arch: "x86_64", HypervisorType: "fake", VMMode: "hvm"}},
	}, nil
}

// claim reserves r on the host or reports what is short; h.mu must be held.
func (h *Host) claim(r Capacity) error {
	free := Capacity{h.capacity.VCPUs - h.used.VCPUs, h.capacity.MemoryMB - h.used.MemoryMB, h.capacity.DiskGB - h.used.DiskGB}
	switch {
	case r.VCPUs > free.VCPUs:
		return &compute.ResourcesUnavailableError{Host: h.name, Resource: "VCPU", Requested: r.VCPUs, Free: free.VCPUs}
	case r.MemoryMB > free.MemoryMB:
		return &compute.ResourcesUnavailableError{Host: h.name, Resource: "MEMORY_MB", Requested: r.MemoryMB, Free: free.MemoryMB}
	case r.DiskGB > free.DiskGB:
		return &compute.ResourcesUnavailableError{Host: h.name, Resource: "DISK_GB", Requested: r.DiskGB, Free: free.DiskGB}
	}
	h.used.VCPUs += r.VCPUs
	h.used.MemoryMB += r.MemoryMB
	h.used.DiskGB += r.DiskGB
	return nil
}

func (h *Host) release(gu *guest) {
	h.used.VCPUs -= int(gu.vcpus)
	h.used.MemoryMB -= int(gu.memMB)
	h.used.DiskGB -= int(gu.diskGB)
}

func (gu *guest) size() Capacity {
	return Capacity{int(gu.vcpus), int(gu.memMB), int(gu.diskGB)}
}

func bootFromVolume(spec *compute.SpawnSpec) bool {
	if spec.Image.ID != "" {
		return false
	}
	for _, b := range spec.BlockDevices {
		if b.BootIndex != nil && *b.BootIndex == 0 && b.DestinationType == "volume" {
			return true
		}
	}
	return false
}

// newGuest checks spec and builds (without claiming) the guest it asks for.
func newGuest(spec *compute.SpawnSpec) (*guest, error) {
	if spec == nil || spec.Instance == nil || spec.Instance.UUID == "" {
		return nil, compute.InvalidInput("instance", "spawn spec has no instance UUID")
	}
	f := &spec.Flavor
	if f.VCPUs < 1 || f.MemoryMB < 1 || f.RootGB < 0 || f.EphemeralGB < 0 || f.SwapMB < 0 {
		return nil, compute.InvalidInput("flavor", "flavor %q has no vCPUs or memory, or a negative disk", f.Name)
	}
	gu := &guest{
		uuid:   strings.Clone(spec.Instance.UUID),
		id:     spec.Instance.ID,
		vcpus:  int32(f.VCPUs),
		memMB:  int32(f.MemoryMB),
		diskGB: int32(f.DiskGB(bootFromVolume(spec))),
		state:  compute.PowerShutdown,
	}
	for _, n := range spec.Networks {
		gu.nics = append(gu.nics, strings.Clone(n.PortID))
	}
	for _, b := range spec.BlockDevices {
		if b.DestinationType == "volume" && b.VolumeID != "" {
			gu.vols = append(gu.vols, strings.Clone(b.VolumeID))
		}
	}
	return gu, nil
}

// add installs a claimed guest; h.mu must be held.
func (h *Host) add(gu *guest, powerOn bool) {
	if h.guests == nil {
		h.guests = make(map[string]*guest)
	}
	h.nextSlot++
	gu.slot = h.nextSlot
	h.guests[gu.uuid] = gu
	if powerOn {
		h.start(gu)
	}
}

// Spawn implements compute.Hypervisor. It takes well under a microsecond
// plus any injected delay.
func (h *Host) Spawn(ctx context.Context, spec *compute.SpawnSpec) (compute.Handle, error) {
	after, err := h.enter(ctx, MethodSpawn)
	if err != nil {
		return compute.Handle{}, err
	}
	gu, err := newGuest(spec)
	if err != nil {
		return compute.Handle{}, err
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

// Destroy implements compute.Hypervisor.
func (h *Host) Destroy(ctx context.Context, g compute.Guest, opts compute.DestroyOptions) error {
	after, err := h.enter(ctx, MethodDestroy)
	if err != nil {
		return err
	}
	h.mu.Lock()
	gu, err := h.find(g)
	if err == nil {
		delete(h.guests, gu.uuid)
		h.release(gu)
		if gu.state != compute.PowerShutdown {
			h.emit(gu.uuid, compute.LifecycleStopped, compute.PowerShutdown)
		}
	}
	h.mu.Unlock()
	if err != nil {
		return err
	}
	return after
}

// now returns the clock's time in nanoseconds.
func (h *Host) now() int64 { return h.cloud.now().UnixNano() }

// The guest state machine. Each helper changes gu's state, keeps its CPU
// time, and emits the lifecycle event; h.mu must be held.

func (h *Host) start(gu *guest) {
	gu.state, gu.since, gu.cpu = compute.PowerRunning, h.now(), 0
	gu.boots++
	h.emit(gu.uuid, compute.LifecycleStarted, compute.PowerRunning)
}

func (h *Host) halt(gu *guest, to compute.PowerState, ev compute.Lifecycle) {
	if gu.state == compute.PowerRunning {
		gu.cpu += time.Duration(h.now() - gu.since)
	}
	gu.state = to
	h.emit(gu.uuid, ev, to)
}

func (h *Host) resume(gu *guest) {
	gu.state, gu.since = compute.PowerRunning, h.now()
	h.emit(gu.uuid, compute.LifecycleResumed, compute.PowerRunning)
}

// op runs a state change on the guest g names, under the host lock.
func (h *Host) op(ctx context.Context, m Method, g compute.Guest, fn func(gu *guest) error) error {
	after, err := h.enter(ctx, m)
	if err != nil {
		return err
	}
	h.mu.Lock()
	gu, err := h.find(g)
	if err == nil {
		err = fn(gu)
	}
	h.mu.Unlock()
	if err != nil {
		return err
	}
	return after
}

// Reboot implements compute.Hypervisor.
func (h *Host) Reboot(ctx context.Context, g compute.Guest, kind compute.RebootType) error {
	if kind != compute.RebootSoft && kind != compute.RebootHard {
		return compute.InvalidInput("reboot_type", "%q is not SOFT or HARD", kind)
	}
	return h.op(ctx, MethodReboot, g, func(gu *guest) error {
		if kind == compute.RebootSoft && gu.state != compute.PowerRunning {
			return compute.GuestStateError(gu.uuid, compute.ActionReboot, gu.state)
		}
		if gu.state != compute.PowerShutdown {
			h.halt(gu, compute.PowerShutdown, compute.LifecycleStopped)
		}
		h.start(gu)
		return nil
	})
}

// PowerOff implements compute.Hypervisor. The fake's guests shut down
// cleanly at once, so timeout does not matter.
func (h *Host) PowerOff(ctx context.Context, g compute.Guest, timeout time.Duration) error {
	return h.op(ctx, MethodPowerOff, g, func(gu *guest) error {
		if gu.state != compute.PowerShutdown {
			h.halt(gu, compute.PowerShutdown, compute.LifecycleStopped)
		}
		return nil
	})
}

// PowerOn implements compute.Hypervisor.
func (h *Host) PowerOn(ctx context.Context, g compute.Guest) error {
	return h.op(ctx, MethodPowerOn, g, func(gu *guest) error {
		switch gu.state {
		case compute.PowerRunning:
		case compute.PowerShutdown, compute.PowerCrashed, compute.PowerNoState:
			h.start(gu)
		default:
			return compute.GuestStateError(gu.uuid, compute.ActionStart, gu.state)
		}
		return nil
	})
}

// Pause implements compute.Hypervisor.
func (h *Host) Pause(ctx context.Context, g compute.Guest) error {
	if !h.cloud.caps.Pause {
		return h.unsupported("pause")
	}
	return h.op(ctx, MethodPause, g, func(gu *guest) error {
		switch gu.state {
		case compute.PowerPaused:
		case compute.PowerRunning:
			h.halt(gu, compute.PowerPaused, compute.LifecyclePaused)
		default:
			return compute.GuestStateError(gu.uuid, compute.ActionPause, gu.state)
		}
		return nil
	})
}

// Unpause implements compute.Hypervisor.
func (h *Host) Unpause(ctx context.Context, g compute.Guest) error {
	if !h.cloud.caps.Pause {
		return h.unsupported("unpause")
	}
	return h.op(ctx, MethodUnpause, g, func(gu *guest) error {
		switch gu.state {
		case compute.PowerRunning:
		case compute.PowerPaused:
			h.resume(gu)
		default:
			return compute.GuestStateError(gu.uuid, compute.ActionUnpause, gu.state)
		}
		return nil
	})
}

// Suspend implements compute.Hypervisor.
func (h *Host) Suspend(ctx context.Context, g compute.Guest) error {
	if !h.cloud.caps.Suspend {
		return h.unsupported("suspend")
	}
	return h.op(ctx, MethodSuspend, g, func(gu *guest) error {
		switch gu.state {
		case compute.PowerSuspended:
		case compute.PowerRunning, compute.PowerPaused:
			h.halt(gu, compute.PowerSuspended, compute.LifecycleSuspended)
		default:
			return compute.GuestStateError(gu.uuid, compute.ActionSuspend, gu.state)
		}
		return nil
	})
}

// Resume implements compute.Hypervisor.
func (h *Host) Resume(ctx context.Context, g compute.Guest) error {
	if !h.cloud.caps.Suspend {
		return h.unsupported("resume")
	}
	return h.op(ctx, MethodResume, g, func(gu *guest) error {
		switch gu.state {
		case compute.PowerRunning:
		case compute.PowerSuspended:
			h.resume(gu)
		default:
			return compute.GuestStateError(gu.uuid, compute.ActionResume, gu.state)
		}
		return nil
	})
}

// Info implements compute.Hypervisor. CPU time is the time the guest has
// been running since it was last started, by the cloud's clock.
func (h *Host) Info(ctx context.Context, g compute.Guest) (compute.GuestInfo, error) {
	var info compute.GuestInfo
	err := h.op(ctx, MethodInfo, g, func(gu *guest) error {
		cpu := gu.cpu
		if gu.state == compute.PowerRunning {
			cpu += time.Duration(h.now() - gu.since)
		}
		info = compute.GuestInfo{
			PowerState: gu.state, CPUTime: cpu, VCPUs: int(gu.vcpus), MemoryMB: int(gu.memMB),
			ID: fmt.Sprintf("instance-%08x", gu.id),
		}
		return nil
	})
	return info, err
}

// ListGuests implements compute.Hypervisor.
func (h *Host) ListGuests(ctx context.Context) ([]compute.Guest, error) {
	after, err := h.enter(ctx, MethodListGuests)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	gs := make([]compute.Guest, 0, len(h.guests))
	for id := range h.guests {
		gs = append(gs, compute.Guest{UUID: id, Handle: h.handle(id)})
	}
	h.mu.Unlock()
	if after != nil {
		return nil, after
	}
	return gs, nil
}

// ConsoleOutput implements compute.Hypervisor: Nova's fake text, one
// block per boot, naming the guest.
func (h *Host) ConsoleOutput(ctx context.Context, g compute.Guest) ([]byte, error) {
	if !h.cloud.caps.ConsoleOutput {
		return nil, h.unsupported("console output")
	}
	var out []byte
	err := h.op(ctx, MethodConsoleOutput, g, func(gu *guest) error {
		for i := uint32(1); i <= gu.boots && len(out) < compute.MaxConsoleOutput; i++ {
			out = append(out, "FAKE CONSOLE OUTPUT\nguest "...)
			out = append(out, gu.uuid...)
			out = append(out, " boot "...)
			out = strconv.AppendUint(out, uint64(i), 10)
			out = append(out, "\nANOTHER\nLAST LINE\n"...)
		}
		return nil
	})
	if len(out) > compute.MaxConsoleOutput {
		out = out[len(out)-compute.MaxConsoleOutput:]
	}
	return out, err
}

// SetPowerState changes a guest's power state behind the agent's back, as a
// guest that shuts itself down or crashes does, and emits the lifecycle
// event. It is for tests of power-state sync.
func (h *Host) SetPowerState(uuid string, ps compute.PowerState) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	gu, err := h.find(compute.Guest{UUID: uuid})
	if err != nil {
		return err
	}
	switch ps {
	case compute.PowerRunning:
		if gu.state == compute.PowerPaused || gu.state == compute.PowerSuspended {
			h.resume(gu)
		} else if gu.state != compute.PowerRunning {
			h.start(gu)
		}
	case compute.PowerPaused:
		h.halt(gu, ps, compute.LifecyclePaused)
	case compute.PowerSuspended:
		h.halt(gu, ps, compute.LifecycleSuspended)
	case compute.PowerShutdown, compute.PowerCrashed:
		h.halt(gu, ps, compute.LifecycleStopped)
	default:
		return compute.InvalidInput("power_state", "cannot set %v", ps)
	}
	return nil
}

// Events implements compute.EventSource.
func (h *Host) Events(ctx context.Context) (<-chan compute.LifecycleEvent, error) {
	if !h.cloud.caps.Events {
		return nil, h.unsupported("lifecycle events")
	}
	if _, err := h.enter(ctx, MethodEvents); err != nil {
		return nil, err
	}
	s := &subscriber{ch: make(chan compute.LifecycleEvent, h.cloud.evbuf)}
	h.mu.Lock()
	if h.cloud.closed.Load() {
		h.mu.Unlock()
		close(s.ch)
		return s.ch, nil
	}
	h.subs = append(h.subs, s)
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for i, x := range h.subs {
			if x == s {
				h.subs = append(h.subs[:i:i], h.subs[i+1:]...)
				close(s.ch)
				return
			}
		}
	})
	return s.ch, nil
}

// emit sends an event to every subscriber that has room; h.mu must be held.
func (h *Host) emit(uuid string, tr compute.Lifecycle, ps compute.PowerState) {
	if len(h.subs) == 0 {
		return
	}
	ev := compute.LifecycleEvent{UUID: uuid, Transition: tr, PowerState: ps, Time: h.cloud.now()}
	for _, s := range h.subs {
		select {
		case s.ch <- ev:
		default:
		}
	}
}
