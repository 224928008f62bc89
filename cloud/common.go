package cloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/compute/agent"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/internal/servicegroup"
	plclient "github.com/novakit/novakit/placement/client"
	"github.com/novakit/novakit/queue"
	"github.com/novakit/novakit/scheduler"
	"github.com/novakit/novakit/store"
	"github.com/novakit/novakit/store/placementstore"
)

// DefaultDrainTimeout bounds the drain after ctx ends when a config's
// DrainTimeout is zero.
const DefaultDrainTimeout = 30 * time.Second

// Default listen addresses (ARCHITECTURE.md: OpenStack's ports where there
// is one; the health and metrics listeners of the queue-only services have
// none in OpenStack and take the next free numbers after placement's).
const (
	DefaultAPIListen       = "127.0.0.1:8774"
	DefaultSchedulerListen = "127.0.0.1:8781"
	DefaultConductorListen = "127.0.0.1:8782"
	DefaultComputeListen   = "127.0.0.1:8783"
)

// Common is what every daemon's config shares.
type Common struct {
	// Listen is the host:port of the daemon's HTTP listener (API, or
	// /healthz and /metrics only); "" takes the daemon's default; port 0
	// picks a free port.
	Listen string
	// Logger receives the "listening on ADDR" line, the drain and errors;
	// nil is slog.Default().
	Logger *slog.Logger
	// DrainTimeout bounds the drain once ctx ends (default
	// DefaultDrainTimeout).
	DrainTimeout time.Duration
	// Ready, if set, is called with the bound HTTP address once the daemon
	// serves.
	Ready func(addr net.Addr)
	// Transport, when set, is used instead of opening the config's Queue
	// URL, and is not closed: several daemons in one process (tests, an
	// embedder) share one mem:// transport this way.
	Transport *queue.Transport
	// Pprof serves Go's runtime profiles (net/http/pprof) under
	// /debug/pprof/ on the daemon's HTTP listener. Off by default: a
	// profile costs the daemon CPU and shows its internals, so only turn
	// it on where the listener is private.
	Pprof bool
}

