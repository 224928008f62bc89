package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// DefaultCallTimeout is the time a Call waits for its reply when its ctx has
// no deadline (oslo.messaging's rpc_response_timeout).
const DefaultCallTimeout = 60 * time.Second

// ClientConfig configures [Transport.NewClient].
type ClientConfig struct {
	// Timeout bounds a Call whose ctx has no deadline. Default
	// DefaultCallTimeout.
	Timeout time.Duration

	// Errors maps the error codes of replies to sentinel errors. Nil knows
	// only the queue package's own codes.
	Errors *ErrorCodes

	// Logger; nil uses the transport's.
	Logger *slog.Logger
}

// Validate reports whether the configuration is usable.
func (c ClientConfig) Validate() error {
	if c.Timeout < 0 {
		return errors.New("queue: ClientConfig.Timeout must not be negative")
	}
	return nil
}

// Client sends RPC calls and casts. It is safe for concurrent use; one
// client per process (or per service) is enough. Its reply queue
// ("reply_<id>") is created on the first Call and removed by Close.
type Client struct {
	t       *Transport
	timeout time.Duration
	errs    *ErrorCodes
	logger  *slog.Logger
	replyTo string

	mu        sync.Mutex
	waiters   map[string]chan *Envelope
	listening bool
	closed    bool
	stop      context.CancelFunc
	done      chan struct{}
}

// NewClient returns a client on t.
func (t *Transport) NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if t.isClosed() {
		return nil, ErrClosed
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultCallTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = t.logger
	}
	return &Client{
		t:       t,
		timeout: cfg.Timeout,
		errs:    cfg.Errors,
		logger:  cfg.Logger,
		replyTo: replyPrefix + newID(),
		waiters: make(map[string]chan *Envelope),
	}, nil
}

// Cast sends method(args) to target and returns without waiting for it to
// run. args is encoded with encoding/json (a json.RawMessage is sent as it
// is; nil sends no arguments).
//
// Cast returns nil once the backend holds the message: on AMQP, once the
// broker confirmed a persistent message on a durable queue (declared before
// the first publish), so it survives a broker restart. While the broker is
// unreachable Cast retries until ctx is done (see
// AMQPConfig.PublishRetryInterval) and then returns an error wrapping
// ctx.Err(). Delivery is at least once: handlers must be idempotent. A
// fanout target (Target.Fanout) reaches every server listening on the topic
// at the time; it is not kept for servers that start later.
func (c *Client) Cast(ctx context.Context, target Target, method string, args any) error {
	if err := target.Validate(); err != nil {
		return err
	}
	if method == "" {
		return errors.New("queue: Cast needs a method")
	}
	if c.isClosed() {
		return ErrClosed
	}
	env := c.envelope(ctx, KindCast, target, method)
	raw, err := marshalArgs(args)
	if err != nil {
		return fmt.Errorf("queue: cast %s to %s: encode args: %w", method, target, err)
	}
	env.Args = raw
	m := newMessage(env.ID, env.appendJSON(make([]byte, 0, env.sizeHint())), false, time.Time{})
	if err := c.t.publish(ctx, target.queueName(), m, true); err != nil {
		return fmt.Errorf("queue: cast %s to %s: %w", method, target, err)
	}
	return nil
}

