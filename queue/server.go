package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// DefaultMaxConcurrency is the default number of handlers a Server runs at
// once (oslo.messaging's executor_thread_pool_size).
const DefaultMaxConcurrency = 64

// HandlerFunc handles one RPC method. args is the raw JSON the caller sent
// (nil when it sent none). The result is encoded with encoding/json and
// returned to a Call; for a Cast it is discarded. A returned error goes back
// to the caller with the code ServerConfig.Errors gives it.
//
// ctx carries the caller's [RequestContext], [TraceContext] and the
// [Delivery]; its deadline is the caller's. It is not canceled by a graceful
// [Server.Stop], only when Stop's own ctx runs out.
//
// Handlers run concurrently (up to ServerConfig.MaxConcurrency) and must be
// idempotent: a message is delivered at least once.
type HandlerFunc func(ctx context.Context, args json.RawMessage) (result any, err error)

// ServerConfig configures [Transport.NewServer].
type ServerConfig struct {
	// Topic the server listens on ("compute", "scheduler"...). Required.
	Topic string

	// Server is this server's name on the topic, usually the host name.
	// When set, the server also consumes the queue "<topic>.<server>".
	// Each server (set or not) gets its own fanout queue.
	Server string

	// Version is the RPC API version this server implements ("6.5").
	// Requests for another major or a higher minor are refused with
	// ErrUnsupportedVersion. Default "1.0".
	Version string

	// MaxConcurrency bounds the handlers running at once. Default
	// DefaultMaxConcurrency. On AMQP each work queue gets that many
	// consumers (channels) with prefetch AMQPConfig.Prefetch.
	MaxConcurrency int

	// HandlerTimeout, when positive, bounds every handler's ctx (Watermill's
	// Timeout middleware) in addition to the caller's deadline.
	HandlerTimeout time.Duration

	// Errors maps handler errors to wire codes. Nil knows only the queue
	// package's own codes.
	Errors *ErrorCodes

	// Logger; nil uses the transport's.
	Logger *slog.Logger
}

func (c *ServerConfig) setDefaults() {
	if c.Version == "" {
		c.Version = "1.0"
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = DefaultMaxConcurrency
	}
}

// Validate reports whether the configuration is usable (after defaults).
func (c ServerConfig) Validate() error {
	c.setDefaults()
	if err := (Target{Topic: c.Topic, Server: c.Server, Version: c.Version}).Validate(); err != nil {
		return fmt.Errorf("queue: ServerConfig: %w", err)
	}
	if c.MaxConcurrency < 1 {
		return errors.New("queue: ServerConfig.MaxConcurrency must be positive")
	}
	if c.HandlerTimeout < 0 {
		return errors.New("queue: ServerConfig.HandlerTimeout must not be negative")
	}
	return nil
}

// Server consumes the RPC requests of one topic and runs the registered
// handlers. It listens on "<topic>" (competing with the other servers of
// the topic), on "<topic>.<server>" when ServerConfig.Server is set, and on
// its own queue bound to the topic's fanout exchange.
//
// Under the hood each queue is a handler of a Watermill message.Router. A
// router middleware hands every message to one of MaxConcurrency
// long-lived worker goroutines (bounding concurrency across all the
// server's queues); Watermill's Timeout middleware bounds handlers when
// HandlerTimeout is set, and its Recoverer wraps every handler, so a
// panicking handler answers [ErrRemotePanic] and the process goes on.
//
// Register handlers, then Start; Stop drains. Methods are safe for
// concurrent use. A Server cannot be restarted after Stop.
type Server struct {
	t      *Transport
	cfg    ServerConfig
	errs   *ErrorCodes
	logger *slog.Logger
	id     string

	hmu      sync.RWMutex
	handlers map[string]HandlerFunc

	jobs    chan *serverJob // to the worker goroutines, unbuffered
	workers sync.WaitGroup

	mu       sync.Mutex
	started  bool
	stopped  bool
	stopping chan struct{}
	inflight sync.WaitGroup
	router   *message.Router
	runDone  chan struct{}
	cancel   context.CancelFunc // ends the router's subscriptions
	base     context.Context    // parent of handler contexts
	abort    context.CancelFunc // cancels handler contexts (hard stop)
}

