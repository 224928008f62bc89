package placement

import (
	"errors"
	"fmt"
)

// Placement error codes, as carried in the "code" member of an error body
// (microversion 1.23 and later). The REST layer reads them with [ErrorCode].
const (
	CodeUndefined          = "placement.undefined_code"
	CodeConcurrentUpdate   = "placement.concurrent_update"
	CodeInventoryInUse     = "placement.inventory.inuse"
	CodeDuplicateName      = "placement.duplicate_name"
	CodeProviderInUse      = "placement.resource_provider.inuse"
	CodeCannotDeleteParent = "placement.resource_provider.cannot_delete_parent"
	CodeProviderNotFound   = "placement.resource_provider.not_found"
	CodeQueryDuplicateKey  = "placement.query.duplicate_key"
	CodeQueryBadValue      = "placement.query.bad_value"
	CodeQueryMissingValue  = "placement.query.missing_value"
)

// Sentinel errors. Every error returned by this package matches exactly one of
// them with errors.Is; the concrete value is an *Error carrying the Placement
// error code and the offending field.
var (
	// ErrNotFound: the named provider, consumer, resource class or trait does
	// not exist (HTTP 404).
	ErrNotFound = errors.New("placement: not found")
	// ErrGenerationConflict: the resource provider generation the caller sent
	// is stale (HTTP 409, placement.concurrent_update).
	ErrGenerationConflict = errors.New("placement: resource provider generation conflict")
	// ErrConsumerGenerationConflict: the consumer generation the caller sent is
	// stale, or null for an existing consumer, or set for a missing one (HTTP
	// 409, placement.concurrent_update).
	ErrConsumerGenerationConflict = errors.New("placement: consumer generation conflict")
	// ErrInventoryInUse: an inventory that has allocations against it cannot
	// be removed (HTTP 409, placement.inventory.inuse).
	ErrInventoryInUse = errors.New("placement: inventory in use")
	// ErrCapacityExceeded: an allocation does not fit (capacity, min_unit,
	// max_unit, step_size, or no such inventory) (HTTP 409).
	ErrCapacityExceeded = errors.New("placement: capacity exceeded")
	// ErrDuplicateName: a provider with that name or uuid, or a resource class
	// or trait with that name, already exists (HTTP 409,
	// placement.duplicate_name).
	ErrDuplicateName = errors.New("placement: duplicate name")
	// ErrProviderInUse: a provider with allocations cannot be deleted (HTTP
	// 409, placement.resource_provider.inuse).
	ErrProviderInUse = errors.New("placement: resource provider in use")
	// ErrCannotDeleteParent: a provider with children cannot be deleted (HTTP
	// 409, placement.resource_provider.cannot_delete_parent).
	ErrCannotDeleteParent = errors.New("placement: cannot delete a parent provider")
	// ErrInUse: a resource class or custom trait still referenced by
	// providers cannot be deleted (HTTP 409).
	ErrInUse = errors.New("placement: in use")
	// ErrInvalid: the input is malformed or names something unknown; the
	// *Error names the field or query parameter (HTTP 400).
	ErrInvalid = errors.New("placement: invalid input")
)

// Error is the concrete error type of this package. It is immutable once
// returned and safe to share between goroutines.
type Error struct {
	// Kind is one of the package sentinels; errors.Is(err, Kind) is true.
	Kind error
	// Code is the Placement error code (CodeUndefined when Placement has none).
	Code string
	// Field names the offending query parameter or body field, if any.
	Field string
	// Detail is a human-readable explanation.
	Detail string
	// Err is an optional underlying cause.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	msg := e.Kind.Error()
	if e.Field != "" {
		msg += ": " + e.Field
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is the sentinel this error is a kind of.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns the Placement error code of the first *Error in err's
// chain, or CodeUndefined.
func ErrorCode(err error) string {
	var pe *Error
	if errors.As(err, &pe) && pe.Code != "" {
		return pe.Code
	}
	return CodeUndefined
}

func newErr(kind error, code, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Field: field, Detail: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) *Error {
	return newErr(ErrInvalid, CodeUndefined, field, format, args...)
}

func queryErr(code, field, format string, args ...any) *Error {
	return newErr(ErrInvalid, code, field, format, args...)
}

func notFound(code, format string, args ...any) *Error {
	return newErr(ErrNotFound, code, "", format, args...)
}

func genConflict(uuid string, sent, current int64) *Error {
	return newErr(ErrGenerationConflict, CodeConcurrentUpdate, "resource_provider_generation",
		"resource provider %s generation conflict: sent %d but the current generation is %d", uuid, sent, current)
}
