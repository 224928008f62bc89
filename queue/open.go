package queue

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// URLOpener opens a Transport for a URL of the scheme it is registered
// under. Implementations must be safe for concurrent use.
type URLOpener interface {
	OpenTransportURL(ctx context.Context, u *url.URL) (*Transport, error)
}

// URLOpenerFunc adapts a function to [URLOpener].
type URLOpenerFunc func(ctx context.Context, u *url.URL) (*Transport, error)

// OpenTransportURL calls f.
func (f URLOpenerFunc) OpenTransportURL(ctx context.Context, u *url.URL) (*Transport, error) {
	return f(ctx, u)
}

// URLMux maps URL schemes to openers. It is a value: build one, register
// schemes, pass it where transports are opened. The zero value is an empty
// mux ready to use; it is safe for concurrent use.
type URLMux struct {
	mu      sync.RWMutex
	openers map[string]URLOpener
}

// Register adds an opener for scheme. Registering a scheme twice returns an
// error wrapping [ErrDuplicate].
func (m *URLMux) Register(scheme string, o URLOpener) error {
	if scheme == "" || o == nil {
		return fmt.Errorf("queue: URLMux.Register needs a scheme and an opener")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.openers[scheme]; ok {
		return fmt.Errorf("%w: URL scheme %q", ErrDuplicate, scheme)
	}
	if m.openers == nil {
		m.openers = make(map[string]URLOpener)
	}
	m.openers[scheme] = o
	return nil
}

// Schemes returns the registered schemes, sorted.
func (m *URLMux) Schemes() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := make([]string, 0, len(m.openers))
	for k := range m.openers {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

// Open parses rawURL and opens it with the opener of its scheme. Errors
// name the URL with its password removed and wrap [ErrUnknownScheme] for an
// unregistered scheme.
func (m *URLMux) Open(ctx context.Context, rawURL string) (*Transport, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the whole URL, password included: do not wrap it.
		return nil, fmt.Errorf("queue: malformed URL %s", RedactURL(rawURL))
	}
	m.mu.RLock()
	o := m.openers[u.Scheme]
	m.mu.RUnlock()
	if o == nil {
		return nil, fmt.Errorf("queue: open %s: %w %q", RedactURL(rawURL), ErrUnknownScheme, u.Scheme)
	}
	return o.OpenTransportURL(ctx, u)
}

// DefaultURLMux returns a new mux with the built-in schemes: "mem" (see
// [MemURLOpener]) and "amqp"/"amqps" (see [AMQPURLOpener]), each with its
// default configuration. Each call builds a new mux; there is no global one.
func DefaultURLMux() *URLMux {
	m := new(URLMux)
	_ = m.Register("mem", &MemURLOpener{})
	_ = m.Register("amqp", &AMQPURLOpener{})
	_ = m.Register("amqps", &AMQPURLOpener{})
	return m
}

// Open opens a transport by URL with [DefaultURLMux]:
//
//	mem://                                    in-process queues
//	amqp://guest:guest@127.0.0.1:5672/        RabbitMQ, durable casts
//	amqp://…/?pool=16&prefetch=1&confirm=true&retry=200ms&dial_timeout=5s
//
// Open fails fast when the URL is malformed or the broker unreachable, with
// an error naming the URL without its password.
func Open(ctx context.Context, rawURL string) (*Transport, error) {
	return DefaultURLMux().Open(ctx, rawURL)
}

// RedactURL returns rawURL with the password of its user information
// replaced by "xxxxx", working on malformed URLs too.
func RedactURL(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		if _, has := u.User.Password(); !has {
			return rawURL
		}
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return "(unparseable URL)"
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return rawURL
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return rawURL
	}
	return scheme + "://" + user + ":xxxxx@" + rest[at+1:]
}

// MemURLOpener opens "mem://" URLs with [NewMem]. Config is used as it is;
// the URL takes no options.
type MemURLOpener struct {
	Config MemConfig
}

// OpenTransportURL implements URLOpener.
func (o *MemURLOpener) OpenTransportURL(_ context.Context, u *url.URL) (*Transport, error) {
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("queue: open %s: mem:// takes no host, path or options", u.Redacted())
	}
	return NewMem(o.Config)
}

// AMQPURLOpener opens "amqp://" and "amqps://" URLs with [NewAMQP]. The URL
// (without its query) becomes Config.URL; query options override Config:
// pool (ChannelPoolSize), stock_publisher (StockPublisher), prefetch,
// confirm (false disables publisher confirms), retry
// (PublishRetryInterval, a Go duration, "-1s" disables), dial_timeout.
type AMQPURLOpener struct {
	Config AMQPConfig
}

// OpenTransportURL implements URLOpener.
func (o *AMQPURLOpener) OpenTransportURL(ctx context.Context, u *url.URL) (*Transport, error) {
	cfg := o.Config
	q := u.Query()
	bad := func(key string, err error) error {
		return fmt.Errorf("queue: open %s: option %s: %w", u.Redacted(), key, err)
	}
	for key, vals := range q {
		v := vals[len(vals)-1]
		var err error
		switch key {
		case "stock_publisher":
			cfg.StockPublisher, err = strconv.ParseBool(v)
		case "pool":
			cfg.ChannelPoolSize, err = strconv.Atoi(v)
		case "prefetch":
			cfg.Prefetch, err = strconv.Atoi(v)
		case "confirm":
			var b bool
			b, err = strconv.ParseBool(v)
			cfg.NoConfirm = !b
		case "retry":
			cfg.PublishRetryInterval, err = time.ParseDuration(v)
		case "dial_timeout":
			cfg.DialTimeout, err = time.ParseDuration(v)
		default:
			err = fmt.Errorf("unknown option")
		}
		if err != nil {
			return nil, bad(key, err)
		}
	}
	c := *u
	c.RawQuery = ""
	cfg.URL = c.String()
	return NewAMQPContext(ctx, cfg)
}

// MemConfig configures [NewMem].
type MemConfig struct {
	// Logger receives the transport's and Watermill's logs; nil discards.
	Logger *slog.Logger
}

// Validate reports whether the configuration is usable. MemConfig has no
// invalid values; Validate exists for symmetry with the other configs.
func (c MemConfig) Validate() error { return nil }

// NewMem returns an in-process transport: queues live in this process (lost
// when it exits), with the same routing, acknowledgement and redelivery
// rules as AMQP, so code tested on mem:// behaves the same on RabbitMQ
// except for durability. Every client and server that should talk must share
// the one Transport.
func NewMem(cfg MemConfig) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := newTransport("mem", "mem://", false, cfg.Logger, -1)
	b := newMemBroker()
	t.pub, t.sub, t.replySub = b, b, b
	return t, nil
}
