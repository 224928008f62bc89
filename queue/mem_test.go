package queue_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/queue"
	"github.com/novakit/novakit/queue/queuetest"
)

func TestMemConformance(t *testing.T) {
	queuetest.Run(t, queuetest.Harness{
		Open: func(t *testing.T) *queue.Transport {
			tr, err := queue.Open(t.Context(), "mem://")
			require.NoError(t, err)
			t.Cleanup(func() { _ = tr.Close() })
			return tr
		},
	}, queuetest.Features{})
}
