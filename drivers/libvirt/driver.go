package libvirt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/novakit/novakit/compute"
)

// DriverName is the driver's name in errors and logs.
const DriverName = "libvirt"

// ImageSource is where the driver gets images: the image service (the
// embedded store or a Glance client satisfy it). Both methods may be called
// from many goroutines at once.
type ImageSource interface {
	// ImageMeta returns the image's record; a missing image wraps
	// compute.ErrNotFound.
	ImageMeta(ctx context.Context, id string) (compute.ImageMeta, error)
	// Download returns the image's bytes; the caller closes the reader.
	Download(ctx context.Context, id string) (io.ReadCloser, error)
}

// Options configure a [Driver]. The zero value of every field but Images
// is a usable default.
type Options struct {
	// URI is the libvirt connection URI: "qemu:///system" (the default),
	// "qemu+ssh://host/system", "test:///default" …
	URI string
	// Images serves base images, kernels and ramdisks. Required for Spawn
	// and Rescue.
	Images ImageSource
	// InstancesPath holds one directory per guest (disks, config drive,
	// console log) and the image cache in _base. Default
	// /var/lib/novakit/instances.
	InstancesPath string
	// Hostname is the node name reported by HostResources; default the
	// hypervisor's host name.
	Hostname string
	// VirtType forces the domain type ("kvm" or "qemu"); empty chooses:
	// kvm when the host's capabilities list it and the KVM probe passes,
	// qemu (TCG) otherwise. The test driver always uses "test".
	VirtType string
	// CPUMode and CPUModel are Nova's [libvirt]cpu_mode / cpu_models:
	// "host-model" (default with kvm), "host-passthrough", "custom" with a
	// model, or "none" (default with qemu).
	CPUMode, CPUModel string
	// MachineType is the machine type for images that name none ("pc").
	MachineType string
	// Consoles lists the graphical consoles to give guests (VNC, SPICE);
	// nil offers every one the hypervisor supports. ConsoleListen is the
	// address they listen on (127.0.0.1) and ConsoleHost the address a
	// console proxy dials (the listen address).
	Consoles      []compute.ConsoleType
	ConsoleListen string
	ConsoleHost   string
	// SoftRebootTimeout is how long a soft reboot waits for the guest to
	// shut down before it falls back to a hard one (Nova's
	// wait_soft_reboot_seconds, default 120s).
	SoftRebootTimeout time.Duration
	// QemuImg is the qemu-img program (default "qemu-img" on PATH).
	QemuImg string
	// Logger receives the driver's logs (default slog.Default()).
	Logger *slog.Logger
	// Version is written into guests' SMBIOS ("novakit").
	Version string
}

// Driver is a [compute.Hypervisor] for one libvirt host. It is safe for
// concurrent use; calls on distinct guests run in parallel, and
// state-changing calls on one guest are serialized by the driver too.
type Driver struct {
	opts     Options
	conn     *libvirt.Connect
	log      *slog.Logger
	virtType string
	why      string // why virtType was chosen
	host     HostInfo
	caps     compute.Capabilities
	hostname string
	vnc      bool
	spice    bool

	locks keyedMutex
	// baseSizes caches the virtual size of base images (path → int64):
	// base files never change once in the cache.
	baseSizes sync.Map

	mu     sync.Mutex
	subs   map[*subscription]struct{}
	closed bool
}

var (
	_ compute.Hypervisor      = (*Driver)(nil)
	_ compute.Snapshotter     = (*Driver)(nil)
	_ compute.ColdMigrator    = (*Driver)(nil)
	_ compute.Rescuer         = (*Driver)(nil)
	_ compute.ConsoleProvider = (*Driver)(nil)
	_ compute.Recoverer       = (*Driver)(nil)
	_ compute.EventSource     = (*Driver)(nil)
)

// Open connects to the libvirt URI (overriding opts.URI) and returns a
// driver for its host: libvirt.Open(ctx, "qemu:///system", opts) or
// "test:///default" for libvirt's in-process test hypervisor.
func Open(ctx context.Context, uri string, opts Options) (*Driver, error) {
	opts.URI = uri
	return New(ctx, opts)
}

