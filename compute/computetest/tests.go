package computetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novakit/novakit/compute"
)

// Tests returns the contract tests in the order Run runs them.
func Tests() []Test {
	return []Test{
		{"TestCapabilitiesAreStableAndMatchOptionalInterfaces", testCapabilities},
		{"TestHostResourcesDescribeTheHost", testHostResources},
		{"TestSpawnThenInfoIsRunning", testSpawnRunning},
		{"TestSpawnPowerOnFalseLeavesGuestShutdown", testSpawnPowerOnFalse},
		{"TestSpawnHandleFindsGuestAndRoundTrips", testHandle},
		{"TestSpawnOfExistingUUIDIsConflict", testSpawnDuplicate},
		{"TestSpawnBeyondCapacityIsResourcesUnavailable", testSpawnFull},
		{"TestInfoOfMissingGuestIsNotFound", testInfoMissing},
		{"TestOperationsOnMissingGuestAreNotFound", testOpsMissing},
		{"TestDestroyOfMissingGuestIsNotFound", testDestroyMissing},
		{"TestDestroyIsIdempotentUpToNotFound", testDestroyTwice},
		{"TestDestroyKeepDisksRemovesGuest", testDestroyKeepDisks},
		{"TestRebootSoftAndHardKeepGuestRunning", testReboot},
		{"TestRebootSoftOfShutdownGuestIsInvalidState", testRebootSoftShutdown},
		{"TestRebootHardStartsShutdownGuest", testRebootHardShutdown},
		{"TestPowerOffThenOnRoundTrips", testPowerOffOn},
		{"TestPauseUnpause", testPause},
		{"TestPauseOfShutdownGuestIsInvalidState", testPauseShutdown},
		{"TestPowerOnOfPausedGuestIsInvalidState", testPowerOnPaused},
		{"TestSuspendResume", testSuspend},
		{"TestListGuestsIncludesSpawnedAndNotDestroyed", testListGuests},
		{"TestHostResourcesAccountForGuests", testUsage},
		{"TestConsoleOutputOfRunningGuest", testConsoleOutput},
		{"TestConsoleEndpointsOfRunningGuest", testConsoles},
		{"TestRecoverFromHandleFindsRunningGuest", testRecover},
		{"TestRecoverOfDestroyedGuestIsNotFound", testRecoverGone},
		{"TestSnapshotUploadsImageAndKeepsPowerState", testSnapshot},
		{"TestRescueUnrescue", testRescue},
		{"TestAttachDetachVolume", testVolumes},
		{"TestAttachDetachInterface", testInterfaces},
		{"TestEventsReportPowerChanges", testEvents},
		{"TestColdMigrateThenConfirm", testColdMigrateConfirm},
		{"TestColdMigrateThenRevert", testColdMigrateRevert},
		{"TestResizeOnSameHost", testResizeSameHost},
		{"TestLiveMigrate", testLiveMigrate},
		{"TestConcurrentSpawnsOnDistinctGuests", testConcurrentSpawns},
		{"TestConcurrentOperationsOnOneGuestAreSafe", testConcurrentSameGuest},
		{"TestContextCanceledBeforeSpawnCreatesNothing", testCanceledSpawn},
		{"TestContextCanceledOperationsReturnContextError", testCanceledOps},
		{"TestUnsupportedOperationsReportErrUnsupported", testUnsupported},
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func testCapabilities(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	c1, c2 := hv.Capabilities(), hv.Capabilities()
	if !reflect.DeepEqual(c1, c2) {
		t.Fatalf("Capabilities changed between two calls: %+v then %+v", c1, c2)
	}
	if !reflect.DeepEqual(c1, e.Features.Capabilities) {
		t.Errorf("driver declares %+v, Features say %+v", c1, e.Features.Capabilities)
	}
	Must(t, "Capabilities.Check", c1.Check(hv))
	for _, tr := range c1.Traits() {
		if !strings.HasPrefix(tr, "COMPUTE_") {
			t.Errorf("trait %q is not a COMPUTE_ trait", tr)
		}
	}
}

func testHostResources(t *testing.T, e *Env) {
	r := e.resources(t, e.Hypervisor(t))
	switch {
	case r.Hostname == "":
		t.Error("Hostname is empty")
	case r.HypervisorType == "":
		t.Error("HypervisorType is empty")
	case r.VCPUs <= 0 || r.MemoryMB <= 0 || r.LocalGB <= 0:
		t.Errorf("totals must be positive: %d vCPUs, %d MB, %d GB", r.VCPUs, r.MemoryMB, r.LocalGB)
	case r.VCPUsUsed < 0 || r.MemoryMBUsed < 0 || r.LocalGBUsed < 0 || r.RunningVMs < 0:
		t.Errorf("usage must not be negative: %+v", r)
	case len(r.SupportedInstances) == 0:
		t.Error("SupportedInstances is empty")
	}
}

func testSpawnRunning(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	g, spec := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	info := e.Info(t, hv, g)
	if info.VCPUs != 0 && info.VCPUs != spec.Flavor.VCPUs {
		t.Errorf("Info.VCPUs = %d, flavor has %d", info.VCPUs, spec.Flavor.VCPUs)
	}
	if info.MemoryMB != 0 && info.MemoryMB != spec.Flavor.MemoryMB {
		t.Errorf("Info.MemoryMB = %d, flavor has %d", info.MemoryMB, spec.Flavor.MemoryMB)
	}
}

func testSpawnPowerOnFalse(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, func(s *compute.SpawnSpec) { s.PowerOn = false })
	if ps := e.Info(t, hv, g).PowerState; ps != compute.PowerShutdown {
		t.Fatalf("PowerOn false: power state %v, want shutdown", ps)
	}
	Must(t, "PowerOn", hv.PowerOn(e.Ctx(t, e.Features.BootTimeout), g))
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
}

func testHandle(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, nil)
	if g.Handle.IsZero() || g.Handle.Version < 1 {
		t.Fatalf("Spawn returned %v, want a handle with Version >= 1", g.Handle)
	}
	back, err := compute.DecodeHandle(g.Handle.Encode())
	Must(t, "DecodeHandle", err)
	if !reflect.DeepEqual(back, g.Handle) {
		t.Fatalf("handle round trip: %v became %v", g.Handle, back)
	}
	e.Info(t, hv, compute.Guest{UUID: g.UUID, Handle: back})
	e.Info(t, hv, compute.Guest{UUID: g.UUID}) // by UUID alone
	other := newUUIDGuest()
	other.Handle = g.Handle
	_, err = hv.Info(e.Ctx(t, 0), other)
	if err == nil {
		t.Fatal("Info with the handle of another guest succeeded")
	}
	if c := compute.Classify(err); c != compute.ClassInvalidInput && c != compute.ClassNotFound {
		t.Errorf("Info with a foreign handle: class %q (%v), want invalid-input or not-found", c, err)
	}
}

