// Command manage is novakit's operator command (nova-manage's shape):
// the database schema, the services and the hosts of a cloud.
//
//	go run ./examples/manage -db sqlite:///var/lib/novakit/nova.db db sync
//	go run ./examples/manage -db postgres://nova@db/nova db version
//	go run ./examples/manage -db postgres://nova@db/nova service list
//	go run ./examples/manage -db postgres://nova@db/nova service force-down cmp3
//	go run ./examples/manage -db postgres://nova@db/nova host list
//
// `db sync` creates the schema or upgrades it to this binary's newest
// migration (the function every daemon's store.Open calls); `db version`
// lists the migrations and which are applied. `service list` shows every
// registered service (nova-compute, nova-conductor, nova-scheduler) with
// its status and whether it is up (a heartbeat within -service-down-time);
// `service force-down HOST [BINARY]` marks a service down at once (what
// evacuation of a dead host needs; BINARY defaults to nova-compute) and
// `service force-up HOST [BINARY]` clears the mark. `host list` lists the
// hosts with their availability zone ("internal" for hosts running only
// control services), as nova-manage's host list did. -db defaults to
// $NOVAKIT_DB. It exits non-zero with a one-line reason on failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

// computeBinary is the compute agent's service binary (compute/agent.Binary).
const computeBinary = "nova-compute"

const usage = "usage: manage -db URL db sync|version | service list | service force-down|force-up HOST [BINARY] | host list"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "manage:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("manage", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db := fs.String("db", os.Getenv("NOVAKIT_DB"), "database URL (sqlite://…, postgres://…, mysql://…); default $NOVAKIT_DB")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the database server")
	downTime := fs.Duration("service-down-time", compute.DefaultServiceDownTime, "how long without a heartbeat makes a service down")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w (%s)", err, usage)
	}
	rest := fs.Args()
	cmd := strings.Join(rest, " ")
	switch {
	case cmd == "db sync", cmd == "db version", cmd == "service list", cmd == "host list":
	case len(rest) >= 3 && len(rest) <= 4 && rest[0] == "service" && (rest[1] == "force-down" || rest[1] == "force-up"):
	default:
		return errors.New(usage)
	}
	if *db == "" {
		return errors.New("no database: give -db URL or set NOVAKIT_DB")
	}
	// Open without migrating, so that `db version` reports what is there
	// and `db sync` says what it applied.
	st, err := store.Open(ctx, *db, &store.Options{SkipMigrate: true, ConnectTimeout: *timeout})
	if err != nil {
		return err
	}
	defer st.Close()
	switch rest[0] {
	case "service":
		if rest[1] == "list" {
			return serviceList(ctx, st, out, *downTime)
		}
		binary := computeBinary
		if len(rest) == 4 {
			binary = rest[3]
		}
		return forceDown(ctx, st, out, rest[2], binary, rest[1] == "force-down")
	case "host":
		return hostList(ctx, st, out)
	}
	switch rest[1] {
	case "sync":
		applied, err := st.Migrate(ctx)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintf(out, "%s: schema is up to date\n", st)
		}
		for _, v := range applied {
			fmt.Fprintf(out, "%s: applied %s\n", st, v)
		}
	case "version":
		ms, err := st.SchemaMigrations(ctx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			state := "pending"
			if !m.AppliedAt.IsZero() {
				state = "applied " + m.AppliedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(out, "%s %-24s %s\n", m.Version, m.Description, state)
		}
	}
	return nil
}

// serviceList prints every service: id, binary, host, zone-less status
// (enabled/disabled), state (up/down), forced down and the last heartbeat.
func serviceList(ctx context.Context, st *store.Store, out io.Writer, downTime time.Duration) error {
	svcs, err := st.Services().List(ctx, store.ServiceFilter{})
	if err != nil {
		return err
	}
	sort.Slice(svcs, func(i, j int) bool {
		if svcs[i].Binary != svcs[j].Binary {
			return svcs[i].Binary < svcs[j].Binary
		}
		return svcs[i].Host < svcs[j].Host
	})
	now := time.Now()
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tBinary\tHost\tStatus\tState\tForced Down\tUpdated At")
	for _, s := range svcs {
		status, state := "enabled", "down"
		if s.Disabled {
			status = "disabled"
		}
		if s.IsUp(now, downTime) {
			state = "up"
		}
		seen := "-"
		if !s.LastSeenUp.IsZero() {
			seen = s.LastSeenUp.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%t\t%s\n", s.ID, s.Binary, s.Host, status, state, s.ForcedDown, seen)
	}
	return tw.Flush()
}

// forceDown sets or clears the forced_down mark of (host, binary).
func forceDown(ctx context.Context, st *store.Store, out io.Writer, host, binary string, down bool) error {
	s, err := st.Services().GetByHostBinary(ctx, host, binary)
	if err != nil {
		if errors.Is(err, compute.ErrNotFound) {
			return fmt.Errorf("no service %s on host %q (see service list)", binary, host)
		}
		return err
	}
	if _, err := st.Services().Update(ctx, s.UUID, store.ServiceUpdate{ForcedDown: &down}); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s on %s: forced_down=%t\n", binary, host, down)
	return nil
}

// hostList prints every host with a service and its availability zone:
// a compute host's zone (aggregate metadata, default "nova"), "internal"
// for hosts running only control services.
func hostList(ctx context.Context, st *store.Store, out io.Writer) error {
	svcs, err := st.Services().List(ctx, store.ServiceFilter{})
	if err != nil {
		return err
	}
	zones, err := st.Aggregates().HostAvailabilityZones(ctx)
	if err != nil {
		return err
	}
	hosts := map[string]string{}
	for _, s := range svcs {
		if s.Binary == computeBinary {
			z := zones[s.Host]
			if z == "" {
				z = compute.DefaultAvailabilityZone
			}
			hosts[s.Host] = z
		} else if _, ok := hosts[s.Host]; !ok {
			hosts[s.Host] = "internal"
		}
	}
	names := make([]string, 0, len(hosts))
	for h := range hosts {
		names = append(names, h)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Host\tZone")
	for _, h := range names {
		fmt.Fprintf(tw, "%s\t%s\n", h, hosts[h])
	}
	return tw.Flush()
}