// New connects to opts.URI, probes the host (capabilities, virt type,
// consoles) and returns its driver. The caller must Close it.
func New(ctx context.Context, opts Options) (*Driver, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.URI == "" {
		opts.URI = "qemu:///system"
	}
	if opts.InstancesPath == "" {
		opts.InstancesPath = "/var/lib/novakit/instances"
	}
	if opts.SoftRebootTimeout <= 0 {
		opts.SoftRebootTimeout = 120 * time.Second
	}
	if opts.QemuImg == "" {
		opts.QemuImg = "qemu-img"
	}
	if opts.ConsoleListen == "" {
		opts.ConsoleListen = "127.0.0.1"
	}
	if opts.ConsoleHost == "" {
		opts.ConsoleHost = opts.ConsoleListen
		if opts.ConsoleHost == "0.0.0.0" || opts.ConsoleHost == "::" {
			opts.ConsoleHost = "127.0.0.1"
		}
	}
	if opts.Version == "" {
		opts.Version = "novakit"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(opts.InstancesPath, baseDir), 0o755); err != nil {
		return nil, fmt.Errorf("libvirt: instances path: %w", err)
	}
	startEventLoop()
	conn, err := libvirt.NewConnect(opts.URI)
	if err != nil {
		return nil, fmt.Errorf("libvirt: connect %s: %w", opts.URI, err)
	}
	d := &Driver{opts: opts, conn: conn, log: opts.Logger.With("driver", DriverName, "uri", opts.URI), subs: map[*subscription]struct{}{}}
	if err := d.probe(); err != nil {
		conn.Close()
		return nil, err
	}
	d.log.Debug("libvirt driver ready", "virt_type", d.virtType, "reason", d.why, "vnc", d.vnc, "spice", d.spice)
	return d, nil
}

// Close ends event subscriptions and closes the libvirt connection. Guests
// keep running. Close is idempotent.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	subs := d.subs
	d.subs = nil
	d.mu.Unlock()
	for s := range subs {
		s.stop()
	}
	_, err := d.conn.Close()
	return err
}

// VirtType reports the libvirt domain type the driver gives guests ("kvm",
// "qemu" or "test") and why it chose it.
func (d *Driver) VirtType() (virtType, reason string) { return d.virtType, d.why }

// URI returns the connection URI.
func (d *Driver) URI() string { return d.opts.URI }

// Capabilities implements compute.Hypervisor.
func (d *Driver) Capabilities() compute.Capabilities {
	c := d.caps
	c.ImageTypes = append([]string(nil), d.caps.ImageTypes...)
	return c
}

// handleData is what a Handle (version 1) holds: the domain's name and
// UUID.
type handleData struct {
	Domain string `json:"d"`
	UUID   string `json:"u"`
}

const handleVersion = 1

func makeHandle(name, uuid string) compute.Handle {
	b, _ := json.Marshal(handleData{Domain: name, UUID: uuid})
	return compute.Handle{Version: handleVersion, Data: b}
}

func decodeHandle(g compute.Guest) (handleData, error) {
	var hd handleData
	if g.Handle.IsZero() {
		return hd, nil
	}
	if g.Handle.Version != handleVersion {
		return hd, compute.InvalidInput("driver_handle", "libvirt handle version %d is unknown (this driver reads %d)", g.Handle.Version, handleVersion)
	}
	if err := json.Unmarshal(g.Handle.Data, &hd); err != nil {
		return hd, compute.InvalidInput("driver_handle", "malformed libvirt handle: %v", err)
	}
	if hd.UUID != g.UUID {
		return hd, compute.InvalidInput("driver_handle", "handle names guest %s, not %s", hd.UUID, g.UUID)
	}
	return hd, nil
}

// lookup finds the guest's domain. The caller frees it.
func (d *Driver) lookup(ctx context.Context, g compute.Guest) (*libvirt.Domain, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if g.UUID == "" {
		return nil, compute.InvalidInput("uuid", "empty guest UUID")
	}
	hd, err := decodeHandle(g)
	if err != nil {
		return nil, err
	}
	dom, err := d.conn.LookupDomainByUUIDString(g.UUID)
	if err != nil {
		return nil, d.wrap(g.UUID, "lookup", err)
	}
	if hd.Domain != "" {
		name, err := dom.GetName()
		if err != nil {
			dom.Free()
			return nil, d.wrap(g.UUID, "lookup", err)
		}
		if name != hd.Domain {
			dom.Free()
			return nil, compute.InvalidInput("driver_handle", "handle names domain %s, the guest is %s", hd.Domain, name)
		}
	}
	return dom, nil
}

