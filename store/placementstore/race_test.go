package placementstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/store/placementstore"
)

// TestRaceForTheLastUnits has 64 goroutines claim one VCPU each when 10
// are left: exactly 10 succeed and the others get ErrCapacityExceeded; then
// 64 goroutines update one consumer with the same generation: exactly one
// succeeds and the others get ErrConsumerGenerationConflict.
func TestRaceForTheLastUnits(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, be.url(t), nil)
			provs := cloud(t, s, 1, 64)
			rp := provs[0]
			for i := 0; i < 54; i++ {
				require.NoError(t, s.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uuid.NewString(): {
					Project: "p", User: "u", Allocations: map[string]map[string]int64{rp: {"VCPU": 1}}}}))
			}
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				wins int
				errs []error
			)
			for i := 0; i < 64; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := s.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uuid.NewString(): {
						Project: "p", User: "u", Allocations: map[string]map[string]int64{rp: {"VCPU": 1, "MEMORY_MB": 512}}}})
					mu.Lock()
					defer mu.Unlock()
					if err == nil {
						wins++
					} else {
						errs = append(errs, err)
					}
				}()
			}
			wg.Wait()
			assert.Equal(t, 10, wins)
			for _, err := range errs {
				assert.ErrorIs(t, err, placement.ErrCapacityExceeded)
			}
			assert.Equal(t, int64(64), usedVCPU(t, s, provs))
			require.NoError(t, placementstore.CheckDB(ctx, s))

			// One consumer, 64 writers with the same generation.
			c := uuid.NewString()
			require.NoError(t, s.DeleteAllocations(ctx, firstConsumer(t, s, rp)))
			require.NoError(t, s.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c: {
				Project: "p", User: "u", Allocations: map[string]map[string]int64{rp: {"MEMORY_MB": 1}}}}))
			wins, errs = 0, nil
			for i := 0; i < 64; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					err := s.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c: {
						Project: "p", User: "u", Generation: gen(1),
						Allocations: map[string]map[string]int64{rp: {"MEMORY_MB": int64(2 + i)}}}})
					mu.Lock()
					defer mu.Unlock()
					if err == nil {
						wins++
					} else {
						errs = append(errs, err)
					}
				}(i)
			}
			wg.Wait()
			assert.Equal(t, 1, wins)
			for _, err := range errs {
				assert.ErrorIs(t, err, placement.ErrConsumerGenerationConflict)
				assert.Equal(t, placement.CodeConcurrentUpdate, placement.ErrorCode(err))
			}
			co, err := s.Consumer(ctx, c)
			require.NoError(t, err)
			assert.Equal(t, int64(2), co.Generation)
			require.NoError(t, placementstore.CheckDB(ctx, s))
		})
	}
}

func firstConsumer(t *testing.T, s *placementstore.Service, rp string) string {
	pa, _, err := s.ProviderAllocations(context.Background(), rp)
	require.NoError(t, err)
	for c := range pa {
		return c
	}
	t.Fatal("no consumer")
	return ""
}

