package scheduler_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/scheduler"
	"github.com/novakit/novakit/scheduler/storesource"
	"github.com/novakit/novakit/store"
)

// storeCloud registers n compute hosts the way a compute agent with the
// fake driver does: a service with a heartbeat, a compute node record and
// a resource provider with VCPU/MEMORY_MB/DISK_GB inventory.
func storeCloud(t *testing.T, n int) (*store.Store, *placement.Index) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://:memory:", nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	ix := placement.New(placement.Options{})
	for i := 0; i < n; i++ {
		host := fmt.Sprintf("fake-host-%d", i)
		svc, err := st.Services().Create(ctx, &compute.Service{Host: host, Binary: "nova-compute", Topic: "compute"})
		require.NoError(t, err)
		_, err = st.Services().Heartbeat(ctx, svc.UUID)
		require.NoError(t, err)
		node, err := st.ComputeNodes().Create(ctx, &compute.ComputeNode{Host: host, HypervisorHostname: host, HypervisorType: "fake",
			HypervisorVersion: 1000, VCPUs: 8, MemoryMB: 16384, MemoryMBUsed: 512 * i, LocalGB: 200,
			CPUAllocationRatio: 1, RAMAllocationRatio: 1, DiskAllocationRatio: 1})
		require.NoError(t, err)
		p, err := ix.CreateProvider(ctx, placement.ProviderSpec{UUID: node.UUID, Name: host})
		require.NoError(t, err)
		_, _, err = ix.SetInventories(ctx, node.UUID, p.Generation, map[string]placement.Inventory{
			"VCPU": placement.NewInventory(8), "MEMORY_MB": placement.NewInventory(16384), "DISK_GB": placement.NewInventory(200)})
		require.NoError(t, err)
	}
	return st, ix
}

func TestEndToEndWithStore(t *testing.T) {
	ctx := context.Background()
	st, ix := storeCloud(t, 4)
	// host 3 is in zone az1; host 2's service is disabled.
	az1, err := st.Aggregates().Create(ctx, &compute.Aggregate{Name: "az1", Hosts: []string{"fake-host-3"}, Metadata: map[string]string{"availability_zone": "az1"}})
	require.NoError(t, err)
	// The API mirrors aggregate membership into placement, as Nova's does.
	n3, err := st.ComputeNodes().GetByHostNode(ctx, "fake-host-3", "fake-host-3")
	require.NoError(t, err)
	p3, err := ix.Provider(ctx, n3.UUID)
	require.NoError(t, err)
	_, err = ix.SetAggregates(ctx, n3.UUID, p3.Generation, []string{az1.UUID})
	require.NoError(t, err)
	svc, err := st.Services().GetByHostBinary(ctx, "fake-host-2", "nova-compute")
	require.NoError(t, err)
	_, err = st.Services().Update(ctx, svc.UUID, store.ServiceUpdate{Disabled: compute.Ptr(true)})
	require.NoError(t, err)
	// A member of the anti-affinity group already runs on host 0.
	member, err := st.Instances().Create(ctx, &compute.Instance{Name: "m", ProjectID: "p1", UserID: "u1", VMState: compute.VMActive,
		Host: "fake-host-0", Node: "fake-host-0", Flavor: compute.Flavor{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512}})
	require.NoError(t, err)

	s, err := scheduler.New(scheduler.Config{Placement: ix, Hosts: storesource.New(st),
		Options: scheduler.Options{EnabledFilters: append(scheduler.DefaultEnabledFilters(), "AvailabilityZoneFilter")}})
	require.NoError(t, err)

	spec := &compute.RequestSpec{ProjectID: "p1", UserID: "u1", NumInstances: 2,
		Flavor:        compute.Flavor{FlavorID: "2", Name: "m1.small", VCPUs: 2, MemoryMB: 2048, RootGB: 20},
		InstanceGroup: &compute.ServerGroup{UUID: "g", Policy: compute.PolicyAntiAffinity, Members: []string{member.UUID, "i-new-1", "i-new-2"}},
	}
	uuids := []string{"a1000000-0000-4000-8000-000000000001", "a1000000-0000-4000-8000-000000000002"}
	spec.InstanceGroup.Members = []string{member.UUID, uuids[0], uuids[1]}
	sels, err := s.SelectDestinations(ctx, spec, uuids)
	require.NoError(t, err)
	got := map[string]bool{}
	for i, sl := range sels {
		h := sl[0].ServiceHost
		got[h] = true
		node, err := st.ComputeNodes().GetByHostNode(ctx, h, h)
		require.NoError(t, err)
		cons, err := ix.Consumer(ctx, uuids[i])
		require.NoError(t, err)
		assert.Equal(t, map[string]int64{"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 20}, cons.Allocations[node.UUID].Resources)
	}
	// host0 has the member, host2 is disabled: hosts 1 and 3 remain, one
	// instance each (anti-affinity across the batch).
	assert.Equal(t, map[string]bool{"fake-host-1": true, "fake-host-3": true}, got)

	// The zone request filter and the AZ filter keep az1 requests on host 3.
	spec2 := &compute.RequestSpec{ProjectID: "p1", UserID: "u1", NumInstances: 1, AvailabilityZone: "az1",
		Flavor: compute.Flavor{FlavorID: "2", Name: "m1.small", VCPUs: 2, MemoryMB: 2048, RootGB: 20}}
	sels, err = s.SelectDestinations(ctx, spec2, []string{"a1000000-0000-4000-8000-000000000003"})
	require.NoError(t, err)
	assert.Equal(t, "fake-host-3", sels[0][0].ServiceHost)
	assert.Equal(t, "az1", sels[0][0].AvailabilityZone)

	// Nothing fits a flavor larger than any host.
	spec2.AvailabilityZone = ""
	spec2.Flavor.VCPUs = 64
	_, err = s.SelectDestinations(ctx, spec2, []string{"a1000000-0000-4000-8000-000000000004"})
	require.ErrorIs(t, err, compute.ErrNoValidHost)

	// The incremental refresh sees instances the conductor wrote.
	require.NoError(t, s.Refresh(ctx))
	states, err := s.HostStates(ctx)
	require.NoError(t, err)
	for _, h := range states {
		if h.Host == "fake-host-0" {
			assert.Equal(t, 1, h.NumInstances)
		}
	}
}
