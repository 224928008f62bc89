package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/store"
)

func recFlavor() *compute.Flavor {
	id := uuid.NewString()
	return &compute.Flavor{FlavorID: id, Name: "f-" + id, VCPUs: 1, MemoryMB: 512, RootGB: 1}
}

func flavorIDs(fs []*compute.Flavor) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.FlavorID
	}
	return out
}

func testFlavors(t *testing.T, newStore func(t *testing.T) *store.Store) {
	ctx := context.Background()

	t.Run("CreateThenGetRoundTrips", func(t *testing.T) {
		fl := newStore(t).Flavors()
		in := recFlavor()
		in.EphemeralGB, in.SwapMB, in.IsPublic, in.Description = 2, 512, true, "small"
		in.ExtraSpecs = map[string]string{"hw:cpu_policy": "dedicated"}
		created, err := fl.Create(ctx, in)
		require.NoError(t, err)
		assert.NotZero(t, created.ID)
		assert.False(t, created.CreatedAt.IsZero())
		assert.Equal(t, 1.0, created.RXTXFactor, "0 is stored as Nova's default 1.0")
		got, err := fl.Get(ctx, in.FlavorID)
		require.NoError(t, err)
		assert.Equal(t, created, got)
		assert.Equal(t, "dedicated", got.ExtraSpecs["hw:cpu_policy"])
		byName, err := fl.GetByName(ctx, in.Name)
		require.NoError(t, err)
		assert.Equal(t, created, byName)
	})

	t.Run("CreateRefusesDuplicatesAndBadInput", func(t *testing.T) {
		fl := newStore(t).Flavors()
		in := recFlavor()
		_, err := fl.Create(ctx, in)
		require.NoError(t, err)

		dupID := recFlavor()
		dupID.FlavorID = in.FlavorID
		_, err = fl.Create(ctx, dupID)
		requireDuplicate(t, err)
		assert.Contains(t, err.Error(), in.FlavorID)

		dupName := recFlavor()
		dupName.Name = in.Name
		_, err = fl.Create(ctx, dupName)
		requireDuplicate(t, err)
		assert.Contains(t, err.Error(), in.Name)

		for _, c := range []struct {
			field string
			mod   func(*compute.Flavor)
		}{
			{"vcpus", func(f *compute.Flavor) { f.VCPUs = 0 }},
			{"name", func(f *compute.Flavor) { f.Name = "" }},
			{"name", func(f *compute.Flavor) { f.Name = strings.Repeat("n", 256) }},
			{"id", func(f *compute.Flavor) { f.FlavorID = "" }},
			{"description", func(f *compute.Flavor) { f.Description = strings.Repeat("d", 65536) }},
			{"extra_specs", func(f *compute.Flavor) { f.ExtraSpecs = map[string]string{"": "x"} }},
		} {
			f := recFlavor()
			c.mod(f)
			_, err := fl.Create(ctx, f)
			requireInvalid(t, err, c.field)
		}
		_, err = fl.Create(ctx, nil)
		requireInvalid(t, err, "flavor")
	})

	t.Run("MissingFlavorIsNotFound", func(t *testing.T) {
		fl := newStore(t).Flavors()
		missing := uuid.NewString()
		_, err := fl.Get(ctx, missing)
		requireNotFound(t, err)
		_, err = fl.GetByName(ctx, missing)
		requireNotFound(t, err)
		_, err = fl.UpdateDescription(ctx, missing, "x")
		requireNotFound(t, err)
		requireNotFound(t, fl.Delete(ctx, missing))
		_, err = fl.SetExtraSpecs(ctx, missing, map[string]string{"a": "b"})
		requireNotFound(t, err)
		requireNotFound(t, fl.DeleteExtraSpec(ctx, missing, "a"))
		requireNotFound(t, fl.AddAccess(ctx, missing, "p"))
		requireNotFound(t, fl.RemoveAccess(ctx, missing, "p"))
		_, err = fl.ListAccess(ctx, missing)
		requireNotFound(t, err)
	})

	t.Run("ListFiltersSortsAndPages", func(t *testing.T) {
		fl := newStore(t).Flavors()
		project := uuid.NewString()
		prefix := uuid.NewString()
		var want []string
		for i := range 5 {
			f := recFlavor()
			f.FlavorID = fmt.Sprintf("%s-%d", prefix, i)
			f.MemoryMB = 100 * (i + 1)
			f.RootGB = i
			f.SwapMB = (i % 2) * 512
			f.RXTXFactor = 1 + float64(i%3)/2
			f.Description = fmt.Sprintf("d%d", i%2)
			f.Disabled = i == 2
			_, err := fl.Create(ctx, f)
			require.NoError(t, err)
			require.NoError(t, fl.AddAccess(ctx, f.FlavorID, project))
			want = append(want, f.FlavorID)
		}
		other := recFlavor() // private, not granted to project
		_, err := fl.Create(ctx, other)
		require.NoError(t, err)
		public := recFlavor()
		public.IsPublic = true
		_, err = fl.Create(ctx, public)
		require.NoError(t, err)

		mine := store.FlavorFilter{IsPublic: compute.Ptr(false), ProjectID: project}
		all, err := fl.List(ctx, mine, compute.ListOptions{})
		require.NoError(t, err)
		assert.Equal(t, want, flavorIDs(all), "flavorid ascending by default")

		var paged []string
		marker := ""
		for range 4 {
			page, err := fl.List(ctx, mine, compute.ListOptions{Limit: 2, Marker: marker})
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			assert.LessOrEqual(t, len(page), 2)
			paged = append(paged, flavorIDs(page)...)
			marker = page[len(page)-1].FlavorID
		}
		assert.Equal(t, want, paged)

		missing := uuid.NewString()
		_, err = fl.List(ctx, mine, compute.ListOptions{Marker: missing})
		requireMarkerNotFound(t, err, missing)

		desc, err := fl.List(ctx, mine, compute.ListOptions{Sort: []compute.SortKey{{Key: "memory_mb", Desc: true}}})
		require.NoError(t, err)
		assert.Equal(t, []string{want[4], want[3], want[2], want[1], want[0]}, flavorIDs(desc))
		page, err := fl.List(ctx, mine, compute.ListOptions{Limit: 2, Marker: want[3], Sort: []compute.SortKey{{Key: "memory_mb", Desc: true}}})
		require.NoError(t, err)
		assert.Equal(t, []string{want[2], want[1]}, flavorIDs(page))

		// Every sort key, both ways, pages to the same order as one listing.
		for _, key := range store.FlavorSortKeys {
			for _, desc := range []bool{false, true} {
				opts := compute.ListOptions{Sort: []compute.SortKey{{Key: key, Desc: desc}}}
				whole, err := fl.List(ctx, mine, opts)
				require.NoError(t, err, key)
				require.Len(t, whole, 5, key)
				var pages []string
				for opts.Limit = 2; ; {
					page, err := fl.List(ctx, mine, opts)
					require.NoError(t, err, key)
					if len(page) == 0 {
						break
					}
					pages = append(pages, flavorIDs(page)...)
					opts.Marker = page[len(page)-1].FlavorID
				}
				assert.Equal(t, flavorIDs(whole), pages, "sort by %s desc=%v", key, desc)
			}
		}

		_, err = fl.List(ctx, mine, compute.ListOptions{Sort: []compute.SortKey{{Key: "vm_state"}}})
		requireInvalid(t, err, "sort_key")
		_, err = fl.List(ctx, mine, compute.ListOptions{Limit: -1})
		requireInvalid(t, err, "limit")

		bigRAM, err := fl.List(ctx, store.FlavorFilter{IsPublic: compute.Ptr(false), ProjectID: project, MinRAM: 300}, compute.ListOptions{})
		require.NoError(t, err)
		assert.Equal(t, want[2:], flavorIDs(bigRAM))
		bigDisk, err := fl.List(ctx, store.FlavorFilter{IsPublic: compute.Ptr(false), ProjectID: project, MinDisk: 4}, compute.ListOptions{})
		require.NoError(t, err)
		assert.Equal(t, want[4:], flavorIDs(bigDisk))

		visible, err := fl.List(ctx, store.FlavorFilter{ProjectID: project}, compute.ListOptions{})
		require.NoError(t, err)
		ids := flavorIDs(visible)
		assert.Subset(t, ids, append(want, public.FlavorID), "public and granted flavors")
		assert.NotContains(t, ids, other.FlavorID, "private flavors not granted")

		private, err := fl.List(ctx, store.FlavorFilter{IsPublic: compute.Ptr(false)}, compute.ListOptions{})
		require.NoError(t, err)
		assert.Contains(t, flavorIDs(private), other.FlavorID)
		assert.NotContains(t, flavorIDs(private), public.FlavorID)

		byName, err := fl.List(ctx, store.FlavorFilter{Name: public.Name}, compute.ListOptions{})
		require.NoError(t, err)
		assert.Equal(t, []string{public.FlavorID}, flavorIDs(byName))
	})

	t.Run("UpdateDescription", func(t *testing.T) {
		fl := newStore(t).Flavors()
		f, err := fl.Create(ctx, recFlavor())
		require.NoError(t, err)
		got, err := fl.UpdateDescription(ctx, f.FlavorID, "new words")
		require.NoError(t, err)
		assert.Equal(t, "new words", got.Description)
		assert.False(t, got.UpdatedAt.Before(f.UpdatedAt))
		again, err := fl.UpdateDescription(ctx, f.FlavorID, "new words")
		require.NoError(t, err, "idempotent")
		assert.Equal(t, "new words", again.Description)
		_, err = fl.UpdateDescription(ctx, f.FlavorID, strings.Repeat("d", 65536))
		requireInvalid(t, err, "description")
	})

	t.Run("ExtraSpecsMergeAndDelete", func(t *testing.T) {
		fl := newStore(t).Flavors()
		in := recFlavor()
		in.ExtraSpecs = map[string]string{"a": "1"}
		f, err := fl.Create(ctx, in)
		require.NoError(t, err)
		specs, err := fl.SetExtraSpecs(ctx, f.FlavorID, map[string]string{"b": "2", "a": "3"})
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"a": "3", "b": "2"}, specs)
		require.NoError(t, fl.DeleteExtraSpec(ctx, f.FlavorID, "a"))
		requireNotFound(t, fl.DeleteExtraSpec(ctx, f.FlavorID, "a"))
		got, err := fl.Get(ctx, f.FlavorID)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"b": "2"}, got.ExtraSpecs)
		_, err = fl.SetExtraSpecs(ctx, f.FlavorID, map[string]string{"k": strings.Repeat("v", 256)})
		requireInvalid(t, err, "extra_specs")
	})

	t.Run("AccessList", func(t *testing.T) {
		fl := newStore(t).Flavors()
		pub := recFlavor()
		pub.IsPublic = true
		_, err := fl.Create(ctx, pub)
		require.NoError(t, err)
		requireStateConflict(t, fl.AddAccess(ctx, pub.FlavorID, "p1"))
		acc, err := fl.ListAccess(ctx, pub.FlavorID)
		require.NoError(t, err)
		assert.Empty(t, acc)

		f, err := fl.Create(ctx, recFlavor())
		require.NoError(t, err)
		require.NoError(t, fl.AddAccess(ctx, f.FlavorID, "p2"))
		require.NoError(t, fl.AddAccess(ctx, f.FlavorID, "p1"))
		requireDuplicate(t, fl.AddAccess(ctx, f.FlavorID, "p1"))
		requireInvalid(t, fl.AddAccess(ctx, f.FlavorID, ""), "tenant")
		acc, err = fl.ListAccess(ctx, f.FlavorID)
		require.NoError(t, err)
		assert.Equal(t, []compute.FlavorAccess{{FlavorID: f.FlavorID, ProjectID: "p1"}, {FlavorID: f.FlavorID, ProjectID: "p2"}}, acc)
		require.NoError(t, fl.RemoveAccess(ctx, f.FlavorID, "p1"))
		requireNotFound(t, fl.RemoveAccess(ctx, f.FlavorID, "p1"))
		acc, err = fl.ListAccess(ctx, f.FlavorID)
		require.NoError(t, err)
		assert.Equal(t, []compute.FlavorAccess{{FlavorID: f.FlavorID, ProjectID: "p2"}}, acc)
	})

	t.Run("DeleteTakesAccessAndSpecsWithIt", func(t *testing.T) {
		fl := newStore(t).Flavors()
		in := recFlavor()
		in.ExtraSpecs = map[string]string{"a": "1"}
		_, err := fl.Create(ctx, in)
		require.NoError(t, err)
		require.NoError(t, fl.AddAccess(ctx, in.FlavorID, "p1"))
		require.NoError(t, fl.Delete(ctx, in.FlavorID))
		_, err = fl.Get(ctx, in.FlavorID)
		requireNotFound(t, err)
		requireNotFound(t, fl.Delete(ctx, in.FlavorID))

		again, err := fl.Create(ctx, &compute.Flavor{FlavorID: in.FlavorID, Name: in.Name, VCPUs: 2, MemoryMB: 1024})
		require.NoError(t, err, "the id and name are free again")
		assert.Nil(t, again.ExtraSpecs)
		acc, err := fl.ListAccess(ctx, in.FlavorID)
		require.NoError(t, err)
		assert.Empty(t, acc)
	})
}
