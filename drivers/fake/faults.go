package fake

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Method names a driver method for fault injection.
type Method string

// The methods faults can target.
const (
	MethodAny           Method = ""
	MethodHostResources Method = "HostResources"
	MethodSpawn         Method = "Spawn"
	MethodDestroy       Method = "Destroy"
	MethodReboot        Method = "Reboot"
	MethodPowerOff      Method = "PowerOff"
	MethodPowerOn       Method = "PowerOn"
	MethodPause         Method = "Pause"
	MethodUnpause       Method = "Unpause"
	MethodSuspend       Method = "Suspend"
	MethodResume        Method = "Resume"
	MethodInfo          Method = "Info"
	MethodListGuests    Method = "ListGuests"
	MethodConsoleOutput Method = "ConsoleOutput"
	MethodSnapshot      Method = "Snapshot"
	MethodMigrateDisk   Method = "MigrateDiskAndPowerOff"
	MethodFinishMigr    Method = "FinishMigration"
	MethodConfirmMigr   Method = "ConfirmMigration"
	MethodRevertMigr    Method = "FinishRevertMigration"
	MethodPreLive       Method = "PreLiveMigration"
	MethodLiveMigrate   Method = "LiveMigrate"
	MethodPostLive      Method = "PostLiveMigrationAtDestination"
	MethodRollbackLive  Method = "RollbackLiveMigrationAtDestination"
	MethodRescue        Method = "Rescue"
	MethodUnrescue      Method = "Unrescue"
	MethodConsole       Method = "Console"
	MethodAttachVolume  Method = "AttachVolume"
	MethodDetachVolume  Method = "DetachVolume"
	MethodAttachIface   Method = "AttachInterface"
	MethodDetachIface   Method = "DetachInterface"
	MethodRecover       Method = "Recover"
	MethodEvents        Method = "Events"
)

// ErrInjected is a ready-made error for faults. Wrap it with
// compute.Transient to inject a retryable failure.
var ErrInjected = errors.New("fake: injected failure")

// Fault is a failure or latency injected into the fake's methods. A call
// matches when its host and method match (empty Host or Method match any).
// For a matching call the fault first waits Delay (returning the context's
// error if ctx ends first), then panics with Panic if set, then fails with
// Err if set: before the operation (nothing changed), or, with
// AfterEffect, after it (the operation took effect and the call still
// reports Err, as a hypervisor whose reply was lost).
type Fault struct {
	Host   string
	Method Method
	// Nth, when > 0, fires the fault only on the Nth matching call
	// (counting from 1, from when it was injected); 0 fires on every call.
	Nth         int
	Delay       time.Duration
	Panic       any
	Err         error
	AfterEffect bool
}

// Injection is a fault in force. Its methods are safe for concurrent use.
type Injection struct {
	f     Fault
	t     *faultTable
	calls atomic.Int64
	fired atomic.Int64
}

// Calls is how many calls have matched the fault (fired or not): a Fault
// with neither Err, Delay nor Panic is a call counter.
func (in *Injection) Calls() int { return int(in.calls.Load()) }

// Fired is how many times the fault acted.
func (in *Injection) Fired() int { return int(in.fired.Load()) }

// Remove takes the fault out; calls in progress may still see it.
// Idempotent.
func (in *Injection) Remove() { in.t.remove(in) }

type faultTable struct {
	armed atomic.Int32
	mu    sync.RWMutex
	list  []*Injection
}

// Inject puts a fault in force on the cloud's hosts, at once, for calls
// that start from now on.
func (c *Cloud) Inject(f Fault) *Injection {
	in := &Injection{f: f, t: &c.faults}
	c.faults.mu.Lock()
	c.faults.list = append(c.faults.list, in)
	c.faults.armed.Store(int32(len(c.faults.list)))
	c.faults.mu.Unlock()
	return in
}

// ClearFaults removes every fault.
func (c *Cloud) ClearFaults() {
	c.faults.mu.Lock()
	c.faults.list = nil
	c.faults.armed.Store(0)
	c.faults.mu.Unlock()
}

func (t *faultTable) remove(in *Injection) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, x := range t.list {
		if x == in {
			t.list = append(t.list[:i:i], t.list[i+1:]...)
			break
		}
	}
	t.armed.Store(int32(len(t.list)))
}

// enter runs at the start of every driver method: it returns ctx's error
// if ctx is done, then applies the faults that match. err means "fail
// now, nothing done"; after is the error to return once the operation has
// been done.
func (h *Host) enter(ctx context.Context, m Method) (after, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t := &h.cloud.faults
	if t.armed.Load() == 0 {
		return nil, nil
	}
	t.mu.RLock()
	var match []*Injection
	for _, in := range t.list {
		if (in.f.Host == "" || in.f.Host == h.name) && (in.f.Method == MethodAny || in.f.Method == m) {
			match = append(match, in)
		}
	}
	t.mu.RUnlock()
	for _, in := range match {
		n := in.calls.Add(1)
		if in.f.Nth > 0 && n != int64(in.f.Nth) {
			continue
		}
		if in.f.Delay == 0 && in.f.Panic == nil && in.f.Err == nil {
			continue
		}
		in.fired.Add(1)
		if in.f.Delay > 0 {
			tm := time.NewTimer(in.f.Delay)
			select {
			case <-tm.C:
			case <-ctx.Done():
				tm.Stop()
				return nil, ctx.Err()
			}
		}
		if in.f.Panic != nil {
			panic(in.f.Panic)
		}
		if in.f.Err != nil {
			if !in.f.AfterEffect {
				return nil, in.f.Err
			}
			if after == nil {
				after = in.f.Err
			}
		}
	}
	return after, nil
}
