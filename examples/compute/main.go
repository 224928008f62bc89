// Command compute is nova-compute for a multi-process novakit cloud: the
// agent of one host (package cloud's RunCompute behind novakit's daemon
// conventions). Run one per host.
//
//	go run ./examples/compute -host cmp1 -driver 'fake://?vcpus=64&memory_mb=262144' \
//	    -queue amqp://nova:secret@mq:5672/ -placement http://placement:8778
//
// The agent never opens the database: records go through the conductors.
// Flags (each also NOVAKIT_<FLAG> or a -config YAML key; -h lists them):
// -host, -driver, -listen (health, metrics and /guests, 127.0.0.1:8783),
// -queue, -placement, -placement-token, -glance, -report-interval,
// -resource-interval, -max-concurrent-builds, -log-level, -drain-timeout, -pprof.
package main

import (
	"context"
	"io"
	"time"

	"github.com/novakit/novakit/cloud"
	"github.com/novakit/novakit/internal/daemon"
)

func main() { daemon.Main("compute", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var c cloud.ComputeConfig
	f := daemon.New("compute", "nova-compute")
	f.String(&c.Host, "host", "", "compute host name (default: the machine's host name)")
	f.String(&c.DriverURL, "driver", "fake://", "hypervisor driver URL (fake://?vcpus=N&memory_mb=N&disk_gb=N)")
	f.String(&c.Listen, "listen", cloud.DefaultComputeListen, "host:port of /healthz, /metrics and /guests")
	f.String(&c.Queue, "queue", "", "message queue URL (amqp://user:pass@host:5672/)")
	f.String(&c.Placement, "placement", "", "placement URL (http://host:8778 or its database URL)")
	f.String(&c.PlacementToken, "placement-token", "admin", "token sent to an http placement")
	f.String(&c.Glance, "glance", "", "image service URL (snapshots, shelve)")
	f.Duration(&c.Agent.ReportInterval, "report-interval", 10*time.Second, "heartbeat period")
	f.Duration(&c.Agent.ResourceInterval, "resource-interval", time.Minute, "resource tracker period")
	f.Int(&c.Agent.MaxConcurrentBuilds, "max-concurrent-builds", 10, "builds running at once")
	f.Duration(&c.DrainTimeout, "drain-timeout", 30*time.Second, "how long SIGTERM waits for the agent to stop")
	f.Bool(&c.Pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on the -listen address (keep it private)")
	if err := f.Parse(args, getenv, stderr, false); err != nil {
		return err
	}
	c.Logger = f.Logger(stderr)
	return cloud.RunCompute(ctx, c)
}
