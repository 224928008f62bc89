package servicegroup

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/store"
)

func TestRegisterIsIdempotentAndHeartbeatCounts(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://:memory:", nil)
	require.NoError(t, err)
	defer st.Close()

	a, err := Register(ctx, st, "ctl1", "nova-conductor", "conductor")
	require.NoError(t, err)
	b, err := Register(ctx, st, "ctl1", "nova-conductor", "conductor")
	require.NoError(t, err)
	assert.Equal(t, a.UUID, b.UUID, "a second start finds the same record")

	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(rctx, st, "ctl1", "nova-scheduler", "scheduler", 5*time.Millisecond, nil) }()
	require.Eventually(t, func() bool {
		s, err := st.Services().GetByHostBinary(ctx, "ctl1", "nova-scheduler")
		return err == nil && s.ReportCount >= 3 && !s.LastSeenUp.IsZero()
	}, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	all, err := st.Services().List(ctx, store.ServiceFilter{Host: "ctl1"})
	require.NoError(t, err)
	assert.Len(t, all, 2)
}
