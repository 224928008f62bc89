package queue_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/novakit/novakit/queue"
)

// TestNoGoroutineLeakAfterClose: a full life cycle on mem:// (servers,
// calls, casts, fanouts, notifications, a client whose calls time out)
// leaves no goroutine behind once everything is stopped and closed.
func TestNoGoroutineLeakAfterClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	tr, err := queue.NewMem(queue.MemConfig{})
	require.NoError(t, err)
	srv, err := tr.NewServer(queue.ServerConfig{Topic: "leak", Server: "h1", MaxConcurrency: 4})
	require.NoError(t, err)
	require.NoError(t, queue.Handle(srv, "echo", func(_ context.Context, s string) (string, error) { return s, nil }))
	require.NoError(t, srv.Start(ctx))
	c, err := tr.NewClient(queue.ClientConfig{})
	require.NoError(t, err)
	var out string
	require.NoError(t, c.Call(ctx, queue.Target{Topic: "leak"}, "echo", "x", &out))
	require.NoError(t, c.Cast(ctx, queue.Target{Topic: "leak", Fanout: true}, "echo", "y"))
	require.NoError(t, c.Cast(ctx, queue.Target{Topic: "leak", Server: "h1"}, "echo", "z"))
	tctx, cancel := context.WithTimeout(ctx, 50_000_000)
	require.ErrorIs(t, c.Call(tctx, queue.Target{Topic: "nobody"}, "echo", "x", nil), queue.ErrTimeout)
	cancel()
	l, err := tr.ListenNotifications(ctx, queue.ListenerConfig{}, func(context.Context, queue.Notification) error { return nil })
	require.NoError(t, err)
	n, err := tr.NewNotifier(queue.NotifierConfig{PublisherID: "test:h1"})
	require.NoError(t, err)
	require.NoError(t, n.Info(ctx, "a.b", queue.Payload{Name: "P", Version: "1.0"}))

	require.NoError(t, l.Stop(ctx))
	require.NoError(t, srv.Stop(ctx))
	require.NoError(t, c.Close())
	require.NoError(t, tr.Close())
}