func testSpawnDuplicate(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	g, spec := e.Spawn(t, hv, nil, nil)
	dup := *spec
	dup.PowerOn = false
	_, err := hv.Spawn(e.Ctx(t, e.Features.BootTimeout), &dup)
	MustBe(t, "second Spawn of "+g.UUID, err, compute.ErrConflict)
	e.WaitPowerState(t, hv, g, compute.PowerRunning) // untouched
}

func testSpawnFull(t *testing.T, e *Env) {
	skipUnless(t, e.Features.EnforcesCapacity, "EnforcesCapacity")
	hv := e.Hypervisor(t)
	r := e.resources(t, hv)
	spec := e.Spec(t)
	spec.Flavor.VCPUs = r.VCPUs - r.VCPUsUsed + 1
	_, err := hv.Spawn(e.Ctx(t, e.Features.BootTimeout), spec)
	MustBe(t, "Spawn beyond the host's vCPUs", err, compute.ErrResourcesUnavailable)
	if e.listed(t, hv, spec.Instance.UUID) {
		t.Fatal("a refused Spawn left a guest")
	}
}

func testInfoMissing(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	_, err := hv.Info(e.Ctx(t, 0), newUUIDGuest())
	MustBe(t, "Info of a missing guest", err, compute.ErrNotFound)
}

func testOpsMissing(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	ctx, g := e.Ctx(t, 0), newUUIDGuest()
	MustBe(t, "Reboot", hv.Reboot(ctx, g, compute.RebootHard), compute.ErrNotFound)
	MustBe(t, "PowerOff", hv.PowerOff(ctx, g, 0), compute.ErrNotFound)
	MustBe(t, "PowerOn", hv.PowerOn(ctx, g), compute.ErrNotFound)
	if e.Features.Capabilities.Pause {
		MustBe(t, "Pause", hv.Pause(ctx, g), compute.ErrNotFound)
	}
	if e.Features.Capabilities.Suspend {
		MustBe(t, "Suspend", hv.Suspend(ctx, g), compute.ErrNotFound)
	}
	if e.Features.Capabilities.ConsoleOutput {
		_, err := hv.ConsoleOutput(ctx, g)
		MustBe(t, "ConsoleOutput", err, compute.ErrNotFound)
	}
}

func testDestroyMissing(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	err := hv.Destroy(e.Ctx(t, 0), newUUIDGuest(), compute.DestroyOptions{})
	MustBe(t, "Destroy of a missing guest", err, compute.ErrNotFound)
	if compute.IgnoreNotFound(err) != nil {
		t.Fatal("IgnoreNotFound did not clear it")
	}
}

