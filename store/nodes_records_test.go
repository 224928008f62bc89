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

func recNode(host, node string) *compute.ComputeNode {
	return &compute.ComputeNode{
		Host: host, HypervisorHostname: node, HypervisorType: "fake", HypervisorVersion: 1000,
		VCPUs: 8, MemoryMB: 16384, LocalGB: 100, FreeRAMMB: 16384, FreeDiskGB: 100,
		CPUInfo: `{"arch":"x86_64"}`, Stats: map[string]string{"num_instances": "0"},
		CPUAllocationRatio: 4,
	}
}

func nodeUUIDs(ns []*compute.ComputeNode) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.UUID
	}
	return out
}

func testComputeNodes(t *testing.T, newStore func(t *testing.T) *store.Store) {
	ctx := context.Background()

	t.Run("CreateGetUpdateDelete", func(t *testing.T) {
		cn := newStore(t).ComputeNodes()
		host := "host-" + uuid.NewString()
		created, err := cn.Create(ctx, recNode(host, host+".example.org"))
		require.NoError(t, err)
		assert.NotEmpty(t, created.UUID)
		assert.NotZero(t, created.ID)
		got, err := cn.Get(ctx, created.UUID)
		require.NoError(t, err)
		assert.Equal(t, created, got)
		byName, err := cn.GetByHostNode(ctx, host, host+".example.org")
		require.NoError(t, err)
		assert.Equal(t, created, byName)

		next := *got
		next.VCPUsUsed, next.MemoryMBUsed, next.RunningVMs = 2, 1024, 1
		next.Stats = map[string]string{"num_instances": "1", "num_task_None": "1"}
		next.CPUInfo = ""
		next.ID, next.UUID = 0, "ignored"
		updated, err := cn.Update(ctx, created.UUID, &next)
		require.NoError(t, err)
		assert.Equal(t, created.UUID, updated.UUID)
		assert.Equal(t, created.ID, updated.ID)
		assert.Equal(t, created.CreatedAt, updated.CreatedAt)
		assert.False(t, updated.UpdatedAt.Before(created.UpdatedAt))
		assert.Equal(t, 2, updated.VCPUsUsed)
		assert.Equal(t, "", updated.CPUInfo, "a full replace")
		assert.Equal(t, next.Stats, updated.Stats)
		again, err := cn.Get(ctx, created.UUID)
		require.NoError(t, err)
		assert.Equal(t, updated, again)

		noStats := *updated
		noStats.Stats = nil
		cleared, err := cn.Update(ctx, created.UUID, &noStats)
		require.NoError(t, err)
		assert.Nil(t, cleared.Stats)

		_, err = cn.Update(ctx, uuid.NewString(), &next)
		requireNotFound(t, err)
		require.NoError(t, cn.Delete(ctx, created.UUID))
		requireNotFound(t, cn.Delete(ctx, created.UUID))
		_, err = cn.Get(ctx, created.UUID)
		requireNotFound(t, err)
		_, err = cn.GetByHostNode(ctx, host, host+".example.org")
		requireNotFound(t, err)
	})

	t.Run("CreateRefusesDuplicatesAndBadInput", func(t *testing.T) {
		cn := newStore(t).ComputeNodes()
		host := "host-" + uuid.NewString()
		n, err := cn.Create(ctx, recNode(host, "n1"))
		require.NoError(t, err)
		_, err = cn.Create(ctx, recNode(host, "n1"))
		requireDuplicate(t, err)
		dupUUID := recNode(host, "n2")
		dupUUID.UUID = n.UUID
		_, err = cn.Create(ctx, dupUUID)
		requireDuplicate(t, err)
		other, err := cn.Create(ctx, recNode(host, "n3"))
		require.NoError(t, err)
		_, err = cn.Update(ctx, other.UUID, recNode(host, "n1"))
		requireDuplicate(t, err)

		for _, c := range []struct {
			field string
			mod   func(*compute.ComputeNode)
		}{
			{"host", func(n *compute.ComputeNode) { n.Host = "" }},
			{"hypervisor_hostname", func(n *compute.ComputeNode) { n.HypervisorHostname = "" }},
			{"uuid", func(n *compute.ComputeNode) { n.UUID = "zzz" }},
			{"vcpus", func(n *compute.ComputeNode) { n.VCPUs = -1 }},
			{"ram_allocation_ratio", func(n *compute.ComputeNode) { n.RAMAllocationRatio = -1 }},
		} {
			n := recNode(host, "bad")
			c.mod(n)
			_, err := cn.Create(ctx, n)
			requireInvalid(t, err, c.field)
		}
	})

	t.Run("ListFiltersAndPages", func(t *testing.T) {
		cn := newStore(t).ComputeNodes()
		host := "host-" + uuid.NewString()
		tag := uuid.NewString()
		var want []string
		for _, name := range []string{"Rack1-" + tag, "rack2-" + tag, "rack%3-" + tag} {
			n, err := cn.Create(ctx, recNode(host, name))
			require.NoError(t, err)
			want = append(want, n.UUID)
		}
		_, err := cn.Create(ctx, recNode("host-"+uuid.NewString(), "rack9-"+tag))
		require.NoError(t, err)

		all, err := cn.List(ctx, store.ComputeNodeFilter{Host: host}, compute.ListOptions{})
		require.NoError(t, err)
		assert.Equal(t, want, nodeUUIDs(all))

		var paged []string
		marker := ""
		for {
			page, err := cn.List(ctx, store.ComputeNodeFilter{Host: host}, compute.ListOptions{Limit: 2, Marker: marker})
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			paged = append(paged, nodeUUIDs(page)...)
			marker = page[len(page)-1].UUID
		}
		assert.Equal(t, want, paged)

		missing := uuid.NewString()
		_, err = cn.List(ctx, store.ComputeNodeFilter{}, compute.ListOptions{Marker: missing})
		requireMarkerNotFound(t, err, missing)
		_, err = cn.List(ctx, store.ComputeNodeFilter{}, compute.ListOptions{Sort: []compute.SortKey{{Key: "host"}}})
		requireInvalid(t, err, "sort_key")

		rack := func(pattern string) []string {
			ns, err := cn.List(ctx, store.ComputeNodeFilter{HypervisorHostnamePattern: pattern}, compute.ListOptions{})
			require.NoError(t, err)
			return nodeUUIDs(ns)
		}
		assert.Len(t, rack(tag), 4, "substring of every node")
		assert.Equal(t, want[:1], rack("RACK1-"+tag), "case does not matter")
		assert.Equal(t, want[2:], rack("%3-"+tag), "% matches itself")
		assert.Empty(t, rack("_ack1-"+tag), "_ matches itself")
	})
}
