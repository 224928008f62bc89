package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
)

// Transport is a connection to a message backend (in-memory or AMQP) from
// which [Client], [Server], [Notifier] and notification listeners are made.
// Open one with [Open], [NewMem] or [NewAMQP].
//
// It is built on Watermill and does not hide it: [Transport.Publisher] and
// [Transport.Subscriber] return the Watermill Publisher and Subscriber it
// uses, for embedders who want their own routers or components on the same
// connection.
//
// A Transport is safe for concurrent use. Close it after the clients,
// servers and listeners made from it.
type Transport struct {
	scheme  string
	display string // URL without password
	durable bool

	pub      message.Publisher
	sub      message.Subscriber // work queues (durable and fanout)
	replySub message.Subscriber // reply queues
	closers  []func() error     // after pub/sub, in order

	// connected reports whether the subscriber side is connected (AMQP);
	// nil means always.
	connected func() bool

	logger  *slog.Logger
	wlogger watermill.LoggerAdapter

	publishRetry time.Duration // < 0: no retry

	declared sync.Map // durable queue name -> struct{}

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
}

func newTransport(scheme, display string, durable bool, logger *slog.Logger, publishRetry time.Duration) *Transport {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Transport{
		scheme:       scheme,
		display:      display,
		durable:      durable,
		logger:       logger,
		wlogger:      slogAdapter{logger},
		publishRetry: publishRetry,
		closing:      make(chan struct{}),
	}
}

// Scheme returns the URL scheme of the backend ("mem" or "amqp").
func (t *Transport) Scheme() string { return t.scheme }

// String returns the transport's URL with any password removed.
func (t *Transport) String() string { return t.display }

// Durable reports whether casts survive a broker restart (true for AMQP,
// false for mem://, whose queues live in the process).
func (t *Transport) Durable() bool { return t.durable }

// Publisher returns the Watermill publisher the transport sends with.
// Messages published on it must follow the queue naming rules in the
// package documentation. Do not close it; close the Transport.
func (t *Transport) Publisher() message.Publisher { return t.pub }

// Subscriber returns the Watermill subscriber the transport consumes work
// queues with. Do not close it; close the Transport.
func (t *Transport) Subscriber() message.Subscriber { return t.sub }

// Close closes the backend connections; subscriptions end and later calls
// fail with [ErrClosed]. Stop servers and close clients first: Close does not
// drain handlers. Idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.closing)
	t.mu.Unlock()
	var errs []error
	if err := t.pub.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := t.sub.Close(); err != nil {
		errs = append(errs, err)
	}
	if t.replySub != t.sub {
		if err := t.replySub.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range t.closers {
		if err := c(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("queue: close %s: %w", t.display, err)
	}
	return nil
}

func (t *Transport) isClosed() bool {
	select {
	case <-t.closing:
		return true
	default:
		return false
	}
}

// Metadata keys understood by the AMQP marshaler (and ignored by mem://).
const (
	mdTransient  = "queue_transient"  // "1": not persisted by the broker
	mdExpiration = "queue_expiration" // message TTL in milliseconds
)

// newMessage wraps an encoded envelope in a Watermill message.
func newMessage(id string, payload []byte, transient bool, deadline time.Time) *message.Message {
	m := message.NewMessage(id, payload)
	if transient {
		m.Metadata[mdTransient] = "1"
	}
	if !deadline.IsZero() {
		ms := time.Until(deadline).Milliseconds()
		if ms < 1 {
			ms = 1
		}
		m.Metadata[mdExpiration] = strconv.FormatInt(ms, 10)
	}
	return m
}

// publish sends m to topic, declaring a durable queue first when it is one
// and declare is set, and retries while the broker is unreachable until ctx
// is done. It returns nil once the backend has the message (for AMQP with
// confirms: once the broker confirmed it).
//
// Casts and notifications declare their queue, so that they are kept until
// a consumer comes. Calls do not: a call to a server that never started is
// dropped and times out (as with oslo.messaging), instead of leaving a
// durable queue behind for a host that may not exist.
func (t *Transport) publish(ctx context.Context, topic string, m *message.Message, declare bool) error {
	m.SetContext(ctx) // bounds the wait for a publisher confirm
	var last error
	delay := t.publishRetry
	for {
		err := t.publishOnce(topic, m, declare)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrClosed) || t.isClosed() {
			return fmt.Errorf("queue: publish to %s: %w", topic, ErrClosed)
		}
		last = err
		if t.publishRetry < 0 {
			return fmt.Errorf("queue: publish to %s on %s: %w", topic, t.display, err)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("queue: publish to %s on %s: %w (last error: %v)", topic, t.display, ctx.Err(), last)
		case <-t.closing:
			timer.Stop()
			return fmt.Errorf("queue: publish to %s: %w", topic, ErrClosed)
		case <-timer.C:
		}
		if delay < 2*time.Second {
			delay = delay * 3 / 2
		}
	}
}

