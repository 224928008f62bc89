package queue

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
)

// TestMemBrokerPubSub runs Watermill's universal Pub/Sub suite on the
// in-memory broker behind mem://.
func TestMemBrokerPubSub(t *testing.T) {
	tests.TestPubSub(t,
		tests.Features{
			ConsumerGroups:                      false,
			ExactlyOnceDelivery:                 true,
			GuaranteedOrder:                     true,
			GuaranteedOrderWithSingleSubscriber: true,
			Persistent:                          false,
			RequireSingleInstance:               true,
		},
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			b := newMemBroker()
			return b, b
		},
		nil,
	)
}
