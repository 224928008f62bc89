package queue

import (
	"context"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// memBroker is an in-process Watermill Publisher and Subscriber with AMQP
// queue semantics, which Watermill's gochannel does not have:
//
//   - a topic is a queue: concurrent Subscribe calls on one topic are
//     competing consumers, each message goes to one of them (round robin
//     among idle consumers);
//   - a durable queue keeps its messages while it has no consumer (from
//     SubscribeInitialize or the first Subscribe on); publishing to a queue
//     that does not exist drops the message, as AMQP's default exchange does;
//   - a consumer holds one unacknowledged message at a time; Nack, and a
//     consumer going away with a message unacknowledged, put the message
//     back at the head of the queue;
//   - "fanout:<topic>" publishes a copy to every queue subscribed as
//     "fanout:<topic>:<id>"; those queues, and "reply_*" queues, are deleted
//     when their last consumer leaves.
//
// A message is handed from the publisher straight to an idle consumer's
// goroutine; there is no goroutine per message. Publish never blocks.
type memBroker struct {
	mu        sync.Mutex
	queues    map[string]*memQueue
	exchanges map[string]map[*memQueue]struct{}
	closed    bool
	closing   chan struct{}
	consumers sync.WaitGroup
}

var (
	_ message.Publisher            = (*memBroker)(nil)
	_ message.Subscriber           = (*memBroker)(nil)
	_ message.SubscribeInitializer = (*memBroker)(nil)
)

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func newMemBroker() *memBroker {
	return &memBroker{
		queues:    make(map[string]*memQueue),
		exchanges: make(map[string]map[*memQueue]struct{}),
		closing:   make(chan struct{}),
	}
}

type memQueue struct {
	name     string
	exchange string
	durable  bool

	mu        sync.Mutex
	pending   []*message.Message
	head      int
	waiting   []*memConsumer // idle consumers, oldest first
	consumers int
	deleted   bool
	holders   int           // consumers waiting for their reader to take a message
	idle      chan struct{} // closed when a consumer goes idle while holders > 0
}

type memConsumer struct {
	ctx     context.Context
	out     chan<- *message.Message
	handoff chan memDelivery // capacity 1, filled under memQueue.mu
}

// memDelivery is a message handed to an idle consumer. When the consumer's
// reader was waiting, the publisher already gave it the message (sent):
// one goroutine switch fewer on the way to the handler; the consumer
// goroutine then only waits for the Ack or Nack.
type memDelivery struct {
	m      *message.Message
	cancel context.CancelFunc
	sent   bool
}

// Publish implements message.Publisher. It copies each message (so the
// caller may keep its own), never blocks, and returns ErrClosed after Close.
func (b *memBroker) Publish(topic string, msgs ...*message.Message) error {
	return b.publish(topic, msgs, true)
}

// publishOwned is Publish for messages the caller gives up (the Transport's
// own): the single-queue case delivers them without a copy.
func (b *memBroker) publishOwned(topic string, m *message.Message) error {
	return b.publish(topic, []*message.Message{m}, false)
}

func (b *memBroker) publish(topic string, msgs []*message.Message, copyMsgs bool) error {
	exchange, queue, _ := topicKind(topic)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if queue == "" {
		bound := make([]*memQueue, 0, len(b.exchanges[exchange]))
		for q := range b.exchanges[exchange] {
			bound = append(bound, q)
		}
		b.mu.Unlock()
		for _, q := range bound {
			for _, m := range msgs {
				q.put(copyMessage(m), false)
			}
		}
		return nil
	}
	q := b.queues[queue]
	b.mu.Unlock()
	if q == nil {
		return nil // no such queue: dropped, as on AMQP's default exchange
	}
	for _, m := range msgs {
		if copyMsgs {
			m = copyMessage(m)
		}
		q.put(m, false)
	}
	return nil
}

func copyMessage(m *message.Message) *message.Message {
	c := message.NewMessage(m.UUID, m.Payload)
	for k, v := range m.Metadata {
		c.Metadata[k] = v
	}
	return c
}

// SubscribeInitialize implements message.SubscribeInitializer: it creates
// the queue for topic so that messages published from now on are kept.
func (b *memBroker) SubscribeInitialize(topic string) error {
	_, err := b.queue(topic, false)
	return err
}

func (b *memBroker) queue(topic string, consume bool) (*memQueue, error) {
	exchange, name, durable := topicKind(topic)
	if name == "" {
		return nil, ErrInvalidTarget
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	q := b.queues[name]
	if q == nil {
		q = &memQueue{name: name, exchange: exchange, durable: durable}
		b.queues[name] = q
		if exchange != "" {
			if b.exchanges[exchange] == nil {
				b.exchanges[exchange] = make(map[*memQueue]struct{})
			}
			b.exchanges[exchange][q] = struct{}{}
		}
	}
	if consume {
		q.mu.Lock()
		q.consumers++
		q.mu.Unlock()
		b.consumers.Add(1)
	}
	return q, nil
}

// Subscribe implements message.Subscriber: the returned channel delivers the
// messages of the queue for topic, one unacknowledged message at a time,
// until ctx is done or the broker is closed; then it is closed.
func (b *memBroker) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	q, err := b.queue(topic, true)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	c := &memConsumer{ctx: ctx, out: out, handoff: make(chan memDelivery, 1)}
	go b.consume(ctx, q, c, out)
	return out, nil
}

func (b *memBroker) consume(ctx context.Context, q *memQueue, c *memConsumer, out chan<- *message.Message) {
	defer b.consumers.Done()
	defer close(out)
	defer b.release(q)
	for {
		d, ok := q.next(ctx, c, b.closing)
		if !ok {
			return
		}
		m, cancel := d.m, d.cancel
		if d.sent {
			goto delivered
		}
		if cancel == nil {
			// Watermill's contract: the message context ends with Ack/Nack.
			var mctx context.Context
			mctx, cancel = context.WithCancel(ctx)
			m.SetContext(mctx)
		}
		select {
		case out <- m: // fast path: the reader is waiting
			goto delivered
		default:
		}
		select {
		case out <- m:
			q.unhold()
		case <-q.hold():
			// Our reader is not reading and another consumer is idle: give
			// the message back rather than keep it from the idle one.
			q.unhold()
			cancel()
			q.put(copyMessage(m), true)
			continue
		case <-ctx.Done():
			q.unhold()
			cancel()
			q.put(copyMessage(m), true)
			return
		case <-b.closing:
			q.unhold()
			cancel()
			return
		}
	delivered:
		// As on AMQP, a delivered message is settled by its Ack or Nack even
		// when the subscription ends meanwhile: a graceful stop lets the
		// handler finish instead of handing the message to someone else.
		select {
		case <-m.Acked():
		case <-m.Nacked():
			q.put(copyMessage(m), true)
		case <-b.closing:
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
	}
}

// hold registers a consumer about to wait for its reader and returns a
// channel closed when another consumer of q is idle, now or later.
func (q *memQueue) hold() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.holders++
	if len(q.waiting) > 0 {
		return closedChan
	}
	if q.idle == nil {
		q.idle = make(chan struct{})
	}
	return q.idle
}

func (q *memQueue) unhold() {
	q.mu.Lock()
	q.holders--
	q.mu.Unlock()
}

// release drops a consumer and deletes a transient queue left without any.
func (b *memBroker) release(q *memQueue) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q.mu.Lock()
	q.consumers--
	del := q.consumers == 0 && !q.durable
	if del {
		q.deleted = true
		q.pending, q.head = nil, 0
	}
	q.mu.Unlock()
	if del && b.queues[q.name] == q {
		delete(b.queues, q.name)
		if q.exchange != "" {
			delete(b.exchanges[q.exchange], q)
			if len(b.exchanges[q.exchange]) == 0 {
				delete(b.exchanges, q.exchange)
			}
		}
	}
}

