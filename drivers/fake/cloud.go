package fake

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
)

// Scheme is the URL scheme [Open] accepts.
const Scheme = "fake"

// DriverName is the name the fake gives itself in errors and handles.
const DriverName = "fake"

// Nova's fake driver's host size (nova/virt/fake.py Resources).
const (
	DefaultVCPUs    = 1000
	DefaultMemoryMB = 800000
	DefaultDiskGB   = 600000
)

// DefaultEventBuffer is the channel size of each [Host.Events] subscription.
const DefaultEventBuffer = 64

// Capacity is a host's size.
type Capacity struct {
	VCPUs    int
	MemoryMB int
	DiskGB   int
}

// Config configures a [Cloud]. The zero value is one host named "host1" of
// Nova's fake size with every capability.
type Config struct {
	// Hosts is the number of hosts, named NamePrefix+"1" … NamePrefix+N.
	// Ignored when Names is set. Default 1.
	Hosts int
	// NamePrefix names the hosts; default "host".
	NamePrefix string
	// Names, when set, are the hosts' names.
	Names []string
	// Capacity of every host; zero fields take the defaults
	// (DefaultVCPUs, DefaultMemoryMB, DefaultDiskGB).
	Capacity Capacity
	// Capabilities the hosts declare; nil means [DefaultCapabilities].
	// Operations of optional interfaces whose capability is off fail with
	// compute.ErrUnsupported.
	Capabilities *compute.Capabilities
	// Now is the clock (guest CPU time, event times); default time.Now.
	// Injected delays (see [Fault]) use real timers whatever the clock.
	Now func() time.Time
	// EventBuffer is the buffer of each event subscription; default
	// DefaultEventBuffer.
	EventBuffer int
}

// DefaultCapabilities is what the fake declares unless told otherwise:
// everything it implements (Nova's fake supports most things too).
func DefaultCapabilities() compute.Capabilities {
	return compute.Capabilities{
		Pause: true, Suspend: true, ConsoleOutput: true,
		Snapshot: true, Resize: true, ResizeSameHost: true, LiveMigrate: true, Evacuate: true,
		Rescue: true, RescueBootFromVolume: true, Recover: true, Events: true,
		VNC: true, SPICE: true, Serial: true,
		AttachVolume: true, TaggedAttachVolume: true, ExtendVolume: true, Multiattach: true,
		AttachInterface: true, TaggedAttachInterface: true, DeviceTagging: true,
		TrustedCerts: true, Accelerators: true,
		ImageTypes: []string{"raw"},
	}
}

// Cloud is a set of simulated hosts in one process, each a
// compute.Hypervisor ([*Host]). Hosts find each other through the Cloud for
// migrations. All methods are safe for concurrent use.
type Cloud struct {
	now    func() time.Time
	caps   compute.Capabilities
	evbuf  int
	faults faultTable

	mu     sync.RWMutex
	hosts  map[string]*Host
	order  []*Host
	closed atomic.Bool
}