func testDestroyTwice(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, nil)
	Must(t, "Destroy", hv.Destroy(e.Ctx(t, 0), g, compute.DestroyOptions{}))
	MustBe(t, "second Destroy", hv.Destroy(e.Ctx(t, 0), g, compute.DestroyOptions{}), compute.ErrNotFound)
	_, err := hv.Info(e.Ctx(t, 0), g)
	MustBe(t, "Info after Destroy", err, compute.ErrNotFound)
}

func testDestroyKeepDisks(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, nil)
	Must(t, "Destroy(KeepDisks)", hv.Destroy(e.Ctx(t, 0), g, compute.DestroyOptions{KeepDisks: true}))
	if e.listed(t, hv, g.UUID) {
		t.Fatal("guest still listed after Destroy(KeepDisks)")
	}
}

func testReboot(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	for _, k := range []compute.RebootType{compute.RebootSoft, compute.RebootHard} {
		Must(t, "Reboot "+string(k), hv.Reboot(e.Ctx(t, e.Features.BootTimeout), g, k))
		e.WaitPowerState(t, hv, g, compute.PowerRunning)
	}
}

func testRebootSoftShutdown(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, func(s *compute.SpawnSpec) { s.PowerOn = false })
	MustBe(t, "soft Reboot of a shut-down guest", hv.Reboot(e.Ctx(t, 0), g, compute.RebootSoft), compute.ErrInvalidState)
}

func testRebootHardShutdown(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, func(s *compute.SpawnSpec) { s.PowerOn = false })
	Must(t, "hard Reboot of a shut-down guest", hv.Reboot(e.Ctx(t, e.Features.BootTimeout), g, compute.RebootHard))
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
}

func testPowerOffOn(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	for range 2 { // the second round checks idempotency in the target state
		Must(t, "PowerOff", hv.PowerOff(e.Ctx(t, 0), g, e.Features.CleanShutdownTimeout))
		e.WaitPowerState(t, hv, g, compute.PowerShutdown)
	}
	Must(t, "PowerOff of a shut-down guest", hv.PowerOff(e.Ctx(t, 0), g, 0))
	for range 2 {
		Must(t, "PowerOn", hv.PowerOn(e.Ctx(t, e.Features.BootTimeout), g))
		e.WaitPowerState(t, hv, g, compute.PowerRunning)
	}
}

func testPause(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.Pause, "Pause")
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	for range 2 {
		Must(t, "Pause", hv.Pause(e.Ctx(t, 0), g))
		e.WaitPowerState(t, hv, g, compute.PowerPaused)
	}
	for range 2 {
		Must(t, "Unpause", hv.Unpause(e.Ctx(t, 0), g))
		e.WaitPowerState(t, hv, g, compute.PowerRunning)
	}
}

func testPauseShutdown(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.Pause, "Pause")
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, func(s *compute.SpawnSpec) { s.PowerOn = false })
	MustBe(t, "Pause of a shut-down guest", hv.Pause(e.Ctx(t, 0), g), compute.ErrInvalidState)
	MustBe(t, "Unpause of a shut-down guest", hv.Unpause(e.Ctx(t, 0), g), compute.ErrInvalidState)
}

func testPowerOnPaused(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.Pause, "Pause")
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	Must(t, "Pause", hv.Pause(e.Ctx(t, 0), g))
	MustBe(t, "PowerOn of a paused guest", hv.PowerOn(e.Ctx(t, 0), g), compute.ErrInvalidState)
	Must(t, "PowerOff of a paused guest", hv.PowerOff(e.Ctx(t, 0), g, 0))
	e.WaitPowerState(t, hv, g, compute.PowerShutdown)
}

func testSuspend(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.Suspend, "Suspend")
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	for range 2 {
		Must(t, "Suspend", hv.Suspend(e.Ctx(t, e.Features.BootTimeout), g))
		e.WaitPowerState(t, hv, g, compute.PowerSuspended)
	}
	for range 2 {
		Must(t, "Resume", hv.Resume(e.Ctx(t, e.Features.BootTimeout), g))
		e.WaitPowerState(t, hv, g, compute.PowerRunning)
	}
	g2, _ := e.Spawn(t, hv, nil, func(s *compute.SpawnSpec) { s.PowerOn = false })
	MustBe(t, "Suspend of a shut-down guest", hv.Suspend(e.Ctx(t, 0), g2), compute.ErrInvalidState)
}

