package cloud

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/novakit/novakit/compute/agent"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/scheduler"
)

// ConductorConfig configures RunConductor (nova-conductor). Run as many
// as you like: they share the "conductor" topic.
type ConductorConfig struct {
	Common
	// Host names this conductor (service record, action events, its
	// queue); default the machine's host name.
	Host string
	// DB is the compute database URL. Required.
	DB string
	// Queue is the message queue URL. Required.
	Queue string
	// Placement is placement's URL (see OpenPlacement); PlacementToken
	// the token sent to an http(s) one. Required.
	Placement, PlacementToken string
	// Conductor tunes the flows (MaxAttempts, StuckAfter …); its Host and
	// Logger are set from this config.
	Conductor conductor.Config
	// RecoverInterval is how often Recover looks for flows a dead
	// conductor abandoned (default 1 minute; they are taken once older
	// than Conductor.StuckAfter). Recover also runs at start.
	RecoverInterval time.Duration
	// ReportInterval is the service record's heartbeat period (10 s).
	ReportInterval time.Duration
}

func hostname(h string) string {
	if h != "" {
		return h
	}
	n, err := os.Hostname()
	if err != nil || n == "" {
		return "localhost"
	}
	return n
}

// RunConductor serves the conductor topic until ctx ends, then stops
// taking messages, lets the flows in flight finish within DrainTimeout and
// returns nil. It blocks.
func RunConductor(ctx context.Context, cfg ConductorConfig) error {
	cfg.defaults(DefaultConductorListen)
	cfg.Host = hostname(cfg.Host)
	if cfg.RecoverInterval <= 0 {
		cfg.RecoverInterval = time.Minute
	}
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = 10 * time.Second
	}
	log := cfg.Logger.With(slog.String("host", cfg.Host))
	ln, err := listen(ctx, cfg.Common)
	if err != nil {
		return errors.New("conductor: " + err.Error())
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
	ccfg := cfg.Conductor
	ccfg.Host, ccfg.Logger = cfg.Host, log
	svc := conductor.New(st, scheduler.NewClient(r.qc), pl, agent.NewClient(r.qc), ccfg)

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	if err := serviceRecord(bg, st, cfg.Host, "nova-conductor", conductor.Topic, cfg.ReportInterval, log); err != nil {
		return err
	}
	if rep, err := svc.Recover(ctx); err != nil {
		return errors.New("conductor: recover: " + oneLine(err))
	} else {
		log.Info("conductor recovered abandoned flows", slog.Any("report", rep))
	}
	srv, err := conductor.Serve(ctx, r.tr, cfg.Host, svc, r.codes)
	if err != nil {
		return errors.New("conductor: " + oneLine(err))
	}
	go func() {
		t := time.NewTicker(cfg.RecoverInterval)
		defer t.Stop()
		for {
			select {
			case <-bg.Done():
				return
			case <-t.C:
				if _, err := svc.Recover(bg); err != nil && bg.Err() == nil {
					log.Warn("conductor recover failed", slog.String("error", oneLine(err)))
				}
			}
		}
	}()
	reg := newRegistry()
	hs := startHTTP(ctx, cfg.Common, ln, "conductor", nil, st.Ping, reg)
	werr := hs.wait(ctx)
	log.Info("conductor draining", "timeout", cfg.DrainTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout)
	defer cancel()
	return errors.Join(werr, stopServer(sctx, srv, "conductor", log), hs.shutdown(sctx))
}
