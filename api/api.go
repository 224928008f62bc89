package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/store"
)

// Conductor is what the API hands multi-step work to (Nova's
// ComputeTaskAPI). conductor.Client (over the queue) and conductor.Service
// (in process) implement it. ScheduleAndBuildInstances, RebuildInstance
// and UnshelveInstance are casts: they return once the work is durably
// handed on. MigrateServer is a call: it returns when the move is under
// way, and a scheduling failure comes back as an error wrapping
// compute.ErrNoValidHost.
type Conductor interface {
	ScheduleAndBuildInstances(ctx context.Context, req *compute.BuildRequest) error
	MigrateServer(ctx context.Context, inst *compute.Instance, req compute.MigrateRequest) error
	RebuildInstance(ctx context.Context, inst *compute.Instance, req compute.RebuildRequest) error
	UnshelveInstance(ctx context.Context, inst *compute.Instance, req compute.UnshelveRequest) error
}

// Agent is the part of a compute agent's RPC API that the compute API
// casts to (agent.Client in compute/agent implements it; the host is
// inst.Host). Every method but GetConsoleOutput is a cast and returns when
// the message is durably enqueued; they all take the instance as the
// caller has it (task state already set).
type Agent interface {
	StopInstance(ctx context.Context, inst *compute.Instance, cleanShutdown bool) error
	StartInstance(ctx context.Context, inst *compute.Instance) error
	RebootInstance(ctx context.Context, inst *compute.Instance, hard bool) error
	PauseInstance(ctx context.Context, inst *compute.Instance) error
	UnpauseInstance(ctx context.Context, inst *compute.Instance) error
	SuspendInstance(ctx context.Context, inst *compute.Instance) error
	ResumeInstance(ctx context.Context, inst *compute.Instance) error
	TerminateInstance(ctx context.Context, inst *compute.Instance) error
	SnapshotInstance(ctx context.Context, inst *compute.Instance, imageID string) error
	ShelveInstance(ctx context.Context, inst *compute.Instance, imageID string) error
	ShelveOffloadInstance(ctx context.Context, inst *compute.Instance) error
	ConfirmResize(ctx context.Context, inst *compute.Instance, migration *compute.Migration) error
	RevertResize(ctx context.Context, inst *compute.Instance, migration *compute.Migration) error
	GetConsoleOutput(ctx context.Context, inst *compute.Instance, tailLines int) (string, error)
}

// Images is the image service as the API needs it (image.Store embedded,
// image/glance.Client). ImageMeta of a missing image wraps
// compute.ErrNotFound; CreateImage stores a queued record (an empty ID is
// assigned).
type Images interface {
	ImageMeta(ctx context.Context, id string) (compute.ImageMeta, error)
	CreateImage(ctx context.Context, meta compute.ImageMeta, projectID string) (compute.ImageMeta, error)
	Upload(ctx context.Context, id string, data io.Reader) error
	Download(ctx context.Context, id string) (io.ReadCloser, error)
	DeleteImage(ctx context.Context, id string) error
}

// Allocations is the part of placement the API uses: dropping the
// allocations of an instance it deletes itself (Nova's local delete).
// placement.Index, store/placementstore.Service and placement/client.Client
// have it. Deleting a consumer that holds nothing is not an error the API
// cares about: failures are logged, never returned.
type Allocations interface {
	DeleteAllocations(ctx context.Context, consumer string) error
}