func testListGuests(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	a, _ := e.Spawn(t, hv, nil, nil)
	b, _ := e.Spawn(t, hv, nil, func(s *compute.SpawnSpec) { s.PowerOn = false })
	c, _ := e.Spawn(t, hv, nil, nil)
	Must(t, "Destroy", hv.Destroy(e.Ctx(t, 0), c, compute.DestroyOptions{}))
	gs, err := hv.ListGuests(e.Ctx(t, 0))
	Must(t, "ListGuests", err)
	found := map[string]compute.Guest{}
	for _, g := range gs {
		found[g.UUID] = g
	}
	for _, g := range []compute.Guest{a, b} {
		lg, ok := found[g.UUID]
		if !ok {
			t.Errorf("ListGuests misses %s", g.UUID)
			continue
		}
		if lg.Handle.IsZero() {
			t.Errorf("ListGuests gives %s no handle", g.UUID)
		}
		e.Info(t, hv, lg) // the listed handle finds the guest
	}
	if _, ok := found[c.UUID]; ok {
		t.Errorf("ListGuests still lists destroyed %s", c.UUID)
	}
}

func testUsage(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	before := e.resources(t, hv)
	g, spec := e.Spawn(t, hv, nil, func(s *compute.SpawnSpec) { s.Flavor.VCPUs = 2; s.Flavor.MemoryMB = 128; s.Flavor.EphemeralGB = 1 })
	during := e.resources(t, hv)
	if during.RunningVMs != before.RunningVMs+1 {
		t.Errorf("RunningVMs %d → %d after a spawn", before.RunningVMs, during.RunningVMs)
	}
	if e.Features.ExactUsage {
		f := spec.Flavor
		if during.VCPUsUsed-before.VCPUsUsed != f.VCPUs || during.MemoryMBUsed-before.MemoryMBUsed != f.MemoryMB ||
			during.LocalGBUsed-before.LocalGBUsed != f.DiskGB(false) {
			t.Errorf("usage grew by %d vCPUs, %d MB, %d GB; the flavor has %d, %d, %d",
				during.VCPUsUsed-before.VCPUsUsed, during.MemoryMBUsed-before.MemoryMBUsed, during.LocalGBUsed-before.LocalGBUsed,
				f.VCPUs, f.MemoryMB, f.DiskGB(false))
		}
	} else if during.VCPUsUsed < before.VCPUsUsed {
		t.Errorf("VCPUsUsed went down after a spawn: %d → %d", before.VCPUsUsed, during.VCPUsUsed)
	}
	Must(t, "Destroy", hv.Destroy(e.Ctx(t, 0), g, compute.DestroyOptions{}))
	after := e.resources(t, hv)
	if after.RunningVMs != before.RunningVMs {
		t.Errorf("RunningVMs %d before, %d after spawn and destroy", before.RunningVMs, after.RunningVMs)
	}
	if e.Features.ExactUsage && (after.VCPUsUsed != before.VCPUsUsed || after.MemoryMBUsed != before.MemoryMBUsed || after.LocalGBUsed != before.LocalGBUsed) {
		t.Errorf("usage not released: before %+v, after %+v", before, after)
	}
}

func testConsoleOutput(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.ConsoleOutput, "ConsoleOutput")
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, nil)
	deadline := time.Now().Add(e.Features.BootTimeout)
	for {
		out, err := hv.ConsoleOutput(e.Ctx(t, 0), g)
		Must(t, "ConsoleOutput", err)
		if len(out) > compute.MaxConsoleOutput {
			t.Fatalf("ConsoleOutput returned %d bytes, more than MaxConsoleOutput", len(out))
		}
		if bytes.Contains(out, []byte(e.Features.ConsoleMarker)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("console output of %s lacks %q after %v:\n%s", g.UUID, e.Features.ConsoleMarker, e.Features.BootTimeout, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	g2, _ := e.Spawn(t, hv, nil, func(s *compute.SpawnSpec) { s.PowerOn = false })
	_, err := hv.ConsoleOutput(e.Ctx(t, 0), g2)
	Must(t, "ConsoleOutput of a guest that never ran", err)
}

func testConsoles(t *testing.T, e *Env) {
	types := e.Features.Capabilities.Consoles()
	skipUnless(t, len(types) > 0, "a console type")
	hv := e.Hypervisor(t)
	cp := hv.(compute.ConsoleProvider)
	g, _ := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	for _, ct := range types {
		ep, err := cp.Console(e.Ctx(t, 0), g, ct)
		Must(t, "Console "+string(ct), err)
		if ep.Type != ct || ep.Host == "" || ep.Port <= 0 || ep.Port > 65535 {
			t.Errorf("Console %s: endpoint %+v", ct, ep)
		}
	}
	_, err := cp.Console(e.Ctx(t, 0), newUUIDGuest(), types[0])
	MustBe(t, "Console of a missing guest", err, compute.ErrNotFound)
}

func (e *Env) reopen(t *testing.T, hv compute.Hypervisor) compute.Hypervisor {
	if e.Harness.Reopen == nil {
		return hv
	}
	return e.Harness.Reopen(t, hv)
}

func testRecover(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.Recover, "Recover")
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	stored := g.Handle.Encode() // what the agent keeps in the database
	hv2 := e.reopen(t, hv)
	h, err := compute.DecodeHandle(stored)
	Must(t, "DecodeHandle", err)
	nh, err := hv2.(compute.Recoverer).Recover(e.Ctx(t, 0), compute.Guest{UUID: g.UUID, Handle: h})
	Must(t, "Recover", err)
	if nh.IsZero() {
		t.Fatal("Recover returned no handle")
	}
	g2 := compute.Guest{UUID: g.UUID, Handle: nh}
	if ps := e.Info(t, hv2, g2).PowerState; ps != compute.PowerRunning {
		t.Fatalf("recovered guest is %v, want running", ps)
	}
	Must(t, "PowerOff after Recover", hv2.PowerOff(e.Ctx(t, 0), g2, 0))
	e.WaitPowerState(t, hv2, g2, compute.PowerShutdown)
}

func testRecoverGone(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.Recover, "Recover")
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, nil)
	Must(t, "Destroy", hv.Destroy(e.Ctx(t, 0), g, compute.DestroyOptions{}))
	_, err := e.reopen(t, hv).(compute.Recoverer).Recover(e.Ctx(t, 0), g)
	MustBe(t, "Recover of a destroyed guest", err, compute.ErrNotFound)
}

