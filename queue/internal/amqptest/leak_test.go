package amqptest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/novakit/novakit/internal/testsvc"
	"github.com/novakit/novakit/queue"
)

// TestAMQPNoGoroutineLeakAfterClose: connections, channels, consumers,
// reconnect loops and workers are all gone once servers, listeners, clients
// and the transport are closed.
func TestAMQPNoGoroutineLeakAfterClose(t *testing.T) {
	if testing.Short() {
		t.Skip("needs RabbitMQ")
	}
	url := testsvc.SharedRabbitMQ(t).URL()
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tr, err := queue.Open(ctx, url)
	require.NoError(t, err)
	srv, err := tr.NewServer(queue.ServerConfig{Topic: "leakcheck", Server: "h1", MaxConcurrency: 2})
	require.NoError(t, err)
	require.NoError(t, queue.Handle(srv, "echo", func(_ context.Context, s string) (string, error) { return s, nil }))
	require.NoError(t, srv.Start(ctx))
	c, err := tr.NewClient(queue.ClientConfig{})
	require.NoError(t, err)
	var out string
	require.NoError(t, c.Call(ctx, queue.Target{Topic: "leakcheck"}, "echo", "x", &out))
	require.NoError(t, c.Cast(ctx, queue.Target{Topic: "leakcheck", Fanout: true}, "echo", "y"))
	l, err := tr.ListenNotifications(ctx, queue.ListenerConfig{Topic: "leakcheck_notifications"}, func(context.Context, queue.Notification) error { return nil })
	require.NoError(t, err)
	n, err := tr.NewNotifier(queue.NotifierConfig{PublisherID: "test:h1", Topic: "leakcheck_notifications"})
	require.NoError(t, err)
	require.NoError(t, n.Info(ctx, "a.b", queue.Payload{Name: "P", Version: "1.0"}))

	require.NoError(t, l.Stop(ctx))
	require.NoError(t, srv.Stop(ctx))
	require.NoError(t, c.Close())
	require.NoError(t, tr.Close())
}
