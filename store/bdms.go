package store

import (
	"cmp"
	"context"
	"slices"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store/internal/ent"
	"github.com/novakit/novakit/store/internal/ent/blockdevicemapping"
)

// BlockDevices is the store's view of block device mappings: the disks of
// instances (Nova's block_device_mapping). Get one with
// [Store.BlockDevices]; it is a small value, safe for concurrent use.
type BlockDevices struct{ s *Store }

// BlockDevices returns the block device mapping repository.
func (s *Store) BlockDevices() BlockDevices { return BlockDevices{s} }

var (
	bdmSourceTypes = []string{"image", "volume", "snapshot", "blank"}
	bdmDestTypes   = []string{"local", "volume"}
)

func validateBDM(b *compute.BlockDeviceMapping) error {
	if _, err := uuidField("instance_uuid", b.InstanceUUID, false); err != nil {
		return err
	}
	if !slices.Contains(bdmSourceTypes, b.SourceType) {
		return compute.InvalidInput("source_type", "%q is not one of %v", b.SourceType, bdmSourceTypes)
	}
	if !slices.Contains(bdmDestTypes, b.DestinationType) {
		return compute.InvalidInput("destination_type", "%q is not one of %v", b.DestinationType, bdmDestTypes)
	}
	if b.VolumeSize < 0 {
		return compute.InvalidInput("volume_size", "must be 0 or more")
	}
	return nil
}

// setBDM sets every mutable field of a mapping (all but id, uuid,
// instance_uuid and created_at) on a create or update mutation.
func setBDM(m *ent.BlockDeviceMappingMutation, b *compute.BlockDeviceMapping) {
	if b.BootIndex != nil {
		m.SetBootIndex(*b.BootIndex)
	} else {
		m.ClearBootIndex()
	}
	m.SetSourceType(b.SourceType)
	m.SetDestinationType(b.DestinationType)
	m.SetImageID(b.ImageID)
	m.SetVolumeID(b.VolumeID)
	m.SetSnapshotID(b.SnapshotID)
	m.SetVolumeSize(b.VolumeSize)
	m.SetVolumeType(b.VolumeType)
	m.SetDeviceName(b.DeviceName)
	m.SetDeviceType(b.DeviceType)
	m.SetDiskBus(b.DiskBus)
	m.SetGuestFormat(b.GuestFormat)
	m.SetDeleteOnTermination(b.DeleteOnTermination)
	m.SetTag(b.Tag)
	m.SetAttachmentID(b.AttachmentID)
	m.SetConnectionInfo(b.ConnectionInfo)
}

// Create stores a block device mapping and returns it as stored (ID and
// CreatedAt set; an empty UUID gets a new one). InstanceUUID and UUID
// must be UUIDs, SourceType one of image, volume, snapshot, blank and
// DestinationType local or volume, else a *compute.InvalidInputError
// names the field. A UUID that exists gives a *compute.DuplicateError.
func (r BlockDevices) Create(ctx context.Context, b *compute.BlockDeviceMapping) (*compute.BlockDeviceMapping, error) {
	if b == nil {
		return nil, compute.InvalidInput("block_device_mapping", "is required")
	}
	id, err := uuidField("uuid", b.UUID, true)
	if err != nil {
		return nil, err
	}
	if err := validateBDM(b); err != nil {
		return nil, err
	}
	var row *ent.BlockDeviceMapping
	err = r.s.writeOne(ctx, func(ec *ent.Client) (err error) {
		c := ec.BlockDeviceMapping.Create().SetUUID(id).SetInstanceUUID(b.InstanceUUID).SetCreatedAt(r.s.ts())
		setBDM(c.Mutation(), b)
		row, err = c.Save(ctx)
		return err
	})
	if err != nil {
		return nil, r.s.classify(err, "block device mapping", id)
	}
	return toBDM(row), nil
}

// Get returns the mapping with the UUID, or an error satisfying
// errors.Is(err, compute.ErrNotFound).
func (r BlockDevices) Get(ctx context.Context, uuid string) (*compute.BlockDeviceMapping, error) {
	row, err := r.s.r.BlockDeviceMapping.Query().Where(blockdevicemapping.UUID(uuid)).Only(ctx)
	if err != nil {
		return nil, r.s.classify(err, "block device mapping", uuid)
	}
	return toBDM(row), nil
}