func testSnapshot(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.Snapshot, "Snapshot")
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	var (
		mu      sync.Mutex
		uploads int
		got     compute.ImageMeta
		size    int
		states  []compute.TaskState
	)
	spec := compute.SnapshotSpec{
		ImageID: "ct-snap-" + g.UUID[:8], Name: "computetest snapshot",
		Upload: func(ctx context.Context, meta compute.ImageMeta, r io.Reader) error {
			n, err := io.Copy(io.Discard, r)
			mu.Lock()
			defer mu.Unlock()
			uploads++
			got, size = meta, int(n)
			return err
		},
		TaskState: func(s compute.TaskState) { mu.Lock(); states = append(states, s); mu.Unlock() },
	}
	Must(t, "Snapshot", hv.(compute.Snapshotter).Snapshot(e.Ctx(t, e.Features.BootTimeout), g, spec))
	mu.Lock()
	defer mu.Unlock()
	if uploads != 1 || size == 0 || got.ID != spec.ImageID || got.DiskFormat == "" {
		t.Errorf("Snapshot uploaded %d times, %d bytes, meta %+v", uploads, size, got)
	}
	if len(states) > 0 && states[len(states)-1] != compute.TaskImageUploading {
		t.Errorf("task states %v do not end with image_uploading", states)
	}
	if ps := e.Info(t, hv, g).PowerState; ps != compute.PowerRunning {
		t.Errorf("guest is %v after a snapshot, want running", ps)
	}
	_ = hv.(compute.Snapshotter).Snapshot(e.Ctx(t, 0), newUUIDGuest(), spec) // must not panic
}

func testRescue(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.Rescue, "Rescue")
	hv := e.Hypervisor(t)
	r := hv.(compute.Rescuer)
	g, spec := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	for range 2 {
		Must(t, "Rescue", r.Rescue(e.Ctx(t, e.Features.BootTimeout), g, compute.RescueSpec{Image: spec.Image}))
		e.WaitPowerState(t, hv, g, compute.PowerRunning)
	}
	for range 2 {
		Must(t, "Unrescue", r.Unrescue(e.Ctx(t, e.Features.BootTimeout), g))
		e.WaitPowerState(t, hv, g, compute.PowerRunning)
	}
}

func testVolumes(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.AttachVolume, "AttachVolume")
	hv := e.Hypervisor(t)
	va := hv.(compute.VolumeAttacher)
	g, _ := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	bdm := compute.BlockDeviceMapping{VolumeID: "ct-vol-" + g.UUID[:8], SourceType: "volume", DestinationType: "volume", DeviceName: "/dev/vdb"}
	Must(t, "AttachVolume", va.AttachVolume(e.Ctx(t, 0), g, bdm))
	Must(t, "AttachVolume again", va.AttachVolume(e.Ctx(t, 0), g, bdm))
	Must(t, "DetachVolume", va.DetachVolume(e.Ctx(t, 0), g, bdm.VolumeID))
	MustBe(t, "DetachVolume again", va.DetachVolume(e.Ctx(t, 0), g, bdm.VolumeID), compute.ErrNotFound)
}

func testInterfaces(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.AttachInterface, "AttachInterface")
	hv := e.Hypervisor(t)
	ia := hv.(compute.InterfaceAttacher)
	g, _ := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	nic := compute.NetworkInterface{PortID: "ct-port-" + g.UUID[:8], MAC: "fa:16:3e:00:00:01", VIFType: "tap"}
	Must(t, "AttachInterface", ia.AttachInterface(e.Ctx(t, 0), g, nic))
	Must(t, "AttachInterface again", ia.AttachInterface(e.Ctx(t, 0), g, nic))
	Must(t, "DetachInterface", ia.DetachInterface(e.Ctx(t, 0), g, nic.PortID))
	MustBe(t, "DetachInterface again", ia.DetachInterface(e.Ctx(t, 0), g, nic.PortID), compute.ErrNotFound)
}