func (c *Common) defaults(listen string) {
	if c.Listen == "" {
		c.Listen = listen
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
}

// Placement is what the daemons need of placement: the union of what the
// conductor, the scheduler, the agents and the API use. Both
// placement/client.Client and store/placementstore.Service implement it.
type Placement interface {
	conductor.Placement
	scheduler.Placement
	agent.Placement
	api.Allocations
}

var (
	_ Placement = (*plclient.Client)(nil)
	_ Placement = (*placementstore.Service)(nil)
)

// OpenPlacement opens placement by URL: http(s)://host:8778 is the
// Placement REST API (token is sent as X-Auth-Token; "admin" for a
// placement daemon running -auth noauth), anything else a placement
// database (sqlite://, postgres://, mysql://) shared with the placement
// daemons. The returned function closes it.
func OpenPlacement(ctx context.Context, rawURL, token string, log *slog.Logger) (Placement, func() error, error) {
	if rawURL == "" {
		return nil, nil, errors.New("placement: no URL (want http://host:8778 or a database URL)")
	}
	if strings.HasPrefix(rawURL, "http://") || strings.HasPrefix(rawURL, "https://") {
		var o plclient.Options
		if token != "" {
			o.Token = plclient.StaticToken(token)
		}
		c, err := plclient.New(rawURL, o)
		if err != nil {
			return nil, nil, fmt.Errorf("placement %s: %w", rawURL, err)
		}
		return c, func() error { return nil }, nil
	}
	s, err := placementstore.Open(ctx, rawURL, &placementstore.Options{Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("placement: %s", oneLine(err))
	}
	return s, s.Close, nil
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// openStore opens the compute database, migrating its schema.
func openStore(ctx context.Context, rawURL string) (*store.Store, error) {
	if rawURL == "" {
		return nil, errors.New("no database URL (-db postgres://…, mysql://… or sqlite://FILE)")
	}
	st, err := store.Open(ctx, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("database %s: %s", redact(rawURL), oneLine(err))
	}
	return st, nil
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// rpc is the queue side every daemon shares: the transport, the error
// codes of every RPC service (so errors survive the wire) and a client.
type rpc struct {
	own   bool // tr was opened here: close it
	tr    *queue.Transport
	codes *queue.ErrorCodes
	qc    *queue.Client
}

func openRPC(ctx context.Context, rawURL string, tr *queue.Transport, log *slog.Logger) (*rpc, error) {
	r := &rpc{tr: tr, codes: conductor.ErrorCodes()}
	if tr == nil {
		if rawURL == "" {
			return nil, errors.New("no queue URL (-queue amqp://user:pass@host:5672/)")
		}
		var err error
		if r.tr, err = queue.Open(ctx, rawURL); err != nil {
			return nil, fmt.Errorf("queue: %s", oneLine(err))
		}
		r.own = true
	}
	for _, reg := range []func(*queue.ErrorCodes) error{scheduler.RegisterErrors, agent.RegisterErrors} {
		if err := reg(r.codes); err != nil {
			r.closeTransport()
			return nil, err
		}
	}
	var err error
	if r.qc, err = r.tr.NewClient(queue.ClientConfig{Errors: r.codes, Logger: log}); err != nil {
		r.closeTransport()
		return nil, err
	}
	return r, nil
}

func (r *rpc) closeTransport() error {
	if !r.own {
		return nil
	}
	return r.tr.Close()
}

func (r *rpc) close() error {
	return errors.Join(r.qc.Close(), r.closeTransport())
}

// httpService is a daemon's HTTP listener: its handler (if any) plus
// /healthz and /metrics.
type httpService struct {
	srv  *http.Server
	addr net.Addr
	errc chan error
}

// newRegistry returns a Prometheus registry with the Go runtime and
// process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// listen binds c.Listen, first thing, so that a taken port fails the
// start before anything runs.
func listen(ctx context.Context, c Common) (net.Listener, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", c.Listen)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return nil, fmt.Errorf("cannot listen on %s: %w", c.Listen, err)
	}
	return ln, nil
}

// startHTTP serves h (nil: only /healthz and /metrics) on ln. health
// reports whether the daemon can work; when it is nil, h serves /healthz
// and /metrics itself (the placement handler does) and reg is unused.
func startHTTP(ctx context.Context, c Common, ln net.Listener, name string, h http.Handler, health func(context.Context) error, reg *prometheus.Registry) *httpService {
	mux := http.NewServeMux()
	if health != nil {
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
			hctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			if err := health(hctx); err != nil {
				http.Error(w, name+" unhealthy: "+oneLine(err), http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok\n"))
		})
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}
	if c.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if h != nil {
		mux.Handle("/", h)
	}
	s := &httpService{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
			ErrorLog:          slog.NewLogLogger(c.Logger.Handler(), slog.LevelWarn),
		},
		addr: ln.Addr(),
		errc: make(chan error, 1),
	}
	go func() { s.errc <- s.srv.Serve(ln) }()
	level := slog.LevelInfo
	for level < slog.LevelError && !c.Logger.Enabled(ctx, level) {
		level += 4
	}
	c.Logger.Log(ctx, level, name+" listening on "+ln.Addr().String(), slog.String("addr", ln.Addr().String()))
	if c.Ready != nil {
		c.Ready(ln.Addr())
	}
	return s
}

// shutdown stops accepting connections and waits for requests in flight.
func (s *httpService) shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
		return err
	}
	if err := <-s.errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// waitOrFail blocks until ctx ends (nil) or the HTTP server fails.
func (s *httpService) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.errc:
		s.errc <- err
		return fmt.Errorf("serving: %w", err)
	}
}

// instrument counts and times the requests h serves.
func instrument(reg *prometheus.Registry, h http.Handler) http.Handler {
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "novakit_api_requests_total", Help: "Compute API requests by method and status code.",
	}, []string{"method", "code"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "novakit_api_request_duration_seconds", Help: "Compute API request durations.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
	}, []string{"method"})
	reg.MustRegister(reqs, dur)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		reqs.WithLabelValues(r.Method, strconv.Itoa(sw.code)).Inc()
		dur.WithLabelValues(r.Method).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serviceRecord registers (host, binary) in the services table, or finds
// it, heartbeats it once (a database that cannot take it fails the start)
// and then every interval until ctx ends (internal/servicegroup), so that
// `manage service list` and the API's os-services show the daemon.
func serviceRecord(ctx context.Context, st *store.Store, host, binary, topic string, interval time.Duration, log *slog.Logger) error {
	svc, err := servicegroup.Register(ctx, st, host, binary, topic)
	if err == nil {
		_, err = st.Services().Heartbeat(ctx, svc.UUID)
	}
	if err != nil {
		return fmt.Errorf("service record %s/%s: %s", host, binary, oneLine(err))
	}
	go func() { _ = servicegroup.Run(ctx, st, host, binary, topic, interval, log) }()
	return nil
}

// stopServer stops a queue server: it stops taking messages and waits for
// the handlers in flight until ctx ends. Handlers still running then are
// cancelled; their messages were not acknowledged, so the broker hands
// them to another server (and what a cancelled flow left half done is
// Recover's job): that is a drain that ran out of time, logged, not a
// failure of the stop.
func stopServer(ctx context.Context, srv *queue.Server, name string, log *slog.Logger) error {
	err := srv.Stop(ctx)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		log.Warn(name+": drain timed out; handlers still running were cancelled and their messages left to the broker", slog.String("error", oneLine(err)))
		return nil
	}
	return err
}
