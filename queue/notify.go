package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Priority of a notification, as in oslo.messaging. Each priority has its
// own queue: "<topic>.<lower-case priority>".
type Priority string

// Notification priorities. Nova's versioned notifications use INFO and
// ERROR.
const (
	PriorityAudit    Priority = "AUDIT"
	PriorityDebug    Priority = "DEBUG"
	PriorityInfo     Priority = "INFO"
	PriorityWarn     Priority = "WARN"
	PriorityError    Priority = "ERROR"
	PriorityCritical Priority = "CRITICAL"
	PrioritySample   Priority = "SAMPLE"
)

func (p Priority) valid() bool {
	switch p {
	case PriorityAudit, PriorityDebug, PriorityInfo, PriorityWarn, PriorityError, PriorityCritical, PrioritySample:
		return true
	}
	return false
}

// DefaultNotificationTopic is Nova's topic for versioned notifications; INFO
// notifications go to the queue "versioned_notifications.info", ERROR ones
// to "versioned_notifications.error".
const DefaultNotificationTopic = "versioned_notifications"

// NotificationFormat is the format version of notification bodies.
const NotificationFormat = 1

// Payload is a versioned object, the payload of a notification, encoded as
// Nova encodes versioned objects:
//
//	{"nova_object.name":"InstanceActionPayload","nova_object.namespace":"nova",
//	 "nova_object.version":"1.8","nova_object.data":{…}}
//
// When sending, Data is any value encoding/json accepts; received payloads
// hold a json.RawMessage in Data (decode it with [Payload.Decode]).
type Payload struct {
	Name      string `json:"nova_object.name"`
	Namespace string `json:"nova_object.namespace"`
	Version   string `json:"nova_object.version"`
	Data      any    `json:"nova_object.data"`
}

// Decode decodes Data into v.
func (p Payload) Decode(v any) error {
	var raw []byte
	switch d := p.Data.(type) {
	case json.RawMessage:
		raw = d
	case []byte:
		raw = d
	default:
		var err error
		if raw, err = json.Marshal(d); err != nil {
			return err
		}
	}
	return json.Unmarshal(raw, v)
}

