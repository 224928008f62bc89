package cloud

import (
	"context"
	"errors"
	"fmt"

	"github.com/novakit/novakit/api"
	"github.com/novakit/novakit/api/openstack"
	"github.com/novakit/novakit/compute/agent"
	"github.com/novakit/novakit/conductor"
	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/image"
	"github.com/novakit/novakit/image/glance"
)

// APIConfig configures RunAPI, the Compute API daemon (nova-api).
type APIConfig struct {
	Common
	// DB is the compute database URL (postgres://…, mysql://…,
	// sqlite://FILE). Required.
	DB string
	// Queue is the message queue URL (amqp://…). Required.
	Queue string
	// Placement, when set, is placement's URL (see OpenPlacement); the API
	// then drops the allocations of instances it deletes locally.
	Placement string
	// PlacementToken is the token sent to an http(s) Placement.
	PlacementToken string
	// Glance is the image service's URL (http://host:9292); ImagesDir a
	// local image store directory instead. With neither, imageRef is taken
	// as it is and snapshots are refused.
	Glance, ImagesDir string
	// Authenticator validates X-Auth-Token. Required: identity.NoAuth()
	// for development, identity/keystone or identity/embedded otherwise.
	Authenticator identity.Authenticator
	// AuthURI is advertised in 401 answers; PublicURL is the base of links
	// in bodies (default: from each request).
	AuthURI, PublicURL string
	// Policy; nil is api.DefaultPolicy.
	Policy api.Policy
}

// RunAPI serves the OpenStack Compute API (/v2.1) on cfg.Listen (default
// DefaultAPIListen) until ctx ends, then drains and returns nil. Server
// creates are cast to the conductors over the queue; per-host actions to
// the compute agents. It blocks; it returns at once with a one-line
// error when it cannot start.
func RunAPI(ctx context.Context, cfg APIConfig) (err error) {
	cfg.defaults(DefaultAPIListen)
	log := cfg.Logger
	if cfg.Authenticator == nil {
		return errors.New("api: no authenticator (use identity.NoAuth() for development)")
	}
	ln, err := listen(ctx, cfg.Common)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	defer ln.Close()
	st, err := openStore(ctx, cfg.DB)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := openRPC(ctx, cfg.Queue, cfg.Transport, log)
	if err != nil {
		return err
	}
	defer r.close()
	opts := api.Options{
		Store: st, Conductor: conductor.NewClient(r.qc), Agent: agent.NewClient(r.qc),
		Policy: cfg.Policy, Logger: log,
	}
	if cfg.Placement != "" {
		pl, closePl, err := OpenPlacement(ctx, cfg.Placement, cfg.PlacementToken, log)
		if err != nil {
			return err
		}
		defer closePl()
		opts.Placement = pl
	}
	switch {
	case cfg.Glance != "" && cfg.ImagesDir != "":
		return errors.New("api: give Glance or ImagesDir, not both")
	case cfg.Glance != "":
		g, err := glance.New(glance.Options{Endpoint: cfg.Glance})
		if err != nil {
			return fmt.Errorf("glance %s: %w", cfg.Glance, err)
		}
		opts.Images = g
	case cfg.ImagesDir != "":
		s, err := image.Open(cfg.ImagesDir, image.Options{})
		if err != nil {
			return fmt.Errorf("images %s: %s", cfg.ImagesDir, oneLine(err))
		}
		opts.Images = s
	}
	capi, err := api.New(opts)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	h, err := openstack.New(openstack.Options{API: capi, Authenticator: cfg.Authenticator, AuthURI: cfg.AuthURI, PublicURL: cfg.PublicURL, Logger: log})
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	reg := newRegistry()
	hs := startHTTP(ctx, cfg.Common, ln, "compute API", instrument(reg, h), st.Ping, reg)
	werr := hs.wait(ctx)
	log.Info("compute API draining", "timeout", cfg.DrainTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout)
	defer cancel()
	return errors.Join(werr, hs.shutdown(sctx))
}
