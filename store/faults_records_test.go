package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

func testFaults(t *testing.T, newStore func(t *testing.T) *store.Store) {
	ctx := context.Background()

	t.Run("AddListLatest", func(t *testing.T) {
		fs := newStore(t).Faults()
		a, b, c := uuid.NewString(), uuid.NewString(), uuid.NewString()
		first, err := fs.Add(ctx, &compute.InstanceFault{InstanceUUID: a, Message: "no valid host", Details: "tb", Host: "h1"})
		require.NoError(t, err)
		assert.NotZero(t, first.ID)
		assert.Equal(t, 500, first.Code, "code 0 is stored as 500")
		assert.False(t, first.CreatedAt.IsZero())
		second, err := fs.Add(ctx, &compute.InstanceFault{InstanceUUID: a, Code: 409, Message: "later"})
		require.NoError(t, err)
		onB, err := fs.Add(ctx, &compute.InstanceFault{InstanceUUID: b, Code: 400, Message: "b failed",
			CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		require.NoError(t, err)
		assert.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), onB.CreatedAt)

		list, err := fs.List(ctx, a)
		require.NoError(t, err)
		assert.Equal(t, []*compute.InstanceFault{second, first}, list, "newest first")

		latest, err := fs.Latest(ctx, []string{a, b, c})
		require.NoError(t, err)
		assert.Equal(t, map[string]*compute.InstanceFault{a: second, b: onB}, latest)

		empty, err := fs.Latest(ctx, nil)
		require.NoError(t, err)
		assert.Empty(t, empty)
		none, err := fs.List(ctx, c)
		require.NoError(t, err)
		assert.Empty(t, none)
	})

	t.Run("BadInputNamesTheField", func(t *testing.T) {
		fs := newStore(t).Faults()
		_, err := fs.Add(ctx, &compute.InstanceFault{InstanceUUID: "x", Message: "m"})
		requireInvalid(t, err, "instance_uuid")
		_, err = fs.Add(ctx, &compute.InstanceFault{InstanceUUID: uuid.NewString()})
		requireInvalid(t, err, "message")
		_, err = fs.Add(ctx, nil)
		requireInvalid(t, err, "fault")
	})
}
