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

func recGroup(project, policy string, members ...string) *compute.ServerGroup {
	return &compute.ServerGroup{Name: "g-" + uuid.NewString(), ProjectID: project, UserID: "u", Policy: policy, Members: members}
}

func testServerGroups(t *testing.T, newStore func(t *testing.T) *store.Store) {
	ctx := context.Background()

	t.Run("CreateGetDelete", func(t *testing.T) {
		sg := newStore(t).ServerGroups()
		i1, i2 := uuid.NewString(), uuid.NewString()
		in := recGroup(uuid.NewString(), compute.PolicyAntiAffinity, i1, i2, i1)
		in.Rules = map[string]int{"max_server_per_host": 2}
		in.Hosts = []string{"not-stored"}
		g, err := sg.Create(ctx, in)
		require.NoError(t, err)
		assert.NotEmpty(t, g.UUID)
		assert.Equal(t, []string{i1, i2}, g.Members)
		assert.Equal(t, map[string]int{"max_server_per_host": 2}, g.Rules)
		assert.Nil(t, g.Hosts)
		got, err := sg.Get(ctx, g.UUID)
		require.NoError(t, err)
		assert.Equal(t, g, got)
		byInst, err := sg.GetByInstance(ctx, i2)
		require.NoError(t, err)
		assert.Equal(t, g, byInst)

		require.NoError(t, sg.Delete(ctx, g.UUID))
		requireNotFound(t, sg.Delete(ctx, g.UUID))
		_, err = sg.Get(ctx, g.UUID)
		requireNotFound(t, err)
		_, err = sg.GetByInstance(ctx, i1)
		requireNotFound(t, err) // members go with the group
		_, err = sg.Create(ctx, recGroup(in.ProjectID, compute.PolicyAffinity, i1))
		require.NoError(t, err, "a former member may join another group")
	})

	t.Run("BadInputNamesTheField", func(t *testing.T) {
		sg := newStore(t).ServerGroups()
		for _, c := range []struct {
			field string
			mod   func(*compute.ServerGroup)
		}{
			{"policy", func(g *compute.ServerGroup) { g.Policy = "spread" }},
			{"rules", func(g *compute.ServerGroup) { g.Rules = map[string]int{"max_server_per_host": 1} }},
			{"name", func(g *compute.ServerGroup) { g.Name = "" }},
			{"project_id", func(g *compute.ServerGroup) { g.ProjectID = "" }},
			{"uuid", func(g *compute.ServerGroup) { g.UUID = "g1" }},
			{"members", func(g *compute.ServerGroup) { g.Members = []string{"vm1"} }},
		} {
			g := recGroup("p", compute.PolicyAffinity)
			c.mod(g)
			_, err := sg.Create(ctx, g)
			requireInvalid(t, err, c.field)
		}
	})

	t.Run("MembersAreInOneGroupAtMost", func(t *testing.T) {
		sg := newStore(t).ServerGroups()
		project := uuid.NewString()
		i1, i2, i3 := uuid.NewString(), uuid.NewString(), uuid.NewString()
		a, err := sg.Create(ctx, recGroup(project, compute.PolicyAffinity, i1))
		require.NoError(t, err)
		b, err := sg.Create(ctx, recGroup(project, compute.PolicySoftAntiAffinity))
		require.NoError(t, err)

		got, err := sg.AddMembers(ctx, a.UUID, i2, i1)
		require.NoError(t, err)
		assert.Equal(t, []string{i1, i2}, got.Members)
		got, err = sg.AddMembers(ctx, a.UUID, i2)
		require.NoError(t, err, "adding a member again is a no-op")
		assert.Equal(t, []string{i1, i2}, got.Members)

		_, err = sg.AddMembers(ctx, b.UUID, i3, i1)
		requireStateConflict(t, err)
		gb, err := sg.Get(ctx, b.UUID)
		require.NoError(t, err)
		assert.Empty(t, gb.Members, "a refused add adds none")
		_, err = sg.Create(ctx, recGroup(project, compute.PolicyAffinity, i2))
		requireStateConflict(t, err)

		_, err = sg.AddMembers(ctx, uuid.NewString(), i3)
		requireNotFound(t, err)
		_, err = sg.AddMembers(ctx, a.UUID, "vm")
		requireInvalid(t, err, "members")

		require.NoError(t, sg.RemoveMember(ctx, i1))
		require.NoError(t, sg.RemoveMember(ctx, i1), "idempotent")
		got, err = sg.Get(ctx, a.UUID)
		require.NoError(t, err)
		assert.Equal(t, []string{i2}, got.Members)
		got, err = sg.AddMembers(ctx, b.UUID, i1)
		require.NoError(t, err)
		assert.Equal(t, []string{i1}, got.Members)
		_, err = sg.GetByInstance(ctx, uuid.NewString())
		requireNotFound(t, err)
	})

	t.Run("ListByProjectWithLimitAndOffset", func(t *testing.T) {
		sg := newStore(t).ServerGroups()
		project := uuid.NewString()
		var want []string
		for range 4 {
			g, err := sg.Create(ctx, recGroup(project, compute.PolicyAffinity, uuid.NewString()))
			require.NoError(t, err)
			want = append(want, g.UUID)
		}
		_, err := sg.Create(ctx, recGroup(uuid.NewString(), compute.PolicyAffinity))
		require.NoError(t, err)
		uuids := func(limit, offset int) []string {
			gs, err := sg.List(ctx, project, limit, offset)
			require.NoError(t, err)
			var out []string
			for _, g := range gs {
				require.Len(t, g.Members, 1)
				out = append(out, g.UUID)
			}
			return out
		}
		assert.Equal(t, want, uuids(0, 0))
		assert.Equal(t, want[:2], uuids(2, 0))
		assert.Equal(t, want[2:], uuids(2, 2))
		assert.Equal(t, want[1:], uuids(0, 1))
		assert.Empty(t, uuids(0, 4))
		all, err := sg.List(ctx, "", 0, 0)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, len(all), 5)
		_, err = sg.List(ctx, project, -1, 0)
		requireInvalid(t, err, "limit")
		_, err = sg.List(ctx, project, 0, -1)
		requireInvalid(t, err, "offset")
	})
}