// New returns a cloud of cfg.Hosts hosts (or cfg.Names).
func New(cfg Config) (*Cloud, error) {
	c := &Cloud{now: cfg.Now, evbuf: cfg.EventBuffer, hosts: map[string]*Host{}}
	if c.now == nil {
		c.now = time.Now
	}
	if c.evbuf <= 0 {
		c.evbuf = DefaultEventBuffer
	}
	if cfg.Capabilities != nil {
		c.caps = *cfg.Capabilities
	} else {
		c.caps = DefaultCapabilities()
	}
	names := cfg.Names
	if names == nil {
		n := cfg.Hosts
		if n == 0 {
			n = 1
		}
		if n < 0 {
			return nil, compute.InvalidInput("hosts", "must be 0 or more, not %d", n)
		}
		prefix := cfg.NamePrefix
		if prefix == "" {
			prefix = "host"
		}
		names = make([]string, n)
		for i := range names {
			names[i] = prefix + strconv.Itoa(i+1)
		}
	}
	c.order = make([]*Host, 0, len(names))
	for _, name := range names {
		if _, err := c.AddHost(name, cfg.Capacity); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Open opens a cloud from a URL: fake://?hosts=64&vcpus=8&memory_mb=16384&disk_gb=100&prefix=cmp.
// Every query parameter is optional (defaults as in [Config]); unknown ones
// are refused. It is the opener the daemons use for "-driver fake"; there is
// no global registry: a wiring that dispatches on URL schemes calls Open for
// [Scheme]. ctx is not used (opening does no I/O) and is there for the
// opener signature shared by every backend.
func Open(ctx context.Context, rawURL string) (*Cloud, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, compute.InvalidInput("url", "%v", err)
	}
	if u.Scheme != Scheme {
		return nil, compute.InvalidInput("url", "scheme %q is not %q", u.Scheme, Scheme)
	}
	var cfg Config
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		num := func() (int, error) {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return 0, compute.InvalidInput(k, "%q is not a count", v)
			}
			return n, nil
		}
		var err error
		switch k {
		case "hosts":
			cfg.Hosts, err = num()
		case "vcpus":
			cfg.Capacity.VCPUs, err = num()
		case "memory_mb":
			cfg.Capacity.MemoryMB, err = num()
		case "disk_gb":
			cfg.Capacity.DiskGB, err = num()
		case "prefix":
			cfg.NamePrefix = v
		default:
			err = compute.InvalidInput(k, "unknown parameter of a fake:// URL")
		}
		if err != nil {
			return nil, err
		}
	}
	return New(cfg)
}

// namespace of the fake's node UUIDs.
var nodeNamespace = uuid.MustParse("6b6f7661-6b69-7466-616b-650000000000")

// NodeUUID is the UUID of the node named name: derived from the name (SHA-1,
// RFC 4122 §4.3), so the same name always gets the same UUID, as Nova's
// fake's predictable node UUIDs.
func NodeUUID(name string) string { return uuid.NewSHA1(nodeNamespace, []byte(name)).String() }

// AddHost adds a host; zero fields of capacity take the defaults. A name
// already taken fails with compute.ErrConflict.
func (c *Cloud) AddHost(name string, capacity Capacity) (*Host, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return nil, compute.InvalidInput("name", "host name %q is empty or has '/'", name)
	}
	if capacity.VCPUs == 0 {
		capacity.VCPUs = DefaultVCPUs
	}
	if capacity.MemoryMB == 0 {
		capacity.MemoryMB = DefaultMemoryMB
	}
	if capacity.DiskGB == 0 {
		capacity.DiskGB = DefaultDiskGB
	}
	h := &Host{cloud: c, name: name, uuid: NodeUUID(name), capacity: capacity}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.hosts[name]; ok {
		return nil, &compute.DuplicateError{Kind: "host", Key: name}
	}
	c.hosts[name] = h
	c.order = append(c.order, h)
	return h, nil
}

// Host returns the host of that name, or nil.
func (c *Cloud) Host(name string) *Host {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.hosts[name]
}

// Hosts returns the hosts in the order they were added.
func (c *Cloud) Hosts() []*Host {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]*Host(nil), c.order...)
}

// Capabilities returns what the cloud's hosts declare.
func (c *Cloud) Capabilities() compute.Capabilities { return c.caps }

// Close ends every event subscription. The hosts keep working (they hold
// only memory); Close is idempotent.
func (c *Cloud) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	for _, h := range c.Hosts() {
		h.mu.Lock()
		for _, s := range h.subs {
			close(s.ch)
		}
		h.subs = nil
		h.mu.Unlock()
	}
	return nil
}

// hostFor returns the host named name or an error satisfying
// ErrInvalidInput.
func (c *Cloud) hostFor(name string) (*Host, error) {
	if h := c.Host(name); h != nil {
		return h, nil
	}
	return nil, compute.InvalidInput("host", "no fake host %q in this cloud", name)
}

func (c *Cloud) String() string { return fmt.Sprintf("fake cloud (%d hosts)", len(c.Hosts())) }