// put hands m to an idle consumer or queues it (at the head when front).
func (q *memQueue) put(m *message.Message, front bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.deleted {
		return
	}
	if len(q.waiting) > 0 {
		c := q.waiting[0]
		copy(q.waiting, q.waiting[1:])
		q.waiting[len(q.waiting)-1] = nil
		q.waiting = q.waiting[:len(q.waiting)-1]
		mctx, cancel := context.WithCancel(c.ctx)
		m.SetContext(mctx)
		d := memDelivery{m: m, cancel: cancel}
		select {
		case c.out <- m: // c is idle, so it cannot have closed out
			d.sent = true
		default:
		}
		c.handoff <- d // capacity 1 and c was idle: never blocks
		return
	}
	if front {
		if q.head > 0 {
			q.head--
			q.pending[q.head] = m
			return
		}
		q.pending = append(q.pending, nil)
		copy(q.pending[1:], q.pending)
		q.pending[0] = m
		return
	}
	if q.head > 0 && q.head == len(q.pending) {
		q.pending, q.head = q.pending[:0], 0
	}
	q.pending = append(q.pending, m)
}

// next returns the next delivery for c, waiting for one; false when ctx is
// done or closing is closed and nothing was handed over.
func (q *memQueue) next(ctx context.Context, c *memConsumer, closing <-chan struct{}) (memDelivery, bool) {
	q.mu.Lock()
	if q.head < len(q.pending) {
		m := q.pending[q.head]
		q.pending[q.head] = nil
		q.head++
		if q.head == len(q.pending) {
			q.pending, q.head = q.pending[:0], 0
		}
		q.mu.Unlock()
		return memDelivery{m: m}, true
	}
	q.waiting = append(q.waiting, c)
	if q.holders > 0 && q.idle != nil {
		close(q.idle)
		q.idle = nil
	}
	q.mu.Unlock()
	select {
	case d := <-c.handoff:
		return d, true
	case <-ctx.Done():
	case <-closing:
	}
	q.mu.Lock()
	for i, w := range q.waiting {
		if w == c {
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
			break
		}
	}
	q.mu.Unlock()
	select {
	case d := <-c.handoff: // handed over before we left the waiting list
		return d, true
	default:
	}
	return memDelivery{}, false
}

// Close implements message.Publisher and message.Subscriber: it closes every
// subscription channel and waits for the consumer goroutines. Messages still
// queued are discarded. Idempotent.
func (b *memBroker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.consumers.Wait()
		return nil
	}
	b.closed = true
	close(b.closing)
	b.mu.Unlock()
	b.consumers.Wait()
	return nil
}
