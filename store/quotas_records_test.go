package store_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

func testQuotas(t *testing.T, newStore func(t *testing.T) *store.Store) {
	ctx := context.Background()

	t.Run("DefaultsProjectAndUserOverrides", func(t *testing.T) {
		q := newStore(t).Quotas()
		project, user := uuid.NewString(), uuid.NewString()
		got, err := q.Limits(ctx, project, "")
		require.NoError(t, err)
		assert.Equal(t, compute.DefaultQuotas(), got)
		got, err = q.Limits(ctx, project, user)
		require.NoError(t, err)
		assert.Equal(t, compute.DefaultQuotas(), got)

		require.NoError(t, q.Set(ctx, project, "", compute.QuotaCores, 50))
		require.NoError(t, q.Set(ctx, project, "", compute.QuotaInstances, -1))
		require.NoError(t, q.Set(ctx, project, user, compute.QuotaCores, 5))
		require.NoError(t, q.Set(ctx, project, "", compute.QuotaCores, 60), "a second set replaces the first")

		want := compute.DefaultQuotas()
		want[compute.QuotaCores], want[compute.QuotaInstances] = 60, -1
		got, err = q.Limits(ctx, project, "")
		require.NoError(t, err)
		assert.Equal(t, want, got)
		got, err = q.Limits(ctx, project, uuid.NewString())
		require.NoError(t, err)
		assert.Equal(t, want, got, "users without limits of their own get the project's")
		want[compute.QuotaCores] = 5
		got, err = q.Limits(ctx, project, user)
		require.NoError(t, err)
		assert.Equal(t, want, got)

		other, err := q.Limits(ctx, uuid.NewString(), user)
		require.NoError(t, err)
		assert.Equal(t, compute.DefaultQuotas(), other, "limits are per project")

		require.NoError(t, q.DeleteUser(ctx, project, user))
		got, err = q.Limits(ctx, project, user)
		require.NoError(t, err)
		assert.Equal(t, 60, got[compute.QuotaCores])

		require.NoError(t, q.Set(ctx, project, user, compute.QuotaRAM, 1024))
		require.NoError(t, q.DeleteProject(ctx, project))
		require.NoError(t, q.DeleteProject(ctx, project), "idempotent")
		got, err = q.Limits(ctx, project, user)
		require.NoError(t, err)
		assert.Equal(t, compute.DefaultQuotas(), got, "back to the defaults")
	})

	t.Run("BadInputNamesTheField", func(t *testing.T) {
		q := newStore(t).Quotas()
		project := uuid.NewString()
		err := q.Set(ctx, project, "", "floating_ips", 10)
		requireInvalid(t, err, "floating_ips")
		assert.Contains(t, err.Error(), "floating_ips")
		requireInvalid(t, q.Set(ctx, project, "", compute.QuotaRAM, -2), compute.QuotaRAM)
		requireInvalid(t, q.Set(ctx, "", "", compute.QuotaRAM, 1), "project_id")
		_, err = q.Limits(ctx, "", "")
		requireInvalid(t, err, "project_id")
		requireInvalid(t, q.DeleteUser(ctx, project, ""), "user_id")
	})
}