// Options configure an [API]. Store is required; the others have
// defaults as documented.
type Options struct {
	// Store keeps every record. Required.
	Store *store.Store
	// Conductor takes builds and moves. Without one, creating servers and
	// moving them fails with compute.ErrUnavailable.
	Conductor Conductor
	// Agent takes power and other per-host actions. Without one, those
	// actions fail with compute.ErrUnavailable.
	Agent Agent
	// Images looks up the images servers boot from and records snapshots.
	// Without one, imageRef is taken as it is (no size checks) and
	// snapshots fail with compute.ErrUnavailable.
	Images Images
	// Placement, when set, has the allocations of locally deleted
	// instances removed (a scheduler may have claimed for an instance
	// deleted while it was being scheduled, or whose host is down).
	Placement Allocations
	// Policy decides who may do what; default [DefaultPolicy].
	Policy Policy
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// ServiceDownTime is how long a service may go without a heartbeat
	// before it counts as down; default compute.DefaultServiceDownTime.
	ServiceDownTime time.Duration
	// MaxLimit caps the page size of listings ([api]max_limit); default 1000.
	MaxLimit int
	// DefaultAvailabilityZone is the zone of hosts in no zone aggregate;
	// default "nova".
	DefaultAvailabilityZone string
	// GeneratePasswords makes server create generate an admin password
	// when none is given ([api]enable_instance_password); default true
	// unless DisablePasswords.
	DisablePasswords bool
}

// API is the Go-level compute API (Nova's nova/compute/api.py): it checks
// what the caller may do, validates, applies quotas, writes the records
// and hands the work to the conductor or the compute agents. The caller
// comes from the context (identity.FromContext); a context without
// credentials is refused with ErrForbidden. Request ids come from
// [WithRequestID] (one is generated when missing).
//
// An API is safe for concurrent use. Methods block on the store and on
// casts; none waits for a guest to change state.
type API struct {
	st        *store.Store
	conductor Conductor
	agent     Agent
	images    Images
	placement Allocations
	policy    Policy
	log       *slog.Logger
	now       func() time.Time
	downTime  time.Duration
	maxLimit  int
	defaultAZ string
	passwords bool
}

// New returns an API over the options. It fails only when Store is nil.
func New(opts Options) (*API, error) {
	if opts.Store == nil {
		return nil, fmt.Errorf("api: Options.Store is required: %w", compute.ErrInvalidInput)
	}
	a := &API{
		st: opts.Store, conductor: opts.Conductor, agent: opts.Agent, images: opts.Images, placement: opts.Placement,
		policy: opts.Policy, log: opts.Logger, now: opts.Now, downTime: opts.ServiceDownTime,
		maxLimit: opts.MaxLimit, defaultAZ: opts.DefaultAvailabilityZone, passwords: !opts.DisablePasswords,
	}
	if a.policy == nil {
		a.policy = DefaultPolicy()
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.downTime <= 0 {
		a.downTime = compute.DefaultServiceDownTime
	}
	if a.maxLimit <= 0 {
		a.maxLimit = 1000
	}
	if a.defaultAZ == "" {
		a.defaultAZ = compute.DefaultAvailabilityZone
	}
	return a, nil
}

// Store returns the store the API writes to.
func (a *API) Store() *store.Store { return a.st }

// Policy returns the policy the API enforces.
func (a *API) Policy() Policy { return a.policy }

// MaxLimit returns the page size cap of listings.
func (a *API) MaxLimit() int { return a.maxLimit }

// Now returns the API's clock reading.
func (a *API) Now() time.Time { return a.now() }

// ServiceIsUp reports whether the service counts as up now.
func (a *API) ServiceIsUp(s *compute.Service) bool { return s.IsUp(a.now(), a.downTime) }

// DefaultAvailabilityZone is the zone of hosts in no zone aggregate.
func (a *API) DefaultAvailabilityZone() string { return a.defaultAZ }

// ErrForbidden: the caller's roles do not allow the operation (HTTP 403).
var ErrForbidden = errors.New("forbidden")

// ForbiddenError names the policy rule that refused the caller. It
// satisfies errors.Is(err, ErrForbidden).
type ForbiddenError struct{ Rule string }

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("Policy doesn't allow %s to be performed.", e.Rule)
}

