package fake_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/compute/computetest"
	"github.com/novakit/novakit/drivers/fake"
)

// harness gives each subtest host1 of a fresh two-host cloud; host2 is the
// peer for migrations.
func harness(cfg fake.Config) computetest.Harness {
	cfg.Hosts = 2
	return computetest.Harness{
		NewHypervisor: func(t *testing.T) compute.Hypervisor {
			c, err := fake.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return c.Host("host1")
		},
		Peer: func(t *testing.T, hv compute.Hypervisor) compute.Hypervisor {
			return hv.(*fake.Host).Cloud().Host("host2")
		},
	}
}

func fakeFeatures(c compute.Capabilities) computetest.Features {
	f := computetest.FeaturesFor(c)
	f.ExactUsage = true
	f.EnforcesCapacity = true
	f.ConsoleMarker = "FAKE CONSOLE OUTPUT"
	f.BootTimeout = 5 * time.Second
	f.OpTimeout = 5 * time.Second
	f.Concurrency = 64
	return f
}

func TestConformance(t *testing.T) {
	computetest.Run(t, harness(fake.Config{}), fakeFeatures(fake.DefaultCapabilities()))
}

// TestConformanceMinimal runs the suite on a fake that declares nothing
// optional: every optional operation must then report ErrUnsupported.
func TestConformanceMinimal(t *testing.T) {
	none := compute.Capabilities{}
	computetest.Run(t, harness(fake.Config{Capabilities: &none}), fakeFeatures(none))
}

func spec(id string) *compute.SpawnSpec {
	return &compute.SpawnSpec{
		Instance: &compute.Instance{ID: 1, UUID: id},
		Flavor:   compute.Flavor{Name: "m1.small", VCPUs: 1, MemoryMB: 2048, RootGB: 20},
		PowerOn:  true,
	}
}

func newCloud(t testing.TB, cfg fake.Config) *fake.Cloud {
	c, err := fake.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	c, err := fake.Open(ctx, "fake://?hosts=64&vcpus=8&memory_mb=16384&disk_gb=100&prefix=cmp")
	if err != nil {
		t.Fatal(err)
	}
	hosts := c.Hosts()
	if len(hosts) != 64 || hosts[0].Name() != "cmp1" || hosts[63].Name() != "cmp64" {
		t.Fatalf("got %d hosts, first %s", len(hosts), hosts[0].Name())
	}
	r, err := hosts[0].HostResources(ctx)
	if err != nil || r.VCPUs != 8 || r.MemoryMB != 16384 || r.LocalGB != 100 || r.UUID != fake.NodeUUID("cmp1") {
		t.Fatalf("resources %+v, %v", r, err)
	}
	for _, bad := range []string{"fake://?hosts=x", "fake://?color=blue", "qemu:///system", "fake://?hosts=-1"} {
		if _, err := fake.Open(ctx, bad); !errors.Is(err, compute.ErrInvalidInput) {
			t.Errorf("Open(%q): %v, want ErrInvalidInput", bad, err)
		}
	}
	d, err := fake.Open(ctx, "fake://")
	if err != nil || len(d.Hosts()) != 1 {
		t.Fatalf("fake:// gives %v, %v", d, err)
	}
	r, _ = d.Hosts()[0].HostResources(ctx)
	if r.VCPUs != fake.DefaultVCPUs || r.MemoryMB != fake.DefaultMemoryMB || r.LocalGB != fake.DefaultDiskGB {
		t.Errorf("default capacity %+v", r)
	}
}

func TestNodeUUIDIsDeterministic(t *testing.T) {
	if fake.NodeUUID("host1") != fake.NodeUUID("host1") || fake.NodeUUID("host1") == fake.NodeUUID("host2") {
		t.Fatal("node UUIDs are not a function of the name")
	}
	c := newCloud(t, fake.Config{})
	if _, err := c.AddHost("host1", fake.Capacity{}); !errors.Is(err, compute.ErrConflict) {
		t.Fatalf("AddHost of a taken name: %v", err)
	}
}

