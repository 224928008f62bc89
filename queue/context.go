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
// is the caller's (unless the handler set another with WithRequestContext);
// ok is false when ctx carries none.
func RequestContextFrom(ctx context.Context) (rc RequestContext, ok bool) {
	if p, ok := ctx.Value(rcKey).(*RequestContext); ok {
		return *p, true
	}
	if ci, ok := ctx.Value(deliveryKey).(*callInfo); ok && ci.rc != nil {
		return *ci.rc, true
	}
	return RequestContext{}, false
}

// callInfo is what a server handler's context carries about its message,
// as one context value.
type callInfo struct {
	rc       *RequestContext
	tc       TraceContext
	hasTrace bool
	delivery Delivery
}

// WithTraceContext returns a copy of ctx carrying tc, sent with every message
// made with it and handed to handlers on the other side.
func WithTraceContext(ctx context.Context, tc TraceContext) context.Context {
	return context.WithValue(ctx, traceKey, tc)
}

// TraceContextFrom returns the TraceContext in ctx.
func TraceContextFrom(ctx context.Context) (tc TraceContext, ok bool) {
	if tc, ok = ctx.Value(traceKey).(TraceContext); ok {
		return tc, true
	}
	if ci, ok := ctx.Value(deliveryKey).(*callInfo); ok && ci.hasTrace {
		return ci.tc, true
	}
	return TraceContext{}, false
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
	ci, ok := ctx.Value(deliveryKey).(*callInfo)
	if !ok {
		return Delivery{}, false
	}
	return ci.delivery, true
}
