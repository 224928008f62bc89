package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
)

// AMQPConfig configures [NewAMQP]. The zero value of every field but URL
// means its default.
type AMQPConfig struct {
	// URL of the broker, "amqp://user:pass@host:5672/vhost". Required.
	URL string

	// ChannelPoolSize is the number of AMQP channels publishes share.
	// Publishes are pipelined: a channel is held only while a message is
	// written, and any number of messages per channel await their confirm
	// concurrently. Default 8.
	ChannelPoolSize int

	// StockPublisher publishes with watermill-amqp's Publisher instead
	// (Publish.ChannelPoolSize, Publish.ConfirmDelivery): it holds a pooled
	// channel until its one message is confirmed, so at most
	// ChannelPoolSize casts are in flight, which caps durable throughput at
	// ChannelPoolSize / confirm latency.
	StockPublisher bool

	// Prefetch is the consumer prefetch (basic.qos) of each server
	// subscription. Each subscription handles one message at a time, so 1
	// (the default) keeps unstarted work on the broker where an idle server
	// can take it.
	Prefetch int

	// NoConfirm turns publisher confirms off: Cast then returns once the
	// message is written to the socket, and a broker crash can lose it.
	NoConfirm bool

	// PublishRetryInterval is the first wait between publish attempts while
	// the broker is unreachable (it grows to 2 s); attempts go on until the
	// caller's ctx is done. Default 200 ms; negative disables retries.
	PublishRetryInterval time.Duration

	// DialTimeout bounds connecting to the broker. Default 5 s.
	DialTimeout time.Duration

	// Heartbeat is the AMQP heartbeat interval. Default 10 s.
	Heartbeat time.Duration

	// ReconnectInitialInterval and ReconnectMaxInterval shape the backoff of
	// reconnects after the connection is lost. Defaults 100 ms and 2 s.
	ReconnectInitialInterval time.Duration
	ReconnectMaxInterval     time.Duration

	// Logger receives the transport's and Watermill's logs; nil discards.
	Logger *slog.Logger
}

func (c *AMQPConfig) setDefaults() {
	if c.ChannelPoolSize == 0 {
		c.ChannelPoolSize = 8
	}
	if c.Prefetch == 0 {
		c.Prefetch = 1
	}
	if c.PublishRetryInterval == 0 {
		c.PublishRetryInterval = 200 * time.Millisecond
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 10 * time.Second
	}
	if c.ReconnectInitialInterval == 0 {
		c.ReconnectInitialInterval = 100 * time.Millisecond
	}
	if c.ReconnectMaxInterval == 0 {
		c.ReconnectMaxInterval = 2 * time.Second
	}
}

// Validate reports whether the configuration is usable (after defaults).
// Errors never include the password.
func (c AMQPConfig) Validate() error {
	c.setDefaults()
	if c.URL == "" {
		return errors.New("queue: AMQPConfig.URL is empty")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("queue: malformed AMQP URL %s", RedactURL(c.URL))
	}
	if u.Scheme != "amqp" && u.Scheme != "amqps" {
		return fmt.Errorf("queue: AMQP URL %s: scheme must be amqp or amqps", u.Redacted())
	}
	if _, err := amqp.ParseURI(c.URL); err != nil {
		return fmt.Errorf("queue: malformed AMQP URL %s: %w", u.Redacted(), err)
	}
	switch {
	case c.ChannelPoolSize < 1:
		return errors.New("queue: AMQPConfig.ChannelPoolSize must be positive")
	case c.Prefetch < 1:
		return errors.New("queue: AMQPConfig.Prefetch must be positive")
	case c.DialTimeout < 0 || c.Heartbeat < 0 || c.ReconnectInitialInterval < 0 || c.ReconnectMaxInterval < 0:
		return errors.New("queue: AMQPConfig durations must not be negative")
	}
	return nil
}

