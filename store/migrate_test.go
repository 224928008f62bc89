package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/internal/testsvc"
)

// A database written by the first schema version keeps its data through
// the upgrade Open applies: instance tags, stored in rows at version 1,
// are backfilled into the tag_list column the later migration adds.
func TestUpgradeKeepsDataAcrossMigrations(t *testing.T) {
	urls := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "nova.db") },
		"postgres": func(t *testing.T) string { return testsvc.NewDatabase(t, testsvc.SharedPostgres(t)) },
		"mariadb":  func(t *testing.T) string { return testsvc.NewDatabase(t, testsvc.SharedMariaDB(t)) },
	}
	for name, mk := range urls {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			u := mk(t)
			old, err := Open(ctx, u, &Options{SkipMigrate: true})
			require.NoError(t, err)
			ms, err := old.SchemaMigrations(ctx)
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(ms), 2)
			first := ms[0].Version
			applied, err := old.migrateUpTo(ctx, first)
			require.NoError(t, err)
			require.Equal(t, []string{first}, applied)

			// Rows written by a binary that knew only the first version.
			id := uuid.NewString()
			db := old.dbs[0]
			now := time.Now().UTC().Truncate(time.Microsecond)
			_, err = db.ExecContext(ctx, old.rebind("INSERT INTO instances (created_at, updated_at, uuid, flavor, display_name, vm_state) VALUES (?, ?, ?, ?, ?, ?)"),
				now, now, id, `{"flavorid":"1","name":"m1.tiny","vcpus":1,"memory_mb":512}`, "legacy", "active")
			require.NoError(t, err)
			for _, tag := range []string{"web", "prod"} {
				_, err = db.ExecContext(ctx, old.rebind("INSERT INTO instance_tags (instance_id, tag) VALUES ((SELECT id FROM instances WHERE uuid = ?), ?)"), id, tag)
				require.NoError(t, err)
			}
			require.NoError(t, old.Close())

			s, err := Open(ctx, u, nil)
			require.NoError(t, err)
			defer s.Close()
			got, err := s.Instances().Get(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, "legacy", got.Name)
			assert.Equal(t, []string{"prod", "web"}, got.Tags)
			assert.Equal(t, 1, got.Flavor.VCPUs)
			ms, err = s.SchemaMigrations(ctx)
			require.NoError(t, err)
			for _, m := range ms {
				assert.False(t, m.AppliedAt.IsZero(), m.Version)
			}
		})
	}
}
