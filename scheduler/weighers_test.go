package scheduler

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
)

// weights runs the named weighers (with opts) over hosts the way the
// scheduler does and returns each host's total weight.
func weights(t *testing.T, names []string, o Options, spec *compute.RequestSpec, prepare func(*Request), hosts ...*HostState) []float64 {
	t.Helper()
	o.Weighers = names
	o.EnabledFilters = []string{}
	o = o.withDefaults()
	_, ws, err := NewRegistry().build(&o)
	require.NoError(t, err)
	s := &Scheduler{opts: o, weighers: ws}
	if spec == nil {
		spec = flavorSpec(nil)
	}
	r := request(t, spec, o)
	r.multKeys = map[string]bool{}
	for _, h := range hosts {
		for k := range h.multOver {
			r.multKeys[k] = true
		}
	}
	if prepare != nil {
		prepare(r)
	}
	sc := &scratch{}
	for i, h := range hosts {
		sc.cands = append(sc.cands, cand{h: h})
		sc.passed = append(sc.passed, int32(i))
	}
	s.weigh(r, sc)
	return sc.w
}

func TestWeighers(t *testing.T) {
	ram := func(free int64) *HostState { return host("h", func(h *HostState) { h.FreeRAMMB = free }) }
	cases := []struct {
		name    string
		weigher []string
		opts    Options
		spec    *compute.RequestSpec
		prepare func(*Request)
		hosts   []*HostState
		want    []float64
	}{
		{name: "RAM normalises against 0", weigher: []string{"RAMWeigher"}, hosts: []*HostState{ram(1024), ram(2048), ram(4096)},
			want: []float64{0.25, 0.5, 1}},
		{name: "RAM negative multiplier stacks", weigher: []string{"RAMWeigher"}, opts: Options{Multipliers: map[string]float64{"ram_weight_multiplier": -1}},
			hosts: []*HostState{ram(1024), ram(4096)}, want: []float64{-0.25, -1}},
		{name: "RAM all equal gives 0", weigher: []string{"RAMWeigher"}, hosts: []*HostState{ram(0), ram(0)}, want: []float64{0, 0}},
		{name: "RAM overcommitted host lowers the minimum", weigher: []string{"RAMWeigher"}, hosts: []*HostState{ram(-1000), ram(1000)}, want: []float64{0, 1}},
		{name: "CPU free = total×ratio − used", weigher: []string{"CPUWeigher"}, hosts: []*HostState{
			host("a", func(h *HostState) { h.VCPUsTotal, h.CPUAllocationRatio, h.VCPUsUsed = 8, 2, 8 }),
			host("b", func(h *HostState) { h.VCPUsTotal, h.CPUAllocationRatio, h.VCPUsUsed = 8, 2, 0 }),
		}, want: []float64{0.5, 1}},
		{name: "Disk", weigher: []string{"DiskWeigher"}, hosts: []*HostState{
			host("a", func(h *HostState) { h.FreeDiskMB = 100 }), host("b", func(h *HostState) { h.FreeDiskMB = 400 }),
		}, want: []float64{0.25, 1}},
		{name: "IoOps prefers idle hosts", weigher: []string{"IoOpsWeigher"}, hosts: []*HostState{
			host("a", func(h *HostState) { h.NumIOOps = 0 }), host("b", func(h *HostState) { h.NumIOOps = 4 }),
		}, want: []float64{0, -1}},
		{name: "NumInstances off by default", weigher: []string{"NumInstancesWeigher"}, hosts: []*HostState{
			host("a", func(h *HostState) { h.NumInstances = 1 }), host("b", func(h *HostState) { h.NumInstances = 5 }),
		}, want: []float64{0, 0}},
		{name: "NumInstances min-max", weigher: []string{"NumInstancesWeigher"}, opts: Options{Multipliers: map[string]float64{"num_instances_weight_multiplier": 2}}, hosts: []*HostState{
			host("a", func(h *HostState) { h.NumInstances = 1 }), host("b", func(h *HostState) { h.NumInstances = 3 }), host("c", func(h *HostState) { h.NumInstances = 5 }),
		}, want: []float64{0, 1, 2}},
		{name: "BuildFailure pushes failing hosts down", weigher: []string{"BuildFailureWeigher"}, hosts: []*HostState{
			host("a"), host("b", func(h *HostState) { h.FailedBuilds = 3 }),
		}, want: []float64{0, -1000000}},
		{name: "HypervisorVersion", weigher: []string{"HypervisorVersionWeigher"}, hosts: []*HostState{
			host("a", func(h *HostState) { h.HypervisorVersion = 6000000 }), host("b", func(h *HostState) { h.HypervisorVersion = 8000000 }),
		}, want: []float64{0, 1}},
		{name: "PCI: non-PCI request prefers hosts without devices", weigher: []string{"PCIWeigher"}, hosts: []*HostState{
			host("a"), host("b", func(h *HostState) { h.PCIPools = []PCIPool{{Count: 4}} }),
		}, want: []float64{1, 0}},
		{name: "soft affinity", weigher: []string{"ServerGroupSoftAffinityWeigher"},
			spec: func() *compute.RequestSpec {
				s := flavorSpec(nil)
				s.InstanceGroup = &compute.ServerGroup{Policy: compute.PolicySoftAffinity}
				return s
			}(),
			prepare: func(r *Request) { r.GroupHosts = map[string]int{"b": 2} },
			hosts:   []*HostState{host("a"), host("b")}, want: []float64{0, 1}},
		{name: "soft anti-affinity", weigher: []string{"ServerGroupSoftAntiAffinityWeigher"},
			spec: func() *compute.RequestSpec {
				s := flavorSpec(nil)
				s.InstanceGroup = &compute.ServerGroup{Policy: compute.PolicySoftAntiAffinity}
				return s
			}(),
			prepare: func(r *Request) { r.GroupHosts = map[string]int{"b": 2} },
			hosts:   []*HostState{host("a"), host("b")}, want: []float64{1, 0}},
		{name: "soft affinity ignores other policies", weigher: []string{"ServerGroupSoftAffinityWeigher"},
			prepare: func(r *Request) { r.GroupHosts = map[string]int{"b": 2} },
			hosts:   []*HostState{host("a"), host("b")}, want: []float64{0, 0}},
		{name: "cross cell prefers the source cell", weigher: []string{"CrossCellWeigher"},
			spec: func() *compute.RequestSpec {
				s := flavorSpec(nil)
				s.RequestedDestination = &compute.Destination{AllowCrossCellMove: true}
				s.SchedulerHints = map[string][]string{"source_cell": {"cell1"}}
				return s
			}(),
			hosts: []*HostState{host("a", func(h *HostState) { h.CellUUID = "cell2" }), host("b", func(h *HostState) { h.CellUUID = "cell1" })},
			want:  []float64{0, 1000000}},
		{name: "metrics", weigher: []string{"MetricsWeigher"}, opts: Options{MetricsWeightSetting: "cpu.idle=1.0, mem.free=0.5"},
			hosts: []*HostState{
				host("a", func(h *HostState) { h.Metrics = map[string]float64{"cpu.idle": 10, "mem.free": 20} }),
				host("b", func(h *HostState) { h.Metrics = map[string]float64{"cpu.idle": 30, "mem.free": 20} }),
				host("c", func(h *HostState) { h.Metrics = map[string]float64{"cpu.idle": 30} }),
			}, want: []float64{(20.0 + 10000) / (40 + 10000), 1, 0}},
		{name: "aggregate overrides the multiplier (minimum wins)", weigher: []string{"RAMWeigher"}, hosts: []*HostState{
			ram(1024),
			host("b", func(h *HostState) { h.FreeRAMMB = 4096 }, withAggs(agg(map[string]string{"ram_weight_multiplier": "-2"}), agg(map[string]string{"ram_weight_multiplier": "3"}))),
		}, want: []float64{0.25, -2}},
		{name: "zero multiplier with an aggregate override still weighs", weigher: []string{"NumInstancesWeigher"}, hosts: []*HostState{
			host("a", func(h *HostState) { h.NumInstances = 1 }),
			host("b", func(h *HostState) { h.NumInstances = 3 }, withAggs(agg(map[string]string{"num_instances_weight_multiplier": "1"}))),
		}, want: []float64{0, 1}},
		{name: "sum of weighers", weigher: []string{"RAMWeigher", "DiskWeigher"}, hosts: []*HostState{
			host("a", func(h *HostState) { h.FreeRAMMB, h.FreeDiskMB = 4096, 100 }),
			host("b", func(h *HostState) { h.FreeRAMMB, h.FreeDiskMB = 2048, 400 }),
		}, want: []float64{1 + 0.25, 0.5 + 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := weights(t, tc.weigher, tc.opts, tc.spec, tc.prepare, tc.hosts...)
			require.Len(t, got, len(tc.want))
			for i := range got {
				assert.InDelta(t, tc.want[i], got[i], 1e-9, "host %d", i)
			}
		})
	}
}

