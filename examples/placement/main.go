// Command placement is a complete OpenStack Placement service: the
// Placement REST API (microversions 1.0–1.39) of package placement/api over
// novakit's placement engine: package cloud's RunPlacement behind the
// daemon conventions.
//
//	go run ./examples/placement -listen 127.0.0.1:8778
//	openstack --os-auth-type admin_token --os-token admin \
//	    --os-endpoint http://127.0.0.1:8778 resource provider list
//
// Flags (each also NOVAKIT_<FLAG>, or a key of the -config YAML file; -h
// lists them): -listen (default 127.0.0.1:8778), -db URL (sqlite:///FILE,
// postgres://…, mysql://…: store/placementstore, schema created or
// upgraded on start; empty: in memory, lost on exit), -auth noauth|KEYSTONE_URL, -policy-file,
// -policy-defaults legacy|secure-rbac, -log-level, -drain-timeout.
// It logs "listening on ADDR" when ready, answers GET /healthz and GET
// /metrics, drains and exits 0 on SIGTERM, and exits 1 with a one-line
// reason when it cannot start.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/novakit/novakit/cloud"
	"github.com/novakit/novakit/identity"
	"github.com/novakit/novakit/identity/keystone"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
	"github.com/novakit/novakit/store/placementstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "placement:", strings.TrimPrefix(err.Error(), "placement: "))
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := api.ParseDaemonConfig("placement", args, getenv, stderr)
	if err != nil {
		return err
	}
	log := cfg.Logger(stderr)
	// ServeOptions validates -auth and the policy settings.
	so, err := cfg.ServeOptions(nil, openKeystone, log)
	if err != nil {
		return err
	}
	backend, closeBackend, err := openBackend(ctx, cfg.DB, log)
	if err != nil {
		return err
	}
	defer closeBackend()
	c := cloud.PlacementConfig{Backend: backend, API: so.API}
	c.Listen, c.Logger, c.DrainTimeout = cfg.Listen, log, cfg.DrainTimeout
	c.Ready = func(net.Addr) {
		if cfg.DB == "" {
			log.Warn("no -db: placement data is kept in memory and lost on exit")
		}
		if cfg.Auth == "noauth" {
			log.Warn("-auth noauth: tokens are not checked (the token \"admin\" is an administrator)")
		}
	}
	return cloud.RunPlacement(ctx, c)
}

// openKeystone validates tokens against the Keystone at -auth with the
// service user's credentials.
func openKeystone(c api.DaemonConfig) (identity.Authenticator, error) {
	return keystone.New(keystone.Options{AuthURL: c.Auth, Username: c.KeystoneUser,
		Password: c.KeystonePassword, ProjectName: c.KeystoneProject})
}

// openBackend returns the engine -db names and how to close it: the SQL
// store (schema migrated on open, the Index in front of it, following
// other placement processes sharing the database) or, without -db, an
// in-memory Index. (cloud.RunPlacement would open the same from
// PlacementConfig.DB; opening it here lets a bad -db name the flag.)
func openBackend(ctx context.Context, db string, log *slog.Logger) (api.Backend, func(), error) {
	if db == "" {
		return placement.New(placement.Options{}), func() {}, nil
	}
	s, err := placementstore.Open(ctx, db, &placementstore.Options{Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("-db: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return s, func() {
		if err := s.Close(); err != nil {
			log.Error("closing the database", slog.String("error", err.Error()))
		}
	}, nil
}
