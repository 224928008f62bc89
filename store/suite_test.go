package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/internal/testsvc"
	"github.com/novakit/novakit/store"
)

func TestMain(m *testing.M) { testsvc.Main(m) }

// dialects opens one store per SQL engine the suite runs on. SQLite in
// memory and on a file run everywhere; PostgreSQL and MariaDB are real
// servers started by internal/testsvc (required in CI).
var dialects = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"sqlite-memory", func(t *testing.T) string { return "sqlite://:memory:" }},
	{"sqlite-file", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "nova.db") }},
	{"postgres", func(t *testing.T) string { return testsvc.NewDatabase(t, testsvc.SharedPostgres(t)) }},
	{"mariadb", func(t *testing.T) string { return testsvc.NewDatabase(t, testsvc.SharedMariaDB(t)) }},
}

// TestStoreSuite runs every repository's tests on every dialect. Within
// one dialect the subtests share one database, as services share one in
// production; each test keeps to its own project ids and uuids.
func TestStoreSuite(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			var (
				once   sync.Once
				shared *store.Store
			)
			newStore := func(st *testing.T) *store.Store {
				once.Do(func() {
					s, err := store.Open(context.Background(), d.url(t), nil)
					require.NoError(t, err)
					t.Cleanup(func() { s.Close() })
					shared = s
				})
				require.NotNil(st, shared, "opening the %s store failed", d.name)
				return shared
			}
			for _, suite := range append(storeSuites, recordSuites...) {
				t.Run(suite.name, func(t *testing.T) { suite.run(t, newStore) })
			}
		})
	}
}

// storeSuites lists the repository test functions run on every dialect.
var storeSuites = []struct {
	name string
	run  func(t *testing.T, newStore func(t *testing.T) *store.Store)
}{
	{"Instances", testInstances},
	{"SchemaMigrations", testSchemaMigrations},
}

func testSchemaMigrations(t *testing.T, newStore func(t *testing.T) *store.Store) {
	s := newStore(t)
	ctx := context.Background()
	ms, err := s.SchemaMigrations(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	for _, m := range ms {
		assert.False(t, m.AppliedAt.IsZero(), "migration %s applied on open", m.Version)
	}
	applied, err := s.Migrate(ctx)
	require.NoError(t, err)
	assert.Empty(t, applied, "a second migrate is a no-op")
	require.NoError(t, s.Ping(ctx))
}

func TestOpenUpgradesAnExistingDatabase(t *testing.T) {
	for _, d := range dialects {
		if d.name == "sqlite-memory" {
			continue // a memory database does not outlive its store
		}
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			u := d.url(t)
			old, err := store.Open(ctx, u, &store.Options{SkipMigrate: true})
			require.NoError(t, err)
			ms, err := old.SchemaMigrations(ctx)
			require.NoError(t, err)
			for _, m := range ms {
				assert.True(t, m.AppliedAt.IsZero(), "nothing applied yet")
			}
			_, err = old.Instances().Get(ctx, uuid.NewString())
			require.Error(t, err, "no schema yet")
			require.NoError(t, old.Close())

			// Several processes opening at once: one applies each migration.
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := store.Open(ctx, u, nil)
					if err == nil {
						s.Close()
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			s, err := store.Open(ctx, u, nil)
			require.NoError(t, err)
			defer s.Close()
			ms, err = s.SchemaMigrations(ctx)
			require.NoError(t, err)
			for _, m := range ms {
				assert.False(t, m.AppliedAt.IsZero())
			}
			_, err = s.Instances().Get(ctx, uuid.NewString())
			require.ErrorIs(t, err, compute.ErrNotFound)
		})
	}
}

func TestOpenRefusesADatabaseFromANewerBinary(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nova.db")
	s, err := store.Open(ctx, "sqlite://"+path, nil)
	require.NoError(t, err)
	s.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO novakit_schema_revisions VALUES ('99990101000000', 'future', 'x', 'now')")
	require.NoError(t, err)
	db.Close()
	_, err = store.Open(ctx, "sqlite://"+path, nil)
	require.ErrorIs(t, err, store.ErrSchemaTooNew)
}

func TestOpenFailsFastWithAClearError(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		url, want string
		is        error
	}{
		{"nonsense", "not a database URL", compute.ErrInvalidInput},
		{"redis://127.0.0.1/0", "unknown database scheme", compute.ErrInvalidInput},
		{"sqlite:///no/such/dir/nova.db", "/no/such/dir", compute.ErrInvalidInput},
		{"sqlite://", "no database path", compute.ErrInvalidInput},
		{"postgres://u:secret@127.0.0.1:1/nova?sslmode=disable", "cannot reach postgres://u:xxxxx@127.0.0.1:1/nova", compute.ErrUnavailable},
		{"mysql://u:secret@127.0.0.1:1/nova", "cannot reach mysql://u:xxxxx@127.0.0.1:1/nova", compute.ErrUnavailable},
		{"postgres://127.0.0.1:5432", "no database name", compute.ErrInvalidInput},
		{"mysql://u:pw@[::1/nova", "malformed database URL", compute.ErrInvalidInput},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			start := time.Now()
			_, err := store.Open(ctx, c.url, &store.Options{ConnectTimeout: 2 * time.Second})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), "secret")
			assert.ErrorIs(t, err, c.is)
			assert.Less(t, time.Since(start), 10*time.Second)
		})
	}
}

// A database that goes away answers ErrUnavailable, and the same store
// works again once the server is back.
func TestUnavailableDatabaseIsReportedAndRecovers(t *testing.T) {
	srv := testsvc.Postgres(t)
	ctx := context.Background()
	s, err := store.Open(ctx, testsvc.NewDatabase(t, srv), &store.Options{ConnectTimeout: 2 * time.Second})
	require.NoError(t, err)
	defer s.Close()
	in, err := s.Instances().Create(ctx, newInstance("p"))
	require.NoError(t, err)

	require.NoError(t, srv.Stop(ctx))
	_, err = s.Instances().Get(ctx, in.UUID)
	require.ErrorIs(t, err, compute.ErrUnavailable)
	assert.False(t, strings.Contains(err.Error(), "ent:"), "no ent error leaves the store: %v", err)

	require.NoError(t, srv.Start(ctx))
	require.Eventually(t, func() bool {
		_, err := s.Instances().Get(ctx, in.UUID)
		return err == nil
	}, 20*time.Second, 100*time.Millisecond)
}
