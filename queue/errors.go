package queue

import (
	"errors"
	"fmt"
	"sync"
)

// Sentinel errors. Compare with [errors.Is]; every error this package returns
// wraps one of these or a caller's context error.
var (
	// ErrTimeout: a [Client.Call] got no reply before its deadline (the ctx
	// deadline, or ClientConfig.Timeout when ctx had none). The error also
	// matches context.DeadlineExceeded.
	ErrTimeout = errors.New("queue: timed out waiting for a reply")

	// ErrUnknownMethod: the server has no handler for the method.
	ErrUnknownMethod = errors.New("queue: unknown method")

	// ErrUnsupportedVersion: the request asked for an RPC API version the
	// server does not implement (another major, or a higher minor).
	ErrUnsupportedVersion = errors.New("queue: unsupported RPC API version")

	// ErrRemotePanic: the remote handler panicked; the server survived and
	// answered with this error.
	ErrRemotePanic = errors.New("queue: remote handler panicked")

	// ErrBadMessage: a message or its arguments could not be decoded.
	ErrBadMessage = errors.New("queue: malformed message")

	// ErrInvalidTarget: a [Target] is not valid for the operation (empty or
	// malformed topic, Call to a fanout target...).
	ErrInvalidTarget = errors.New("queue: invalid target")

	// ErrClosed: the Transport, Client, Server or Notifier was closed.
	ErrClosed = errors.New("queue: closed")

	// ErrUnknownScheme: no opener is registered for a URL scheme.
	ErrUnknownScheme = errors.New("queue: unknown URL scheme")

	// ErrDuplicate: a scheme, error code or handler was registered twice.
	ErrDuplicate = errors.New("queue: duplicate registration")
)

// Codes of the errors the queue package itself puts on the wire. Every
// [ErrorCodes] value knows them.
const (
	CodeUnknownMethod      = "queue.unknown_method"
	CodeUnsupportedVersion = "queue.unsupported_version"
	CodeRemotePanic        = "queue.remote_panic"
	CodeBadMessage         = "queue.bad_message"
	CodeTimeout            = "queue.timeout"
)

// RemoteError is an error that a remote handler returned, as the caller sees
// it: the code the server's [ErrorCodes] gave it and the handler's message.
//
// When the caller's ErrorCodes knows the code, the RemoteError wraps the
// registered sentinel, so both errors.Is(err, compute.ErrNotFound) and
// errors.As(err, &remoteErr) work. An unclassified error has Code "".
type RemoteError struct {
	Code    string // wire code; "" when the server could not classify the error
	Message string // the remote err.Error()

	sentinel error
}

// Error implements error.
func (e *RemoteError) Error() string {
	if e.Code == "" {
		return "remote error: " + e.Message
	}
	return fmt.Sprintf("remote error [%s]: %s", e.Code, e.Message)
}

// Unwrap returns the sentinel registered for Code, or nil.
func (e *RemoteError) Unwrap() error { return e.sentinel }

// ErrorCodes maps wire error codes to sentinel errors and back. It is a value
// that the embedder builds and passes to clients and servers (there is no
// global registry); both sides of a conversation should register the same
// codes.
//
// The zero value is not usable; call [NewErrorCodes]. A nil *ErrorCodes is
// valid and knows only the built-in queue codes. Methods are safe for
// concurrent use.
type ErrorCodes struct {
	mu      sync.RWMutex
	byCode  map[string]error
	ordered []codedError // registration order, for Code's errors.Is walk
}

type codedError struct {
	code string
	err  error
}

var builtinCodes = []codedError{
	{CodeUnknownMethod, ErrUnknownMethod},
	{CodeUnsupportedVersion, ErrUnsupportedVersion},
	{CodeRemotePanic, ErrRemotePanic},
	{CodeBadMessage, ErrBadMessage},
	{CodeTimeout, ErrTimeout},
}

// NewErrorCodes returns a registry holding the built-in queue codes.
func NewErrorCodes() *ErrorCodes {
	c := &ErrorCodes{byCode: make(map[string]error, len(builtinCodes))}
	for _, b := range builtinCodes {
		c.byCode[b.code] = b.err
		c.ordered = append(c.ordered, b)
	}
	return c
}

// Register maps code to sentinel. It returns an error wrapping
// [ErrDuplicate] when the code or the sentinel is already registered, and an
// error when either is empty. Register may be called concurrently with use.
func (c *ErrorCodes) Register(code string, sentinel error) error {
	if code == "" || sentinel == nil {
		return errors.New("queue: ErrorCodes.Register needs a code and a sentinel")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byCode[code]; ok {
		return fmt.Errorf("%w: error code %q", ErrDuplicate, code)
	}
	for _, o := range c.ordered {
		if o.err == sentinel {
			return fmt.Errorf("%w: sentinel %q already has code %q", ErrDuplicate, sentinel, o.code)
		}
	}
	c.byCode[code] = sentinel
	c.ordered = append(c.ordered, codedError{code, sentinel})
	return nil
}

// Code returns the wire code for err: the code of the first registered
// sentinel (in registration order) that errors.Is matches, the Code of a
// wrapped [*RemoteError] (so forwarded remote errors keep their code), or ""
// when err is unclassified.
func (c *ErrorCodes) Code(err error) string {
	if err == nil {
		return ""
	}
	ordered := builtinCodes
	if c != nil {
		c.mu.RLock()
		ordered = c.ordered
		c.mu.RUnlock()
	}
	for _, o := range ordered {
		if errors.Is(err, o.err) {
			return o.code
		}
	}
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Code
	}
	return ""
}

// Error builds the caller-side error for a wire code and message: a
// [*RemoteError] wrapping the registered sentinel when the code is known.
func (c *ErrorCodes) Error(code, message string) error {
	return &RemoteError{Code: code, Message: message, sentinel: c.lookup(code)}
}

func (c *ErrorCodes) lookup(code string) error {
	if code == "" {
		return nil
	}
	if c == nil {
		for _, b := range builtinCodes {
			if b.code == code {
				return b.err
			}
		}
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byCode[code]
}