func (t *Transport) publishOnce(topic string, m *message.Message, declare bool) error {
	if t.isClosed() {
		return ErrClosed
	}
	if declare {
		if err := t.declare(topic); err != nil {
			return err
		}
	}
	if b, ok := t.pub.(*memBroker); ok {
		return b.publishOwned(topic, m)
	}
	return t.pub.Publish(topic, m)
}

// declare makes sure the durable queue behind topic exists before the first
// publish to it (watermill-amqp's publisher declares no queue, and a message
// sent to a missing queue is dropped).
func (t *Transport) declare(topic string) error {
	if _, queue, durable := topicKind(topic); !durable || queue == "" {
		return nil
	}
	if _, ok := t.declared.Load(topic); ok {
		return nil
	}
	si, ok := t.sub.(message.SubscribeInitializer)
	if !ok {
		return nil
	}
	if err := si.SubscribeInitialize(topic); err != nil {
		return fmt.Errorf("declare queue %s: %w", topic, err)
	}
	t.declared.Store(topic, struct{}{})
	return nil
}

// subscribe subscribes to topic for as long as life lasts, retrying while
// the subscriber side is not connected (watermill-amqp's Subscribe fails
// fast with "not connected" for a while after a broker restart) until wait
// or life is done.
func (t *Transport) subscribe(wait, life context.Context, sub message.Subscriber, topic string) (<-chan *message.Message, error) {
	delay := 50 * time.Millisecond
	for {
		if t.connected == nil || t.connected() {
			ch, err := sub.Subscribe(life, topic)
			if err == nil {
				return ch, nil
			}
			if t.isClosed() || t.connected == nil {
				return nil, fmt.Errorf("queue: subscribe to %s on %s: %w", topic, t.display, err)
			}
			t.logger.Debug("queue: subscribe failed, retrying", "topic", topic, "err", err)
		}
		timer := time.NewTimer(delay)
		select {
		case <-wait.Done():
			timer.Stop()
			return nil, fmt.Errorf("queue: subscribe to %s on %s: %w", topic, t.display, wait.Err())
		case <-life.Done():
			timer.Stop()
			return nil, fmt.Errorf("queue: subscribe to %s on %s: %w", topic, t.display, life.Err())
		case <-t.closing:
			timer.Stop()
			return nil, fmt.Errorf("queue: subscribe to %s: %w", topic, ErrClosed)
		case <-timer.C:
		}
		if delay < time.Second {
			delay *= 2
		}
	}
}

// retryingSubscriber is the Subscriber handed to Watermill routers: its
// Subscribe waits out broker outages instead of failing the router.
type retryingSubscriber struct {
	t   *Transport
	sub message.Subscriber
}

func (r retryingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	return r.t.subscribe(ctx, ctx, r.sub, topic)
}

// Close does nothing: the Transport owns the subscriber.
func (r retryingSubscriber) Close() error { return nil }

var _ message.Subscriber = retryingSubscriber{}

// relaySubscriber is the Subscriber servers use on a network broker. It
// relays watermill-amqp's subscription channel and closes its own as soon
// as ctx is done (nacking anything that still arrives, so it goes back to
// the queue): watermill-amqp keeps a subscription's channel open for a
// while after its ctx ends (it sleeps, re-declares and may consume again
// before it notices), which would hold up a router's Close.
//
// With async set, Subscribe returns at once and subscribes in the
// background: each AMQP subscription costs several round trips and a
// router subscribes its handlers one after the other, so Start waits for
// one consumer per queue and the others attach while it already serves.
type relaySubscriber struct {
	t     *Transport
	sub   message.Subscriber
	async bool
}

func (r relaySubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	var in <-chan *message.Message
	if !r.async {
		var err error
		if in, err = r.t.subscribe(ctx, ctx, r.sub, topic); err != nil {
			return nil, err
		}
	}
	out := make(chan *message.Message)
	go func() {
		if in == nil {
			var err error
			if in, err = r.t.subscribe(ctx, ctx, r.sub, topic); err != nil {
				close(out)
				return // ctx done or transport closed
			}
		}
		relay(ctx, in, out)
	}()
	return out, nil
}

func relay(ctx context.Context, in <-chan *message.Message, out chan<- *message.Message) {
	defer func() {
		close(out)
		for m := range in { // until watermill-amqp lets go
			m.Nack()
		}
	}()
	for {
		select {
		case m, ok := <-in:
			if !ok {
				return
			}
			select {
			case out <- m:
			case <-ctx.Done():
				m.Nack()
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// Close does nothing: the Transport owns the subscriber.
func (r relaySubscriber) Close() error { return nil }

var _ message.Subscriber = relaySubscriber{}

func newID() string { return uuid.NewString() }
