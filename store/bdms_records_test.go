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

func recBDM(instanceUUID string, bootIndex *int) *compute.BlockDeviceMapping {
	return &compute.BlockDeviceMapping{
		InstanceUUID: instanceUUID, BootIndex: bootIndex, SourceType: "volume", DestinationType: "volume",
		VolumeID: uuid.NewString(), VolumeSize: 10, DeleteOnTermination: true,
	}
}

func bdmUUIDs(bs []*compute.BlockDeviceMapping) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.UUID
	}
	return out
}

func testBlockDevices(t *testing.T, newStore func(t *testing.T) *store.Store) {
	ctx := context.Background()

	t.Run("CreateListUpdateDelete", func(t *testing.T) {
		bd := newStore(t).BlockDevices()
		inst := uuid.NewString()
		var made []*compute.BlockDeviceMapping
		for _, bi := range []*int{nil, compute.Ptr(1), compute.Ptr(-1), compute.Ptr(0)} {
			b, err := bd.Create(ctx, recBDM(inst, bi))
			require.NoError(t, err)
			made = append(made, b)
		}
		_, err := bd.Create(ctx, recBDM(uuid.NewString(), compute.Ptr(0)))
		require.NoError(t, err)
		assert.NotEmpty(t, made[0].UUID)
		assert.Nil(t, made[0].BootIndex)

		list, err := bd.ListByInstance(ctx, inst)
		require.NoError(t, err)
		assert.Equal(t, []string{made[3].UUID, made[1].UUID, made[0].UUID, made[2].UUID}, bdmUUIDs(list), "boot order")
		got, err := bd.Get(ctx, made[1].UUID)
		require.NoError(t, err)
		assert.Equal(t, made[1], got)

		next := *got
		next.ConnectionInfo = `{"driver_volume_type":"iscsi"}`
		next.AttachmentID = uuid.NewString()
		next.DeviceName = "/dev/vdb"
		next.BootIndex = nil
		up, err := bd.Update(ctx, got.UUID, &next)
		require.NoError(t, err)
		assert.Equal(t, &next, up)
		again, err := bd.Get(ctx, got.UUID)
		require.NoError(t, err)
		assert.Equal(t, up, again)
		_, err = bd.Update(ctx, uuid.NewString(), &next)
		requireNotFound(t, err)

		require.NoError(t, bd.Delete(ctx, made[0].UUID))
		requireNotFound(t, bd.Delete(ctx, made[0].UUID))
		_, err = bd.Get(ctx, made[0].UUID)
		requireNotFound(t, err)
		n, err := bd.DeleteByInstance(ctx, inst)
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		n, err = bd.DeleteByInstance(ctx, inst)
		require.NoError(t, err)
		assert.Zero(t, n)
		list, err = bd.ListByInstance(ctx, inst)
		require.NoError(t, err)
		assert.Empty(t, list)
	})

	t.Run("BadInputNamesTheField", func(t *testing.T) {
		bd := newStore(t).BlockDevices()
		b, err := bd.Create(ctx, recBDM(uuid.NewString(), nil))
		require.NoError(t, err)
		dup := recBDM(uuid.NewString(), nil)
		dup.UUID = b.UUID
		_, err = bd.Create(ctx, dup)
		requireDuplicate(t, err)
		for _, c := range []struct {
			field string
			mod   func(*compute.BlockDeviceMapping)
		}{
			{"instance_uuid", func(b *compute.BlockDeviceMapping) { b.InstanceUUID = "" }},
			{"uuid", func(b *compute.BlockDeviceMapping) { b.UUID = "bdm-1" }},
			{"source_type", func(b *compute.BlockDeviceMapping) { b.SourceType = "nfs" }},
			{"destination_type", func(b *compute.BlockDeviceMapping) { b.DestinationType = "" }},
			{"volume_size", func(b *compute.BlockDeviceMapping) { b.VolumeSize = -1 }},
		} {
			x := recBDM(uuid.NewString(), nil)
			c.mod(x)
			_, err := bd.Create(ctx, x)
			requireInvalid(t, err, c.field)
		}
		bad := *b
		bad.SourceType = "nfs"
		_, err = bd.Update(ctx, b.UUID, &bad)
		requireInvalid(t, err, "source_type")
	})
}