// TestTwoServicesFollowEachOther opens two Services on one database: one
// writes, the other catches up with Refresh; a claim made from the
// other's stale Index fails with a conflict (never overcommits) and
// refreshes what it touched; failed writes leave the database as it was.
func TestTwoServicesFollowEachOther(t *testing.T) {
	for _, be := range backends {
		if !be.reopens {
			continue
		}
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			url := be.url(t)
			a := open(t, url, &placementstore.Options{PollInterval: -1})
			b := open(t, url, &placementstore.Options{PollInterval: -1})
			provs := cloud(t, a, 2, 4)
			require.NoError(t, a.CreateResourceClass(ctx, "CUSTOM_GPU"))
			_, err := a.CreateTrait(ctx, "CUSTOM_FAST")
			require.NoError(t, err)
			child, err := a.CreateProvider(ctx, placement.ProviderSpec{Name: "gpu0", ParentUUID: provs[0]})
			require.NoError(t, err)
			_, _, err = a.SetInventories(ctx, child.UUID, 0, map[string]placement.Inventory{"CUSTOM_GPU": inv(1)})
			require.NoError(t, err)
			_, err = a.SetTraits(ctx, child.UUID, 1, []string{"CUSTOM_FAST"})
			require.NoError(t, err)
			_, err = b.Provider(ctx, child.UUID)
			require.ErrorIs(t, err, placement.ErrNotFound, "b has not refreshed yet")
			require.NoError(t, b.Refresh(ctx))
			ea, err := a.Index().Export(ctx)
			require.NoError(t, err)
			eb, err := b.Index().Export(ctx)
			require.NoError(t, err)
			require.Equal(t, ea, eb)

			// a takes everything on provs[0]; b still offers it.
			require.NoError(t, a.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("big"): {
				Project: "p", User: "u", Allocations: map[string]map[string]int64{provs[0]: {"VCPU": 4}, child.UUID: {"CUSTOM_GPU": 1}}}}))
			u, _, err := b.ProviderUsages(ctx, provs[0])
			require.NoError(t, err)
			require.Zero(t, u["VCPU"], "b's index is stale")
			err = b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("late"): {
				Project: "p", User: "u", Allocations: map[string]map[string]int64{provs[0]: {"VCPU": 1}}}})
			require.ErrorIs(t, err, placement.ErrCapacityExceeded)
			u, _, err = b.ProviderUsages(ctx, provs[0])
			require.NoError(t, err)
			require.Equal(t, int64(4), u["VCPU"], "the conflict refreshed the provider")

			// A stale provider generation from b: conflict, then current.
			_, g, err := b.Inventories(ctx, provs[1])
			require.NoError(t, err)
			_, _, err = a.SetInventories(ctx, provs[1], g, map[string]placement.Inventory{"VCPU": inv(8)})
			require.NoError(t, err)
			_, _, err = b.SetInventories(ctx, provs[1], g, map[string]placement.Inventory{"VCPU": inv(2)})
			require.ErrorIs(t, err, placement.ErrGenerationConflict)
			_, g2, err := b.Inventories(ctx, provs[1])
			require.NoError(t, err)
			require.Equal(t, g+1, g2)

			// Failing writes leave nothing behind.
			before, err := a.Index().Export(ctx)
			require.NoError(t, err)
			err = a.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
				uid("ok1"): {Project: "p", User: "u", Allocations: map[string]map[string]int64{provs[1]: {"VCPU": 2}}},
				uid("ok2"): {Project: "p", User: "u", Allocations: map[string]map[string]int64{provs[1]: {"VCPU": 7}}}})
			require.ErrorIs(t, err, placement.ErrCapacityExceeded)
			err = a.Reshape(ctx, map[string]placement.InventoryUpdate{provs[1]: {Generation: g2, Inventories: map[string]placement.Inventory{"VCPU": inv(1)}}},
				map[string]placement.ConsumerAllocations{uid("big"): {Project: "p", User: "u", Generation: gen(1),
					Allocations: map[string]map[string]int64{provs[1]: {"VCPU": 4}}}})
			require.ErrorIs(t, err, placement.ErrCapacityExceeded)
			err = a.DeleteProvider(ctx, provs[0])
			require.ErrorIs(t, err, placement.ErrCannotDeleteParent)
			after, err := a.Index().Export(ctx)
			require.NoError(t, err)
			require.Equal(t, before, after)
			require.NoError(t, placementstore.CheckDB(ctx, a))

			// Deletions travel too.
			require.NoError(t, a.DeleteAllocations(ctx, uid("big")))
			require.NoError(t, a.DeleteProvider(ctx, child.UUID))
			_, g3, err := a.Traits(ctx, provs[0])
			require.NoError(t, err)
			_, err = a.SetAggregates(ctx, provs[0], g3, []string{uid("agg1")})
			require.NoError(t, err)
			require.NoError(t, a.DeleteResourceClass(ctx, "CUSTOM_GPU"))
			require.NoError(t, b.Refresh(ctx))
			require.NoError(t, placementstore.CheckDB(ctx, b))
			ea, _ = a.Index().Export(ctx)
			eb, _ = b.Index().Export(ctx)
			require.Equal(t, ea, eb)
			rcs, err := b.ResourceClasses(ctx)
			require.NoError(t, err)
			assert.NotContains(t, rcs, "CUSTOM_GPU")
			_, err = b.Consumer(ctx, uid("big"))
			assert.True(t, errors.Is(err, placement.ErrNotFound), fmt.Sprint(err))
		})
	}
}

// TestRenameResourceClass renames a class in use: inventories, usages and
// allocations follow, in this Service and in another one.
func TestRenameResourceClass(t *testing.T) {
	ctx := context.Background()
	url := backends[1].url(t)
	a := open(t, url, &placementstore.Options{PollInterval: -1})
	b := open(t, url, &placementstore.Options{PollInterval: -1})
	require.NoError(t, a.CreateResourceClass(ctx, "CUSTOM_OLD"))
	rp, err := a.CreateProvider(ctx, placement.ProviderSpec{Name: "cn"})
	require.NoError(t, err)
	_, _, err = a.SetInventories(ctx, rp.UUID, 0, map[string]placement.Inventory{"CUSTOM_OLD": inv(4)})
	require.NoError(t, err)
	require.ErrorIs(t, a.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("c"): alloc("p", nil, "x", "CUSTOM_OLD", 1)}), placement.ErrInvalid)
	require.NoError(t, a.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("c"): {Project: "p", User: "u",
		Allocations: map[string]map[string]int64{rp.UUID: {"CUSTOM_OLD": 3}}}}))
	require.NoError(t, b.Refresh(ctx))
	require.ErrorIs(t, a.RenameResourceClass(ctx, "VCPU", "CUSTOM_X"), placement.ErrInvalid)
	require.ErrorIs(t, a.RenameResourceClass(ctx, "CUSTOM_NONE", "CUSTOM_X"), placement.ErrNotFound)
	require.NoError(t, a.CreateResourceClass(ctx, "CUSTOM_TAKEN"))
	require.ErrorIs(t, a.RenameResourceClass(ctx, "CUSTOM_OLD", "CUSTOM_TAKEN"), placement.ErrDuplicateName)
	require.NoError(t, a.RenameResourceClass(ctx, "CUSTOM_OLD", "CUSTOM_NEW"))
	require.NoError(t, b.Refresh(ctx))
	for _, s := range []*placementstore.Service{a, b} {
		u, _, err := s.ProviderUsages(ctx, rp.UUID)
		require.NoError(t, err)
		assert.Equal(t, map[string]int64{"CUSTOM_NEW": 3}, u)
		rcs, err := s.ResourceClasses(ctx)
		require.NoError(t, err)
		assert.NotContains(t, rcs, "CUSTOM_OLD")
		require.NoError(t, placementstore.CheckDB(ctx, s))
	}
	require.NoError(t, a.Ping(ctx))
}
