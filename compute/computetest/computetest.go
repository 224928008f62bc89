package computetest

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
)

// Harness makes drivers for the suite.
type Harness struct {
	// NewHypervisor returns a driver for one subtest, on a host that has
	// room for a few small guests. It is called once per subtest (and
	// several subtests may run one after the other on the same host: the
	// suite destroys what it spawned). It releases what it opened through
	// t.Cleanup. Required.
	NewHypervisor func(t *testing.T) compute.Hypervisor

	// Reopen returns a new driver value on the same host as hv, as the
	// agent gets after a restart; the suite then recovers guests through
	// it. Nil reuses hv.
	Reopen func(t *testing.T, hv compute.Hypervisor) compute.Hypervisor

	// Peer returns a driver on another host that hv can migrate to (and
	// that knows hv's host under the Hostname hv's HostResources reports).
	// Nil skips the tests that move guests between hosts.
	Peer func(t *testing.T, hv compute.Hypervisor) compute.Hypervisor

	// NewSpec returns the spec of a new, small guest with a fresh UUID,
	// PowerOn set. Nil uses [DefaultSpec].
	NewSpec func(t *testing.T) *compute.SpawnSpec
}

// Features says what the driver can do, and so which contracts are checked
// and how.
type Features struct {
	// Capabilities are what the driver declares; [FeaturesFor] fills the
	// rest from them.
	Capabilities compute.Capabilities

	// BootTimeout bounds Spawn and the wait for the guest to report
	// running; OpTimeout every other call. Defaults 2 minutes and 1 minute.
	BootTimeout time.Duration
	OpTimeout   time.Duration

	// Concurrency is how many guests TestConcurrentSpawnsOnDistinctGuests
	// spawns at once. Default 8.
	Concurrency int

	// ExactUsage: HostResources counts exactly the flavors of the guests
	// on the host (vCPUs, memory, disk), as the fake does; real drivers
	// report what the host really uses and leave it false.
	ExactUsage bool

	// EnforcesCapacity: Spawn of a guest larger than the host's free
	// resources fails with compute.ErrResourcesUnavailable.
	EnforcesCapacity bool

	// ConsoleMarker, when set, must appear in the console output of a
	// spawned guest within BootTimeout (the libvirt suite's guest prints
	// one).
	ConsoleMarker string

	// CleanShutdownTimeout is the timeout the suite passes to PowerOff
	// (0: forced off at once).
	CleanShutdownTimeout time.Duration
}

// FeaturesFor returns the features of a driver with the given
// capabilities and default knobs.
func FeaturesFor(c compute.Capabilities) Features { return Features{Capabilities: c} }

func (f *Features) setDefaults() {
	if f.BootTimeout <= 0 {
		f.BootTimeout = 2 * time.Minute
	}
	if f.OpTimeout <= 0 {
		f.OpTimeout = time.Minute
	}
	if f.Concurrency <= 0 {
		f.Concurrency = 8
	}
}

// Test is one named check of the suite; extra ones may be passed to [Run].
type Test struct {
	Name string
	Run  func(t *testing.T, e *Env)
}

// Env is what a [Test] works with: the harness, the features and helpers.
type Env struct {
	Harness  Harness
	Features Features
}

// Run runs the conformance suite, then the extra tests. Each test is a
// subtest named after its contract.
func Run(t *testing.T, h Harness, f Features, extra ...Test) {
	if h.NewHypervisor == nil {
		t.Fatal("computetest: Harness.NewHypervisor is required")
	}
	f.setDefaults()
	e := &Env{Harness: h, Features: f}
	for _, tc := range append(Tests(), extra...) {
		t.Run(tc.Name, func(t *testing.T) { tc.Run(t, e) })
	}
}