// NewServer returns a server on t; register handlers and Start it.
func (t *Transport) NewServer(cfg ServerConfig) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if t.isClosed() {
		return nil, ErrClosed
	}
	logger := cfg.Logger
	if logger == nil {
		logger = t.logger
	}
	base, abort := context.WithCancel(context.Background())
	return &Server{
		t:        t,
		cfg:      cfg,
		errs:     cfg.Errors,
		logger:   logger.With("topic", cfg.Topic, "server", cfg.Server),
		id:       newID(),
		handlers: make(map[string]HandlerFunc),
		jobs:     make(chan *serverJob),
		stopping: make(chan struct{}),
		base:     base,
		abort:    abort,
	}, nil
}

// Register adds the handler for method. Registering a method twice returns
// an error wrapping [ErrDuplicate]. Handlers may be registered after Start.
func (s *Server) Register(method string, h HandlerFunc) error {
	if method == "" || h == nil {
		return errors.New("queue: Register needs a method and a handler")
	}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if _, ok := s.handlers[method]; ok {
		return fmt.Errorf("%w: method %q on topic %s", ErrDuplicate, method, s.cfg.Topic)
	}
	s.handlers[method] = h
	return nil
}

// Handle registers a typed handler: the arguments are decoded from JSON into
// Args (a decoding failure answers [ErrBadMessage]) and the Reply is
// encoded back. Use struct{} for methods without arguments or result.
func Handle[Args, Reply any](s *Server, method string, fn func(ctx context.Context, args Args) (Reply, error)) error {
	if fn == nil {
		return errors.New("queue: Handle needs a function")
	}
	return s.Register(method, func(ctx context.Context, raw json.RawMessage) (any, error) {
		var args Args
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &args); err != nil {
				return nil, fmt.Errorf("%w: arguments of %s: %w", ErrBadMessage, method, err)
			}
		}
		return fn(ctx, args)
	})
}

// Topic returns the topic the server listens on.
func (s *Server) Topic() string { return s.cfg.Topic }

// Start subscribes to the server's queues and returns once it is consuming
// them (on AMQP, once the queues are declared and bound and one consumer per
// queue is attached; the other MaxConcurrency-1 consumers per queue attach
// in the background): a Cast sent after Start returns reaches it. While the broker is unreachable Start keeps
// trying until ctx is done. Start may be called once.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started || s.stopped {
		s.mu.Unlock()
		return errors.New("queue: Server.Start called twice or after Stop")
	}
	s.started = true
	s.mu.Unlock()

	for range s.cfg.MaxConcurrency {
		s.workers.Add(1)
		go s.worker()
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: time.Second}, s.t.wlogger)
	if err != nil {
		return fmt.Errorf("queue: start server %s: %w", s.cfg.Topic, err)
	}
	router.AddMiddleware(s.admit)
	if s.cfg.HandlerTimeout > 0 {
		router.AddMiddleware(middleware.Timeout(s.cfg.HandlerTimeout))
	}
	sub := retryingSubscriber{t: s.t, sub: s.t.sub}
	queues := []struct {
		topic     string
		consumers int
	}{
		{s.cfg.Topic, s.cfg.MaxConcurrency},
		{fanoutSubscribeTopic(s.cfg.Topic, s.id), 1},
	}
	if s.cfg.Server != "" {
		queues = append(queues, struct {
			topic     string
			consumers int
		}{s.cfg.Topic + "." + s.cfg.Server, s.cfg.MaxConcurrency})
	}
	var first, more message.Subscriber = sub, sub
	if s.t.connected != nil { // a network broker: see relaySubscriber
		first = relaySubscriber{t: s.t, sub: s.t.sub}
		more = relaySubscriber{t: s.t, sub: s.t.sub, async: true}
	}
	for _, q := range queues {
		for i := range q.consumers {
			name := q.topic + "#" + strconv.Itoa(i)
			if i == 0 {
				router.AddConsumerHandler(name, q.topic, first, s.handle)
			} else {
				router.AddConsumerHandler(name, q.topic, more, s.handle)
			}
		}
	}

	runCtx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	runErr := make(chan error, 1)
	go func() {
		defer close(runDone)
		runErr <- router.Run(runCtx)
	}()
	select {
	case <-router.Running():
	case err := <-runErr:
		cancel()
		s.abort()
		return fmt.Errorf("queue: start server %s: %w", s.cfg.Topic, err)
	case <-ctx.Done():
		cancel()
		<-runDone
		s.abort()
		return fmt.Errorf("queue: start server %s: %w", s.cfg.Topic, ctx.Err())
	}
	s.mu.Lock()
	s.router, s.cancel, s.runDone = router, cancel, runDone
	s.mu.Unlock()
	s.logger.Debug("queue: server started", "version", s.cfg.Version)
	return nil
}