// ListByInstance returns the instance's mappings in boot order: the
// bootable ones (BootIndex 0 or more) by BootIndex, then the others
// (no BootIndex, or a negative one) in creation order.
func (r BlockDevices) ListByInstance(ctx context.Context, instanceUUID string) ([]*compute.BlockDeviceMapping, error) {
	rows, err := r.s.r.BlockDeviceMapping.Query().Where(blockdevicemapping.InstanceUUID(instanceUUID)).
		Order(ent.Asc(blockdevicemapping.FieldID)).All(ctx)
	if err != nil {
		return nil, r.s.classify(err, "block device mappings", instanceUUID)
	}
	out := make([]*compute.BlockDeviceMapping, len(rows))
	for i, row := range rows {
		out[i] = toBDM(row)
	}
	bootable := func(b *compute.BlockDeviceMapping) bool { return b.BootIndex != nil && *b.BootIndex >= 0 }
	slices.SortStableFunc(out, func(a, b *compute.BlockDeviceMapping) int {
		switch ab, bb := bootable(a), bootable(b); {
		case ab && bb:
			return cmp.Compare(*a.BootIndex, *b.BootIndex)
		case ab:
			return -1
		case bb:
			return 1
		}
		return 0
	})
	return out, nil
}

// Update replaces every mutable field of the mapping (all but ID, UUID,
// InstanceUUID and CreatedAt) with b's and returns it as stored. Of two
// concurrent writers the last one wins: callers that read, change and
// write a mapping serialize on the instance (the compute agent's
// instance lock, as in Nova). A missing mapping gives ErrNotFound; bad
// fields as in Create (b.InstanceUUID is checked but not written).
func (r BlockDevices) Update(ctx context.Context, uuid string, b *compute.BlockDeviceMapping) (*compute.BlockDeviceMapping, error) {
	if b == nil {
		return nil, compute.InvalidInput("block_device_mapping", "is required")
	}
	if err := validateBDM(b); err != nil {
		return nil, err
	}
	var out *compute.BlockDeviceMapping
	err := r.s.withTx(ctx, func(tx *ent.Tx) error {
		id, err := tx.BlockDeviceMapping.Query().Where(blockdevicemapping.UUID(uuid)).OnlyID(ctx)
		if err != nil {
			return r.s.classify(err, "block device mapping", uuid)
		}
		up := tx.BlockDeviceMapping.UpdateOneID(id)
		setBDM(up.Mutation(), b)
		row, err := up.Save(ctx)
		if err != nil {
			return r.s.classify(err, "block device mapping", uuid)
		}
		out = toBDM(row)
		return nil
	})
	return out, err
}

// Delete removes the mapping. A missing one gives ErrNotFound.
func (r BlockDevices) Delete(ctx context.Context, uuid string) error {
	n, err := r.s.w.BlockDeviceMapping.Delete().Where(blockdevicemapping.UUID(uuid)).Exec(ctx)
	if err != nil {
		return r.s.classify(err, "block device mapping", uuid)
	}
	if n == 0 {
		return compute.NotFound("block device mapping", uuid)
	}
	return nil
}

// DeleteByInstance removes all of the instance's mappings in one
// statement and returns how many there were. Idempotent: an instance
// without mappings gives 0 and no error.
func (r BlockDevices) DeleteByInstance(ctx context.Context, instanceUUID string) (int, error) {
	n, err := r.s.w.BlockDeviceMapping.Delete().Where(blockdevicemapping.InstanceUUID(instanceUUID)).Exec(ctx)
	if err != nil {
		return 0, r.s.classify(err, "block device mappings", instanceUUID)
	}
	return n, nil
}

func toBDM(e *ent.BlockDeviceMapping) *compute.BlockDeviceMapping {
	b := &compute.BlockDeviceMapping{
		ID: int64(e.ID), UUID: e.UUID, InstanceUUID: e.InstanceUUID, SourceType: e.SourceType,
		DestinationType: e.DestinationType, ImageID: e.ImageID, VolumeID: e.VolumeID,
		SnapshotID: e.SnapshotID, VolumeSize: e.VolumeSize, VolumeType: e.VolumeType,
		DeviceName: e.DeviceName, DeviceType: e.DeviceType, DiskBus: e.DiskBus,
		GuestFormat: e.GuestFormat, DeleteOnTermination: e.DeleteOnTermination, Tag: e.Tag,
		AttachmentID: e.AttachmentID, ConnectionInfo: e.ConnectionInfo, CreatedAt: e.CreatedAt.UTC(),
	}
	if e.BootIndex != nil {
		v := *e.BootIndex
		b.BootIndex = &v
	}
	return b
}