func TestSpawnOnFullHostNamesTheResource(t *testing.T) {
	ctx := context.Background()
	h := newCloud(t, fake.Config{Capacity: fake.Capacity{VCPUs: 4, MemoryMB: 5000, DiskGB: 100}}).Host("host1")
	for _, id := range []string{"a", "b"} {
		if _, err := h.Spawn(ctx, spec(id)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := h.Spawn(ctx, spec("c"))
	var re *compute.ResourcesUnavailableError
	if !errors.As(err, &re) || re.Resource != "MEMORY_MB" || re.Requested != 2048 || re.Free != 904 {
		t.Fatalf("third spawn: %v", err)
	}
	if compute.Classify(err) != compute.ClassResourcesUnavailable || compute.IsRetryable(err) {
		t.Fatalf("class %q", compute.Classify(err))
	}
	if got, want := err.Error(), "host host1: not enough MEMORY_MB: requested 2048, free 904"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
	if h.GuestCount() != 2 {
		t.Fatalf("%d guests", h.GuestCount())
	}
}

func TestFaultFailsNthCallOnly(t *testing.T) {
	ctx := context.Background()
	c := newCloud(t, fake.Config{})
	h := c.Host("host1")
	in := c.Inject(fake.Fault{Method: fake.MethodSpawn, Nth: 2, Err: compute.Transient(fake.ErrInjected)})
	var errs []error
	for i := range 3 {
		_, err := h.Spawn(ctx, spec(fmt.Sprint("g", i)))
		errs = append(errs, err)
	}
	if errs[0] != nil || errs[2] != nil || !compute.IsRetryable(errs[1]) || !errors.Is(errs[1], fake.ErrInjected) {
		t.Fatalf("errors %v", errs)
	}
	if h.GuestCount() != 2 || in.Calls() != 3 || in.Fired() != 1 {
		t.Fatalf("%d guests, %d calls, %d fired", h.GuestCount(), in.Calls(), in.Fired())
	}
}

func TestFaultAlwaysOnOneHostAndRemove(t *testing.T) {
	ctx := context.Background()
	c := newCloud(t, fake.Config{Hosts: 2})
	in := c.Inject(fake.Fault{Host: "host2", Err: fake.ErrInjected})
	if _, err := c.Host("host1").Spawn(ctx, spec("a")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.Host("host2").HostResources(ctx); !errors.Is(err, fake.ErrInjected) {
			t.Fatalf("host2: %v", err)
		}
	}
	if compute.Classify(fake.ErrInjected) != compute.ClassUnknown {
		t.Fatal("an unmarked injected error must be unknown (not retryable)")
	}
	in.Remove()
	in.Remove()
	if _, err := c.Host("host2").HostResources(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestFaultAfterEffectActsThenFails(t *testing.T) {
	ctx := context.Background()
	c := newCloud(t, fake.Config{})
	h := c.Host("host1")
	c.Inject(fake.Fault{Method: fake.MethodSpawn, Err: fake.ErrInjected, AfterEffect: true})
	_, err := h.Spawn(ctx, spec("a"))
	if !errors.Is(err, fake.ErrInjected) || compute.IsRetryable(err) {
		t.Fatalf("Spawn: %v", err)
	}
	// The guest exists although Spawn failed: the agent must reconcile.
	if info, err := h.Info(ctx, compute.Guest{UUID: "a"}); err != nil || info.PowerState != compute.PowerRunning {
		t.Fatalf("Info: %+v %v", info, err)
	}
	c.ClearFaults()
	if _, err := h.Spawn(ctx, spec("a")); !errors.Is(err, compute.ErrConflict) {
		t.Fatalf("retrying the spawn: %v", err)
	}
}

func TestFaultDelayHonoursContext(t *testing.T) {
	c := newCloud(t, fake.Config{})
	h := c.Host("host1")
	c.Inject(fake.Fault{Method: fake.MethodSpawn, Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.Spawn(ctx, spec("a"))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("Spawn: %v after %v", err, time.Since(start))
	}
	if h.GuestCount() != 0 {
		t.Fatal("a spawn cancelled during its delay created the guest")
	}
	c.ClearFaults()
	c.Inject(fake.Fault{Method: fake.MethodPowerOff, Delay: 30 * time.Millisecond})
	if _, err := h.Spawn(context.Background(), spec("b")); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := h.PowerOff(context.Background(), compute.Guest{UUID: "b"}, 0); err != nil || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("PowerOff: %v after %v", err, time.Since(start))
	}
}

func TestFaultPanics(t *testing.T) {
	c := newCloud(t, fake.Config{})
	c.Inject(fake.Fault{Method: fake.MethodReboot, Panic: "boom"})
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v", r)
		}
	}()
	_ = c.Host("host1").Reboot(context.Background(), compute.Guest{UUID: "x"}, compute.RebootHard)
	t.Fatal("no panic")
}

func TestFaultsAreConcurrencySafe(t *testing.T) {
	c := newCloud(t, fake.Config{Hosts: 4})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				in := c.Inject(fake.Fault{Method: fake.MethodInfo, Nth: 3, Err: fake.ErrInjected})
				h := c.Hosts()[(i+j)%4]
				sp := spec(fmt.Sprintf("g-%d-%d", i, j))
				sp.Flavor.MemoryMB = 64
				_, _ = h.Spawn(ctx, sp)
				_, _ = h.Info(ctx, compute.Guest{UUID: fmt.Sprintf("g-%d-%d", i, j)})
				in.Remove()
			}
		})
	}
	wg.Wait()
	n := 0
	for _, h := range c.Hosts() {
		n += h.GuestCount()
	}
	if n != 8*200 {
		t.Fatalf("%d guests, want %d", n, 8*200)
	}
}