// Stop stops taking work and waits for the handlers in flight to finish.
// Messages not yet started go back to their queue (on AMQP for another
// server; on mem:// they stay queued in the process). If ctx is done first,
// Stop cancels the handlers' contexts and returns ctx.Err() without waiting
// further. Idempotent; a Server that was never started just stops.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	close(s.stopping)
	router, cancel, runDone := s.router, s.cancel, s.runDone
	s.mu.Unlock()

	drained := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(drained)
	}()
	if router != nil {
		go func() { _ = router.Close() }()
	}
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		s.abort()
		err = fmt.Errorf("queue: stop server %s: %w", s.cfg.Topic, ctx.Err())
	}
	if router != nil {
		select {
		case <-runDone:
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("queue: stop server %s: %w", s.cfg.Topic, ctx.Err())
			}
		}
		cancel()
	}
	s.abort()
	if err == nil {
		s.workers.Wait()
	}
	return err
}

var errStopping = errors.New("queue: server stopping")

// serverJob is one message handed from a router goroutine to a worker.
type serverJob struct {
	h    message.HandlerFunc
	m    *message.Message
	err  error
	done chan struct{}
}

var jobPool = sync.Pool{New: func() any { return &serverJob{done: make(chan struct{}, 1)} }}

// worker runs handlers. MaxConcurrency long-lived workers bound the
// handlers running at once, and since their stacks are already grown, a
// message does not pay for growing the stack of the goroutine Watermill's
// router starts for it (decoding and handlers run deep).
func (s *Server) worker() {
	defer s.workers.Done()
	for {
		select {
		case j := <-s.jobs:
			_, j.err = j.h(j.m)
			s.inflight.Done()
			j.done <- struct{}{}
		case <-s.base.Done():
			return
		}
	}
}

// admit is the router middleware that hands each message to a worker
// (bounding concurrency), tracks handlers in flight for Stop, and gives the
// message the server's context (so a graceful stop does not cancel
// handlers). A message that finds the server stopping is nacked, back to
// its queue.
func (s *Server) admit(h message.HandlerFunc) message.HandlerFunc {
	return func(m *message.Message) ([]*message.Message, error) {
		j := jobPool.Get().(*serverJob)
		j.h, j.m, j.err = h, m, nil
		m.SetContext(s.base)
		for {
			s.mu.Lock()
			stopped := s.stopped
			if !stopped {
				s.inflight.Add(1)
			}
			s.mu.Unlock()
			if stopped {
				jobPool.Put(j)
				return nil, errStopping
			}
			select {
			case s.jobs <- j:
				<-j.done
				err := j.err
				j.h, j.m = nil, nil
				jobPool.Put(j)
				return nil, err
			case <-s.stopping:
				s.inflight.Done()
			}
		}
	}
}