// UnmarshalJSON keeps Data raw.
func (p *Payload) UnmarshalJSON(b []byte) error {
	var w struct {
		Name      string          `json:"nova_object.name"`
		Namespace string          `json:"nova_object.namespace"`
		Version   string          `json:"nova_object.version"`
		Data      json.RawMessage `json:"nova_object.data"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = Payload{Name: w.Name, Namespace: w.Namespace, Version: w.Version, Data: w.Data}
	return nil
}

// Notification is one event, as published and as received.
type Notification struct {
	Format      int             `json:"v"`
	MessageID   string          `json:"message_id"`
	EventType   string          `json:"event_type"`   // "instance.create.end"
	PublisherID string          `json:"publisher_id"` // "nova-compute:host1"
	Priority    Priority        `json:"priority"`
	Timestamp   time.Time       `json:"timestamp"`
	Context     *RequestContext `json:"context,omitempty"`
	Payload     Payload         `json:"payload"`
}

// NotifierConfig configures [Transport.NewNotifier].
type NotifierConfig struct {
	// PublisherID names the sender, "<service>:<host>". Required.
	PublisherID string
	// Topic; default DefaultNotificationTopic.
	Topic string
	// Namespace set on payloads that have none; default "nova".
	Namespace string
}

func (c *NotifierConfig) setDefaults() {
	if c.Topic == "" {
		c.Topic = DefaultNotificationTopic
	}
	if c.Namespace == "" {
		c.Namespace = "nova"
	}
}

// Validate reports whether the configuration is usable (after defaults).
func (c NotifierConfig) Validate() error {
	c.setDefaults()
	if c.PublisherID == "" {
		return errors.New("queue: NotifierConfig.PublisherID is required")
	}
	return validName("notification topic", c.Topic)
}

// Notifier publishes versioned notifications. It is safe for concurrent
// use and holds no resources of its own.
type Notifier struct {
	t   *Transport
	cfg NotifierConfig
}

// NewNotifier returns a notifier on t.
func (t *Transport) NewNotifier(cfg NotifierConfig) (*Notifier, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Notifier{t: t, cfg: cfg}, nil
}

// Notify publishes one notification on "<topic>.<priority>" with the
// RequestContext of ctx, and returns once the backend holds it (durably and
// confirmed on AMQP). It retries while the broker is unreachable until ctx
// is done. The notification's MessageID is new for each call.
func (n *Notifier) Notify(ctx context.Context, priority Priority, eventType string, payload Payload) error {
	if !priority.valid() {
		return fmt.Errorf("queue: notify %s: unknown priority %q", eventType, priority)
	}
	if eventType == "" {
		return errors.New("queue: notify needs an event type")
	}
	if payload.Namespace == "" {
		payload.Namespace = n.cfg.Namespace
	}
	no := Notification{
		Format:      NotificationFormat,
		MessageID:   newID(),
		EventType:   eventType,
		PublisherID: n.cfg.PublisherID,
		Priority:    priority,
		Timestamp:   time.Now().UTC(),
		Payload:     payload,
	}
	if rc, ok := RequestContextFrom(ctx); ok {
		no.Context = &rc
	}
	body, err := json.Marshal(no)
	if err != nil {
		return fmt.Errorf("queue: notify %s: encode: %w", eventType, err)
	}
	topic := notificationQueue(n.cfg.Topic, priority)
	if err := n.t.publish(ctx, topic, newMessage(no.MessageID, body, false, time.Time{}), true); err != nil {
		return fmt.Errorf("queue: notify %s: %w", eventType, err)
	}
	return nil
}

// Info publishes an INFO notification; see Notify.
func (n *Notifier) Info(ctx context.Context, eventType string, payload Payload) error {
	return n.Notify(ctx, PriorityInfo, eventType, payload)
}

// Error publishes an ERROR notification; see Notify.
func (n *Notifier) Error(ctx context.Context, eventType string, payload Payload) error {
	return n.Notify(ctx, PriorityError, eventType, payload)
}

func notificationQueue(topic string, p Priority) string {
	return topic + "." + strings.ToLower(string(p))
}

// NotificationHandler handles one notification. Its error is logged; the
// notification is acknowledged either way (a listener that must not lose
// work should record it durably before returning).
type NotificationHandler func(ctx context.Context, n Notification) error

// ListenerConfig configures [Transport.ListenNotifications].
type ListenerConfig struct {
	// Topic; default DefaultNotificationTopic.
	Topic string
	// Priorities to listen to; default INFO and ERROR.
	Priorities []Priority
	// MaxConcurrency bounds handlers running at once; default 1 (in order).
	MaxConcurrency int
}

// Listener consumes notifications until Stop.
type Listener struct {
	router *message.Router
	done   chan struct{}
	once   sync.Once
	cancel context.CancelFunc
}

// ListenNotifications consumes the notification queues of cfg.Topic and
// calls h for each notification. Listeners on the same topic and priority
// share the queue (each notification goes to one of them), as oslo.messaging
// listeners without pools do. It returns once consuming; while the broker
// is unreachable it keeps trying until ctx is done.
func (t *Transport) ListenNotifications(ctx context.Context, cfg ListenerConfig, h NotificationHandler) (*Listener, error) {
	if cfg.Topic == "" {
		cfg.Topic = DefaultNotificationTopic
	}
	if len(cfg.Priorities) == 0 {
		cfg.Priorities = []Priority{PriorityInfo, PriorityError}
	}
	if cfg.MaxConcurrency == 0 {
		cfg.MaxConcurrency = 1
	}
	if err := validName("notification topic", cfg.Topic); err != nil {
		return nil, err
	}
	if h == nil || cfg.MaxConcurrency < 0 {
		return nil, errors.New("queue: ListenNotifications needs a handler and a positive MaxConcurrency")
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, t.wlogger)
	if err != nil {
		return nil, err
	}
	var sub message.Subscriber = retryingSubscriber{t: t, sub: t.sub}
	if t.connected != nil {
		sub = relaySubscriber{t: t, sub: t.sub}
	}
	handle := func(m *message.Message) error {
		var n Notification
		if err := json.Unmarshal(m.Payload, &n); err != nil {
			t.logger.Warn("queue: dropping malformed notification", "message_uuid", m.UUID, "err", err)
			return nil
		}
		ctx := context.WithoutCancel(m.Context())
		if n.Context != nil {
			ctx = context.WithValue(ctx, rcKey, n.Context)
		}
		if err := h(ctx, n); err != nil {
			t.logger.Warn("queue: notification handler failed", "event_type", n.EventType, "err", err)
		}
		return nil
	}
	for _, p := range cfg.Priorities {
		if !p.valid() {
			return nil, fmt.Errorf("queue: ListenNotifications: unknown priority %q", p)
		}
		q := notificationQueue(cfg.Topic, p)
		for i := range cfg.MaxConcurrency {
			router.AddConsumerHandler(fmt.Sprintf("%s#%d", q, i), q, sub, handle)
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l := &Listener{router: router, done: make(chan struct{}), cancel: cancel}
	runErr := make(chan error, 1)
	go func() {
		defer close(l.done)
		runErr <- router.Run(runCtx)
	}()
	select {
	case <-router.Running():
		return l, nil
	case err := <-runErr:
		cancel()
		return nil, fmt.Errorf("queue: listen for notifications: %w", err)
	case <-ctx.Done():
		cancel()
		<-l.done
		return nil, fmt.Errorf("queue: listen for notifications: %w", ctx.Err())
	}
}

// Stop stops consuming and waits for the handlers in flight, until ctx is
// done (then it returns ctx.Err() and the handlers finish on their own).
// Idempotent.
func (l *Listener) Stop(ctx context.Context) error {
	l.once.Do(func() {
		go func() {
			_ = l.router.Close()
			l.cancel()
		}()
	})
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("queue: stop notification listener: %w", ctx.Err())
	}
}