func TestClockDrivesCPUTimeAndEvents(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := newCloud(t, fake.Config{Now: clock})
	h := c.Host("host1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := h.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Spawn(ctx, spec("a")); err != nil {
		t.Fatal(err)
	}
	g := compute.Guest{UUID: "a"}
	advance(90 * time.Second)
	_ = h.Pause(ctx, g)
	advance(time.Hour) // paused: no CPU time
	info, _ := h.Info(ctx, g)
	if info.CPUTime != 90*time.Second || info.PowerState != compute.PowerPaused {
		t.Fatalf("info %+v", info)
	}
	ev := <-events
	if ev.Transition != compute.LifecycleStarted || !ev.Time.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("first event %+v", ev)
	}
	if ev = <-events; ev.Transition != compute.LifecyclePaused {
		t.Fatalf("second event %+v", ev)
	}
	// A guest that shuts itself down: power-state sync sees the event.
	if err := h.SetPowerState("a", compute.PowerShutdown); err != nil {
		t.Fatal(err)
	}
	if ev = <-events; ev.Transition != compute.LifecycleStopped || ev.PowerState != compute.PowerShutdown {
		t.Fatalf("third event %+v", ev)
	}
}

func TestCloseEndsEventSubscriptions(t *testing.T) {
	c := newCloud(t, fake.Config{})
	ch, err := c.Host("host1").Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if _, ok := <-ch; ok {
		t.Fatal("channel open after Close")
	}
	ch, _ = c.Host("host1").Events(context.Background())
	if _, ok := <-ch; ok {
		t.Fatal("subscription after Close is open")
	}
}

func TestHandleOfAnotherHostIsNotFound(t *testing.T) {
	ctx := context.Background()
	c := newCloud(t, fake.Config{Hosts: 2})
	h, err := c.Host("host1").Spawn(ctx, spec("a"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Host("host2").Info(ctx, compute.Guest{UUID: "a", Handle: h})
	if !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("Info on host2 with host1's handle: %v", err)
	}
	_, err = c.Host("host1").Info(ctx, compute.Guest{UUID: "a", Handle: compute.Handle{Version: 9}})
	if !errors.Is(err, compute.ErrInvalidInput) {
		t.Fatalf("Info with an unknown handle version: %v", err)
	}
}
