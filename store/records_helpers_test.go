package store_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

// recordSuites lists the record repositories' test functions. Each runs
// against one database shared by all of them (as services share one in
// production) and keeps to its own uuids, names and hosts, so they also
// run on the PostgreSQL and MariaDB suite.
var recordSuites = []struct {
	name string
	run  func(t *testing.T, newStore func(t *testing.T) *store.Store)
}{
	{"Flavors", testFlavors},
	{"KeyPairs", testKeyPairs},
	{"InstanceActions", testInstanceActions},
	{"Faults", testFaults},
	{"Services", testServices},
	{"ComputeNodes", testComputeNodes},
	{"Migrations", testMigrationRecords},
	{"ServerGroups", testServerGroups},
	{"Aggregates", testAggregates},
	{"RequestSpecs", testRequestSpecs},
	{"BlockDevices", testBlockDevices},
	{"Quotas", testQuotas},
}

// requireInvalid asserts that err is a *compute.InvalidInputError naming
// field.
func requireInvalid(t *testing.T, err error, field string) {
	t.Helper()
	require.ErrorIs(t, err, compute.ErrInvalidInput)
	var ie *compute.InvalidInputError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, field, ie.Field, "%v", err)
	assert.NotContains(t, err.Error(), "ent:", "no ent error leaves the store")
}

// requireMarkerNotFound asserts that err reports an unknown marker.
func requireMarkerNotFound(t *testing.T, err error, marker string) {
	t.Helper()
	require.ErrorIs(t, err, compute.ErrNotFound)
	var me *compute.MarkerNotFoundError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, marker, me.Marker)
}

// requireDuplicate asserts that err is a *compute.DuplicateError.
func requireDuplicate(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, compute.ErrConflict)
	var de *compute.DuplicateError
	require.ErrorAs(t, err, &de, "%v", err)
}

// requireStateConflict asserts that err is a *store.ConflictError.
func requireStateConflict(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, compute.ErrConflict)
	var ce *store.ConflictError
	require.True(t, errors.As(err, &ce), "want a *store.ConflictError, got %T: %v", err, err)
}

// requireNotFound asserts that err satisfies compute.ErrNotFound and is a
// *compute.NotFoundError.
func requireNotFound(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, compute.ErrNotFound)
	var nf *compute.NotFoundError
	require.ErrorAs(t, err, &nf, "%v", err)
}
