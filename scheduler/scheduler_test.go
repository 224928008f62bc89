package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/queue"
)

func withReqID(id string) context.Context {
	return queue.WithRequestContext(context.Background(), queue.RequestContext{RequestID: id})
}

func TestSelectPicksMostFreeRAMClaimsAndReturnsAlternates(t *testing.T) {
	c := newCloud(t)
	for i, used := range []int{8192, 0, 4096, 16384} {
		hs := defaultHost()
		hs.usedRAM = used
		c.addHost(t, i, hs)
	}
	s := c.scheduler(t, Options{Weighers: []string{"RAMWeigher"}})
	sels, err := s.SelectDestinations(withReqID("req-1"), tinySpec(), []string{instUUID(1)})
	require.NoError(t, err)
	require.Len(t, sels, 1)
	require.Len(t, sels[0], 3, "chosen + max_attempts-1 alternates")
	assert.Equal(t, "host1", sels[0][0].ServiceHost)
	assert.Equal(t, "host2", sels[0][1].ServiceHost)
	assert.Equal(t, "host0", sels[0][2].ServiceHost)
	assert.Equal(t, hostUUID(1), sels[0][0].ComputeNodeUUID)
	assert.Equal(t, "nova", sels[0][0].AvailabilityZone)

	// Only the chosen host is claimed, for the instance as consumer.
	assert.Equal(t, map[string]int64{"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}, usageOf(t, c.ix, 1))
	assert.Empty(t, usageOf(t, c.ix, 2))
	cons, err := c.ix.Consumer(context.Background(), instUUID(1))
	require.NoError(t, err)
	assert.Equal(t, "p1", cons.Project)
	assert.Equal(t, "u1", cons.User)
	assert.Equal(t, int64(1), cons.Generation)

	// Alternates carry their own allocation request, in placement's JSON.
	var ar struct {
		Allocations map[string]struct {
			Resources map[string]int64 `json:"resources"`
		} `json:"allocations"`
		Mappings map[string][]string `json:"mappings"`
	}
	require.NoError(t, json.Unmarshal(sels[0][1].AllocationRequest, &ar))
	assert.Equal(t, int64(2048), ar.Allocations[hostUUID(2)].Resources["MEMORY_MB"])
	assert.Equal(t, []string{hostUUID(2)}, ar.Mappings[""])
	assert.Equal(t, AllocationRequestVersion, sels[0][1].AllocationRequestVersion)

	// The claim is consumed in the cache at once: the next request for the
	// same flavor sees host1 with 2048 MB less.
	states, err := s.HostStates(context.Background())
	require.NoError(t, err)
	for _, h := range states {
		if h.Host == "host1" {
			assert.Equal(t, int64(32768-2048), h.FreeRAMMB)
			assert.Equal(t, 1, h.NumInstances)
		}
	}
}

func TestNoCandidatesIsNoValidHost(t *testing.T) {
	c := newCloud(t)
	c.addHost(t, 0, defaultHost())
	s := c.scheduler(t, Options{})
	spec := tinySpec()
	spec.Flavor.MemoryMB = 65536
	_, err := s.SelectDestinations(context.Background(), spec, []string{instUUID(1)})
	require.ErrorIs(t, err, compute.ErrNoValidHost)
}

func TestBadInputNamesField(t *testing.T) {
	c := newCloud(t)
	c.addHost(t, 0, defaultHost())
	s := c.scheduler(t, Options{})
	_, err := s.SelectDestinations(context.Background(), nil, []string{instUUID(1)})
	require.ErrorIs(t, err, compute.ErrInvalidInput)
	_, err = s.SelectDestinations(context.Background(), tinySpec(), nil)
	require.ErrorIs(t, err, compute.ErrInvalidInput)
	spec := tinySpec()
	spec.SchedulerHints = map[string][]string{"query": {"not json"}}
	_, err = s.SelectDestinations(context.Background(), spec, []string{instUUID(1)})
	require.ErrorIs(t, err, compute.ErrInvalidInput)
	assert.Contains(t, err.Error(), "scheduler_hints.query")
	spec = tinySpec()
	spec.Flavor.ExtraSpecs = map[string]string{"trait:HW_CPU_X86_AVX2": "maybe"}
	_, err = s.SelectDestinations(context.Background(), spec, []string{instUUID(1)})
	require.ErrorIs(t, err, compute.ErrInvalidInput)
	assert.Contains(t, err.Error(), "trait:HW_CPU_X86_AVX2")
}

func TestDisabledAndDownHostsAreNotChosen(t *testing.T) {
	c := newCloud(t)
	dis := defaultHost()
	dis.disabled = true // COMPUTE_STATUS_DISABLED in placement and disabled service
	c.addHost(t, 0, dis)
	down := defaultHost()
	down.down = true
	c.addHost(t, 1, down)
	nosvc := defaultHost()
	nosvc.noService = true
	c.addHost(t, 2, nosvc)
	ok := defaultHost()
	ok.usedRAM = 30000 // least attractive for RAMWeigher, but the only good one
	c.addHost(t, 3, ok)
	s := c.scheduler(t, Options{})
	sels, err := s.SelectDestinations(context.Background(), tinySpec(), []string{instUUID(1)})
	require.NoError(t, err)
	require.Len(t, sels[0], 1, "no alternates: every other host fails")
	assert.Equal(t, "host3", sels[0][0].ServiceHost)

	_, err = s.SelectDestinations(context.Background(), tinySpec(), []string{instUUID(2), instUUID(3)})
	require.NoError(t, err, "two instances fit on host3")
}

func TestMultiCreateAntiAffinityAcrossBatchAndReleaseOnFailure(t *testing.T) {
	c := newCloud(t)
	for i := 0; i < 3; i++ {
		c.addHost(t, i, defaultHost())
	}
	s := c.scheduler(t, Options{})
	spec := tinySpec()
	spec.NumInstances = 3
	uuids := []string{instUUID(1), instUUID(2), instUUID(3)}
	spec.InstanceGroup = &compute.ServerGroup{UUID: "g1", Policy: compute.PolicyAntiAffinity, Members: uuids}
	sels, err := s.SelectDestinations(context.Background(), spec, uuids)
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, sl := range sels {
		seen[sl[0].ServiceHost] = true
		for _, alt := range sl[1:] {
			assert.NotEqual(t, sl[0].ServiceHost, alt.ServiceHost)
		}
	}
	assert.Len(t, seen, 3, "anti-affinity spreads the batch")

	// A fourth member of the same group has no host left: nothing stays
	// claimed for any instance of the failed request.
	spec2 := tinySpec()
	uuids2 := []string{instUUID(4), instUUID(5)}
	spec2.InstanceGroup = &compute.ServerGroup{UUID: "g2", Policy: compute.PolicyAntiAffinity,
		Rules: map[string]int{"max_server_per_host": 1}, Members: append(append([]string{}, uuids...), uuids2...)}
	// g2 holds the three placed members too; clean g2 test: two new
	// instances with max 1 per host on three hosts each holding one member.
	_, err = s.SelectDestinations(context.Background(), spec2, uuids2)
	require.ErrorIs(t, err, compute.ErrNoValidHost)
	for _, u := range uuids2 {
		_, err := c.ix.Consumer(context.Background(), u)
		require.ErrorIs(t, err, placement.ErrNotFound)
	}

	// With max_server_per_host 2 the first fits, the second fits too.
	spec2.InstanceGroup.Rules = map[string]int{"max_server_per_host": 2}
	sels, err = s.SelectDestinations(context.Background(), spec2, uuids2)
	require.NoError(t, err)
	assert.NotEqual(t, sels[0][0].ServiceHost, sels[1][0].ServiceHost)
}

func TestPartialBatchFailureReleasesEarlierClaims(t *testing.T) {
	c := newCloud(t)
	hs := defaultHost()
	hs.ramMB = 4096
	c.addHost(t, 0, hs)
	s := c.scheduler(t, Options{})
	spec := tinySpec() // 2048 MB: two fit, the third does not
	uuids := []string{instUUID(1), instUUID(2), instUUID(3)}
	_, err := s.SelectDestinations(context.Background(), spec, uuids)
	require.ErrorIs(t, err, compute.ErrNoValidHost)
	assert.Contains(t, err.Error(), "placed 2 of 3")
	assert.Empty(t, usageOf(t, c.ix, 0), "claims of the failed request are released")
	states, err := s.HostStates(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(4096), states[0].FreeRAMMB, "and the cache gives the consumption back")
	assert.Equal(t, 0, states[0].NumInstances)
}

func TestAffinityBatchLandsTogether(t *testing.T) {
	c := newCloud(t)
	for i := 0; i < 4; i++ {
		c.addHost(t, i, defaultHost())
	}
	s := c.scheduler(t, Options{})
	spec := tinySpec()
	uuids := []string{instUUID(1), instUUID(2), instUUID(3)}
	spec.InstanceGroup = &compute.ServerGroup{UUID: "g", Policy: compute.PolicyAffinity, Members: uuids}
	sels, err := s.SelectDestinations(context.Background(), spec, uuids)
	require.NoError(t, err)
	for _, sl := range sels {
		assert.Equal(t, sels[0][0].ServiceHost, sl[0].ServiceHost)
	}
}

func TestClaimConflictTriesNextHost(t *testing.T) {
	c := newCloud(t)
	for i, used := range []int{0, 4096} {
		hs := defaultHost()
		hs.usedRAM = used
		c.addHost(t, i, hs)
	}
	// Candidates are cached, so the scheduler still believes host0 fits
	// after another scheduler fills it.
	s := c.scheduler(t, Options{CandidateCacheTTL: time.Hour, Weighers: []string{"RAMWeigher"}})
	_, err := s.SelectDestinations(context.Background(), tinySpec(), []string{instUUID(1)})
	require.NoError(t, err)
	require.Equal(t, int64(2048), usageOf(t, c.ix, 0)["MEMORY_MB"])
	err = c.ix.SetAllocations(context.Background(), map[string]placement.ConsumerAllocations{
		instUUID(99): {Project: "x", User: "y", Allocations: map[string]map[string]int64{hostUUID(0): {"MEMORY_MB": 32768 - 2048}}},
	})
	require.NoError(t, err)
	sels, err := s.SelectDestinations(context.Background(), tinySpec(), []string{instUUID(2)})
	require.NoError(t, err)
	assert.Equal(t, "host1", sels[0][0].ServiceHost, "the refused claim on host0 moves on to host1")
	for i := 0; i < 2; i++ {
		assert.LessOrEqual(t, usageOf(t, c.ix, i)["MEMORY_MB"], int64(32768))
	}
}

func TestSubsetSizeIsSeededByRequestID(t *testing.T) {
	c := newCloud(t)
	for i := 0; i < 5; i++ {
		c.addHost(t, i, defaultHost())
	}
	pick := func(reqID string, n int) string {
		s := c.scheduler(t, Options{HostSubsetSize: 5})
		sels, err := s.SelectDestinations(withReqID(reqID), tinySpec(), []string{instUUID(n)})
		require.NoError(t, err)
		require.NoError(t, c.ix.DeleteAllocations(context.Background(), instUUID(n)))
		return sels[0][0].ServiceHost
	}
	chosen := map[string]bool{}
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("req-%d", i)
		a, b := pick(id, 2*i), pick(id, 2*i)
		assert.Equal(t, a, b, "same request id, same state: same decision")
		chosen[a] = true
	}
	assert.Greater(t, len(chosen), 1, "host_subset_size spreads different requests")
}

func TestForceIgnoreAndRequestedDestination(t *testing.T) {
	c := newCloud(t)
	for i := 0; i < 3; i++ {
		hs := defaultHost()
		hs.usedRAM = i * 1000
		c.addHost(t, i, hs)
	}
	down := defaultHost()
	down.down = true
	c.addHost(t, 3, down)
	s := c.scheduler(t, Options{})

	spec := tinySpec()
	spec.IgnoreHosts = []string{"host0"}
	sels, err := s.SelectDestinations(context.Background(), spec, []string{instUUID(1)})
	require.NoError(t, err)
	assert.Equal(t, "host1", sels[0][0].ServiceHost)

	// Forcing skips the filters (even ComputeFilter), as in Nova.
	spec = tinySpec()
	spec.ForceHosts = []string{"HOST3"}
	sels, err = s.SelectDestinations(context.Background(), spec, []string{instUUID(2)})
	require.NoError(t, err)
	assert.Equal(t, "host3", sels[0][0].ServiceHost)

	spec = tinySpec()
	spec.RequestedDestination = &compute.Destination{Host: "host2"}
	sels, err = s.SelectDestinations(context.Background(), spec, []string{instUUID(3)})
	require.NoError(t, err)
	require.Len(t, sels[0], 1)
	assert.Equal(t, "host2", sels[0][0].ServiceHost)

	// A requested destination still runs the filters.
	spec = tinySpec()
	spec.RequestedDestination = &compute.Destination{Host: "host3"}
	_, err = s.SelectDestinations(context.Background(), spec, []string{instUUID(4)})
	require.ErrorIs(t, err, compute.ErrNoValidHost)
}

func TestCacheRefreshesIncrementally(t *testing.T) {
	c := newCloud(t)
	c.addHost(t, 0, defaultHost())
	c.addHost(t, 1, defaultHost())
	clock := c.now
	s, err := New(Config{Placement: c.ix, Hosts: c.src, Options: Options{RefreshInterval: time.Minute, ServiceDownTime: time.Hour, Now: func() time.Time { return clock }}})
	require.NoError(t, err)
	ctx := context.Background()
	c.src.putInstance(&compute.Instance{UUID: instUUID(1), Host: "host0", Node: "host0", VMState: compute.VMActive, UpdatedAt: clock})
	states, err := s.HostStates(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, states[0].NumInstances)
	assert.Equal(t, 1, c.src.calls)

	// Within the interval nothing is reloaded.
	c.src.putInstance(&compute.Instance{UUID: instUUID(2), Host: "host1", Node: "host1", VMState: compute.VMBuilding, UpdatedAt: clock})
	states, _ = s.HostStates(ctx)
	assert.Equal(t, 0, states[1].NumInstances)
	assert.Equal(t, 1, c.src.calls)

	// Past it, only the change is applied: the building instance counts
	// as an instance and an I/O op; the deleted one leaves host0.
	clock = clock.Add(2 * time.Minute)
	c.src.putInstance(&compute.Instance{UUID: instUUID(2), Host: "host1", Node: "host1", VMState: compute.VMBuilding, UpdatedAt: clock})
	c.src.putInstance(&compute.Instance{UUID: instUUID(1), Host: "host0", Node: "host0", Deleted: true, UpdatedAt: clock})
	states, err = s.HostStates(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, states[0].NumInstances)
	assert.Equal(t, 1, states[1].NumInstances)
	assert.Equal(t, 1, states[1].NumIOOps)
	assert.Equal(t, 2, c.src.calls)

	// The scheduler's own claims count at once, and the later refresh of
	// the same instance does not count it twice.
	sels, err := s.SelectDestinations(ctx, tinySpec(), []string{instUUID(3)})
	require.NoError(t, err)
	h := sels[0][0].ServiceHost
	clock = clock.Add(2 * time.Minute)
	c.src.putInstance(&compute.Instance{UUID: instUUID(3), Host: h, Node: h, VMState: compute.VMActive, UpdatedAt: clock})
	states, _ = s.HostStates(ctx)
	total := 0
	for _, st := range states {
		total += st.NumInstances
	}
	assert.Equal(t, 2, total)
}

func TestAvailabilityZoneAndTenantRequestFilters(t *testing.T) {
	c := newCloud(t)
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		c.addHost(t, i, defaultHost())
	}
	azAgg := "b0000000-0000-4000-8000-000000000001"
	tenantAgg := "b0000000-0000-4000-8000-000000000002"
	setAggs := func(i int, aggs ...string) {
		p, err := c.ix.Provider(ctx, hostUUID(i))
		require.NoError(t, err)
		_, err = c.ix.SetAggregates(ctx, hostUUID(i), p.Generation, aggs)
		require.NoError(t, err)
	}
	setAggs(0, azAgg)
	setAggs(1, azAgg, tenantAgg)
	setAggs(2, tenantAgg)
	c.src.aggs = []*compute.Aggregate{
		{UUID: azAgg, Name: "az1", Hosts: []string{"host0", "host1"}, Metadata: map[string]string{"availability_zone": "az1"}},
		{UUID: tenantAgg, Name: "t", Hosts: []string{"host1", "host2"}, Metadata: map[string]string{"filter_tenant_id": "p1"}},
	}
	s := c.scheduler(t, Options{LimitTenantsToPlacementAggregate: true})
	hostsFor := func(spec *compute.RequestSpec, n int) map[string]bool {
		sels, err := s.SelectDestinations(ctx, spec, []string{instUUID(n)})
		require.NoError(t, err)
		out := map[string]bool{}
		for _, sel := range sels[0] {
			out[sel.ServiceHost] = true
		}
		require.NoError(t, c.ix.DeleteAllocations(ctx, instUUID(n)))
		return out
	}
	spec := tinySpec()
	spec.AvailabilityZone = "az1"
	assert.Equal(t, map[string]bool{"host1": true}, hostsFor(spec, 1), "az1 ∩ tenant p1")
	spec.ProjectID = "other"
	assert.Equal(t, map[string]bool{"host0": true, "host1": true}, hostsFor(spec, 2), "no tenant aggregate for other: az only")
	spec.AvailabilityZone = "nova"
	assert.Equal(t, map[string]bool{"host2": true, "host3": true}, hostsFor(spec, 3), "the default zone is every host in no zone")
	spec.AvailabilityZone = "nowhere"
	_, err := s.SelectDestinations(ctx, spec, []string{instUUID(4)})
	require.ErrorIs(t, err, compute.ErrNoValidHost)

	s2 := c.scheduler(t, Options{LimitTenantsToPlacementAggregate: true, PlacementAggregateRequiredForTenants: true})
	_, err = s2.SelectDestinations(ctx, tinySpec2("other"), []string{instUUID(5)})
	require.True(t, errors.Is(err, compute.ErrNoValidHost))
}

