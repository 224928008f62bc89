package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// DefaultListen is Placement's customary address.
const DefaultListen = "127.0.0.1:8778"

// DefaultDrainTimeout bounds how long Serve waits for requests in flight
// once its context ends.
const DefaultDrainTimeout = 30 * time.Second

// ServeOptions configure Serve.
type ServeOptions struct {
	// Listen is the host:port to listen on ("" = DefaultListen; port 0
	// picks a free port). Ignored when Listener is set.
	Listen string
	// Listener, if set, is used instead of listening on Listen; Serve
	// closes it.
	Listener net.Listener
	// Backend is what the API serves (required).
	Backend Backend
	// API configures the handler (auth, policy, CORS …). Its Logger
	// defaults to Logger.
	API Options
	// Logger receives the "listening on ADDR" line, the drain and errors
	// (nil: slog.Default()).
	Logger *slog.Logger
	// DrainTimeout bounds the graceful shutdown (≤ 0: DefaultDrainTimeout).
	DrainTimeout time.Duration
	// Ready, if set, is called with the bound address once the server
	// accepts connections (after the "listening on" line).
	Ready func(addr net.Addr)
}

// Serve runs the Placement API until ctx ends, then stops accepting
// connections, lets requests in flight finish (up to DrainTimeout) and
// returns nil. It blocks. When it cannot start it returns at once with an
// error that says why in one line (address in use, bad address, no
// backend). An error while serving is returned as is.
func Serve(ctx context.Context, o ServeOptions) error {
	if o.Backend == nil {
		return errors.New("placement: no backend to serve")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.API.Logger == nil {
		o.API.Logger = log
	}
	ln := o.Listener
	if ln == nil {
		addr := o.Listen
		if addr == "" {
			addr = DefaultListen
		}
		var err error
		if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", addr); err != nil {
			var oe *net.OpError
			if errors.As(err, &oe) && oe.Err != nil {
				err = oe.Err // "bind: address already in use" without repeating the address
			}
			return fmt.Errorf("placement: cannot listen on %s: %w", addr, err)
		}
	}
	srv := &http.Server{
		Handler:           New(o.Backend, o.API),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// The "listening on" line is the readiness signal scripts wait for: it
	// is logged at the lowest level the logger lets through (Info, Warn or
	// Error).
	level := slog.LevelInfo
	for level < slog.LevelError && !log.Enabled(ctx, level) {
		level += 4
	}
	log.Log(ctx, level, "placement API listening on "+ln.Addr().String(), slog.String("addr", ln.Addr().String()))
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("placement: serving: %w", err)
	case <-ctx.Done():
	}
	drain := o.DrainTimeout
	if drain <= 0 {
		drain = DefaultDrainTimeout
	}
	log.Info("placement API draining", slog.Duration("timeout", drain))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("placement: drain: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("placement: serving: %w", err)
	}
	log.Info("placement API stopped")
	return nil
}