// wrap classifies a libvirt error for the contract's sentinels and keeps
// the libvirt error in the chain.
func (d *Driver) wrap(uuid, op string, err error) error {
	if err == nil {
		return nil
	}
	var le libvirt.Error
	if !errors.As(err, &le) {
		return fmt.Errorf("libvirt: %s %s: %w", op, uuid, err)
	}
	switch le.Code {
	case libvirt.ERR_NO_DOMAIN:
		return fmt.Errorf("%w (%w)", compute.GuestNotFound(uuid), le)
	case libvirt.ERR_OPERATION_INVALID:
		return fmt.Errorf("%w: libvirt: %s %s: %w", compute.ErrInvalidState, op, uuid, le)
	case libvirt.ERR_NO_SUPPORT, libvirt.ERR_OPERATION_UNSUPPORTED, libvirt.ERR_CONFIG_UNSUPPORTED:
		return fmt.Errorf("%w (%w)", compute.Unsupported(DriverName, op), le)
	case libvirt.ERR_DOM_EXIST:
		return fmt.Errorf("%w: libvirt: %s %s: %w", compute.ErrConflict, op, uuid, le)
	case libvirt.ERR_XML_ERROR, libvirt.ERR_INVALID_ARG:
		return fmt.Errorf("%w: libvirt: %s %s: %w", compute.ErrInvalidInput, op, uuid, le)
	case libvirt.ERR_NO_CONNECT:
		// The connection could not be made: nothing reached the hypervisor.
		return compute.Transient(fmt.Errorf("libvirt: %s %s: %w", op, uuid, le))
	}
	return fmt.Errorf("libvirt: %s %s: %w", op, uuid, le)
}

// domState is a guest's power state as the contract sees it, and whether
// the domain is active (has a QEMU process).
func (d *Driver) domState(uuid string, dom *libvirt.Domain) (compute.PowerState, bool, error) {
	st, _, err := dom.GetState()
	if err != nil {
		return compute.PowerNoState, false, d.wrap(uuid, "state", err)
	}
	switch st {
	case libvirt.DOMAIN_RUNNING, libvirt.DOMAIN_BLOCKED:
		return compute.PowerRunning, true, nil
	case libvirt.DOMAIN_PAUSED:
		return compute.PowerPaused, true, nil
	case libvirt.DOMAIN_SHUTDOWN:
		return compute.PowerRunning, true, nil // shutting down: still running
	case libvirt.DOMAIN_CRASHED:
		return compute.PowerCrashed, true, nil
	case libvirt.DOMAIN_PMSUSPENDED:
		return compute.PowerSuspended, true, nil
	case libvirt.DOMAIN_SHUTOFF:
		saved, err := dom.HasManagedSaveImage(0)
		if err != nil {
			return compute.PowerNoState, false, d.wrap(uuid, "managed save", err)
		}
		if saved {
			return compute.PowerSuspended, false, nil
		}
		return compute.PowerShutdown, false, nil
	}
	return compute.PowerNoState, false, nil
}

// instDir is the guest's directory on the host.
func (d *Driver) instDir(uuid string) string { return filepath.Join(d.opts.InstancesPath, uuid) }

// keyedMutex serializes work per key without a host-wide lock held while
// waiting on the hypervisor.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	ch   chan struct{}
	refs int
}

// lock takes the key's lock or returns ctx's error.
func (k *keyedMutex) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{ch: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// undo is a stack of compensating steps for multi-step work: push after
// each step, call done at the end; unwind runs the steps in reverse unless
// done was called.
type undo struct {
	steps []func()
	ok    bool
}

func (u *undo) push(f func()) { u.steps = append(u.steps, f) }
func (u *undo) done()         { u.ok = true }
func (u *undo) unwind() {
	if u.ok {
		return
	}
	for i := len(u.steps) - 1; i >= 0; i-- {
		u.steps[i]()
	}
}

// InstancesPath returns the directory that holds the guests' files.
func (d *Driver) InstancesPath() string { return d.opts.InstancesPath }

// DomainXML returns the guest's current domain XML as libvirt reports it
// (for diagnostics and tests).
func (d *Driver) DomainXML(ctx context.Context, g compute.Guest) (string, error) {
	dom, err := d.lookup(ctx, g)
	if err != nil {
		return "", err
	}
	defer dom.Free()
	x, err := dom.GetXMLDesc(0)
	return x, d.wrap(g.UUID, "xml", err)
}