func tinySpec2(project string) *compute.RequestSpec {
	s := tinySpec()
	s.ProjectID = project
	return s
}

// rackWeigher prefers hosts whose "rank" stat is higher.
type rackWeigher struct{ mult float64 }

func (w rackWeigher) Weigh(h *HostState, _ *Request) float64 {
	v, _ := strconv.ParseFloat(h.Stats["rank"], 64)
	return v
}
func (w rackWeigher) Multiplier(h *HostState) float64 {
	return h.WeightMultiplier("rank_weight_multiplier", w.mult)
}

func TestEmbedderFiltersAndWeighers(t *testing.T) {
	c := newCloud(t)
	for i, st := range []map[string]string{{"rack": "r1", "rank": "1"}, {"rack": "r2", "rank": "5"}, {"rack": "r1", "rank": "3"}} {
		hs := defaultHost()
		hs.stats = st
		c.addHost(t, i, hs)
	}
	reg := NewRegistry()
	require.NoError(t, reg.RegisterFilter("RackFilter", func(*Options) (Filter, error) { return rackFilter{}, nil }))
	require.NoError(t, reg.RegisterWeigher("RankWeigher", func(o *Options) (Weigher, error) {
		return rackWeigher{mult: o.Multipliers["rank_weight_multiplier"]}, nil
	}))
	s, err := New(Config{Placement: c.ix, Hosts: c.src, Registry: reg, Options: Options{
		EnabledFilters: append(DefaultEnabledFilters(), "RackFilter"),
		Weighers:       []string{"RankWeigher"},
		Multipliers:    map[string]float64{"rank_weight_multiplier": 1},
		Now:            func() time.Time { return c.now },
	}})
	require.NoError(t, err)
	spec := tinySpec()
	spec.SchedulerHints = map[string][]string{"rack": {"r1"}}
	sels, err := s.SelectDestinations(context.Background(), spec, []string{instUUID(1)})
	require.NoError(t, err)
	require.Len(t, sels[0], 2)
	assert.Equal(t, "host2", sels[0][0].ServiceHost, "rack r1, highest rank")
	assert.Equal(t, "host0", sels[0][1].ServiceHost)

	_, err = New(Config{Placement: c.ix, Hosts: c.src, Registry: reg, Options: Options{Weighers: []string{"Nope"}}})
	require.ErrorContains(t, err, "Nope")
}

// A large batch spreads over more hosts than the first ranking holds:
// alternates still come, from the full weighed order, and, as in Nova,
// never name a host chosen for another instance of the batch.
func TestAlternatesBeyondTheFirstRanking(t *testing.T) {
	c := newCloud(t)
	for i := 0; i < 20; i++ {
		c.addHost(t, i, defaultHost())
	}
	s := c.scheduler(t, Options{MaxAttempts: 4})
	spec := tinySpec()
	var uuids []string
	for i := 0; i < 12; i++ {
		uuids = append(uuids, instUUID(i))
	}
	spec.InstanceGroup = &compute.ServerGroup{UUID: "g", Policy: compute.PolicyAntiAffinity, Members: uuids}
	sels, err := s.SelectDestinations(context.Background(), spec, uuids)
	require.NoError(t, err)
	chosen := map[string]bool{}
	for _, sl := range sels {
		chosen[sl[0].ServiceHost] = true
	}
	require.Len(t, chosen, 12)
	for i, sl := range sels {
		assert.Len(t, sl, 4, "instance %d", i)
		for _, alt := range sl[1:] {
			assert.False(t, chosen[alt.ServiceHost], "alternates avoid every host chosen in the batch (instance %d)", i)
		}
	}
}