func testEvents(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.Events, "Events")
	hv := e.Hypervisor(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := hv.(compute.EventSource).Events(ctx)
	Must(t, "Events", err)
	g, _ := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	Must(t, "PowerOff", hv.PowerOff(e.Ctx(t, 0), g, 0))
	want := []compute.Lifecycle{compute.LifecycleStarted, compute.LifecycleStopped}
	timeout := time.After(e.Features.BootTimeout)
	for len(want) > 0 {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("event channel closed early")
			}
			if ev.UUID == g.UUID && ev.Transition == want[0] {
				want = want[1:]
			}
		case <-timeout:
			t.Fatalf("no %v event for %s", want[0], g.UUID)
		}
	}
	cancel()
	deadline := time.After(e.Features.OpTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("event channel not closed after its context ended")
		}
	}
}

// peer returns a second host for migrations, or skips.
func (e *Env) peer(t *testing.T, hv compute.Hypervisor) (compute.Hypervisor, string) {
	if e.Harness.Peer == nil {
		t.Skip("Harness.Peer is not set: no second host")
	}
	p := e.Harness.Peer(t, hv)
	return p, e.resources(t, p).Hostname
}

func (e *Env) coldMigrate(t *testing.T, src, dst compute.Hypervisor, dstName string) (compute.Guest, *compute.SpawnSpec, compute.Guest) {
	t.Helper()
	cm := src.(compute.ColdMigrator)
	g, spec := e.Spawn(t, src, nil, nil)
	e.WaitPowerState(t, src, g, compute.PowerRunning)
	t.Cleanup(func() { e.destroyQuietly(t, dst, g.UUID) })
	newFlavor := spec.Flavor
	newFlavor.VCPUs, newFlavor.FlavorID, newFlavor.Name = spec.Flavor.VCPUs+1, "ct.bigger", "ct.bigger"
	m := compute.Migration{UUID: "ct-mig-" + g.UUID[:8], InstanceUUID: g.UUID, MigrationType: compute.MigrationTypeResize}
	info, err := cm.MigrateDiskAndPowerOff(e.Ctx(t, e.Features.BootTimeout), g, compute.MigrateSpec{Migration: m, DestHost: dstName, Flavor: newFlavor, PowerOffTimeout: e.Features.CleanShutdownTimeout})
	Must(t, "MigrateDiskAndPowerOff", err)
	fs := compute.FinishMigrationSpec{SpawnSpec: *spec, Migration: m, DiskInfo: info, ResizeInstance: true}
	fs.Flavor = newFlavor
	fs.PowerOn = true
	h, err := dst.(compute.ColdMigrator).FinishMigration(e.Ctx(t, e.Features.BootTimeout), fs)
	Must(t, "FinishMigration", err)
	dg := compute.Guest{UUID: g.UUID, Handle: h}
	e.WaitPowerState(t, dst, dg, compute.PowerRunning)
	if v := e.Info(t, dst, dg).VCPUs; v != 0 && v != newFlavor.VCPUs {
		t.Errorf("migrated guest has %d vCPUs, the new flavor %d", v, newFlavor.VCPUs)
	}
	return g, spec, dg
}

func testColdMigrateConfirm(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.Resize, "Resize")
	src := e.Hypervisor(t)
	dst, dstName := e.peer(t, src)
	g, _, dg := e.coldMigrate(t, src, dst, dstName)
	if e.listed(t, src, g.UUID) && dstName != e.resources(t, src).Hostname {
		t.Error("the source still lists the migrated guest as its own")
	}
	Must(t, "ConfirmMigration", src.(compute.ColdMigrator).ConfirmMigration(e.Ctx(t, 0), g, compute.Migration{InstanceUUID: g.UUID}))
	Must(t, "ConfirmMigration again", src.(compute.ColdMigrator).ConfirmMigration(e.Ctx(t, 0), g, compute.Migration{InstanceUUID: g.UUID}))
	e.WaitPowerState(t, dst, dg, compute.PowerRunning)
}

