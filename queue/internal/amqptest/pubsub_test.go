package amqptest_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/internal/testsvc"
	"github.com/novakit/novakit/queue"
)

// TestAMQPPublisherPubSub runs Watermill's universal Pub/Sub suite on the
// pair the amqp:// transport uses: our pipelined confirming publisher and
// watermill-amqp's subscriber with our topology and marshaler.
func TestAMQPPublisherPubSub(t *testing.T) {
	if testing.Short() {
		t.Skip("needs RabbitMQ")
	}
	srv := testsvc.SharedRabbitMQ(t)
	tests.TestPubSub(t,
		tests.Features{
			ConsumerGroups:                      false,
			ExactlyOnceDelivery:                 false,
			GuaranteedOrder:                     true,
			GuaranteedOrderWithSingleSubscriber: true,
			Persistent:                          true,
			ForceShort:                          true,
		},
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			tr, err := queue.NewAMQP(queue.AMQPConfig{URL: srv.URL()})
			require.NoError(t, err)
			t.Cleanup(func() { _ = tr.Close() })
			return tr.Publisher(), tr.Subscriber()
		},
		nil,
	)
}
