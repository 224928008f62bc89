package amqptest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/internal/testsvc"
	"github.com/novakit/novakit/queue"
	"github.com/novakit/novakit/queue/queuetest"
)

func TestMain(m *testing.M) { testsvc.Main(m) }

// TestAMQPConformance runs the conformance suite on a private RabbitMQ node,
// including the restart and kill tests.
func TestAMQPConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts RabbitMQ")
	}
	srv := testsvc.RabbitMQ(t)
	f := queuetest.Features{
		Durable: true,
		Restart: srv.Restart,
		Kill: func(ctx context.Context) error {
			if err := srv.Kill(); err != nil {
				return err
			}
			return srv.Start(ctx)
		},
	}
	if raceEnabled {
		// watermill-amqp's ConnectionWrapper replaces its "connected"
		// channel without synchronisation when the connection drops
		// (connection.go:136/139 against IsConnected at :114; upstream
		// ThreeDotsLabs/watermill#693), so any reconnect trips the race
		// detector inside watermill-amqp. The outage tests run without
		// -race.
		t.Log("race detector on: skipping the broker restart and kill tests (watermill#693)")
		f.Restart, f.Kill = nil, nil
	}
	queuetest.Run(t, queuetest.Harness{
		Open: func(t *testing.T) *queue.Transport {
			tr, err := queue.Open(t.Context(), srv.URL())
			require.NoError(t, err)
			t.Cleanup(func() { _ = tr.Close() })
			return tr
		},
	}, f)
}

func TestAMQPOpenFailsFastWithoutPassword(t *testing.T) {
	start := time.Now()
	// Port 1 on loopback: nothing listens there.
	_, err := queue.Open(context.Background(), "amqp://guest:s3cret@127.0.0.1:1/")
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Contains(t, err.Error(), "127.0.0.1:1")
	assert.NotContains(t, err.Error(), "s3cret")

	_, err = queue.Open(context.Background(), "amqp://guest:s3cret@127.0.0.1:99999999/")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")

	_, err = queue.Open(context.Background(), "amqp://guest:s3cret@[::1/")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
	assert.True(t, strings.Contains(err.Error(), "malformed"), err.Error())
}
