package placementstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/placement"
)

// TestIndexApply covers placement.Index.Apply and ExportSync (added for
// this package in placement/sync.go): a round trip reproduces an Index,
// moves and deletions keep trees and roots right, and a Sync that does not
// fit changes nothing.
func TestIndexApply(t *testing.T) {
	ctx := context.Background()
	src := placement.New(placement.Options{})
	for _, st := range script {
		st.run(ctx, src)
	}
	sy, err := src.ExportSync(ctx)
	require.NoError(t, err)
	dst := placement.New(placement.Options{})
	require.NoError(t, dst.Apply(ctx, sy))
	want, _ := src.Export(ctx)
	got, _ := dst.Export(ctx)
	assert.Equal(t, want, got)
	for _, p := range want.Providers {
		u1, g1, _ := src.ProviderUsages(ctx, p.Provider.UUID)
		u2, g2, _ := dst.ProviderUsages(ctx, p.Provider.UUID)
		assert.Equal(t, u1, u2)
		assert.Equal(t, g1, g2)
	}

	// Move a subtree under another root, in one Sync with a new provider.
	ps := func(u, name, parent string) placement.ProviderSync {
		return placement.ProviderSync{Provider: placement.ResourceProvider{UUID: u, Name: name, ParentUUID: parent}}
	}
	require.NoError(t, dst.Apply(ctx, placement.Sync{Providers: []placement.ProviderSync{
		ps(uid("newroot"), "newroot", ""), ps(uid("child"), "child2", uid("newroot"))}}))
	gc, err := dst.Provider(ctx, uid("grandchild"))
	if err == nil {
		assert.Equal(t, uid("newroot"), gc.RootUUID)
	}
	c, err := dst.Provider(ctx, uid("child"))
	require.NoError(t, err)
	assert.Equal(t, uid("newroot"), c.RootUUID)
	list, err := dst.Providers(ctx, placement.ProviderFilter{InTree: uid("newroot")})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(list), 2)

	before, _ := dst.Export(ctx)
	for name, bad := range map[string]placement.Sync{
		"unknown parent":       {Providers: []placement.ProviderSync{ps(uid("x"), "x", uid("nope"))}},
		"cycle":                {Providers: []placement.ProviderSync{ps(uid("newroot"), "newroot", uid("child"))}},
		"deleted parent":       {DeletedProviders: []string{uid("newroot")}},
		"usage w/o inventory":  {Counts: []placement.ProviderCounts{{UUID: uid("newroot"), Usages: map[string]int64{"VCPU": 1}}}},
		"allocation elsewhere": {Consumers: []placement.Consumer{{UUID: uid("c9"), Project: "p", User: "u", Allocations: map[string]placement.ProviderAllocation{uid("nope"): {Resources: map[string]int64{"VCPU": 1}}}}}},
		"unknown class": {Providers: []placement.ProviderSync{{
			Provider:    placement.ResourceProvider{UUID: uid("gpu"), Name: "gpu"},
			Inventories: map[string]placement.Inventory{"CUSTOM_GPU": placement.NewInventory(1)}}}},
	} {
		err := dst.Apply(ctx, bad)
		assert.ErrorIs(t, err, placement.ErrInvalid, name)
		after, _ := dst.Export(ctx)
		assert.Equal(t, before, after, name)
	}
}
