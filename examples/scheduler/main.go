// Command scheduler is nova-scheduler for a multi-process novakit cloud:
// package cloud's RunScheduler behind novakit's daemon conventions. Run
// several; they share the requests and placement keeps their claims
// consistent.
//
//	go run ./examples/scheduler -host ctl1 \
//	    -db postgres://nova:secret@db/nova -queue amqp://nova:secret@mq:5672/ \
//	    -placement http://placement:8778
//
// Flags (each also NOVAKIT_<FLAG> or a -config YAML key; -h lists them):
// -host, -listen (health and metrics, 127.0.0.1:8781), -db, -queue,
// -placement, -placement-token, -log-level, -drain-timeout, -pprof. Filters and
// weighers are Nova's defaults; an embedder adds its own through
// cloud.SchedulerConfig.Registry.
package main

import (
	"context"
	"io"
	"time"

	"github.com/novakit/novakit/cloud"
	"github.com/novakit/novakit/internal/daemon"
)

func main() { daemon.Main("scheduler", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var c cloud.SchedulerConfig
	f := daemon.New("scheduler", "nova-scheduler")
	f.String(&c.Host, "host", "", "this scheduler's name (default: the host name)")
	f.String(&c.Listen, "listen", cloud.DefaultSchedulerListen, "host:port of /healthz and /metrics")
	f.String(&c.DB, "db", "", "compute database URL (postgres://…, mysql://…, sqlite://FILE)")
	f.String(&c.Queue, "queue", "", "message queue URL (amqp://user:pass@host:5672/)")
	f.String(&c.Placement, "placement", "", "placement URL (http://host:8778 or its database URL)")
	f.String(&c.PlacementToken, "placement-token", "admin", "token sent to an http placement")
	f.Duration(&c.ReportInterval, "report-interval", 10*time.Second, "service heartbeat period")
	f.Duration(&c.DrainTimeout, "drain-timeout", 30*time.Second, "how long SIGTERM waits for requests in flight")
	f.Bool(&c.Pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on the -listen address (keep it private)")
	if err := f.Parse(args, getenv, stderr, false); err != nil {
		return err
	}
	c.Logger = f.Logger(stderr)
	return cloud.RunScheduler(ctx, c)
}
