package compute

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors of the compute domain. Every error that novakit returns
// for one of these conditions satisfies errors.Is with the sentinel, so
// callers (and the API's mapping to HTTP status codes) test for the
// condition, never for a concrete type or a message.
var (
	// ErrNotFound: the record does not exist (or is deleted and deleted
	// records were not asked for). HTTP 404.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write lost a race or would break a uniqueness rule:
	// another writer changed the record first, or a record with the same
	// key exists. HTTP 409.
	ErrConflict = errors.New("conflict")
	// ErrInvalidState: the instance is not in a state that allows the
	// action. HTTP 409.
	ErrInvalidState = errors.New("invalid state")
	// ErrLocked: the instance is locked and the caller may not override
	// the lock. HTTP 409.
	ErrLocked = errors.New("instance is locked")
	// ErrInvalidInput: a value supplied by the caller is malformed or out
	// of range. HTTP 400.
	ErrInvalidInput = errors.New("invalid input")
	// ErrUnsupported: the driver or backend cannot do this. HTTP 501.
	ErrUnsupported = errors.New("not supported")
	// ErrTransient: the operation failed and is known to have changed
	// nothing, so it may be retried as it is.
	ErrTransient = errors.New("transient failure")
	// ErrQuotaExceeded: the request would exceed a quota. HTTP 403.
	ErrQuotaExceeded = errors.New("quota exceeded")
	// ErrUnavailable: a backend (database, queue) cannot be reached now.
	// HTTP 503.
	ErrUnavailable = errors.New("service unavailable")
	// ErrNoValidHost: the scheduler found no host that can take the
	// instance (Nova's NoValidHost). The instance goes to ERROR with a
	// fault; over the API a synchronous check answers 400.
	ErrNoValidHost = errors.New("no valid host was found")
)

// NotFoundError says which record was not found. It satisfies
// errors.Is(err, ErrNotFound).
type NotFoundError struct {
	Kind string // the record kind, e.g. "instance", "flavor"
	ID   string // the key that was looked up
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %s could not be found", e.Kind, e.ID)
}

// Is reports whether target is ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// NotFound returns a *NotFoundError for the record kind and key.
func NotFound(kind, id string) error { return &NotFoundError{Kind: kind, ID: id} }

// DuplicateError says that a record with the same key already exists. It
// satisfies errors.Is(err, ErrConflict).
type DuplicateError struct {
	Kind string
	Key  string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%s %s already exists", e.Kind, e.Key)
}

// Is reports whether target is ErrConflict.
func (e *DuplicateError) Is(target error) bool { return target == ErrConflict }

// StateConflictError reports a lost compare-and-swap on an instance: the
// update named the vm_states and task_states it expected, and the record
// held others. It satisfies errors.Is with ErrConflict and
// ErrInvalidState; Nova calls this UnexpectedTaskStateError or
// UnexpectedVMStateError.
type StateConflictError struct {
	InstanceUUID string
	ExpectedVM   []VMState   // nil when the vm_state was not checked
	ExpectedTask []TaskState // nil when the task_state was not checked
	ActualVM     VMState
	ActualTask   TaskState
}

func (e *StateConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "instance %s: unexpected state: vm_state %q task_state %s", e.InstanceUUID, e.ActualVM, taskString(e.ActualTask))
	if e.ExpectedVM != nil {
		fmt.Fprintf(&b, ", expected vm_state in %v", e.ExpectedVM)
	}
	if e.ExpectedTask != nil {
		ts := make([]string, len(e.ExpectedTask))
		for i, t := range e.ExpectedTask {
			ts[i] = taskString(t)
		}
		fmt.Fprintf(&b, ", expected task_state in [%s]", strings.Join(ts, " "))
	}
	return b.String()
}

// Is reports whether target is ErrConflict or ErrInvalidState.
func (e *StateConflictError) Is(target error) bool {
	return target == ErrConflict || target == ErrInvalidState
}

func taskString(t TaskState) string {
	if t == TaskNone {
		return "None"
	}
	return string(t)
}

// InvalidStateError explains why an action is not allowed on an instance
// in its current state. It satisfies errors.Is(err, ErrInvalidState); Nova
// calls this InstanceInvalidState, and the API answers 409 with the
// message.
type InvalidStateError struct {
	InstanceUUID string
	Action       Action
	Attr         string // "vm_state", "task_state", "launched_at" or "host"
	State        string // the offending value
}

func (e *InvalidStateError) Error() string {
	return fmt.Sprintf("Cannot '%s' instance %s while it is in %s %s", e.Action, e.InstanceUUID, e.Attr, e.State)
}

// Is reports whether target is ErrInvalidState.
func (e *InvalidStateError) Is(target error) bool { return target == ErrInvalidState }

// InvalidInputError names the field whose value was refused. It satisfies
// errors.Is(err, ErrInvalidInput).
type InvalidInputError struct {
	Field  string
	Reason string
}

func (e *InvalidInputError) Error() string {
	if e.Field == "" {
		return "invalid input: " + e.Reason
	}
	return fmt.Sprintf("invalid input for field %q: %s", e.Field, e.Reason)
}

// Is reports whether target is ErrInvalidInput.
func (e *InvalidInputError) Is(target error) bool { return target == ErrInvalidInput }

// InvalidInput returns an *InvalidInputError for field.
func InvalidInput(field, format string, args ...any) error {
	return &InvalidInputError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
