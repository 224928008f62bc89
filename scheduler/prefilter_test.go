package scheduler

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
)

func TestCandidateRequest(t *testing.T) {
	aggs := []*compute.Aggregate{
		{UUID: "agg-az1", Metadata: map[string]string{"availability_zone": "az1"}},
		{UUID: "agg-az2", Metadata: map[string]string{"availability_zone": "az2"}},
		{UUID: "agg-tenant", Metadata: map[string]string{"filter_tenant_id": "p1"}},
		{UUID: "agg-gpu", Metadata: map[string]string{"trait:CUSTOM_GPU": "required"}},
		{UUID: "agg-avx", Metadata: map[string]string{"trait:HW_CPU_X86_AVX2": "required"}},
	}
	build := func(t *testing.T, o Options, spec *compute.RequestSpec) *placement.CandidateRequest {
		t.Helper()
		c := newCloud(t)
		c.src.aggs = aggs
		s := c.scheduler(t, o)
		require.NoError(t, s.Refresh(context.Background()))
		r, err := newRequest(spec, &s.opts, c.now, nil)
		require.NoError(t, err)
		cr, err := s.candidateRequest(spec, r, 7)
		require.NoError(t, err)
		return cr
	}
	t.Run("flavor resources and compute status", func(t *testing.T) {
		spec := tinySpec()
		spec.Flavor.EphemeralGB, spec.Flavor.SwapMB = 5, 1500
		cr := build(t, Options{}, spec)
		require.Len(t, cr.Groups, 1)
		assert.Equal(t, map[string]int64{"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 27}, cr.Groups[0].Resources)
		assert.Equal(t, []string{"COMPUTE_STATUS_DISABLED"}, cr.RootForbidden)
		assert.Equal(t, 1000, cr.Limit)
		assert.Equal(t, uint64(7), cr.Seed)
	})
	t.Run("boot from volume asks no root disk", func(t *testing.T) {
		spec := tinySpec()
		spec.IsBFV = true
		cr := build(t, Options{}, spec)
		assert.NotContains(t, cr.Groups[0].Resources, "DISK_GB")
	})
	t.Run("dedicated CPUs become PCPU", func(t *testing.T) {
		spec := tinySpec()
		spec.Flavor.ExtraSpecs = map[string]string{"hw:cpu_policy": "dedicated"}
		cr := build(t, Options{}, spec)
		assert.Equal(t, int64(1), cr.Groups[0].Resources["PCPU"])
		assert.NotContains(t, cr.Groups[0].Resources, "VCPU")
	})
	t.Run("extra specs: overrides, granular groups, traits, policy", func(t *testing.T) {
		spec := tinySpec()
		spec.Flavor.ExtraSpecs = map[string]string{
			"resources:VCPU": "0", "resources:PCPU": "2", "resources1:SRIOV_NET_VF": "1", "trait1:CUSTOM_PHYSNET_A": "required",
			"resources_GPU:VGPU": "1", "trait:HW_CPU_X86_AVX2": "required", "trait:CUSTOM_SLOW": "forbidden", "group_policy": "isolate",
		}
		spec.Image.Properties = map[string]string{"trait:HW_CPU_X86_SSE42": "required"}
		cr := build(t, Options{}, spec)
		require.Len(t, cr.Groups, 3)
		assert.Equal(t, "", cr.Groups[0].Suffix)
		assert.Equal(t, map[string]int64{"PCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20}, cr.Groups[0].Resources)
		assert.ElementsMatch(t, [][]string{{"HW_CPU_X86_AVX2"}, {"HW_CPU_X86_SSE42"}}, cr.Groups[0].RequiredTraits)
		assert.Equal(t, []string{"CUSTOM_SLOW"}, cr.Groups[0].ForbiddenTraits)
		assert.Equal(t, "1", cr.Groups[1].Suffix)
		assert.Equal(t, [][]string{{"CUSTOM_PHYSNET_A"}}, cr.Groups[1].RequiredTraits)
		assert.Equal(t, "_GPU", cr.Groups[2].Suffix)
		assert.Equal(t, placement.GroupPolicyIsolate, cr.GroupPolicy)
	})
	t.Run("requested resources (ports)", func(t *testing.T) {
		spec := tinySpec()
		spec.RequestedResources = []compute.RequestGroup{{Suffix: "_NET1", Resources: map[string]int64{"NET_BW_EGR_KILOBIT_PER_SEC": 1000},
			RequiredTraits: []string{"CUSTOM_PHYSNET_A"}, AnyTraits: [][]string{{"CUSTOM_VNIC_TYPE_NORMAL", "CUSTOM_VNIC_TYPE_DIRECT"}}}}
		cr := build(t, Options{}, spec)
		require.Len(t, cr.Groups, 2)
		assert.Equal(t, "_NET1", cr.Groups[1].Suffix)
		assert.Equal(t, [][]string{{"CUSTOM_PHYSNET_A"}, {"CUSTOM_VNIC_TYPE_NORMAL", "CUSTOM_VNIC_TYPE_DIRECT"}}, cr.Groups[1].RequiredTraits)
	})
	t.Run("tenant and AZ aggregates", func(t *testing.T) {
		spec := tinySpec()
		spec.AvailabilityZone = "az1"
		cr := build(t, Options{LimitTenantsToPlacementAggregate: true}, spec)
		assert.Equal(t, [][]string{{"agg-tenant"}, {"agg-az1"}}, cr.Groups[0].MemberOf)
	})
	t.Run("default zone forbids zoned aggregates", func(t *testing.T) {
		spec := tinySpec()
		spec.AvailabilityZone = "nova"
		cr := build(t, Options{}, spec)
		assert.Equal(t, []string{"agg-az1", "agg-az2"}, cr.Groups[0].ForbiddenAggregates)
	})
	t.Run("isolate aggregates", func(t *testing.T) {
		spec := tinySpec()
		spec.Flavor.ExtraSpecs = map[string]string{"trait:HW_CPU_X86_AVX2": "required"}
		cr := build(t, Options{EnableIsolatedAggregateFiltering: true}, spec)
		assert.Equal(t, []string{"agg-gpu"}, cr.Groups[0].ForbiddenAggregates, "the AVX2 aggregate is allowed: the request asks for it")
	})
	t.Run("image type support", func(t *testing.T) {
		spec := tinySpec()
		spec.Image.DiskFormat = "qcow2"
		cr := build(t, Options{QueryPlacementForImageTypeSupport: true}, spec)
		assert.Contains(t, cr.RootRequired, "COMPUTE_IMAGE_TYPE_QCOW2")
		spec.IsBFV = true
		cr = build(t, Options{QueryPlacementForImageTypeSupport: true}, spec)
		assert.NotContains(t, cr.RootRequired, "COMPUTE_IMAGE_TYPE_QCOW2")
	})
	t.Run("image metadata prefilter", func(t *testing.T) {
		spec := tinySpec()
		spec.Image.Properties = map[string]string{"hw_disk_bus": "scsi", "hw_vif_model": "virtio", "hw_video_model": "nonsense"}
		cr := build(t, Options{ImageMetadataPrefilter: true}, spec)
		assert.Contains(t, cr.RootRequired, "COMPUTE_STORAGE_BUS_SCSI")
		assert.Contains(t, cr.RootRequired, "COMPUTE_NET_VIF_MODEL_VIRTIO")
		for _, tr := range cr.RootRequired {
			assert.NotContains(t, tr, "NONSENSE", "unknown values ask for no trait")
		}
	})
	t.Run("requested destination", func(t *testing.T) {
		spec := tinySpec()
		spec.RequestedDestination = &compute.Destination{Aggregates: []string{"a1,a2", "a3"}, ForbiddenAggregates: []string{"a9"}}
		cr := build(t, Options{}, spec)
		assert.Equal(t, [][]string{{"a1", "a2"}, {"a3"}}, cr.Groups[0].MemberOf)
		assert.Equal(t, []string{"a9"}, cr.Groups[0].ForbiddenAggregates)
	})
}

// An evacuation keeps the instance's allocations on the source: the claim
// on the destination is merged into them under the consumer generation.
func TestClaimMergesIntoExistingConsumer(t *testing.T) {
	c := newCloud(t)
	c.addHost(t, 0, defaultHost())
	c.addHost(t, 1, defaultHost())
	ctx := context.Background()
	src := map[string]map[string]int64{hostUUID(0): {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}}
	require.NoError(t, c.ix.SetAllocations(ctx, map[string]placement.ConsumerAllocations{instUUID(1): {Project: "p1", User: "u1", Allocations: src}}))
	s := c.scheduler(t, Options{})
	spec := tinySpec()
	spec.IgnoreHosts = []string{"host0"}
	sels, err := s.SelectDestinations(ctx, spec, []string{instUUID(1)})
	require.NoError(t, err)
	assert.Equal(t, "host1", sels[0][0].ServiceHost)
	cons, err := c.ix.Consumer(ctx, instUUID(1))
	require.NoError(t, err)
	assert.Len(t, cons.Allocations, 2)
	assert.Equal(t, int64(2), cons.Generation)
	assert.Equal(t, int64(2048), cons.Allocations[hostUUID(1)].Resources["MEMORY_MB"])
}
