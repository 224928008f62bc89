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

func recAggregate(az string, hosts ...string) *compute.Aggregate {
	a := &compute.Aggregate{Name: "agg-" + uuid.NewString(), Hosts: hosts}
	if az != "" {
		a.Metadata = map[string]string{compute.AggregateAZKey: az}
	}
	return a
}

func testAggregates(t *testing.T, newStore func(t *testing.T) *store.Store) {
	ctx := context.Background()

	t.Run("CreateGetUpdateDelete", func(t *testing.T) {
		ag := newStore(t).Aggregates()
		in := recAggregate("", "h-"+uuid.NewString())
		in.Metadata = map[string]string{"ssd": "true"}
		a, err := ag.Create(ctx, in)
		require.NoError(t, err)
		assert.NotZero(t, a.ID)
		assert.NotEmpty(t, a.UUID)
		assert.Equal(t, in.Hosts, a.Hosts)
		assert.Equal(t, "", a.AvailabilityZone())
		got, err := ag.Get(ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, a, got)
		byUUID, err := ag.GetByUUID(ctx, a.UUID)
		require.NoError(t, err)
		assert.Equal(t, a, byUUID)

		az := "az-" + uuid.NewString()
		newName := "renamed-" + uuid.NewString()
		up, err := ag.Update(ctx, a.ID, store.AggregateUpdate{Name: &newName, AvailabilityZone: &az})
		require.NoError(t, err)
		assert.Equal(t, newName, up.Name)
		assert.Equal(t, az, up.AvailabilityZone())
		assert.Equal(t, "true", up.Metadata["ssd"], "other metadata stays")

		empty := ""
		_, err = ag.Update(ctx, a.ID, store.AggregateUpdate{AvailabilityZone: &empty})
		requireInvalid(t, err, compute.AggregateAZKey)
		_, err = ag.Update(ctx, a.ID, store.AggregateUpdate{Name: &empty})
		requireInvalid(t, err, "name")
		other, err := ag.Create(ctx, recAggregate(""))
		require.NoError(t, err)
		_, err = ag.Update(ctx, other.ID, store.AggregateUpdate{Name: &newName})
		requireDuplicate(t, err)
		assert.Contains(t, err.Error(), newName)

		err = ag.Delete(ctx, a.ID)
		requireStateConflict(t, err)
		assert.Contains(t, err.Error(), "not empty")
		_, err = ag.RemoveHost(ctx, a.ID, in.Hosts[0])
		require.NoError(t, err)
		require.NoError(t, ag.Delete(ctx, a.ID))
		requireNotFound(t, ag.Delete(ctx, a.ID))
		_, err = ag.Get(ctx, a.ID)
		requireNotFound(t, err)
		_, err = ag.GetByUUID(ctx, a.UUID)
		requireNotFound(t, err)
		_, err = ag.Update(ctx, a.ID, store.AggregateUpdate{Name: &empty})
		requireInvalid(t, err, "name")
		_, err = ag.Update(ctx, a.ID, store.AggregateUpdate{Name: compute.Ptr("x-" + uuid.NewString())})
		requireNotFound(t, err)
	})

	t.Run("CreateRefusesDuplicatesAndBadInput", func(t *testing.T) {
		ag := newStore(t).Aggregates()
		a, err := ag.Create(ctx, recAggregate(""))
		require.NoError(t, err)
		dup := recAggregate("")
		dup.Name = a.Name
		_, err = ag.Create(ctx, dup)
		requireDuplicate(t, err)
		_, err = ag.Create(ctx, &compute.Aggregate{})
		requireInvalid(t, err, "name")
		_, err = ag.Create(ctx, &compute.Aggregate{Name: "x", UUID: "nope"})
		requireInvalid(t, err, "uuid")
		_, err = ag.Create(ctx, &compute.Aggregate{Name: "x-" + uuid.NewString(), Metadata: map[string]string{compute.AggregateAZKey: ""}})
		requireInvalid(t, err, compute.AggregateAZKey)
		_, err = ag.Create(ctx, &compute.Aggregate{Name: "x-" + uuid.NewString(), Hosts: []string{""}})
		requireInvalid(t, err, "host")
	})

	t.Run("HostsAndAvailabilityZones", func(t *testing.T) {
		ag := newStore(t).Aggregates()
		h, h2 := "h-"+uuid.NewString(), "h-"+uuid.NewString()
		az1, az2 := "az1-"+uuid.NewString(), "az2-"+uuid.NewString()
		a, err := ag.Create(ctx, recAggregate(az1, h))
		require.NoError(t, err)
		b, err := ag.Create(ctx, recAggregate(az2))
		require.NoError(t, err)
		c, err := ag.Create(ctx, recAggregate(""))
		require.NoError(t, err)
		d, err := ag.Create(ctx, recAggregate(az1))
		require.NoError(t, err)

		_, err = ag.AddHost(ctx, a.ID, h)
		requireDuplicate(t, err)
		_, err = ag.AddHost(ctx, b.ID, h)
		requireStateConflict(t, err)
		assert.Contains(t, err.Error(), az1)
		_, err = ag.Create(ctx, recAggregate(az2, h2, h))
		requireStateConflict(t, err)
		none, err := ag.ListByHost(ctx, h2)
		require.NoError(t, err)
		assert.Empty(t, none, "a refused create writes nothing")

		got, err := ag.AddHost(ctx, c.ID, h)
		require.NoError(t, err, "an aggregate without a zone takes any host")
		assert.Equal(t, []string{h}, got.Hosts)
		got, err = ag.AddHost(ctx, d.ID, h)
		require.NoError(t, err, "the same zone twice is fine")
		assert.Equal(t, []string{h}, got.Hosts)
		got, err = ag.AddHost(ctx, c.ID, h2)
		require.NoError(t, err)
		assert.Equal(t, []string{h, h2}, got.Hosts)
		_, err = ag.AddHost(ctx, c.ID, "")
		requireInvalid(t, err, "host")
		_, err = ag.AddHost(ctx, -1, h)
		requireNotFound(t, err)

		_, err = ag.SetMetadata(ctx, c.ID, map[string]*string{compute.AggregateAZKey: &az2})
		requireStateConflict(t, err)
		_, err = ag.Update(ctx, c.ID, store.AggregateUpdate{AvailabilityZone: &az2})
		requireStateConflict(t, err)
		got, err = ag.Update(ctx, c.ID, store.AggregateUpdate{AvailabilityZone: &az1})
		require.NoError(t, err)
		assert.Equal(t, az1, got.AvailabilityZone())

		zones, err := ag.HostAvailabilityZones(ctx)
		require.NoError(t, err)
		assert.Equal(t, az1, zones[h])
		assert.Equal(t, az1, zones[h2])
		byHost, err := ag.ListByHost(ctx, h)
		require.NoError(t, err)
		var names []string
		for _, x := range byHost {
			names = append(names, x.Name)
		}
		assert.Equal(t, []string{a.Name, c.Name, d.Name}, names)
		all, err := ag.List(ctx)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, len(all), 4)

		_, err = ag.RemoveHost(ctx, b.ID, h)
		requireNotFound(t, err)
		_, err = ag.RemoveHost(ctx, -1, h)
		requireNotFound(t, err)
		for _, x := range []*compute.Aggregate{a, c, d} {
			_, err = ag.RemoveHost(ctx, x.ID, h)
			require.NoError(t, err)
		}
		got, err = ag.AddHost(ctx, b.ID, h)
		require.NoError(t, err, "out of az1, the host may join az2")
		zones, err = ag.HostAvailabilityZones(ctx)
		require.NoError(t, err)
		assert.Equal(t, az2, zones[h])
		assert.Equal(t, []string{h}, got.Hosts)
	})

	t.Run("SetMetadataMergesAndDeletes", func(t *testing.T) {
		ag := newStore(t).Aggregates()
		a, err := ag.Create(ctx, recAggregate("zone-"+uuid.NewString(), "h-"+uuid.NewString()))
		require.NoError(t, err)
		got, err := ag.SetMetadata(ctx, a.ID, map[string]*string{"ssd": compute.Ptr("true"), "gpu": compute.Ptr("1")})
		require.NoError(t, err)
		assert.Len(t, got.Metadata, 3)
		got, err = ag.SetMetadata(ctx, a.ID, map[string]*string{"gpu": nil, "absent": nil, compute.AggregateAZKey: nil})
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"ssd": "true"}, got.Metadata)
		zones, err := ag.HostAvailabilityZones(ctx)
		require.NoError(t, err)
		_, ok := zones[a.Hosts[0]]
		assert.False(t, ok, "without its zone the host is in the default zone")

		_, err = ag.SetMetadata(ctx, a.ID, map[string]*string{"": compute.Ptr("x")})
		requireInvalid(t, err, "metadata")
		_, err = ag.SetMetadata(ctx, a.ID, map[string]*string{compute.AggregateAZKey: compute.Ptr("")})
		requireInvalid(t, err, compute.AggregateAZKey)
		_, err = ag.SetMetadata(ctx, -1, map[string]*string{"a": nil})
		requireNotFound(t, err)
	})
}
