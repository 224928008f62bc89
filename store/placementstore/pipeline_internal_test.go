package placementstore

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/internal/testsvc"
	"github.com/novakit/novakit/placement"
)

// TestPipelineCompareAndSwap: in a PostgreSQL pipeline, an UPDATE whose
// generation does not match fails the whole batch (guard query), one that
// matches goes through, and quotes in values are escaped.
func TestPipelineCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testsvc.NewDatabase(t, testsvc.SharedPostgres(t)), &Options{PollInterval: -1})
	require.NoError(t, err)
	defer s.Close()
	rp, err := s.CreateProvider(ctx, placement.ProviderSpec{Name: "cn"})
	require.NoError(t, err)
	cas := func(gen int64, name string) error {
		return s.db.writeTx(ctx, func(x *tx) error {
			x.pipe = &pipeline{}
			if _, err := x.execCAS("UPDATE resource_providers SET name = ? WHERE uuid = ? AND generation = ?", name, rp.UUID, gen); err != nil {
				return err
			}
			return x.flush()
		})
	}
	err = cas(7, "x")
	var pe *pgconn.PgError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "22012", pe.Code)
	require.NoError(t, cas(0, "it's; DROP TABLE x; --"))
	var provs map[string]*provRow
	require.NoError(t, s.db.readTx(ctx, func(x *tx) error {
		var err error
		provs, err = x.loadProviders("p.uuid = ?", []any{rp.UUID}, false, false)
		return err
	}))
	require.Equal(t, "it's; DROP TABLE x; --", provs[rp.UUID].name)
}
