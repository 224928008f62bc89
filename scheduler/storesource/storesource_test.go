package storesource_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/scheduler/storesource"
	"github.com/novakit/novakit/store"
)

func TestSourceReadsWhatTheSchedulerNeeds(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://:memory:", nil)
	require.NoError(t, err)
	defer st.Close()
	src := storesource.New(st)

	_, err = st.Services().Create(ctx, &compute.Service{Host: "h1", Binary: "nova-compute"})
	require.NoError(t, err)
	_, err = st.Services().Create(ctx, &compute.Service{Host: "h1", Binary: "nova-conductor"})
	require.NoError(t, err)
	_, err = st.ComputeNodes().Create(ctx, &compute.ComputeNode{Host: "h1", HypervisorHostname: "h1", VCPUs: 4, MemoryMB: 4096, LocalGB: 10})
	require.NoError(t, err)
	_, err = st.Aggregates().Create(ctx, &compute.Aggregate{Name: "a", Hosts: []string{"h1"}, Metadata: map[string]string{"ssd": "true"}})
	require.NoError(t, err)
	in, err := st.Instances().Create(ctx, &compute.Instance{Name: "vm", ProjectID: "p", UserID: "u", VMState: compute.VMActive, Host: "h1", Node: "h1",
		Flavor: compute.Flavor{FlavorID: "1", Name: "f", VCPUs: 1, MemoryMB: 512}})
	require.NoError(t, err)

	svcs, err := src.ComputeServices(ctx)
	require.NoError(t, err)
	require.Len(t, svcs, 1, "only nova-compute services")
	nodes, err := src.ComputeNodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, 1)
	aggs, err := src.Aggregates(ctx)
	require.NoError(t, err)
	require.Len(t, aggs, 1)
	assert.Equal(t, []string{"h1"}, aggs[0].Hosts)

	all, err := src.Instances(ctx, time.Time{})
	require.NoError(t, err)
	require.Len(t, all, 1)
	since := time.Now().Add(-time.Minute)
	_, err = st.Instances().SoftDelete(ctx, in.UUID, compute.InstanceUpdate{})
	require.NoError(t, err)
	all, err = src.Instances(ctx, time.Time{})
	require.NoError(t, err)
	assert.Empty(t, all, "a full load skips deleted instances")
	changed, err := src.Instances(ctx, since)
	require.NoError(t, err)
	require.Len(t, changed, 1, "a delta load shows the deletion")
	assert.True(t, changed[0].Deleted)
	none, err := src.Instances(ctx, time.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.Empty(t, none)
}
