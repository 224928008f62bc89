package queue_test

import (
	"testing"

	"github.com/novakit/novakit/queue"
	"github.com/novakit/novakit/queue/queuetest"
)

func openMemBench(b *testing.B) *queue.Transport {
	tr, err := queue.NewMem(queue.MemConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tr.Close() })
	return tr
}

// BenchmarkCall: go test -run XXX -bench . -benchmem ./queue/
func BenchmarkCall(b *testing.B) { queuetest.BenchmarkCall(b, openMemBench) }

func BenchmarkCast(b *testing.B) { queuetest.BenchmarkCast(b, openMemBench) }
