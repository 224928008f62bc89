package queue

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
)

// pipelinedPublisher is a Watermill Publisher for AMQP that keeps many
// publishes in flight per channel and waits for their confirms
// concurrently. watermill-amqp's Publisher holds a pooled channel until the
// broker confirmed the one message it sent on it, so its throughput is
// (pool size / confirm latency); here a channel is held only while the
// frames are written, and each Publish call then waits for its own deferred
// confirmations. The broker confirms in batches (multiple=true), so many
// concurrent casts share one fsync and one confirm frame.
//
// It shares watermill-amqp's ConnectionWrapper, which reconnects after a
// broker restart; a channel found closed is reopened on the current
// connection. Publish is safe for concurrent use, blocks until every message
// is confirmed (or the channel fails, or msg.Context() is done) and returns
// an error unless the broker acked all of them.
type pipelinedPublisher struct {
	conn     *wamqp.ConnectionWrapper
	channels []*confirmChannel
	next     atomic.Uint32
	confirm  bool

	exchanges sync.Map // declared fanout exchange names

	closeOnce sync.Once
	closed    atomic.Bool
}

var _ message.Publisher = (*pipelinedPublisher)(nil)

type confirmChannel struct {
	mu sync.Mutex
	ch *amqp.Channel
}

func newPipelinedPublisher(conn *wamqp.ConnectionWrapper, channels int, confirm bool) *pipelinedPublisher {
	p := &pipelinedPublisher{conn: conn, confirm: confirm, channels: make([]*confirmChannel, channels)}
	for i := range p.channels {
		p.channels[i] = &confirmChannel{}
	}
	return p
}

// open returns a usable AMQP channel, reopening it if needed. Called with
// c.mu held.
func (p *pipelinedPublisher) open(c *confirmChannel) (*amqp.Channel, error) {
	if c.ch != nil && !c.ch.IsClosed() {
		return c.ch, nil
	}
	if !p.conn.IsConnected() {
		return nil, errors.New("not connected to AMQP")
	}
	conn := p.conn.Connection()
	if conn == nil || conn.IsClosed() {
		return nil, errors.New("not connected to AMQP")
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open AMQP channel: %w", err)
	}
	if p.confirm {
		if err := ch.Confirm(false); err != nil {
			_ = ch.Close()
			return nil, fmt.Errorf("enable publisher confirms: %w", err)
		}
	}
	c.ch = ch
	return ch, nil
}

// Publish implements message.Publisher.
func (p *pipelinedPublisher) Publish(topic string, msgs ...*message.Message) error {
	if p.closed.Load() {
		return ErrClosed
	}
	exchange, queue, _ := topicKind(topic)
	routingKey := queue
	if exchange != "" {
		routingKey = ""
	}
	c := p.channels[int(p.next.Add(1))%len(p.channels)]
	pending := make([]*amqp.DeferredConfirmation, 0, len(msgs))

	c.mu.Lock()
	ch, err := p.open(c)
	if err == nil && exchange != "" {
		if _, ok := p.exchanges.Load(exchange); !ok {
			if err = (topologyBuilder{}).ExchangeDeclare(ch, exchange, wamqp.Config{}); err == nil {
				p.exchanges.Store(exchange, struct{}{})
			} else {
				err = fmt.Errorf("declare exchange %s: %w", exchange, err)
			}
		}
	}
	if err == nil {
		for _, m := range msgs {
			var pub amqp.Publishing
			pub, err = wireMarshaler{}.Marshal(m)
			if err != nil {
				break
			}
			var dc *amqp.DeferredConfirmation
			dc, err = ch.PublishWithDeferredConfirmWithContext(m.Context(), exchange, routingKey, false, false, pub)
			if err != nil {
				err = fmt.Errorf("publish: %w", err)
				break
			}
			if dc != nil {
				pending = append(pending, dc)
			}
		}
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	for i, dc := range pending {
		ok, werr := dc.WaitContext(msgs[i].Context())
		if werr != nil {
			return fmt.Errorf("waiting for the publisher confirm of message %s: %w", msgs[i].UUID, werr)
		}
		if !ok {
			return fmt.Errorf("broker did not confirm message %s (nack or channel closed)", msgs[i].UUID)
		}
	}
	return nil
}

// Close closes the channels; the connection belongs to the Transport.
func (p *pipelinedPublisher) Close() error {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		for _, c := range p.channels {
			c.mu.Lock()
			if c.ch != nil {
				_ = c.ch.Close()
			}
			c.mu.Unlock()
		}
	})
	return nil
}
