package amqptest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/internal/testsvc"
	"github.com/novakit/novakit/queue"
)

// TestCastDuringOutage: with the broker stopped, a Cast retries until its
// ctx is done and then fails with the ctx's error; a Cast whose ctx
// outlives the outage returns nil once the broker is back and is
// delivered; a server started before the outage picks the work up without
// help.
func TestCastDuringOutage(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("stops RabbitMQ (and reconnects trip watermill#693 under -race)")
	}
	srv := testsvc.RabbitMQ(t)
	ctx := context.Background()
	tr, err := queue.Open(ctx, srv.URL()+"?retry=100ms")
	require.NoError(t, err)
	defer tr.Close()

	var got atomic.Int32
	s, err := tr.NewServer(queue.ServerConfig{Topic: "outage", Server: "h1"})
	require.NoError(t, err)
	require.NoError(t, queue.Handle(s, "work", func(context.Context, int) (struct{}, error) {
		got.Add(1)
		return struct{}{}, nil
	}))
	require.NoError(t, s.Start(ctx))
	defer s.Stop(ctx)
	c, err := tr.NewClient(queue.ClientConfig{})
	require.NoError(t, err)
	defer c.Close()
	tgt := queue.Target{Topic: "outage", Server: "h1"}
	require.NoError(t, c.Cast(ctx, tgt, "work", 0))

	stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	require.NoError(t, srv.Stop(stopCtx))

	// Short ctx: gives up with the ctx error, promptly.
	short, cancelShort := context.WithTimeout(ctx, 700*time.Millisecond)
	start := time.Now()
	err = c.Cast(short, tgt, "work", 1)
	cancelShort()
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)

	// Long ctx: waits for the broker to come back and succeeds.
	done := make(chan error, 1)
	go func() {
		long, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		done <- c.Cast(long, tgt, "work", 2)
	}()
	time.Sleep(time.Second)
	select {
	case err := <-done:
		t.Fatalf("Cast returned %v while the broker was down", err)
	default:
	}
	require.NoError(t, srv.Start(stopCtx))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("Cast did not return after the broker came back")
	}
	require.Eventually(t, func() bool { return got.Load() >= 2 }, time.Minute, 50*time.Millisecond,
		"the cast made during the outage was not delivered")
}
