package queue_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/novakit/novakit/queue"
)

// A scheduler-like server answering calls, and a client calling it, on the
// in-memory transport.
func Example() {
	ctx := context.Background()
	tr, err := queue.Open(ctx, "mem://")
	if err != nil {
		panic(err)
	}
	defer tr.Close()

	type Spec struct {
		Flavor string `json:"flavor"`
	}
	srv, _ := tr.NewServer(queue.ServerConfig{Topic: "scheduler", Version: "4.5"})
	_ = queue.Handle(srv, "select_destinations", func(ctx context.Context, spec Spec) ([]string, error) {
		rc, _ := queue.RequestContextFrom(ctx)
		return []string{"host1 for " + rc.ProjectID + " (" + spec.Flavor + ")"}, nil
	})
	if err := srv.Start(ctx); err != nil {
		panic(err)
	}
	defer srv.Stop(ctx)

	c, _ := tr.NewClient(queue.ClientConfig{})
	defer c.Close()
	ctx = queue.WithRequestContext(ctx, queue.RequestContext{ProjectID: "demo", RequestID: "req-1"})
	var hosts []string
	err = c.Call(ctx, queue.Target{Topic: "scheduler", Version: "4.0"}, "select_destinations", Spec{Flavor: "m1.small"}, &hosts)
	fmt.Println(hosts, err)
	// Output: [host1 for demo (m1.small)] <nil>
}

var ErrInstanceNotFound = errors.New("instance not found")

// Errors returned by a remote handler keep their identity across the wire
// once both sides register a code for them.
func ExampleErrorCodes() {
	ctx := context.Background()
	codes := queue.NewErrorCodes()
	_ = codes.Register("compute.instance_not_found", ErrInstanceNotFound)

	tr, _ := queue.NewMem(queue.MemConfig{})
	defer tr.Close()
	srv, _ := tr.NewServer(queue.ServerConfig{Topic: "compute", Server: "host1", Errors: codes})
	_ = queue.Handle(srv, "get_console_output", func(_ context.Context, uuid string) (string, error) {
		return "", fmt.Errorf("instance %s: %w", uuid, ErrInstanceNotFound)
	})
	_ = srv.Start(ctx)
	defer srv.Stop(ctx)

	c, _ := tr.NewClient(queue.ClientConfig{Errors: codes})
	defer c.Close()
	err := c.Call(ctx, queue.Target{Topic: "compute", Server: "host1"}, "get_console_output", "i-1", nil)
	var re *queue.RemoteError
	fmt.Println(errors.Is(err, ErrInstanceNotFound), errors.As(err, &re) && re.Code == "compute.instance_not_found")
	// Output: true true
}

// A cast to one host, and a fanout cast to every server of a topic.
func ExampleClient_Cast() {
	ctx := context.Background()
	tr, _ := queue.NewMem(queue.MemConfig{})
	defer tr.Close()

	done := make(chan string, 3)
	for _, host := range []string{"host1", "host2"} {
		srv, _ := tr.NewServer(queue.ServerConfig{Topic: "compute", Server: host})
		_ = queue.Handle(srv, "refresh", func(ctx context.Context, _ struct{}) (struct{}, error) {
			d, _ := queue.DeliveryFrom(ctx) // d.MessageID lets handlers deduplicate
			done <- host + " " + d.Method
			return struct{}{}, nil
		})
		_ = srv.Start(ctx)
		defer srv.Stop(ctx)
	}
	c, _ := tr.NewClient(queue.ClientConfig{})
	defer c.Close()

	_ = c.Cast(ctx, queue.Target{Topic: "compute", Server: "host2"}, "refresh", nil)
	fmt.Println(<-done)
	_ = c.Cast(ctx, queue.Target{Topic: "compute", Fanout: true}, "refresh", nil)
	a, b := <-done, <-done
	fmt.Println(min(a, b), "and", max(a, b))
	// Output:
	// host2 refresh
	// host1 refresh and host2 refresh
}

// Versioned notifications, as Nova sends them.
func ExampleNotifier() {
	ctx := context.Background()
	tr, _ := queue.NewMem(queue.MemConfig{})
	defer tr.Close()

	got := make(chan queue.Notification, 1)
	l, _ := tr.ListenNotifications(ctx, queue.ListenerConfig{}, func(_ context.Context, n queue.Notification) error {
		got <- n
		return nil
	})
	defer l.Stop(ctx)

	n, _ := tr.NewNotifier(queue.NotifierConfig{PublisherID: "nova-compute:host1"})
	_ = n.Info(ctx, "instance.create.end", queue.Payload{
		Name: "InstanceCreatePayload", Version: "1.12", Data: map[string]string{"uuid": "i-1"},
	})
	no := <-got
	var data map[string]string
	_ = no.Payload.Decode(&data)
	fmt.Println(no.EventType, no.Priority, no.PublisherID, no.Payload.Namespace, no.Payload.Name, no.Payload.Version, data["uuid"])
	// Output: instance.create.end INFO nova-compute:host1 nova InstanceCreatePayload 1.12 i-1
}
