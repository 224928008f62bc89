// Command allinone runs a whole novakit cloud in one process on the
// embedded defaults: the compute API (8774), placement (8778), identity
// (5000) and image (9292) services on 127.0.0.1, the scheduler, the
// conductor and one compute agent per simulated host of the fake driver,
// a SQLite database and the in-memory queue. Once everything serves it
// writes a clouds.yaml (clouds "novakit" for the admin, "novakit-demo"
// for the demo user) into the data directory and prints its path:
//
//	go run ./examples/allinone
//	export OS_CLIENT_CONFIG_FILE=novakit-data/clouds.yaml
//	openstack --os-cloud novakit server create --flavor m1.tiny \
//	    --image cirros-0.6.3-x86_64-disk --wait vm1
//
// Flags (each also read from NOVAKIT_<FLAG> in upper case, e.g.
// NOVAKIT_PORT_OFFSET): -data DIR, -driver fake|libvirt[:URI] (libvirt
// needs go build -tags libvirt), -hosts N, -port-offset N
// (two clouds side by side), -listen-host ADDR, -db URL, -placement-db URL,
// -queue URL, -log-level. SIGTERM or SIGINT drains and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "allinone:", err)
		os.Exit(1)
	}
}

// run parses the flags, starts the cloud and waits for SIGTERM/SIGINT.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("allinone", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv("NOVAKIT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); v != "" {
			return v
		}
		return def
	}
	envInt := func(name string, def int) int {
		if v := env(name, ""); v != "" {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
		return def
	}
	var cfg config
	fs.StringVar(&cfg.Data, "data", env("data", "novakit-data"), "data directory: SQLite databases, images, passwords, clouds.yaml")
	fs.StringVar(&cfg.Driver, "driver", env("driver", "fake"), "hypervisor driver: fake, or libvirt[:URI] (default URI qemu:///system; needs a binary built with -tags libvirt)")
	fs.IntVar(&cfg.Hosts, "hosts", envInt("hosts", 4), "simulated hosts of the fake driver")
	fs.IntVar(&cfg.PortOffset, "port-offset", envInt("port-offset", 0), "added to every default port (5000, 8774, 8778, 9292)")
	fs.StringVar(&cfg.Bind, "listen-host", env("listen-host", "127.0.0.1"), "address every service listens on")
	fs.StringVar(&cfg.DB, "db", env("db", ""), "compute database URL (default sqlite://DATA/nova.db)")
	fs.StringVar(&cfg.PlacementDB, "placement-db", env("placement-db", ""), "placement database URL (default sqlite://DATA/placement.db)")
	fs.StringVar(&cfg.Queue, "queue", env("queue", "mem://"), "queue URL: mem:// or amqp://user:pass@host:5672/")
	level := fs.String("log-level", env("log-level", "info"), "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log-level %q: want debug, info, warn or error", *level)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	c, err := start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "novakit all-in-one cloud is up: compute %s, placement %s, identity %s, image %s\n",
		c.urls["compute"], c.urls["placement"], c.urls["identity"], c.urls["image"])
	fmt.Fprintf(stdout, "clouds.yaml: %s\n  export OS_CLIENT_CONFIG_FILE=%s\n  openstack --os-cloud novakit server list\n", c.cloudsYAML, c.cloudsYAML)
	<-ctx.Done()
	cfg.Logger.Info("stopping: draining requests and agents")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.stop(sctx)
}
