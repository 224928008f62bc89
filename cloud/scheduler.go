package cloud

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/novakit/novakit/queue"
	"github.com/novakit/novakit/scheduler"
	"github.com/novakit/novakit/scheduler/storesource"
)

// SchedulerConfig configures RunScheduler (nova-scheduler). Run as many
// as you like: they share the "scheduler" topic, and placement's
// generations keep their claims consistent.
type SchedulerConfig struct {
	Common
	// Host names this scheduler (service record, its queue); default the
	// machine's host name.
	Host string
	// DB is the compute database URL the host states are read from.
	// Required.
	DB string
	// Queue is the message queue URL. Required.
	Queue string
	// Placement is placement's URL (see OpenPlacement); PlacementToken
	// the token sent to an http(s) one. Required.
	Placement, PlacementToken string
	// Options as Nova's [filter_scheduler] configuration (enabled filters,
	// weighers, host subset size …); zero fields take Nova's defaults.
	Options scheduler.Options
	// Registry holds the filters and weighers Options name; nil is
	// scheduler.NewRegistry(). Register your own filters here.
	Registry *scheduler.Registry
	// CellUUID is recorded on host states and selections.
	CellUUID string
	// MaxConcurrency bounds the requests served at once (queue default).
	MaxConcurrency int
	// ReportInterval is the service record's heartbeat period (10 s).
	ReportInterval time.Duration
}

// RunScheduler serves the scheduler topic until ctx ends, then stops
// taking requests, finishes those in flight within DrainTimeout and
// returns nil. It blocks.
func RunScheduler(ctx context.Context, cfg SchedulerConfig) error {
	cfg.defaults(DefaultSchedulerListen)
	cfg.Host = hostname(cfg.Host)
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = 10 * time.Second
	}
	log := cfg.Logger.With(slog.String("host", cfg.Host))
	ln, err := listen(ctx, cfg.Common)
	if err != nil {
		return errors.New("scheduler: " + err.Error())
	}
	defer ln.Close()
	st, err := openStore(ctx, cfg.DB)
	if err != nil {
		return err
	}
	defer st.Close()
	pl, closePl, err := OpenPlacement(ctx, cfg.Placement, cfg.PlacementToken, log)
	if err != nil {
		return err
	}
	defer closePl()
	r, err := openRPC(ctx, cfg.Queue, cfg.Transport, log)
	if err != nil {
		return err
	}
	defer r.close()
	sched, err := scheduler.New(scheduler.Config{
		Placement: pl, Hosts: storesource.New(st), Options: cfg.Options, Registry: cfg.Registry,
		CellUUID: cfg.CellUUID, Logger: log,
	})
	if err != nil {
		return errors.New("scheduler: " + oneLine(err))
	}
	if err := sched.Refresh(ctx); err != nil {
		return errors.New("scheduler: first refresh: " + oneLine(err))
	}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	if err := serviceRecord(bg, st, cfg.Host, "nova-scheduler", scheduler.Topic, cfg.ReportInterval, log); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = sched.Run(bg) }()
	defer func() { stopBG(); <-done }()

	srv, err := r.tr.NewServer(queue.ServerConfig{
		Topic: scheduler.Topic, Server: cfg.Host, Version: scheduler.RPCVersion,
		MaxConcurrency: cfg.MaxConcurrency, Errors: r.codes, Logger: log,
	})
	if err != nil {
		return errors.New("scheduler: " + oneLine(err))
	}
	if err := scheduler.RegisterServer(srv, sched); err != nil {
		return errors.New("scheduler: " + oneLine(err))
	}
	if err := srv.Start(ctx); err != nil {
		return errors.New("scheduler: " + oneLine(err))
	}
	reg := newRegistry()
	hs := startHTTP(ctx, cfg.Common, ln, "scheduler", nil, st.Ping, reg)
	werr := hs.wait(ctx)
	log.Info("scheduler draining", "timeout", cfg.DrainTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout)
	defer cancel()
	return errors.Join(werr, stopServer(sctx, srv, "scheduler", log), hs.shutdown(sctx))
}
