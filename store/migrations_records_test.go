package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

func recMigration(instanceUUID, src, dst, status string) *compute.Migration {
	return &compute.Migration{
		InstanceUUID: instanceUUID, MigrationType: compute.MigrationTypeResize, Status: status,
		SourceCompute: src, SourceNode: src + "-n", DestCompute: dst, DestNode: dst + "-n",
		OldFlavorID: "1", NewFlavorID: "2", UserID: "u", ProjectID: "p",
	}
}

func migrationUUIDs(ms []*compute.Migration) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.UUID
	}
	return out
}

func testMigrationRecords(t *testing.T, newStore func(t *testing.T) *store.Store) {
	ctx := context.Background()

	t.Run("CreateGetAndBadInput", func(t *testing.T) {
		mr := newStore(t).Migrations()
		m, err := mr.Create(ctx, recMigration(uuid.NewString(), "a", "b", compute.MigrationPreMigrating))
		require.NoError(t, err)
		assert.NotEmpty(t, m.UUID)
		assert.NotZero(t, m.ID)
		got, err := mr.Get(ctx, m.UUID)
		require.NoError(t, err)
		assert.Equal(t, m, got)
		byID, err := mr.GetByID(ctx, m.ID)
		require.NoError(t, err)
		assert.Equal(t, m, byID)
		_, err = mr.Get(ctx, uuid.NewString())
		requireNotFound(t, err)
		_, err = mr.GetByID(ctx, -5)
		requireNotFound(t, err)

		dup := recMigration(uuid.NewString(), "a", "b", compute.MigrationQueued)
		dup.UUID = m.UUID
		_, err = mr.Create(ctx, dup)
		requireDuplicate(t, err)

		for _, c := range []struct {
			field string
			mod   func(*compute.Migration)
		}{
			{"instance_uuid", func(m *compute.Migration) { m.InstanceUUID = "" }},
			{"uuid", func(m *compute.Migration) { m.UUID = "x" }},
			{"migration_type", func(m *compute.Migration) { m.MigrationType = "teleport" }},
			{"status", func(m *compute.Migration) { m.Status = "" }},
		} {
			m := recMigration(uuid.NewString(), "a", "b", compute.MigrationQueued)
			c.mod(m)
			_, err := mr.Create(ctx, m)
			requireInvalid(t, err, c.field)
		}
	})

	t.Run("UpdateIsACompareAndSwapOnStatus", func(t *testing.T) {
		mr := newStore(t).Migrations()
		m, err := mr.Create(ctx, recMigration(uuid.NewString(), "a", "b", compute.MigrationPreMigrating))
		require.NoError(t, err)
		up, err := mr.Update(ctx, m.UUID, store.MigrationUpdate{
			ExpectedStatuses: []string{compute.MigrationPreMigrating},
			Status:           compute.Ptr(compute.MigrationMigrating),
			DestHost:         compute.Ptr("10.0.0.2"), MemoryTotal: compute.Ptr(int64(1 << 30)),
		})
		require.NoError(t, err)
		assert.Equal(t, compute.MigrationMigrating, up.Status)
		assert.Equal(t, "10.0.0.2", up.DestHost)
		assert.Equal(t, int64(1<<30), up.MemoryTotal)
		assert.Equal(t, m.SourceCompute, up.SourceCompute, "untouched fields stay")

		_, err = mr.Update(ctx, m.UUID, store.MigrationUpdate{
			ExpectedStatuses: []string{compute.MigrationPreMigrating},
			Status:           compute.Ptr(compute.MigrationError),
		})
		requireStateConflict(t, err)
		assert.Contains(t, err.Error(), compute.MigrationMigrating, "names the status found")
		got, err := mr.Get(ctx, m.UUID)
		require.NoError(t, err)
		assert.Equal(t, compute.MigrationMigrating, got.Status, "a lost swap writes nothing")

		_, err = mr.Update(ctx, m.UUID, store.MigrationUpdate{ExpectedStatuses: []string{}, Status: compute.Ptr("x")})
		requireStateConflict(t, err)
		same, err := mr.Update(ctx, m.UUID, store.MigrationUpdate{Hidden: compute.Ptr(false)})
		require.NoError(t, err, "an update without expectation that changes nothing succeeds")
		assert.Equal(t, compute.MigrationMigrating, same.Status)

		_, err = mr.Update(ctx, uuid.NewString(), store.MigrationUpdate{Status: compute.Ptr("x")})
		requireNotFound(t, err)
		_, err = mr.Update(ctx, m.UUID, store.MigrationUpdate{Status: compute.Ptr("")})
		requireInvalid(t, err, "status")
		_, err = mr.Update(ctx, m.UUID, store.MigrationUpdate{DiskRemaining: compute.Ptr(int64(-1))})
		requireInvalid(t, err, "disk_remaining_bytes")
	})

	t.Run("RacingSwapsHaveOneWinner", func(t *testing.T) {
		mr := newStore(t).Migrations()
		m, err := mr.Create(ctx, recMigration(uuid.NewString(), "a", "b", compute.MigrationPreMigrating))
		require.NoError(t, err)
		const n = 10
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = mr.Update(ctx, m.UUID, store.MigrationUpdate{
					ExpectedStatuses: []string{compute.MigrationPreMigrating},
					Status:           compute.Ptr(compute.MigrationMigrating),
				})
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
				continue
			}
			requireStateConflict(t, err)
		}
		assert.Equal(t, 1, wins)
	})

	t.Run("ListFiltersNewestFirstAndPages", func(t *testing.T) {
		mr := newStore(t).Migrations()
		inst := uuid.NewString()
		src, dst := "src-"+uuid.NewString(), "dst-"+uuid.NewString()
		var want []string
		for i, st := range []string{compute.MigrationFinished, compute.MigrationConfirmed, compute.MigrationMigrating} {
			m := recMigration(inst, src, dst, st)
			if i == 1 {
				m.MigrationType = compute.MigrationTypeLive
				m.Hidden = true
			}
			created, err := mr.Create(ctx, m)
			require.NoError(t, err)
			want = append([]string{created.UUID}, want...)
		}
		back, err := mr.Create(ctx, recMigration(uuid.NewString(), dst, src, compute.MigrationQueued))
		require.NoError(t, err)

		list := func(f store.MigrationFilter) []string {
			ms, err := mr.List(ctx, f, compute.ListOptions{})
			require.NoError(t, err)
			return migrationUUIDs(ms)
		}
		assert.Equal(t, want, list(store.MigrationFilter{InstanceUUID: inst}))
		assert.Equal(t, append([]string{back.UUID}, want...), list(store.MigrationFilter{Host: src}), "source or destination")
		assert.Equal(t, want, list(store.MigrationFilter{SourceCompute: src}))
		assert.Equal(t, []string{want[0], want[2]}, list(store.MigrationFilter{InstanceUUID: inst, Status: []string{compute.MigrationMigrating, compute.MigrationFinished}}))
		assert.Empty(t, list(store.MigrationFilter{InstanceUUID: inst, Status: []string{}}))
		assert.Equal(t, []string{want[1]}, list(store.MigrationFilter{InstanceUUID: inst, MigrationType: compute.MigrationTypeLive}))
		assert.Equal(t, []string{want[1]}, list(store.MigrationFilter{InstanceUUID: inst, Hidden: compute.Ptr(true)}))
		assert.Equal(t, []string{want[0], want[2]}, list(store.MigrationFilter{InstanceUUID: inst, Hidden: compute.Ptr(false)}))
		assert.Equal(t, want, list(store.MigrationFilter{InstanceUUID: inst, ProjectID: "p", UserID: "u"}))
		assert.Empty(t, list(store.MigrationFilter{InstanceUUID: inst, ProjectID: "other"}))
		assert.Equal(t, want, list(store.MigrationFilter{InstanceUUID: inst, ChangesSince: time.Now().Add(-time.Hour)}))
		assert.Empty(t, list(store.MigrationFilter{InstanceUUID: inst, ChangesBefore: time.Now().Add(-time.Hour)}))

		var paged []string
		marker := ""
		for {
			page, err := mr.List(ctx, store.MigrationFilter{InstanceUUID: inst}, compute.ListOptions{Limit: 2, Marker: marker})
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			paged = append(paged, migrationUUIDs(page)...)
			marker = page[len(page)-1].UUID
		}
		assert.Equal(t, want, paged)
		missing := uuid.NewString()
		_, err = mr.List(ctx, store.MigrationFilter{}, compute.ListOptions{Marker: missing})
		requireMarkerNotFound(t, err, missing)
	})

	t.Run("InProgressForHost", func(t *testing.T) {
		mr := newStore(t).Migrations()
		src, dst := "src-"+uuid.NewString(), "dst-"+uuid.NewString()
		var live []string
		for _, st := range []string{compute.MigrationMigrating, compute.MigrationFinished, compute.MigrationConfirmed,
			compute.MigrationReverted, compute.MigrationError, compute.MigrationFailed, compute.MigrationCompleted,
			compute.MigrationCancelled, compute.MigrationDone, compute.MigrationPreMigrating} {
			m, err := mr.Create(ctx, recMigration(uuid.NewString(), src, dst, st))
			require.NoError(t, err)
			switch st {
			case compute.MigrationMigrating, compute.MigrationFinished, compute.MigrationPreMigrating:
				live = append(live, m.UUID)
			}
		}
		for _, host := range []string{src, dst} {
			ms, err := mr.InProgressForHost(ctx, host, "")
			require.NoError(t, err)
			assert.Equal(t, live, migrationUUIDs(ms), host)
			ms, err = mr.InProgressForHost(ctx, host, host+"-n")
			require.NoError(t, err)
			assert.Equal(t, live, migrationUUIDs(ms), host)
			ms, err = mr.InProgressForHost(ctx, host, "other-node")
			require.NoError(t, err)
			assert.Empty(t, ms)
		}
	})
}