// handle is the Watermill handler of every server queue. It always acks
// (returns nil) once the request is dealt with, including failed handlers:
// errors travel in replies, not as redeliveries.
func (s *Server) handle(m *message.Message) error {
	env, err := DecodeEnvelope(m.Payload)
	if err != nil {
		s.logger.Warn("queue: dropping malformed message", "message_uuid", m.UUID, "err", err)
		return nil
	}
	if env.Kind == KindReply {
		s.logger.Warn("queue: dropping a reply sent to a server queue", "id", env.ID)
		return nil
	}
	cast := env.Kind == KindCast
	ctx := m.Context()
	if dl, ok := env.DeadlineTime(); ok {
		if !cast && time.Now().After(dl) {
			s.logger.Debug("queue: dropping expired call", "id", env.ID, "method", env.Method)
			return nil
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl)
		defer cancel()
	}
	ctx = context.WithValue(ctx, deliveryKey, &callInfo{
		rc:       env.Context,
		tc:       TraceContext{TraceParent: env.TraceParent, TraceState: env.TraceState},
		hasTrace: env.TraceParent != "" || env.TraceState != "",
		delivery: Delivery{MessageID: env.ID, Method: env.Method, Version: env.Version, Cast: cast, Target: s.cfg.Topic},
	})

	result, err := s.dispatch(ctx, env)
	if cast {
		if err != nil {
			s.logger.Warn("queue: cast handler failed", "method", env.Method, "id", env.ID, "request_id", env.RequestID, "err", err)
		}
		return nil
	}
	s.reply(ctx, env, result, err)
	return nil
}

func (s *Server) dispatch(ctx context.Context, env *Envelope) (result any, err error) {
	s.hmu.RLock()
	h := s.handlers[env.Method]
	s.hmu.RUnlock()
	if h == nil {
		return nil, fmt.Errorf("%w: %s on topic %s", ErrUnknownMethod, env.Method, s.cfg.Topic)
	}
	if !versionCompatible(s.cfg.Version, env.Version) {
		return nil, fmt.Errorf("%w: %s requested, %s implements %s", ErrUnsupportedVersion, env.Version, s.cfg.Topic, s.cfg.Version)
	}
	// Watermill's Recoverer turns a panic into a RecoveredPanicError.
	run := middleware.Recoverer(func(*message.Message) ([]*message.Message, error) {
		result, err = h(ctx, env.Args)
		return nil, err
	})
	if _, rerr := run(nil); rerr != nil {
		var p middleware.RecoveredPanicError
		if errors.As(rerr, &p) {
			s.logger.Error("queue: handler panicked", "method", env.Method, "id", env.ID, "panic", fmt.Sprint(p.V), "stack", p.Stacktrace)
			return nil, fmt.Errorf("%w: %s: %v", ErrRemotePanic, env.Method, p.V)
		}
		return nil, rerr
	}
	return result, nil
}

func (s *Server) reply(ctx context.Context, req *Envelope, result any, herr error) {
	r := &Envelope{Format: EnvelopeFormat, Kind: KindReply, ID: newID(), CorrelationID: req.ID, RequestID: req.RequestID}
	if herr == nil {
		raw, err := marshalArgs(result)
		if err != nil {
			herr = fmt.Errorf("%w: encode result of %s: %w", ErrBadMessage, req.Method, err)
		} else {
			r.Result = raw
		}
	}
	if herr != nil {
		r.Error = &WireError{Code: s.errs.Code(herr), Message: herr.Error()}
	}
	// ctx carries the caller's deadline: past it nobody waits for the reply.
	dl, _ := req.DeadlineTime()
	m := newMessage(r.ID, r.appendJSON(make([]byte, 0, r.sizeHint())), true, dl)
	if err := s.t.publish(ctx, req.ReplyTo, m, false); err != nil {
		s.logger.Warn("queue: could not send reply", "method", req.Method, "id", req.ID, "err", err)
	}
}
