package amqptest_test

import (
	"context"
	"testing"

	"github.com/novakit/novakit/internal/testsvc"
	"github.com/novakit/novakit/queue"
	"github.com/novakit/novakit/queue/queuetest"
)

// Benchmarks on a shared RabbitMQ node: the default transport (pipelined
// publisher confirms on 8 channels) and watermill-amqp's stock publisher
// with a pool of 64 channels, for comparison.
//
//	go test -run XXX -bench . -benchmem ./queue/internal/amqptest/
func benchOpen(query string) func(b *testing.B) *queue.Transport {
	return func(b *testing.B) *queue.Transport {
		tr, err := queue.Open(context.Background(), testsvc.SharedRabbitMQ(b).URL()+query)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = tr.Close() })
		return tr
	}
}

func BenchmarkCall(b *testing.B) {
	b.Run("amqp", func(b *testing.B) { queuetest.BenchmarkCall(b, benchOpen("")) })
	b.Run("amqp-stock-publisher", func(b *testing.B) {
		queuetest.BenchmarkCall(b, benchOpen("?stock_publisher=true&pool=64"))
	})
}

func BenchmarkCast(b *testing.B) {
	b.Run("amqp", func(b *testing.B) { queuetest.BenchmarkCast(b, benchOpen("")) })
	b.Run("amqp-stock-publisher", func(b *testing.B) {
		queuetest.BenchmarkCast(b, benchOpen("?stock_publisher=true&pool=64"))
	})
}
