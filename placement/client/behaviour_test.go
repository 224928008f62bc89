package client_test

import (
	"context"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
	"github.com/novakit/novakit/placement/client"
)

// backendCase builds a fresh, empty backend.
type backendCase struct {
	name string
	open func(t *testing.T) api.Backend
}

// backends are the implementations the behaviour tables run against: the
// in-process Index, and the client talking to placement/api over HTTP.
func backends() []backendCase {
	return []backendCase{
		{"index", func(t *testing.T) api.Backend { return placement.New(placement.Options{}) }},
		{"client", func(t *testing.T) api.Backend { return newRemote(t, placement.New(placement.Options{})) }},
		// placement/api serving a client of another placement/api: the
		// client is a Backend like any other, and errors survive two hops.
		{"client-via-proxy", func(t *testing.T) api.Backend {
			inner := newRemote(t, placement.New(placement.Options{}))
			srv := httptest.NewServer(api.New(inner, api.Options{Authenticator: api.NoAuth()}))
			t.Cleanup(srv.Close)
			c, err := client.New(srv.URL, client.Options{Token: client.StaticToken("admin")})
			require.NoError(t, err)
			return c
		}},
	}
}

func newRemote(t testing.TB, be api.Backend) *client.Client {
	srv := httptest.NewServer(api.New(be, api.Options{Authenticator: api.NoAuth()}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.Options{Token: client.StaticToken("admin")})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

const (
	cn1  = "11111111-1111-4111-8111-111111111111"
	cn2  = "22222222-2222-4222-8222-222222222222"
	nuA  = "33333333-3333-4333-8333-333333333333"
	shr  = "44444444-4444-4444-8444-444444444444"
	agg1 = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	agg2 = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
	c1   = "c0000000-0000-4000-8000-000000000001"
	c2   = "c0000000-0000-4000-8000-000000000002"
	c3   = "c0000000-0000-4000-8000-000000000003"
	gone = "dddddddd-dddd-4ddd-8ddd-dddddddddddd"
)

func gen(n int64) *int64 { return &n }

// computeNode creates a provider with VCPU and MEMORY_MB and returns its
// generation (1).
func computeNode(t *testing.T, b api.Backend, u, name string, vcpu int64) int64 {
	t.Helper()
	ctx := t.Context()
	_, err := b.CreateProvider(ctx, placement.ProviderSpec{UUID: u, Name: name})
	require.NoError(t, err)
	g, _, err := b.SetInventories(ctx, u, 0, map[string]placement.Inventory{
		"VCPU":      placement.NewInventory(vcpu),
		"MEMORY_MB": placement.NewInventory(4096),
	})
	require.NoError(t, err)
	return g
}

func claim(project string, g *int64, rp string, res map[string]int64) placement.ConsumerAllocations {
	return placement.ConsumerAllocations{Project: project, User: "u1", ConsumerType: placement.ConsumerTypeInstance,
		Generation: g, Allocations: map[string]map[string]int64{rp: res}}
}

// TestBehaviour runs the same table against every backend: the client must
// return what the Index returns, errors included.
func TestBehaviour(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, b api.Backend)
	}{
		{"ProvidersLifecycle", func(t *testing.T, b api.Backend) {
			ctx := t.Context()
			rp, err := b.CreateProvider(ctx, placement.ProviderSpec{UUID: cn1, Name: "cn1"})
			require.NoError(t, err)
			assert.Equal(t, placement.ResourceProvider{UUID: cn1, Name: "cn1", RootUUID: cn1}, strip(rp))
			_, err = b.CreateProvider(ctx, placement.ProviderSpec{UUID: cn2, Name: "cn1"})
			assert.ErrorIs(t, err, placement.ErrDuplicateName)
			assert.Equal(t, placement.CodeDuplicateName, placement.ErrorCode(err))
			_, err = b.CreateProvider(ctx, placement.ProviderSpec{UUID: cn1, Name: "other"})
			assert.ErrorIs(t, err, placement.ErrDuplicateName)
			_, err = b.CreateProvider(ctx, placement.ProviderSpec{UUID: nuA, Name: "numa0", ParentUUID: gone})
			assert.ErrorIs(t, err, placement.ErrInvalid)
			child, err := b.CreateProvider(ctx, placement.ProviderSpec{UUID: nuA, Name: "cn1_numa0", ParentUUID: cn1})
			require.NoError(t, err)
			assert.Equal(t, placement.ResourceProvider{UUID: nuA, Name: "cn1_numa0", ParentUUID: cn1, RootUUID: cn1}, strip(child))
			got, err := b.Provider(ctx, nuA)
			require.NoError(t, err)
			assert.Equal(t, strip(child), strip(got))
			_, err = b.Provider(ctx, gone)
			assert.ErrorIs(t, err, placement.ErrNotFound)

			up, err := b.UpdateProvider(ctx, cn1, placement.ProviderUpdate{Name: "cn1-renamed"})
			require.NoError(t, err)
			assert.Equal(t, "cn1-renamed", up.Name)
			assert.Equal(t, int64(0), up.Generation, "a rename does not bump the generation")
			_, err = b.CreateProvider(ctx, placement.ProviderSpec{UUID: cn2, Name: "cn2"})
			require.NoError(t, err)
			_, err = b.UpdateProvider(ctx, cn2, placement.ProviderUpdate{Name: "cn1-renamed"})
			assert.ErrorIs(t, err, placement.ErrDuplicateName)
			// Without reparenting only a root may gain a parent.
			_, err = b.UpdateProvider(ctx, nuA, placement.ProviderUpdate{Name: "cn1_numa0", SetParent: true, ParentUUID: cn2})
			assert.ErrorIs(t, err, placement.ErrInvalid)
			moved, err := b.UpdateProvider(ctx, nuA, placement.ProviderUpdate{Name: "cn1_numa0", SetParent: true, ParentUUID: cn2, AllowReparenting: true})
			require.NoError(t, err)
			assert.Equal(t, cn2, moved.ParentUUID)
			assert.Equal(t, cn2, moved.RootUUID)
			_, err = b.UpdateProvider(ctx, gone, placement.ProviderUpdate{Name: "x"})
			assert.ErrorIs(t, err, placement.ErrNotFound)

			err = b.DeleteProvider(ctx, cn2)
			assert.ErrorIs(t, err, placement.ErrCannotDeleteParent)
			assert.Equal(t, placement.CodeCannotDeleteParent, placement.ErrorCode(err))
			require.NoError(t, b.DeleteProvider(ctx, nuA))
			require.NoError(t, b.DeleteProvider(ctx, cn2))
			assert.ErrorIs(t, b.DeleteProvider(ctx, cn2), placement.ErrNotFound)
		}},
		{"ProvidersFilter", func(t *testing.T, b api.Backend) {
			ctx := t.Context()
			computeNode(t, b, cn1, "cn1", 8)
			computeNode(t, b, cn2, "cn2", 2)
			_, err := b.CreateProvider(ctx, placement.ProviderSpec{UUID: nuA, Name: "numa", ParentUUID: cn1})
			require.NoError(t, err)
			_, err = b.CreateTrait(ctx, "CUSTOM_FAST")
			require.NoError(t, err)
			_, err = b.SetTraits(ctx, cn1, 1, []string{"CUSTOM_FAST", "HW_CPU_X86_AVX2"})
			require.NoError(t, err)
			_, err = b.SetAggregates(ctx, cn2, 1, []string{agg1})
			require.NoError(t, err)
			for _, tc := range []struct {
				name string
				f    placement.ProviderFilter
				want []string
			}{
				{"all", placement.ProviderFilter{}, []string{cn1, cn2, nuA}},
				{"name", placement.ProviderFilter{Name: "cn2"}, []string{cn2}},
				{"uuid", placement.ProviderFilter{UUID: cn1}, []string{cn1}},
				{"in tree", placement.ProviderFilter{InTree: nuA}, []string{cn1, nuA}},
				{"resources", placement.ProviderFilter{Resources: map[string]int64{"VCPU": 4}}, []string{cn1}},
				{"required", placement.ProviderFilter{RequiredTraits: [][]string{{"CUSTOM_FAST"}}}, []string{cn1}},
				{"any of", placement.ProviderFilter{RequiredTraits: [][]string{{"CUSTOM_FAST", "HW_CPU_X86_SSE"}}}, []string{cn1}},
				{"forbidden", placement.ProviderFilter{ForbiddenTraits: []string{"CUSTOM_FAST"}}, []string{cn2, nuA}},
				{"member of", placement.ProviderFilter{MemberOf: [][]string{{agg1, agg2}}}, []string{cn2}},
				{"not member", placement.ProviderFilter{ForbiddenAggregates: []string{agg1}}, []string{cn1, nuA}},
			} {
				rps, err := b.Providers(ctx, tc.f)
				require.NoError(t, err, tc.name)
				var got []string
				for _, rp := range rps {
					got = append(got, rp.UUID)
				}
				assert.Equal(t, tc.want, got, tc.name)
			}
			_, err = b.Providers(ctx, placement.ProviderFilter{Resources: map[string]int64{"CUSTOM_NOPE": 1}})
			assert.ErrorIs(t, err, placement.ErrInvalid)
		}},
		{"Inventories", func(t *testing.T, b api.Backend) {
			ctx := t.Context()
			_, err := b.CreateProvider(ctx, placement.ProviderSpec{UUID: cn1, Name: "cn1"})
			require.NoError(t, err)
			inv := placement.Inventory{Total: 16, Reserved: 2, MinUnit: 1, MaxUnit: 8, StepSize: 1, AllocationRatio: 4}
			g, over, err := b.SetInventories(ctx, cn1, 0, map[string]placement.Inventory{"VCPU": inv, "MEMORY_MB": placement.NewInventory(2048)})
			require.NoError(t, err)
			assert.Equal(t, int64(1), g)
			assert.Empty(t, over)
			invs, g, err := b.Inventories(ctx, cn1)
			require.NoError(t, err)
			assert.Equal(t, int64(1), g)
			assert.Equal(t, map[string]placement.Inventory{"VCPU": inv, "MEMORY_MB": placement.NewInventory(2048)}, invs)
			_, _, err = b.SetInventories(ctx, cn1, 0, map[string]placement.Inventory{"VCPU": inv})
			assert.ErrorIs(t, err, placement.ErrGenerationConflict)
			assert.Equal(t, placement.CodeConcurrentUpdate, placement.ErrorCode(err))
			_, _, err = b.SetInventories(ctx, cn1, 1, map[string]placement.Inventory{"VCPU": {Total: 0, MinUnit: 1, MaxUnit: 1, StepSize: 1, AllocationRatio: 1}})
			assert.ErrorIs(t, err, placement.ErrInvalid)
			_, _, err = b.SetInventories(ctx, cn1, 1, map[string]placement.Inventory{"CUSTOM_NOPE": placement.NewInventory(1)})
			assert.ErrorIs(t, err, placement.ErrInvalid)
			_, _, err = b.SetInventories(ctx, gone, 0, nil)
			assert.ErrorIs(t, err, placement.ErrNotFound)
			_, _, err = b.Inventories(ctx, gone)
			assert.ErrorIs(t, err, placement.ErrNotFound)

			require.NoError(t, b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c1: claim("p1", nil, cn1, map[string]int64{"VCPU": 8, "MEMORY_MB": 1024})}))
			// Shrinking below usage is accepted and reported.
			g, over, err = b.SetInventories(ctx, cn1, 2, map[string]placement.Inventory{"VCPU": placement.NewInventory(4), "MEMORY_MB": placement.NewInventory(2048)})
			require.NoError(t, err)
			assert.Equal(t, int64(3), g)
			assert.Equal(t, []string{"VCPU"}, over)
			// Removing a class in use is refused.
			_, _, err = b.SetInventories(ctx, cn1, 3, map[string]placement.Inventory{"VCPU": placement.NewInventory(4)})
			assert.ErrorIs(t, err, placement.ErrInventoryInUse)
			assert.Equal(t, placement.CodeInventoryInUse, placement.ErrorCode(err))
			us, g, err := b.ProviderUsages(ctx, cn1)
			require.NoError(t, err)
			assert.Equal(t, int64(3), g)
			assert.Equal(t, map[string]int64{"VCPU": 8, "MEMORY_MB": 1024}, us)
			_, _, err = b.ProviderUsages(ctx, gone)
			assert.ErrorIs(t, err, placement.ErrNotFound)
		}},
		{"TraitsClassesAggregates", func(t *testing.T, b api.Backend) {
			ctx := t.Context()
			g := computeNode(t, b, cn1, "cn1", 4)
			created, err := b.CreateTrait(ctx, "CUSTOM_GOLD")
			require.NoError(t, err)
			assert.True(t, created)
			created, err = b.CreateTrait(ctx, "CUSTOM_GOLD")
			require.NoError(t, err)
			assert.False(t, created)
			_, err = b.CreateTrait(ctx, "GOLD")
			assert.ErrorIs(t, err, placement.ErrInvalid)
			names, err := b.TraitNames(ctx)
			require.NoError(t, err)
			assert.Contains(t, names, "CUSTOM_GOLD")
			assert.Contains(t, names, "HW_CPU_X86_AVX2")
			assert.True(t, sort.StringsAreSorted(names))

			g, err = b.SetTraits(ctx, cn1, g, []string{"HW_CPU_X86_AVX2", "CUSTOM_GOLD"})
			require.NoError(t, err)
			assert.Equal(t, int64(2), g)
			ts, tg, err := b.Traits(ctx, cn1)
			require.NoError(t, err)
			assert.Equal(t, []string{"CUSTOM_GOLD", "HW_CPU_X86_AVX2"}, ts)
			assert.Equal(t, g, tg)
			_, err = b.SetTraits(ctx, cn1, 1, []string{"CUSTOM_GOLD"})
			assert.ErrorIs(t, err, placement.ErrGenerationConflict)
			_, err = b.SetTraits(ctx, cn1, g, []string{"CUSTOM_SILVER"})
			assert.ErrorIs(t, err, placement.ErrInvalid)
			err = b.DeleteTrait(ctx, "CUSTOM_GOLD")
			assert.ErrorIs(t, err, placement.ErrInUse)
			assert.ErrorIs(t, b.DeleteTrait(ctx, "HW_CPU_X86_AVX2"), placement.ErrInvalid)
			assert.ErrorIs(t, b.DeleteTrait(ctx, "CUSTOM_SILVER"), placement.ErrNotFound)
			g, err = b.SetTraits(ctx, cn1, g, nil)
			require.NoError(t, err)
			ts, _, err = b.Traits(ctx, cn1)
			require.NoError(t, err)
			assert.Empty(t, ts)
			require.NoError(t, b.DeleteTrait(ctx, "CUSTOM_GOLD"))

			require.NoError(t, b.CreateResourceClass(ctx, "CUSTOM_FPGA"))
			assert.ErrorIs(t, b.CreateResourceClass(ctx, "CUSTOM_FPGA"), placement.ErrDuplicateName)
			assert.ErrorIs(t, b.CreateResourceClass(ctx, "FPGA"), placement.ErrInvalid)
			classes, err := b.ResourceClasses(ctx)
			require.NoError(t, err)
			assert.Contains(t, classes, "CUSTOM_FPGA")
			assert.Contains(t, classes, "VCPU")
			g, _, err = b.SetInventories(ctx, cn1, g, map[string]placement.Inventory{"VCPU": placement.NewInventory(4), "MEMORY_MB": placement.NewInventory(4096), "CUSTOM_FPGA": placement.NewInventory(1)})
			require.NoError(t, err)
			assert.ErrorIs(t, b.DeleteResourceClass(ctx, "CUSTOM_FPGA"), placement.ErrInUse)
			assert.ErrorIs(t, b.DeleteResourceClass(ctx, "VCPU"), placement.ErrInvalid)
			assert.ErrorIs(t, b.DeleteResourceClass(ctx, "CUSTOM_NOPE"), placement.ErrNotFound)

			ng, err := b.SetAggregates(ctx, cn1, g, []string{agg2, agg1})
			require.NoError(t, err)
			assert.Equal(t, g+1, ng)
			aggs, ag, err := b.Aggregates(ctx, cn1)
			require.NoError(t, err)
			assert.Equal(t, []string{agg1, agg2}, aggs)
			assert.Equal(t, ng, ag)
			_, err = b.SetAggregates(ctx, cn1, g, []string{agg1})
			assert.ErrorIs(t, err, placement.ErrGenerationConflict)
			same, err := b.SetAggregates(ctx, cn1, placement.AnyGeneration, []string{agg1})
			require.NoError(t, err)
			assert.Equal(t, ng, same, "AnyGeneration neither checks nor bumps")
			_, err = b.SetAggregates(ctx, cn1, ng, []string{"not-a-uuid"})
			assert.ErrorIs(t, err, placement.ErrInvalid)
			_, _, err = b.Aggregates(ctx, gone)
			assert.ErrorIs(t, err, placement.ErrNotFound)
		}},
		{"Allocations", func(t *testing.T, b api.Backend) {
			ctx := t.Context()
			computeNode(t, b, cn1, "cn1", 4)
			computeNode(t, b, cn2, "cn2", 4)
			require.NoError(t, b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c1: claim("p1", nil, cn1, map[string]int64{"VCPU": 3})}))
			cons, err := b.Consumer(ctx, c1)
			require.NoError(t, err)
			assert.Equal(t, int64(1), cons.Generation)
			assert.Equal(t, "p1", cons.Project)
			assert.Equal(t, "u1", cons.User)
			assert.Equal(t, placement.ConsumerTypeInstance, cons.ConsumerType)
			assert.Equal(t, map[string]placement.ProviderAllocation{cn1: {Generation: 2, Resources: map[string]int64{"VCPU": 3}}}, cons.Allocations)

			// A new consumer must say so (nil generation); an existing one must
			// send its current generation.
			err = b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c1: claim("p1", nil, cn1, map[string]int64{"VCPU": 1})})
			assert.ErrorIs(t, err, placement.ErrConsumerGenerationConflict)
			assert.Equal(t, placement.CodeConcurrentUpdate, placement.ErrorCode(err))
			err = b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c1: claim("p1", gen(7), cn1, map[string]int64{"VCPU": 1})})
			assert.ErrorIs(t, err, placement.ErrConsumerGenerationConflict)
			err = b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c2: claim("p1", gen(1), cn1, map[string]int64{"VCPU": 1})})
			assert.ErrorIs(t, err, placement.ErrConsumerGenerationConflict)
			// Capacity: 1 VCPU left on cn1.
			err = b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c2: claim("p1", nil, cn1, map[string]int64{"VCPU": 2})})
			assert.ErrorIs(t, err, placement.ErrCapacityExceeded)
			err = b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c2: claim("p1", nil, cn1, map[string]int64{"DISK_GB": 1})})
			assert.ErrorIs(t, err, placement.ErrCapacityExceeded)
			err = b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c2: claim("p1", nil, gone, map[string]int64{"VCPU": 1})})
			assert.ErrorIs(t, err, placement.ErrInvalid)
			err = b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c2: claim("p1", nil, cn1, map[string]int64{"CUSTOM_NOPE": 1})})
			assert.ErrorIs(t, err, placement.ErrInvalid)
			// Several consumers at once: all or nothing.
			err = b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
				c2: claim("p1", nil, cn2, map[string]int64{"VCPU": 4}),
				c3: claim("p2", nil, cn1, map[string]int64{"VCPU": 2}),
			})
			assert.ErrorIs(t, err, placement.ErrCapacityExceeded)
			_, err = b.Consumer(ctx, c2)
			assert.ErrorIs(t, err, placement.ErrNotFound)
			require.NoError(t, b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
				c2: claim("p1", nil, cn2, map[string]int64{"VCPU": 4}),
				c3: claim("p2", nil, cn1, map[string]int64{"VCPU": 1}),
			}))
			pa, g, err := b.ProviderAllocations(ctx, cn1)
			require.NoError(t, err)
			assert.Equal(t, int64(3), g)
			assert.Equal(t, map[string]map[string]int64{c1: {"VCPU": 3}, c3: {"VCPU": 1}}, pa)
			us, err := b.Usages(ctx, placement.UsageFilter{Project: "p1"})
			require.NoError(t, err)
			assert.Equal(t, []placement.Usage{{ConsumerType: placement.ConsumerTypeInstance, ConsumerCount: 2, Resources: map[string]int64{"VCPU": 7}}}, us)
			all, err := b.Usages(ctx, placement.UsageFilter{Project: "p1", ConsumerType: "all"})
			require.NoError(t, err)
			assert.Equal(t, us, all)
			typed, err := b.Usages(ctx, placement.UsageFilter{Project: "p1", User: "u1", ConsumerType: placement.ConsumerTypeMigration})
			require.NoError(t, err)
			assert.Empty(t, typed)
			_, err = b.Usages(ctx, placement.UsageFilter{})
			assert.ErrorIs(t, err, placement.ErrInvalid)

			// Move c1 to cn2? No room: cn2 is full. Shrink it on cn1 instead.
			err = b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c1: claim("p1", gen(1), cn2, map[string]int64{"VCPU": 1})})
			assert.ErrorIs(t, err, placement.ErrCapacityExceeded)
			require.NoError(t, b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c1: claim("p1", gen(1), cn1, map[string]int64{"VCPU": 1})}))
			cons, err = b.Consumer(ctx, c1)
			require.NoError(t, err)
			assert.Equal(t, int64(2), cons.Generation)
			// No generation check (pre-1.28 callers).
			skip := claim("p1", nil, cn1, map[string]int64{"VCPU": 2})
			skip.SkipGenerationCheck = true
			require.NoError(t, b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c1: skip}))

			assert.ErrorIs(t, b.DeleteProvider(ctx, cn1), placement.ErrProviderInUse)
			require.NoError(t, b.DeleteAllocations(ctx, c1))
			assert.ErrorIs(t, b.DeleteAllocations(ctx, c1), placement.ErrNotFound)
			_, err = b.Consumer(ctx, c1)
			assert.ErrorIs(t, err, placement.ErrNotFound)
			// Empty allocations delete the consumer.
			require.NoError(t, b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c3: {Project: "p2", User: "u1", Generation: gen(1)}}))
			_, err = b.Consumer(ctx, c3)
			assert.ErrorIs(t, err, placement.ErrNotFound)
			_, _, err = b.ProviderAllocations(ctx, gone)
			assert.ErrorIs(t, err, placement.ErrNotFound)
		}},
		{"Reshape", func(t *testing.T, b api.Backend) {
			ctx := t.Context()
			g := computeNode(t, b, cn1, "cn1", 8)
			_, err := b.CreateProvider(ctx, placement.ProviderSpec{UUID: nuA, Name: "numa0", ParentUUID: cn1})
			require.NoError(t, err)
			require.NoError(t, b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{c1: claim("p1", nil, cn1, map[string]int64{"VCPU": 2, "MEMORY_MB": 512})}))
			g++
			// Move VCPU from the root to the NUMA child, with the allocation.
			err = b.Reshape(ctx, map[string]placement.InventoryUpdate{
				cn1: {Generation: g, Inventories: map[string]placement.Inventory{"MEMORY_MB": placement.NewInventory(4096)}},
				nuA: {Generation: 0, Inventories: map[string]placement.Inventory{"VCPU": placement.NewInventory(8)}},
			}, map[string]placement.ConsumerAllocations{c1: {Project: "p1", User: "u1", ConsumerType: placement.ConsumerTypeInstance, Generation: gen(1),
				Allocations: map[string]map[string]int64{cn1: {"MEMORY_MB": 512}, nuA: {"VCPU": 2}}}})
			require.NoError(t, err)
			cons, err := b.Consumer(ctx, c1)
			require.NoError(t, err)
			assert.Equal(t, map[string]int64{"VCPU": 2}, cons.Allocations[nuA].Resources)
			// A stale generation fails the whole reshape.
			err = b.Reshape(ctx, map[string]placement.InventoryUpdate{
				nuA: {Generation: 0, Inventories: map[string]placement.Inventory{"VCPU": placement.NewInventory(16)}},
			}, map[string]placement.ConsumerAllocations{})
			assert.ErrorIs(t, err, placement.ErrGenerationConflict)
		}},
		{"Candidates", func(t *testing.T, b api.Backend) {
			ctx := t.Context()
			computeNode(t, b, cn1, "cn1", 4)
			computeNode(t, b, cn2, "cn2", 1)
			_, err := b.CreateTrait(ctx, "CUSTOM_FAST")
			require.NoError(t, err)
			_, err = b.SetTraits(ctx, cn2, 1, []string{"CUSTOM_FAST"})
			require.NoError(t, err)
			for _, tc := range []struct {
				name string
				req  placement.CandidateRequest
				want [][]placement.ProviderResources
			}{
				{"both fit", placement.CandidateRequest{Groups: []placement.RequestGroup{{Resources: map[string]int64{"VCPU": 1, "MEMORY_MB": 512}}}},
					[][]placement.ProviderResources{
						{{ProviderUUID: cn1, Resources: []placement.ResourceAmount{{Class: "MEMORY_MB", Amount: 512}, {Class: "VCPU", Amount: 1}}}},
						{{ProviderUUID: cn2, Resources: []placement.ResourceAmount{{Class: "MEMORY_MB", Amount: 512}, {Class: "VCPU", Amount: 1}}}},
					}},
				{"capacity", placement.CandidateRequest{Groups: []placement.RequestGroup{{Resources: map[string]int64{"VCPU": 2}}}},
					[][]placement.ProviderResources{{{ProviderUUID: cn1, Resources: []placement.ResourceAmount{{Class: "VCPU", Amount: 2}}}}}},
				{"required", placement.CandidateRequest{Groups: []placement.RequestGroup{{Resources: map[string]int64{"VCPU": 1}, RequiredTraits: [][]string{{"CUSTOM_FAST"}}}}},
					[][]placement.ProviderResources{{{ProviderUUID: cn2, Resources: []placement.ResourceAmount{{Class: "VCPU", Amount: 1}}}}}},
				{"forbidden", placement.CandidateRequest{Groups: []placement.RequestGroup{{Resources: map[string]int64{"VCPU": 1}, ForbiddenTraits: []string{"CUSTOM_FAST"}}}},
					[][]placement.ProviderResources{{{ProviderUUID: cn1, Resources: []placement.ResourceAmount{{Class: "VCPU", Amount: 1}}}}}},
				{"suffixed", placement.CandidateRequest{Groups: []placement.RequestGroup{{Suffix: "_CPU", Resources: map[string]int64{"VCPU": 3}}}, GroupPolicy: placement.GroupPolicyNone},
					[][]placement.ProviderResources{{{ProviderUUID: cn1, Resources: []placement.ResourceAmount{{Class: "VCPU", Amount: 3}}}}}},
				{"none", placement.CandidateRequest{Groups: []placement.RequestGroup{{Resources: map[string]int64{"VCPU": 5}}}}, nil},
			} {
				res, err := b.Candidates(ctx, &tc.req)
				require.NoError(t, err, tc.name)
				var got [][]placement.ProviderResources
				for _, ar := range res.AllocationRequests {
					got = append(got, ar.Allocations)
				}
				sort.Slice(got, func(i, j int) bool { return got[i][0].ProviderUUID < got[j][0].ProviderUUID })
				assert.Equal(t, tc.want, got, tc.name)
				for _, ar := range res.AllocationRequests {
					require.Len(t, ar.Mappings, len(tc.req.Groups), tc.name)
					assert.Equal(t, tc.req.Groups[0].Suffix, ar.Mappings[0].Suffix, tc.name)
				}
				if len(tc.want) > 0 {
					require.NotEmpty(t, res.ProviderSummaries, tc.name)
				}
			}
			res, err := b.Candidates(ctx, &placement.CandidateRequest{Groups: []placement.RequestGroup{{Resources: map[string]int64{"VCPU": 1}}}, Limit: 1})
			require.NoError(t, err)
			assert.Len(t, res.AllocationRequests, 1)
			sums := map[string]placement.ProviderSummary{}
			for _, s := range res.ProviderSummaries {
				sums[s.UUID] = s
			}
			u := res.AllocationRequests[0].Allocations[0].ProviderUUID
			assert.Equal(t, placement.SummaryResource{Class: "VCPU", Capacity: map[string]int64{cn1: 4, cn2: 1}[u]}, sums[u].Resources[1])
			_, err = b.Candidates(ctx, &placement.CandidateRequest{Groups: []placement.RequestGroup{{Resources: map[string]int64{"CUSTOM_NOPE": 1}}}})
			assert.ErrorIs(t, err, placement.ErrInvalid)
			_, err = b.Candidates(ctx, &placement.CandidateRequest{Groups: []placement.RequestGroup{{Resources: map[string]int64{"VCPU": 1}, RequiredTraits: [][]string{{"CUSTOM_NOPE"}}}}})
			assert.ErrorIs(t, err, placement.ErrInvalid)
		}},
		{"Cancelled", func(t *testing.T, b api.Backend) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err := b.CreateProvider(ctx, placement.ProviderSpec{Name: "x"})
			assert.ErrorIs(t, err, context.Canceled)
			_, err = b.Candidates(ctx, &placement.CandidateRequest{Groups: []placement.RequestGroup{{Resources: map[string]int64{"VCPU": 1}}}})
			assert.ErrorIs(t, err, context.Canceled)
		}},
	}
	for _, bc := range backends() {
		t.Run(bc.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, bc.open(t)) })
			}
		})
	}
}

// strip clears the timestamps, which differ by transport (Last-Modified
// has whole seconds).
func strip(rp placement.ResourceProvider) placement.ResourceProvider {
	rp.CreatedAt, rp.UpdatedAt = time.Time{}, time.Time{}
	return rp
}
