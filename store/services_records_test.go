package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

func testServices(t *testing.T, newStore func(t *testing.T) *store.Store) {
	ctx := context.Background()

	t.Run("CreateGetListDelete", func(t *testing.T) {
		sv := newStore(t).Services()
		host := "host-" + uuid.NewString()
		c, err := sv.Create(ctx, &compute.Service{Host: host, Binary: "nova-compute", Topic: "compute", Version: 66})
		require.NoError(t, err)
		assert.NotEmpty(t, c.UUID)
		assert.NotZero(t, c.ID)
		assert.True(t, c.LastSeenUp.IsZero())
		cond, err := sv.Create(ctx, &compute.Service{UUID: uuid.NewString(), Host: host, Binary: "nova-conductor"})
		require.NoError(t, err)

		byUUID, err := sv.Get(ctx, c.UUID)
		require.NoError(t, err)
		assert.Equal(t, c, byUUID)
		byID, err := sv.GetByID(ctx, c.ID)
		require.NoError(t, err)
		assert.Equal(t, c, byID)
		byHB, err := sv.GetByHostBinary(ctx, host, "nova-compute")
		require.NoError(t, err)
		assert.Equal(t, c, byHB)

		onHost, err := sv.List(ctx, store.ServiceFilter{Host: host})
		require.NoError(t, err)
		assert.Equal(t, []*compute.Service{c, cond}, onHost)
		computes, err := sv.List(ctx, store.ServiceFilter{Host: host, Binary: "nova-compute"})
		require.NoError(t, err)
		assert.Equal(t, []*compute.Service{c}, computes)
		all, err := sv.List(ctx, store.ServiceFilter{})
		require.NoError(t, err)
		assert.GreaterOrEqual(t, len(all), 2)

		require.NoError(t, sv.Delete(ctx, c.UUID))
		requireNotFound(t, sv.Delete(ctx, c.UUID))
		_, err = sv.Get(ctx, c.UUID)
		requireNotFound(t, err)
		_, err = sv.GetByID(ctx, c.ID)
		requireNotFound(t, err)
		_, err = sv.GetByHostBinary(ctx, host, "nova-compute")
		requireNotFound(t, err)
	})

	t.Run("CreateRefusesDuplicatesAndBadInput", func(t *testing.T) {
		sv := newStore(t).Services()
		host := "host-" + uuid.NewString()
		c, err := sv.Create(ctx, &compute.Service{Host: host, Binary: "nova-compute"})
		require.NoError(t, err)
		_, err = sv.Create(ctx, &compute.Service{Host: host, Binary: "nova-compute"})
		requireDuplicate(t, err)
		_, err = sv.Create(ctx, &compute.Service{UUID: c.UUID, Host: "other-" + host, Binary: "nova-compute"})
		requireDuplicate(t, err)

		for _, c := range []struct {
			field string
			svc   compute.Service
		}{
			{"host", compute.Service{Binary: "b"}},
			{"binary", compute.Service{Host: "h"}},
			{"uuid", compute.Service{UUID: "nope", Host: "h", Binary: "b"}},
			{"version", compute.Service{Host: "h", Binary: "b", Version: -1}},
			{"host", compute.Service{Host: strings.Repeat("h", 256), Binary: "b"}},
			{"topic", compute.Service{Host: "h-" + uuid.NewString(), Binary: "b", Topic: strings.Repeat("t", 256)}},
		} {
			_, err := sv.Create(ctx, &c.svc)
			requireInvalid(t, err, c.field)
		}
	})

	t.Run("HeartbeatCountsEveryReportUnderConcurrency", func(t *testing.T) {
		sv := newStore(t).Services()
		c, err := sv.Create(ctx, &compute.Service{Host: "host-" + uuid.NewString(), Binary: "nova-compute"})
		require.NoError(t, err)
		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = sv.Heartbeat(ctx, c.UUID)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		got, err := sv.Get(ctx, c.UUID)
		require.NoError(t, err)
		assert.Equal(t, int64(n), got.ReportCount)
		assert.False(t, got.LastSeenUp.IsZero())
		assert.True(t, got.IsUp(got.LastSeenUp, compute.DefaultServiceDownTime))

		one, err := sv.Heartbeat(ctx, c.UUID)
		require.NoError(t, err)
		assert.Equal(t, int64(n+1), one.ReportCount, "Heartbeat returns the updated service")
		_, err = sv.Heartbeat(ctx, uuid.NewString())
		requireNotFound(t, err)
	})

	t.Run("Update", func(t *testing.T) {
		sv := newStore(t).Services()
		c, err := sv.Create(ctx, &compute.Service{Host: "host-" + uuid.NewString(), Binary: "nova-compute"})
		require.NoError(t, err)
		got, err := sv.Update(ctx, c.UUID, store.ServiceUpdate{Disabled: compute.Ptr(true), DisabledReason: compute.Ptr("maintenance")})
		require.NoError(t, err)
		assert.True(t, got.Disabled)
		assert.Equal(t, "maintenance", got.DisabledReason)
		assert.False(t, got.ForcedDown)
		got, err = sv.Update(ctx, c.UUID, store.ServiceUpdate{ForcedDown: compute.Ptr(true), Version: compute.Ptr(70)})
		require.NoError(t, err)
		assert.True(t, got.Disabled, "untouched fields stay")
		assert.True(t, got.ForcedDown)
		assert.Equal(t, 70, got.Version)
		same, err := sv.Update(ctx, c.UUID, store.ServiceUpdate{ForcedDown: compute.Ptr(true)})
		require.NoError(t, err, "an update that changes nothing succeeds")
		assert.True(t, same.ForcedDown)

		_, err = sv.Update(ctx, uuid.NewString(), store.ServiceUpdate{Disabled: compute.Ptr(true)})
		requireNotFound(t, err)
		_, err = sv.Update(ctx, c.UUID, store.ServiceUpdate{DisabledReason: compute.Ptr(strings.Repeat("r", 256))})
		requireInvalid(t, err, "disabled_reason")
		_, err = sv.Update(ctx, c.UUID, store.ServiceUpdate{Version: compute.Ptr(-1)})
		requireInvalid(t, err, "version")
	})
}
