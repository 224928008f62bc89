package queue

import "context"

// RequestContext is the caller's identity and request ids, carried in every
// RPC envelope and notification (oslo.context's RequestContext, trimmed to
// what services act on). Handlers read it with [RequestContextFrom].
//
// Roles is shared, not copied, when the value is passed around; treat it as
// read-only.
type RequestContext struct {
	UserID          string   `json:"user_id,omitempty"`
	ProjectID       string   `json:"project_id,omitempty"`
	Roles           []string `json:"roles,omitempty"`
	IsAdmin         bool     `json:"is_admin,omitempty"`
	RequestID       string   `json:"request_id,omitempty"`
	GlobalRequestID string   `json:"global_request_id,omitempty"`
}

// TraceContext carries W3C Trace Context headers across RPC, so that a tracer
// (OpenTelemetry) can be plugged in with a propagator; this package only
// carries the strings.
type TraceContext struct {
	TraceParent string `json:"traceparent,omitempty"`
	TraceState  string `json:"tracestate,omitempty"`
}

type ctxKey int

const (
	rcKey ctxKey = iota
	traceKey
	deliveryKey
)

// WithRequestContext returns a copy of ctx carrying rc. A [Client] sends it
// with every Call, Cast and notification made with the returned context.
func WithRequestContext(ctx context.Context, rc RequestContext) context.Context {
	return context.WithValue(ctx, rcKey, &rc)
}

// RequestContextFrom returns the RequestContext in ctx. On the server side it
// is the caller's; ok is false when ctx carries none.
func RequestContextFrom(ctx context.Context) (rc RequestContext, ok bool) {
	p, ok := ctx.Value(rcKey).(*RequestContext)
	if !ok {
		return RequestContext{}, false
	}
	return *p, true
}

// WithTraceContext returns a copy of ctx carrying tc, sent with every message
// made with it and handed to handlers on the other side.
func WithTraceContext(ctx context.Context, tc TraceContext) context.Context {
	return context.WithValue(ctx, traceKey, tc)
}

// TraceContextFrom returns the TraceContext in ctx.
func TraceContextFrom(ctx context.Context) (tc TraceContext, ok bool) {
	tc, ok = ctx.Value(traceKey).(TraceContext)
	return tc, ok
}

// Delivery describes the message a handler is working on. Handlers of casts
// must be idempotent: a cast is delivered at least once (on AMQP a message
// in flight when a server dies is redelivered, with the same MessageID, so
// handlers can deduplicate on it).
type Delivery struct {
	MessageID string // unique per Call/Cast, the same on redelivery
	Method    string
	Version   string // requested RPC API version, may be empty
	Cast      bool   // true for casts and fanout casts: no reply is sent
	Target    string // the queue it arrived on
}

// DeliveryFrom returns the Delivery of the message a handler's ctx belongs
// to.
func DeliveryFrom(ctx context.Context) (d Delivery, ok bool) {
	p, ok := ctx.Value(deliveryKey).(*Delivery)
	if !ok {
		return Delivery{}, false
	}
	return *p, true
}