// Ctx returns a context ending after d (OpTimeout when d is 0) or at the
// end of the test.
func (e *Env) Ctx(t *testing.T, d time.Duration) context.Context {
	if d == 0 {
		d = e.Features.OpTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Hypervisor returns a new driver from the harness.
func (e *Env) Hypervisor(t *testing.T) compute.Hypervisor {
	t.Helper()
	hv := e.Harness.NewHypervisor(t)
	if hv == nil {
		t.Fatal("Harness.NewHypervisor returned nil")
	}
	return hv
}

// Spec returns the spec of a new guest (Harness.NewSpec or [DefaultSpec]).
func (e *Env) Spec(t *testing.T) *compute.SpawnSpec {
	if e.Harness.NewSpec != nil {
		return e.Harness.NewSpec(t)
	}
	return DefaultSpec(t)
}

// DefaultSpec is a small guest (1 vCPU, 64 MB, 1 GB root disk) with a
// fresh UUID, booting image "computetest", PowerOn set.
func DefaultSpec(t *testing.T) *compute.SpawnSpec {
	id := uuid.New()
	return &compute.SpawnSpec{
		Instance: &compute.Instance{
			ID:   int64(binary.BigEndian.Uint32(id[:4]) >> 1),
			UUID: id.String(), Name: "ct-" + id.String()[:8], Hostname: "ct-" + id.String()[:8],
			ProjectID: "computetest", UserID: "computetest",
		},
		Flavor:  compute.Flavor{FlavorID: "ct.tiny", Name: "ct.tiny", VCPUs: 1, MemoryMB: 64, RootGB: 1},
		Image:   compute.ImageMeta{ID: "computetest", Name: "computetest", DiskFormat: "raw", ContainerFormat: "bare"},
		PowerOn: true,
	}
}

// Spawn spawns the guest spec (a new one from [Env.Spec] when nil, changed
// by mod when not nil), fails the test on error, and destroys the guest at
// the end of the test. It returns the guest with its handle.
func (e *Env) Spawn(t *testing.T, hv compute.Hypervisor, spec *compute.SpawnSpec, mod func(*compute.SpawnSpec)) (compute.Guest, *compute.SpawnSpec) {
	t.Helper()
	if spec == nil {
		spec = e.Spec(t)
	}
	if mod != nil {
		mod(spec)
	}
	h, err := hv.Spawn(e.Ctx(t, e.Features.BootTimeout), spec)
	if err != nil {
		t.Fatalf("Spawn(%s): %v", spec.Instance.UUID, err)
	}
	g := compute.Guest{UUID: spec.Instance.UUID, Handle: h}
	t.Cleanup(func() { e.destroyQuietly(t, hv, g.UUID) })
	return g, spec
}

func (e *Env) destroyQuietly(t *testing.T, hv compute.Hypervisor, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), e.Features.OpTimeout)
	defer cancel()
	if err := compute.IgnoreNotFound(hv.Destroy(ctx, compute.Guest{UUID: id}, compute.DestroyOptions{})); err != nil {
		t.Errorf("cleanup: Destroy(%s): %v", id, err)
	}
}

// Info returns the guest's info, failing the test on error.
func (e *Env) Info(t *testing.T, hv compute.Hypervisor, g compute.Guest) compute.GuestInfo {
	t.Helper()
	info, err := hv.Info(e.Ctx(t, 0), g)
	if err != nil {
		t.Fatalf("Info(%s): %v", g.UUID, err)
	}
	return info
}

// WaitPowerState polls Info until the guest reports want, for up to
// BootTimeout.
func (e *Env) WaitPowerState(t *testing.T, hv compute.Hypervisor, g compute.Guest, want compute.PowerState) {
	t.Helper()
	deadline := time.Now().Add(e.Features.BootTimeout)
	for {
		info := e.Info(t, hv, g)
		if info.PowerState == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("guest %s: power state %v, want %v after %v", g.UUID, info.PowerState, want, e.Features.BootTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Must fails the test if err is not nil.
func Must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// MustBe fails the test unless errors.Is(err, target).
func MustBe(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one satisfying errors.Is(err, %v)", what, err, target)
	}
}

// listed reports whether the host lists the guest.
func (e *Env) listed(t *testing.T, hv compute.Hypervisor, id string) bool {
	t.Helper()
	gs, err := hv.ListGuests(e.Ctx(t, 0))
	Must(t, "ListGuests", err)
	return slices.ContainsFunc(gs, func(g compute.Guest) bool { return g.UUID == id })
}

func (e *Env) resources(t *testing.T, hv compute.Hypervisor) compute.HostResources {
	t.Helper()
	r, err := hv.HostResources(e.Ctx(t, 0))
	Must(t, "HostResources", err)
	return r
}

// skipUnless skips the test unless cond, saying why.
func skipUnless(t *testing.T, cond bool, why string) {
	t.Helper()
	if !cond {
		t.Skip("driver does not declare " + why)
	}
}

func newUUIDGuest() compute.Guest { return compute.Guest{UUID: uuid.NewString()} }