func testColdMigrateRevert(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.Resize, "Resize")
	src := e.Hypervisor(t)
	dst, dstName := e.peer(t, src)
	g, spec, dg := e.coldMigrate(t, src, dst, dstName)
	Must(t, "Destroy on the destination", dst.Destroy(e.Ctx(t, 0), dg, compute.DestroyOptions{}))
	h, err := src.(compute.ColdMigrator).FinishRevertMigration(e.Ctx(t, e.Features.BootTimeout), g,
		compute.RevertMigrationSpec{Flavor: spec.Flavor, PowerOn: true})
	Must(t, "FinishRevertMigration", err)
	sg := compute.Guest{UUID: g.UUID, Handle: h}
	e.WaitPowerState(t, src, sg, compute.PowerRunning)
	if v := e.Info(t, src, sg).VCPUs; v != 0 && v != spec.Flavor.VCPUs {
		t.Errorf("reverted guest has %d vCPUs, the old flavor %d", v, spec.Flavor.VCPUs)
	}
}

func testResizeSameHost(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.ResizeSameHost, "ResizeSameHost")
	hv := e.Hypervisor(t)
	name := e.resources(t, hv).Hostname
	g, _, dg := e.coldMigrate(t, hv, hv, name)
	Must(t, "ConfirmMigration", hv.(compute.ColdMigrator).ConfirmMigration(e.Ctx(t, 0), g, compute.Migration{InstanceUUID: g.UUID}))
	e.WaitPowerState(t, hv, dg, compute.PowerRunning)
}

func testLiveMigrate(t *testing.T, e *Env) {
	skipUnless(t, e.Features.Capabilities.LiveMigrate, "LiveMigrate")
	src := e.Hypervisor(t)
	dst, dstName := e.peer(t, src)
	g, spec := e.Spawn(t, src, nil, nil)
	t.Cleanup(func() { e.destroyQuietly(t, dst, g.UUID) })
	e.WaitPowerState(t, src, g, compute.PowerRunning)
	ls := compute.LiveMigrationSpec{Spawn: *spec, SourceHost: e.resources(t, src).Hostname, DestHost: dstName}
	data, err := dst.(compute.LiveMigrator).PreLiveMigration(e.Ctx(t, 0), ls)
	Must(t, "PreLiveMigration", err)
	Must(t, "LiveMigrate", src.(compute.LiveMigrator).LiveMigrate(e.Ctx(t, e.Features.BootTimeout), g, ls, data))
	h, err := dst.(compute.LiveMigrator).PostLiveMigrationAtDestination(e.Ctx(t, 0), g)
	Must(t, "PostLiveMigrationAtDestination", err)
	e.WaitPowerState(t, dst, compute.Guest{UUID: g.UUID, Handle: h}, compute.PowerRunning)
	if e.listed(t, src, g.UUID) {
		t.Error("the source still lists the live-migrated guest")
	}
	Must(t, "RollbackLiveMigrationAtDestination of nothing", dst.(compute.LiveMigrator).RollbackLiveMigrationAtDestination(e.Ctx(t, 0), newUUIDGuest()))
}

func testConcurrentSpawns(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	n := e.Features.Concurrency
	specs := make([]*compute.SpawnSpec, n)
	for i := range specs {
		specs[i] = e.Spec(t)
		id := specs[i].Instance.UUID
		t.Cleanup(func() { e.destroyQuietly(t, hv, id) })
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = hv.Spawn(e.Ctx(t, e.Features.BootTimeout), specs[i]) })
	}
	wg.Wait()
	Must(t, "concurrent Spawn", errors.Join(errs...))
	for _, s := range specs {
		if !e.listed(t, hv, s.Instance.UUID) {
			t.Errorf("ListGuests misses %s", s.Instance.UUID)
		}
	}
	for i := range n {
		wg.Go(func() {
			errs[i] = hv.Destroy(e.Ctx(t, 0), compute.Guest{UUID: specs[i].Instance.UUID}, compute.DestroyOptions{})
		})
	}
	wg.Wait()
	Must(t, "concurrent Destroy", errors.Join(errs...))
}

func testConcurrentSameGuest(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			var err error
			switch i % 4 {
			case 0:
				err = hv.PowerOff(e.Ctx(t, 0), g, 0)
			case 1:
				err = hv.PowerOn(e.Ctx(t, e.Features.BootTimeout), g)
			case 2:
				_, err = hv.Info(e.Ctx(t, 0), g)
			case 3:
				_, err = hv.ListGuests(e.Ctx(t, 0))
			}
			switch compute.Classify(err) {
			case compute.ClassNone, compute.ClassInvalidState, compute.ClassConflict:
			default:
				t.Errorf("overlapping calls on one guest: %v", err)
			}
		})
	}
	wg.Wait()
	// Whatever the interleaving, the guest is in a sane state and usable.
	Must(t, "PowerOff", hv.PowerOff(e.Ctx(t, 0), g, 0))
	e.WaitPowerState(t, hv, g, compute.PowerShutdown)
}

