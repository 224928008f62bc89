package compute

import (
	"context"
	"errors"
	"fmt"
)

// ErrResourcesUnavailable: the host has not got the resources (vCPUs,
// memory, disk, devices) to create the guest, and created nothing. The agent
// does not retry on the same host; it asks the conductor to reschedule the
// build on an alternate (Nova's ComputeResourcesUnavailable, which becomes a
// RescheduledException).
var ErrResourcesUnavailable = errors.New("insufficient resources on the host")

// ResourcesUnavailableError says which resource a host ran short of. It
// satisfies errors.Is(err, ErrResourcesUnavailable).
type ResourcesUnavailableError struct {
	Host      string
	Resource  string // "VCPU", "MEMORY_MB", "DISK_GB" or a device class
	Requested int
	Free      int
}

func (e *ResourcesUnavailableError) Error() string {
	return fmt.Sprintf("host %s: not enough %s: requested %d, free %d", e.Host, e.Resource, e.Requested, e.Free)
}

// Is reports whether target is ErrResourcesUnavailable.
func (e *ResourcesUnavailableError) Is(target error) bool { return target == ErrResourcesUnavailable }

// UnsupportedError says which operation a driver (or this configuration of
// it) cannot do. It satisfies errors.Is(err, ErrUnsupported); Nova raises
// NotImplementedError, which the API shows as 501.
type UnsupportedError struct {
	Driver string // e.g. "fake", "libvirt"
	Op     string // e.g. "pause", "console spice"
}

func (e *UnsupportedError) Error() string {
	if e.Driver == "" {
		return e.Op + " is not supported by this hypervisor"
	}
	return fmt.Sprintf("%s is not supported by the %s driver", e.Op, e.Driver)
}

// Is reports whether target is ErrUnsupported.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// Unsupported returns an *UnsupportedError for the driver and operation.
func Unsupported(driver, op string) error { return &UnsupportedError{Driver: driver, Op: op} }

// GuestNotFound returns the error a driver gives for a guest it does not
// have: an *NotFoundError of kind "guest", satisfying errors.Is(err,
// ErrNotFound).
func GuestNotFound(uuid string) error { return &NotFoundError{Kind: "guest", ID: uuid} }

// GuestStateError returns the error a driver gives when a guest's power
// state does not allow the operation (pausing a guest that is shut down): an
// *InvalidStateError on "power_state", satisfying errors.Is(err,
// ErrInvalidState). Nova raises InstanceInvalidState or
// InstanceNotRunning.
func GuestStateError(uuid string, a Action, ps PowerState) error {
	return &InvalidStateError{InstanceUUID: uuid, Action: a, Attr: "power_state", State: ps.String()}
}

// transientError marks a cause as transient.
type transientError struct{ err error }

func (e *transientError) Error() string        { return e.err.Error() }
func (e *transientError) Unwrap() error        { return e.err }
func (e *transientError) Is(target error) bool { return target == ErrTransient }

// Transient marks err as transient: the operation failed and the driver
// knows that the hypervisor did nothing, so the caller may run it again as
// it is. The result satisfies errors.Is(err, ErrTransient) and still
// unwraps to err (errors.As reaches the vendor error). Transient(nil) is
// nil; context errors are returned as they are, never marked (a canceled
// call is not a retryable one).
//
// Drivers must not mark a failure transient when the hypervisor may have
// acted (a create whose reply was lost, a timeout after the request was
// sent): the agent would then repeat a half-done operation. They return the
// plain error instead and the agent reconciles from what [Hypervisor.Info]
// and [Hypervisor.ListGuests] report. This is database/sql's ErrBadConn
// rule.
func Transient(err error) error {
	if err == nil || isContextErr(err) {
		return err
	}
	return &transientError{err: err}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// ErrorClass is the meaning of a driver error for its caller, as
// [Classify] finds it.
type ErrorClass string

// Error classes, from the most to the least specific (Classify checks them
// in this order).
const (
	// ClassNone: no error.
	ClassNone ErrorClass = ""
	// ClassCanceled: the caller's context ended (context.Canceled or
	// context.DeadlineExceeded). What the hypervisor did is unknown:
	// reconcile, do not retry blindly.
	ClassCanceled ErrorClass = "canceled"
	// ClassNotFound: the guest (or volume, interface, port) does not exist.
	ClassNotFound ErrorClass = "not-found"
	// ClassUnsupported: the driver cannot do this; retrying will not help.
	ClassUnsupported ErrorClass = "unsupported"
	// ClassInvalidInput: the request was malformed; retrying will not help.
	ClassInvalidInput ErrorClass = "invalid-input"
	// ClassInvalidState: the guest's state does not allow the operation.
	ClassInvalidState ErrorClass = "invalid-state"
	// ClassConflict: another operation got there first (a guest with this
	// UUID exists; a concurrent change).
	ClassConflict ErrorClass = "conflict"
	// ClassResourcesUnavailable: the host lacks the resources; nothing was
	// created; reschedule elsewhere.
	ClassResourcesUnavailable ErrorClass = "resources-unavailable"
	// ClassTransient: nothing was done; the same call may be retried.
	ClassTransient ErrorClass = "transient"
	// ClassUnknown: any other failure. The hypervisor may have acted:
	// reconcile from what the driver reports.
	ClassUnknown ErrorClass = "unknown"
)

// Classify returns the class of a driver error: the first of the classes
// above (in their declared order) that err satisfies through errors.Is, or
// ClassUnknown. Classify(nil) is ClassNone.
func Classify(err error) ErrorClass {
	switch {
	case err == nil:
		return ClassNone
	case isContextErr(err):
		return ClassCanceled
	case errors.Is(err, ErrNotFound):
		return ClassNotFound
	case errors.Is(err, ErrUnsupported):
		return ClassUnsupported
	case errors.Is(err, ErrInvalidInput):
		return ClassInvalidInput
	case errors.Is(err, ErrInvalidState):
		return ClassInvalidState
	case errors.Is(err, ErrConflict):
		return ClassConflict
	case errors.Is(err, ErrResourcesUnavailable):
		return ClassResourcesUnavailable
	case errors.Is(err, ErrTransient):
		return ClassTransient
	}
	return ClassUnknown
}

// IsRetryable reports whether the failed call may be repeated as it is: err
// is marked transient (see [Transient]) and is not a context error.
func IsRetryable(err error) bool { return Classify(err) == ClassTransient }

// IgnoreNotFound returns nil when err satisfies [ErrNotFound] and err
// otherwise: for callers to whom a guest already gone is success, as it is
// for a delete.
//
//	err := compute.IgnoreNotFound(hv.Destroy(ctx, g, compute.DestroyOptions{}))
func IgnoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
