// Command roundtrip is novakit's smallest runnable cloud slice: it opens
// the default store and queue, registers a compute-agent-shaped RPC
// server for one host, and drives an instance through a stop the way
// Nova does: a state check, a compare-and-swap to powering-off, a cast to
// the host, the host's compare-and-swap to stopped, and a notification;
// then it measures RPC call round trips.
//
// It will be replaced by examples/allinone once the API and services
// land. Every backend is chosen by URL, so the same program runs on
// RabbitMQ and PostgreSQL:
//
//	go run ./examples/roundtrip
//	go run ./examples/roundtrip -db postgres://postgres@127.0.0.1:5432/nova -queue amqp://guest:guest@127.0.0.1:5672/
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/queue"
	"github.com/novakit/novakit/store"
)

func main() {
	data := flag.String("data", envOr("NOVAKIT_DATA", "novakit-data"), "data directory (SQLite file)")
	db := flag.String("db", envOr("NOVAKIT_DB", ""), "database URL (default sqlite://DATA/nova.db)")
	q := flag.String("queue", envOr("NOVAKIT_QUEUE", "mem://"), "queue URL (mem:// or amqp://…)")
	host := flag.String("host", envOr("NOVAKIT_HOST", "host1"), "the simulated compute host")
	calls := flag.Int("calls", 2000, "RPC calls to time")
	flag.Parse()
	if err := run(context.Background(), *data, *db, *q, *host, *calls); err != nil {
		fmt.Fprintln(os.Stderr, "roundtrip:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// codes maps domain errors to wire codes so they keep their identity
// across RPC.
func codes() *queue.ErrorCodes {
	c := queue.NewErrorCodes()
	for code, err := range map[string]error{
		"compute.not_found": compute.ErrNotFound, "compute.conflict": compute.ErrConflict,
		"compute.invalid_state": compute.ErrInvalidState,
	} {
		if err := c.Register(code, err); err != nil {
			panic(err)
		}
	}
	return c
}

func run(ctx context.Context, data, dbURL, queueURL, host string, calls int) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if dbURL == "" {
		if err := os.MkdirAll(data, 0o755); err != nil {
			return err
		}
		abs, err := filepath.Abs(filepath.Join(data, "nova.db"))
		if err != nil {
			return err
		}
		dbURL = "sqlite://" + abs
	}
	st, err := store.Open(ctx, dbURL, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Printf("store  %s (%s)\n", st, st.Dialect())

	tr, err := queue.Open(ctx, queueURL)
	if err != nil {
		return err
	}
	defer tr.Close()
	fmt.Printf("queue  %s\n", queue.RedactURL(queueURL))

	// The host's side: a compute-agent-shaped server on compute.<host>.
	notifier, err := tr.NewNotifier(queue.NotifierConfig{PublisherID: "nova-compute:" + host})
	if err != nil {
		return err
	}
	srv, err := tr.NewServer(queue.ServerConfig{Topic: "compute", Server: host, Version: "6.5", Errors: codes()})
	if err != nil {
		return err
	}
	stopped := make(chan *compute.Instance, 1)
	err = queue.Handle(srv, "stop_instance", func(ctx context.Context, uuid string) (struct{}, error) {
		inst, err := st.Instances().Update(ctx, uuid, compute.InstanceUpdate{
			ExpectedTaskStates: []compute.TaskState{compute.TaskPoweringOff},
			VMState:            compute.Ptr(compute.VMStopped), TaskState: compute.Ptr(compute.TaskNone),
			PowerState: compute.Ptr(compute.PowerShutdown),
		})
		if err != nil {
			return struct{}{}, err
		}
		if err := notifier.Info(ctx, "instance.power_off.end", queue.Payload{Name: "InstanceActionPayload", Version: "1.8", Data: inst}); err != nil {
			log.Warn("notification", "err", err)
		}
		stopped <- inst
		return struct{}{}, nil
	})
	if err != nil {
		return err
	}
	err = queue.Handle(srv, "get_info", func(ctx context.Context, uuid string) (compute.PowerState, error) {
		inst, err := st.Instances().Get(ctx, uuid)
		if err != nil {
			return 0, err
		}
		return inst.PowerState, nil
	})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	defer srv.Stop(context.Background())

	// The API's side.
	client, err := tr.NewClient(queue.ClientConfig{Errors: codes()})
	if err != nil {
		return err
	}
	defer client.Close()
	ctx = queue.WithRequestContext(ctx, queue.RequestContext{ProjectID: "demo", UserID: "alice", Roles: []string{"member"}, RequestID: "req-roundtrip"})
	inst, err := st.Instances().Create(ctx, &compute.Instance{
		Name: "web-1", ProjectID: "demo", UserID: "alice", Host: host, Node: host,
		Flavor:  compute.Flavor{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1},
		VMState: compute.VMActive, PowerState: compute.PowerRunning, LaunchedAt: time.Now(),
	})
	if err != nil {
		return err
	}
	fmt.Printf("create %s %s status=%s\n", inst.Name, inst.UUID, inst.Status())
	if err := compute.CheckAction(inst, compute.ActionStop, compute.CheckOptions{}); err != nil {
		return err
	}
	rule, _ := compute.RuleFor(compute.ActionStop)
	if inst, err = st.Instances().Update(ctx, inst.UUID, rule.Transition()); err != nil {
		return err
	}
	fmt.Printf("stop   task_state=%s, cast compute.%s stop_instance\n", inst.TaskState, host)
	target := queue.Target{Topic: "compute", Server: host, Version: "6.0"}
	if err := client.Cast(ctx, target, "stop_instance", inst.UUID); err != nil {
		return err
	}
	select {
	case inst = <-stopped:
	case <-time.After(30 * time.Second):
		return errors.New("the host did not stop the instance within 30 s")
	}
	fmt.Printf("host   status=%s power_state=%s\n", inst.Status(), inst.PowerState)

	// A second stop is refused by the state table; a stale swap by the store.
	err = compute.CheckAction(inst, compute.ActionStop, compute.CheckOptions{})
	fmt.Printf("again  %v (conflict=%v)\n", err, errors.Is(err, compute.ErrInvalidState))
	err = client.Cast(ctx, target, "stop_instance", inst.UUID) // the host's swap now loses
	if err != nil {
		return err
	}

	// Round trips.
	lat := make([]time.Duration, 0, calls)
	for range calls {
		t0 := time.Now()
		var ps compute.PowerState
		if err := client.Call(ctx, target, "get_info", inst.UUID, &ps); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		fmt.Printf("rpc    %d calls get_info: p50 %v p99 %v\n", len(lat), lat[len(lat)/2], lat[len(lat)*99/100])
	}
	var ps compute.PowerState
	err = client.Call(ctx, target, "get_info", "00000000-0000-0000-0000-000000000000", &ps)
	fmt.Printf("typed  remote error is compute.ErrNotFound: %v\n", errors.Is(err, compute.ErrNotFound))
	return nil
}