func TestTopKKeepsOrderAndTies(t *testing.T) {
	sc := &scratch{w: []float64{1, 5, 3, 5, 0, 4}, passed: []int32{0, 1, 2, 3, 4, 5}, cands: make([]cand, 6)}
	for i := range sc.cands {
		sc.cands[i].ar = int32(i)
	}
	topK(sc, 3)
	assert.Equal(t, []int32{1, 3, 5}, sc.rank, "ties keep candidate order")
	assert.True(t, fullRank(sc, 3))
	assert.Equal(t, []int32{1, 3, 5, 2, 0, 4}, sc.rank)
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{
		{MaxAttempts: -1}, {HostSubsetSize: -2}, {MetricsWeightSetting: "cpu"}, {MetricsWeightSetting: "cpu=x"},
		{QueryPlacementForRoutedNetworkAggregates: true}, {CandidateCacheTTL: -1},
	} {
		assert.Error(t, o.Validate(), "%+v", o)
	}
	assert.NoError(t, Options{}.Validate())
	d := DefaultOptions()
	assert.Equal(t, 3, d.MaxAttempts)
	assert.Equal(t, 1000, d.MaxPlacementResults)
	assert.Equal(t, 8, d.MaxIOOpsPerHost)
	assert.Equal(t, 50, d.MaxInstancesPerHost)
	assert.Equal(t, DefaultEnabledFilters(), d.EnabledFilters)
}

func TestPtrTable(t *testing.T) {
	var tb ptrTable
	strs := make([]string, 5000)
	for i := range strs {
		strs[i] = string(rune('a'+i%26)) + string(make([]byte, i%7)) + hostUUID(i)
	}
	ptr := func(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }
	for i, s := range strs {
		tb.put(ptr(s), int32(i))
	}
	for i, s := range strs {
		got, ok := tb.get(ptr(s))
		require.True(t, ok)
		require.Equal(t, int32(i), got)
	}
	_, ok := tb.get(ptr("not there" + hostUUID(1)))
	assert.False(t, ok)
	tb.reset()
	_, ok = tb.get(ptr(strs[0]))
	assert.False(t, ok)
}
