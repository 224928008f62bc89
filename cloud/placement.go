package cloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/novakit/novakit/placement"
	plapi "github.com/novakit/novakit/placement/api"
	"github.com/novakit/novakit/store/placementstore"
)

// DefaultPlacementListen is Placement's customary address.
const DefaultPlacementListen = plapi.DefaultListen

// PlacementConfig configures RunPlacement, the Placement daemon
// (openstack/placement's placement-api).
type PlacementConfig struct {
	Common
	// DB is the placement database URL (postgres://…, mysql://…,
	// sqlite://FILE; schema created or upgraded on start), shared by
	// every placement daemon of the cloud. "" keeps the data in memory,
	// lost on exit (development only). Ignored when Backend is set.
	DB string
	// Backend, when set, is served instead of opening DB (an embedder's
	// own placement engine); it is not closed.
	Backend plapi.Backend
	// API configures the Placement handler: Authenticator is required
	// (plapi.NoAuth() for development, a Keystone validator otherwise);
	// Enforcer, policy, CORS …; its Logger defaults to Logger.
	API plapi.Options
}

// RunPlacement serves the Placement API (microversions 1.0–1.39) on
// cfg.Listen (default DefaultPlacementListen) until ctx ends, then drains
// and returns nil. /healthz and /metrics are the handler's own (placement
// request metrics). It blocks; it returns at once with a one-line error
// when it cannot start.
func RunPlacement(ctx context.Context, cfg PlacementConfig) error {
	cfg.defaults(DefaultPlacementListen)
	log := cfg.Logger
	if cfg.API.Authenticator == nil {
		return errors.New("placement: no authenticator (use placement/api.NoAuth() for development)")
	}
	if cfg.API.Logger == nil {
		cfg.API.Logger = log
	}
	ln, err := listen(ctx, cfg.Common)
	if err != nil {
		return fmt.Errorf("placement: %w", err)
	}
	defer ln.Close()
	b := cfg.Backend
	if b == nil {
		if cfg.DB == "" {
			b = placement.New(placement.Options{})
		} else {
			s, err := placementstore.Open(ctx, cfg.DB, &placementstore.Options{Logger: log})
			if err != nil {
				return fmt.Errorf("placement: database %s: %s", redact(cfg.DB), oneLine(err))
			}
			defer func() {
				if err := s.Close(); err != nil {
					log.Error("placement: closing the database", slog.String("error", oneLine(err)))
				}
			}()
			b = s
		}
	}
	hs := startHTTP(ctx, cfg.Common, ln, "placement API", plapi.New(b, cfg.API), nil, nil)
	werr := hs.wait(ctx)
	log.Info("placement API draining", "timeout", cfg.DrainTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout)
	defer cancel()
	err = errors.Join(werr, hs.shutdown(sctx))
	if err == nil {
		log.Info("placement API stopped")
	}
	return err
}
