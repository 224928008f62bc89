// Command conductor is nova-conductor for a multi-process novakit cloud:
// package cloud's RunConductor behind novakit's daemon conventions. Run
// several; they share the work.
//
//	go run ./examples/conductor -host ctl1 \
//	    -db postgres://nova:secret@db/nova -queue amqp://nova:secret@mq:5672/ \
//	    -placement http://placement:8778
//
// Flags (each also NOVAKIT_<FLAG> or a -config YAML key; -h lists them):
// -host, -listen (health and metrics, 127.0.0.1:8782), -db, -queue,
// -placement, -placement-token, -max-attempts, -stuck-after,
// -recover-interval, -log-level, -drain-timeout, -pprof.
package main

import (
	"context"
	"io"
	"time"

	"github.com/novakit/novakit/cloud"
	"github.com/novakit/novakit/internal/daemon"
)

func main() { daemon.Main("conductor", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var c cloud.ConductorConfig
	f := daemon.New("conductor", "nova-conductor")
	f.String(&c.Host, "host", "", "this conductor's name (default: the host name)")
	f.String(&c.Listen, "listen", cloud.DefaultConductorListen, "host:port of /healthz and /metrics")
	f.String(&c.DB, "db", "", "compute database URL (postgres://…, mysql://…, sqlite://FILE)")
	f.String(&c.Queue, "queue", "", "message queue URL (amqp://user:pass@host:5672/)")
	f.String(&c.Placement, "placement", "", "placement URL (http://host:8778 or its database URL)")
	f.String(&c.PlacementToken, "placement-token", "admin", "token sent to an http placement")
	f.Int(&c.Conductor.MaxAttempts, "max-attempts", 3, "hosts one build is tried on")
	f.Duration(&c.Conductor.StuckAfter, "stuck-after", 10*time.Minute, "age at which a scheduling build, pre-migrating resize … counts as abandoned")
	f.Duration(&c.RecoverInterval, "recover-interval", time.Minute, "how often abandoned flows are looked for")
	f.Duration(&c.ReportInterval, "report-interval", 10*time.Second, "service heartbeat period")
	f.Duration(&c.DrainTimeout, "drain-timeout", 30*time.Second, "how long SIGTERM waits for flows in flight")
	f.Bool(&c.Pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on the -listen address (keep it private)")
	if err := f.Parse(args, getenv, stderr, false); err != nil {
		return err
	}
	c.Logger = f.Logger(stderr)
	return cloud.RunConductor(ctx, c)
}