// Is reports whether target is ErrForbidden.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// QuotaError says which quota a request would exceed. It satisfies
// errors.Is(err, compute.ErrQuotaExceeded) (HTTP 403).
type QuotaError struct {
	Resources []string
	Requested map[string]int
	Used      map[string]int
	Allowed   map[string]int
	// Message overrides the default text.
	Message string
}

func (e *QuotaError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	s := "Quota exceeded for "
	for i, r := range e.Resources {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s: Requested %d, but already used %d of %d %s", r, e.Requested[r], e.Used[r], e.Allowed[r], r)
	}
	return s
}

// Is reports whether target is compute.ErrQuotaExceeded.
func (e *QuotaError) Is(target error) bool { return target == compute.ErrQuotaExceeded }

// BadRequestError is an input error the HTTP layer answers with 400 and
// the message as it is. It satisfies errors.Is(err, compute.ErrInvalidInput).
type BadRequestError struct{ Message string }

func (e *BadRequestError) Error() string { return e.Message }

// Is reports whether target is compute.ErrInvalidInput.
func (e *BadRequestError) Is(target error) bool { return target == compute.ErrInvalidInput }

func badRequest(format string, args ...any) error {
	return &BadRequestError{Message: fmt.Sprintf(format, args...)}
}

// ConflictError is a 409 with Nova's message.
type ConflictError struct{ Message string }

func (e *ConflictError) Error() string { return e.Message }

// Is reports whether target is compute.ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == compute.ErrConflict }

func conflict(format string, args ...any) error {
	return &ConflictError{Message: fmt.Sprintf(format, args...)}
}

// NotImplementedError is a 501: the feature exists in Nova but not (yet)
// here, or the driver lacks it. errors.Is compute.ErrUnsupported.
type NotImplementedError struct{ Message string }

func (e *NotImplementedError) Error() string { return e.Message }

// Is reports whether target is compute.ErrUnsupported.
func (e *NotImplementedError) Is(target error) bool { return target == compute.ErrUnsupported }

type requestIDKey struct{}

// WithRequestID returns a context carrying the request id (req-<uuid>),
// which instance actions record.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id the context carries, or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey{}).(string)
	return s
}

// NewRequestID returns a fresh request id in Nova's form "req-<uuid>".
func NewRequestID() string { return "req-" + uuid.NewString() }

func requestID(ctx context.Context) string {
	if id := RequestID(ctx); id != "" {
		return id
	}
	return NewRequestID()
}

// caller returns the credentials of the context or ErrForbidden.
func caller(ctx context.Context) (*identity.Credentials, error) {
	c, ok := identity.FromContext(ctx)
	if !ok {
		return nil, &ForbiddenError{Rule: "an unauthenticated request"}
	}
	return c, nil
}

func (a *API) authorize(ctx context.Context, rule string, target Target) (*identity.Credentials, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.policy.Authorize(ctx, c, rule, target); err != nil {
		return nil, err
	}
	return c, nil
}

// Can reports whether the caller of ctx passes rule for target, without
// failing.
func (a *API) Can(ctx context.Context, rule string, target Target) bool {
	c, ok := identity.FromContext(ctx)
	if !ok {
		return false
	}
	return a.policy.Authorize(ctx, c, rule, target) == nil
}

const passwordChars = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// generatePassword returns a random password of n characters from Nova's
// default symbol groups (no look-alike characters).
func generatePassword(n int) string {
	b := make([]byte, n)
	r := make([]byte, n)
	_, _ = rand.Read(r)
	for i := range b {
		b[i] = passwordChars[int(r[i])%len(passwordChars)]
	}
	return string(b)
}

const reservationChars = "0123456789abcdefghijklmnopqrstuvwxyz"

func newReservationID() string {
	r := make([]byte, 8)
	_, _ = rand.Read(r)
	b := []byte("r-")
	for _, x := range r {
		b = append(b, reservationChars[int(x)%len(reservationChars)])
	}
	return string(b)
}