// NewAMQP connects to RabbitMQ; see [NewAMQPContext].
func NewAMQP(cfg AMQPConfig) (*Transport, error) {
	return NewAMQPContext(context.Background(), cfg)
}

// NewAMQPContext connects to an AMQP 0-9-1 broker (RabbitMQ) with
// watermill-amqp: one connection for publishing (a few confirming channels
// with publishes pipelined on them, see AMQPConfig.ChannelPoolSize) and one
// for consuming (watermill-amqp's Subscriber), each reconnecting by itself
// after the broker restarts; the Transport and everything made from it keep
// working.
//
// Topology (default exchange for queues, one fanout exchange per topic):
// work queues "<topic>" and "<topic>.<server>" are durable and receive
// persistent messages; "reply_<id>" and "<topic>_fanout_<id>" queues are
// transient and auto-deleted. Calls and replies are transient and carry a
// TTL equal to the call's remaining time.
//
// It fails fast, with an error naming the URL without its password, when
// the URL is malformed or the broker cannot be reached within DialTimeout
// (or before ctx is done).
func NewAMQPContext(ctx context.Context, cfg AMQPConfig) (*Transport, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.URL)
	display := u.Redacted()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("queue: connect to %s: %w", display, err)
	}
	t := newTransport(u.Scheme, display, true, cfg.Logger, cfg.PublishRetryInterval)
	wcfg := watermillAMQPConfig(cfg)

	fail := func(err error) (*Transport, error) {
		for i := len(t.closers) - 1; i >= 0; i-- {
			_ = t.closers[i]()
		}
		return nil, fmt.Errorf("queue: connect to %s: %w", display, redactErr(err, cfg.URL))
	}
	pubConn, err := wamqp.NewConnection(wcfg.Connection, t.wlogger)
	if err != nil {
		return fail(err)
	}
	t.closers = append(t.closers, pubConn.Close)
	subConn, err := wamqp.NewConnection(wcfg.Connection, t.wlogger)
	if err != nil {
		return fail(err)
	}
	t.closers = append(t.closers, subConn.Close)

	var pub message.Publisher = newPipelinedPublisher(pubConn, cfg.ChannelPoolSize, !cfg.NoConfirm)
	if cfg.StockPublisher {
		if pub, err = wamqp.NewPublisherWithConnection(wcfg, t.wlogger, pubConn); err != nil {
			return fail(err)
		}
	}
	sub, err := wamqp.NewSubscriberWithConnection(wcfg, t.wlogger, subConn)
	if err != nil {
		_ = pub.Close()
		return fail(err)
	}
	rcfg := wcfg
	rcfg.Consume.Qos.PrefetchCount = 64 // replies are acked as soon as they are read
	replySub, err := wamqp.NewSubscriberWithConnection(rcfg, t.wlogger, subConn)
	if err != nil {
		_ = pub.Close()
		_ = sub.Close()
		return fail(err)
	}
	t.pub, t.sub, t.replySub = pub, sub, replySub
	t.connected = subConn.IsConnected
	return t, nil
}

// redactErr removes the URL's password from an error text, in case a lower
// layer quoted the URL.
func redactErr(err error, rawURL string) error {
	u, perr := url.Parse(rawURL)
	if perr != nil || u.User == nil {
		return err
	}
	pass, ok := u.User.Password()
	if !ok || pass == "" || !strings.Contains(err.Error(), pass) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pass, "xxxxx"))
}