// Call sends method(args) to one server of target, waits for the reply and
// decodes its result into reply (a pointer, or nil to discard it).
//
// The wait ends at ctx's deadline, or after ClientConfig.Timeout when ctx
// has none; the error then matches [ErrTimeout] and
// context.DeadlineExceeded. The deadline travels with the request: the
// broker drops a request that expired in its queue and the server does not
// start it. If ctx is canceled the error wraps context.Canceled.
//
// An error returned by the remote handler comes back as a [*RemoteError]
// that wraps the sentinel registered for its code in ClientConfig.Errors,
// so errors.Is works across the wire. Fanout targets are refused with
// [ErrInvalidTarget].
//
// A Call to a server (or topic) with no queue yet, because no server of it
// ever started, is dropped and times out, as with oslo.messaging; unlike a
// Cast it does not create a durable queue. A Call can run more than once
// on the server if a server dies while handling it (at-least-once); calls
// that change state should be idempotent or deduplicate on the message id.
func (c *Client) Call(ctx context.Context, target Target, method string, args, reply any) error {
	if err := target.Validate(); err != nil {
		return err
	}
	if target.Fanout {
		return fmt.Errorf("%w: Call to fanout target %s", ErrInvalidTarget, target)
	}
	if method == "" {
		return errors.New("queue: Call needs a method")
	}
	raw, err := marshalArgs(args)
	if err != nil {
		return fmt.Errorf("queue: call %s to %s: encode args: %w", method, target, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	if err := c.listen(ctx); err != nil {
		return c.callError(ctx, method, target, err)
	}
	env := c.envelope(ctx, KindCall, target, method)
	env.Args = raw
	env.ReplyTo = c.replyTo
	deadline, _ := ctx.Deadline()
	env.Deadline = deadline.UnixNano()

	ch := make(chan *Envelope, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.waiters[env.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, env.ID)
		c.mu.Unlock()
	}()

	m := newMessage(env.ID, env.appendJSON(make([]byte, 0, env.sizeHint())), true, deadline)
	if err := c.t.publish(ctx, target.queueName(), m, false); err != nil {
		return c.callError(ctx, method, target, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return fmt.Errorf("queue: call %s to %s: %w", method, target, ErrClosed)
		}
		if r.Error != nil {
			return c.errs.Error(r.Error.Code, r.Error.Message)
		}
		if reply != nil && len(r.Result) > 0 {
			if err := json.Unmarshal(r.Result, reply); err != nil {
				return fmt.Errorf("queue: call %s to %s: decode reply: %w: %w", method, target, ErrBadMessage, err)
			}
		}
		return nil
	case <-ctx.Done():
		return c.callError(ctx, method, target, ctx.Err())
	}
}

func (c *Client) callError(ctx context.Context, method string, target Target, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("queue: call %s to %s: %w: %w", method, target, ErrTimeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("queue: call %s to %s: %w", method, target, err)
}

func (c *Client) envelope(ctx context.Context, kind string, target Target, method string) *Envelope {
	env := &Envelope{
		Format:  EnvelopeFormat,
		Kind:    kind,
		ID:      newID(),
		Method:  method,
		Version: target.Version,
	}
	if rc, ok := RequestContextFrom(ctx); ok {
		env.Context = &rc
		env.RequestID = rc.RequestID
	}
	if tc, ok := TraceContextFrom(ctx); ok {
		env.TraceParent, env.TraceState = tc.TraceParent, tc.TraceState
	}
	return env
}

// listen starts consuming the reply queue once.
func (c *Client) listen(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.listening {
		return nil
	}
	lctx, cancel := context.WithCancel(context.Background())
	msgs, err := c.t.subscribe(ctx, lctx, c.t.replySub, c.replyTo)
	if err != nil {
		cancel()
		return err
	}
	c.listening, c.stop, c.done = true, cancel, make(chan struct{})
	go c.readReplies(msgs)
	return nil
}

func (c *Client) readReplies(msgs <-chan *message.Message) {
	defer close(c.done)
	for m := range msgs {
		m.Ack()
		env, err := DecodeEnvelope(m.Payload)
		if err != nil || env.Kind != KindReply {
			c.logger.Warn("queue: dropping malformed reply", "queue", c.replyTo, "err", err)
			continue
		}
		c.mu.Lock()
		if ch := c.waiters[env.CorrelationID]; ch != nil {
			delete(c.waiters, env.CorrelationID)
			ch <- env // buffered, and at most one reply per waiter: never blocks
		}
		c.mu.Unlock()
	}
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close stops listening for replies; Calls waiting fail with [ErrClosed],
// later Calls and Casts too. Casts already returned are unaffected.
// Idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	stop, done := c.stop, c.done
	for id, ch := range c.waiters {
		delete(c.waiters, id)
		close(ch)
	}
	c.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	return nil
}