func testCanceledSpawn(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	spec := e.Spec(t)
	t.Cleanup(func() { e.destroyQuietly(t, hv, spec.Instance.UUID) })
	_, err := hv.Spawn(canceled(), spec)
	MustBe(t, "Spawn with a canceled context", err, context.Canceled)
	if compute.IsRetryable(err) {
		t.Error("a canceled Spawn is marked retryable")
	}
	if e.listed(t, hv, spec.Instance.UUID) {
		t.Fatal("Spawn with a canceled context created the guest")
	}
}

func testCanceledOps(t *testing.T, e *Env) {
	hv := e.Hypervisor(t)
	g, _ := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	ctx := canceled()
	MustBe(t, "PowerOff", hv.PowerOff(ctx, g, 0), context.Canceled)
	MustBe(t, "Reboot", hv.Reboot(ctx, g, compute.RebootHard), context.Canceled)
	MustBe(t, "Destroy", hv.Destroy(ctx, g, compute.DestroyOptions{}), context.Canceled)
	_, err := hv.Info(ctx, g)
	MustBe(t, "Info", err, context.Canceled)
	_, err = hv.ListGuests(ctx)
	MustBe(t, "ListGuests", err, context.Canceled)
	_, err = hv.HostResources(ctx)
	MustBe(t, "HostResources", err, context.Canceled)
	if ps := e.Info(t, hv, g).PowerState; ps != compute.PowerRunning {
		t.Fatalf("canceled calls changed the guest: %v", ps)
	}
}

func testUnsupported(t *testing.T, e *Env) {
	c := e.Features.Capabilities
	hv := e.Hypervisor(t)
	g, spec := e.Spawn(t, hv, nil, nil)
	e.WaitPowerState(t, hv, g, compute.PowerRunning)
	ctx := e.Ctx(t, 0)
	checked := 0
	check := func(what string, err error) {
		t.Helper()
		checked++
		MustBe(t, what+" without its capability", err, compute.ErrUnsupported)
	}
	if !c.Pause {
		check("Pause", hv.Pause(ctx, g))
		check("Unpause", hv.Unpause(ctx, g))
	}
	if !c.Suspend {
		check("Suspend", hv.Suspend(ctx, g))
		check("Resume", hv.Resume(ctx, g))
	}
	if !c.ConsoleOutput {
		_, err := hv.ConsoleOutput(ctx, g)
		check("ConsoleOutput", err)
	}
	if x, ok := hv.(compute.Snapshotter); ok && !c.Snapshot {
		check("Snapshot", x.Snapshot(ctx, g, compute.SnapshotSpec{ImageID: "x", Upload: func(context.Context, compute.ImageMeta, io.Reader) error { return nil }}))
	}
	if x, ok := hv.(compute.ColdMigrator); ok && !c.Resize {
		_, err := x.MigrateDiskAndPowerOff(ctx, g, compute.MigrateSpec{DestHost: "elsewhere", Flavor: spec.Flavor})
		check("MigrateDiskAndPowerOff", err)
	}
	if x, ok := hv.(compute.LiveMigrator); ok && !c.LiveMigrate {
		_, err := x.PreLiveMigration(ctx, compute.LiveMigrationSpec{Spawn: *e.Spec(t), DestHost: "elsewhere"})
		check("PreLiveMigration", err)
	}
	if x, ok := hv.(compute.Rescuer); ok && !c.Rescue {
		check("Rescue", x.Rescue(ctx, g, compute.RescueSpec{Image: spec.Image}))
	}
	if x, ok := hv.(compute.ConsoleProvider); ok {
		for _, ct := range []compute.ConsoleType{compute.ConsoleVNC, compute.ConsoleSPICE, compute.ConsoleSerial, compute.ConsoleMKS} {
			declared := map[compute.ConsoleType]bool{compute.ConsoleVNC: c.VNC, compute.ConsoleSPICE: c.SPICE, compute.ConsoleSerial: c.Serial, compute.ConsoleMKS: c.MKS}[ct]
			if !declared {
				_, err := x.Console(ctx, g, ct)
				check("Console "+string(ct), err)
			}
		}
	}
	if x, ok := hv.(compute.VolumeAttacher); ok && !c.AttachVolume {
		check("AttachVolume", x.AttachVolume(ctx, g, compute.BlockDeviceMapping{VolumeID: "v", DestinationType: "volume"}))
	}
	if x, ok := hv.(compute.InterfaceAttacher); ok && !c.AttachInterface {
		check("AttachInterface", x.AttachInterface(ctx, g, compute.NetworkInterface{PortID: "p"}))
	}
	if x, ok := hv.(compute.Recoverer); ok && !c.Recover {
		_, err := x.Recover(ctx, g)
		check("Recover", err)
	}
	if x, ok := hv.(compute.EventSource); ok && !c.Events {
		_, err := x.Events(ctx)
		check("Events", err)
	}
	if checked == 0 {
		t.Skip("the driver declares every operation it could be asked for")
	}
}