func watermillAMQPConfig(cfg AMQPConfig) wamqp.Config {
	return wamqp.Config{
		Connection: wamqp.ConnectionConfig{
			AmqpURI: cfg.URL,
			AmqpConfig: &amqp.Config{
				Heartbeat: cfg.Heartbeat,
				Locale:    "en_US",
				Dial:      amqp.DefaultDial(cfg.DialTimeout),
			},
			Reconnect: &wamqp.ReconnectConfig{
				BackoffInitialInterval:     cfg.ReconnectInitialInterval,
				BackoffRandomizationFactor: 0.3,
				BackoffMultiplier:          1.5,
				BackoffMaxInterval:         cfg.ReconnectMaxInterval,
			},
		},
		Marshaler: wireMarshaler{},
		Exchange: wamqp.ExchangeConfig{
			GenerateName: func(topic string) string {
				ex, _, _ := topicKind(topic)
				return ex
			},
			Type:    "fanout",
			Durable: true,
		},
		Queue: wamqp.QueueConfig{
			GenerateName: func(topic string) string {
				_, q, _ := topicKind(topic)
				return q
			},
		},
		QueueBind: wamqp.QueueBindConfig{
			GenerateRoutingKey: func(string) string { return "" },
		},
		Publish: wamqp.PublishConfig{
			GenerateRoutingKey: func(topic string) string {
				ex, q, _ := topicKind(topic)
				if ex != "" {
					return ""
				}
				return q
			},
			ChannelPoolSize: cfg.ChannelPoolSize,
			ConfirmDelivery: !cfg.NoConfirm,
		},
		Consume: wamqp.ConsumeConfig{
			Qos: wamqp.QosConfig{PrefetchCount: cfg.Prefetch},
		},
		TopologyBuilder: topologyBuilder{},
	}
}

// topologyBuilder declares queues by the naming rules of this package:
// durable work queues, transient auto-deleted reply and fanout queues, and
// durable fanout exchanges.
type topologyBuilder struct{}

var _ wamqp.TopologyBuilder = topologyBuilder{}

func (topologyBuilder) BuildTopology(ch *amqp.Channel, queueName, exchangeName string, cfg wamqp.Config, _ watermill.LoggerAdapter) error {
	durable := exchangeName == "" && !strings.HasPrefix(queueName, replyPrefix)
	if _, err := ch.QueueDeclare(queueName, durable, !durable, false, false, nil); err != nil {
		return fmt.Errorf("declare queue %s: %w", queueName, err)
	}
	if exchangeName == "" {
		return nil
	}
	if err := (topologyBuilder{}).ExchangeDeclare(ch, exchangeName, cfg); err != nil {
		return fmt.Errorf("declare exchange %s: %w", exchangeName, err)
	}
	if err := ch.QueueBind(queueName, "", exchangeName, false, nil); err != nil {
		return fmt.Errorf("bind queue %s to %s: %w", queueName, exchangeName, err)
	}
	return nil
}

func (topologyBuilder) ExchangeDeclare(ch *amqp.Channel, exchangeName string, _ wamqp.Config) error {
	return ch.ExchangeDeclare(exchangeName, "fanout", true, false, false, false, nil)
}

// wireMarshaler maps Watermill messages to AMQP publishings: the message
// UUID is the AMQP message-id, metadata become headers, and the metadata
// keys mdTransient and mdExpiration set the delivery mode and the TTL.
type wireMarshaler struct{}

var _ wamqp.Marshaler = wireMarshaler{}

func (wireMarshaler) Marshal(msg *message.Message) (amqp.Publishing, error) {
	p := amqp.Publishing{
		MessageId:    msg.UUID,
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		Body:         msg.Payload,
	}
	for k, v := range msg.Metadata {
		switch k {
		case mdTransient:
			if v == "1" {
				p.DeliveryMode = amqp.Transient
			}
		case mdExpiration:
			p.Expiration = v
		default:
			if p.Headers == nil {
				p.Headers = make(amqp.Table, len(msg.Metadata))
			}
			p.Headers[k] = v
		}
	}
	return p, nil
}

func (wireMarshaler) Unmarshal(d amqp.Delivery) (*message.Message, error) {
	msg := message.NewMessage(d.MessageId, d.Body)
	for k, v := range d.Headers {
		if s, ok := v.(string); ok {
			msg.Metadata[k] = s
		}
	}
	if d.Redelivered {
		msg.Metadata["redelivered"] = "true"
	}
	return msg, nil
}
