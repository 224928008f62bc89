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

func testRequestSpecs(t *testing.T, newStore func(t *testing.T) *store.Store) {
	ctx := context.Background()

	t.Run("SaveGetReplaceDelete", func(t *testing.T) {
		rs := newStore(t).RequestSpecs()
		spec := &compute.RequestSpec{
			InstanceUUID: uuid.NewString(), ProjectID: "p", UserID: "u", NumInstances: 2,
			Flavor:               compute.Flavor{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, ExtraSpecs: map[string]string{"hw:mem_page_size": "large"}},
			Image:                compute.ImageMeta{ID: "img", Properties: map[string]string{"hw_disk_bus": "virtio"}},
			SchedulerHints:       map[string][]string{"same_host": {"a", "b"}},
			RequestedDestination: &compute.Destination{Host: "h1"},
			InstanceGroup:        &compute.ServerGroup{UUID: uuid.NewString(), Policy: compute.PolicyAffinity, Members: []string{"x"}},
			RequestedResources:   []compute.RequestGroup{{Suffix: "1", Resources: map[string]int64{"VGPU": 1}}},
		}
		require.NoError(t, rs.Save(ctx, spec))
		got, err := rs.Get(ctx, spec.InstanceUUID)
		require.NoError(t, err)
		assert.Equal(t, spec, got)

		spec.Retry = &compute.RetryInfo{NumAttempts: 2, Hosts: [][]string{{"h1", "n1"}}}
		spec.RequestedDestination = nil
		require.NoError(t, rs.Save(ctx, spec), "a second save replaces the first")
		got, err = rs.Get(ctx, spec.InstanceUUID)
		require.NoError(t, err)
		assert.Equal(t, spec, got)

		require.NoError(t, rs.Delete(ctx, spec.InstanceUUID))
		requireNotFound(t, rs.Delete(ctx, spec.InstanceUUID))
		_, err = rs.Get(ctx, spec.InstanceUUID)
		requireNotFound(t, err)
	})

	t.Run("BadInputNamesTheField", func(t *testing.T) {
		rs := newStore(t).RequestSpecs()
		requireInvalid(t, rs.Save(ctx, &compute.RequestSpec{InstanceUUID: "i-1"}), "instance_uuid")
		requireInvalid(t, rs.Save(ctx, nil), "request_spec")
	})
}
