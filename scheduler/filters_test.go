package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/compute"
)

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// host builds a host state that ComputeFilter passes.
func host(name string, mods ...func(*HostState)) *HostState {
	h := &HostState{Host: name, Nodename: name, UUID: name + "-uuid", HypervisorType: "QEMU", HypervisorVersion: 8002000,
		TotalUsableRAMMB: 32768, FreeRAMMB: 32768, TotalUsableDiskGB: 500, FreeDiskMB: 500 * 1024, VCPUsTotal: 16,
		CPUAllocationRatio: 4, RAMAllocationRatio: 1, DiskAllocationRatio: 1, AvailabilityZone: "nova"}
	h.setService(&compute.Service{Host: name, LastSeenUp: testNow})
	for _, m := range mods {
		m(h)
	}
	return h
}

func withAggs(aggs ...*compute.Aggregate) func(*HostState) {
	return func(h *HostState) { h.setAggregates(aggs, "nova") }
}

func agg(md map[string]string) *compute.Aggregate { return &compute.Aggregate{Metadata: md} }

func request(t *testing.T, spec *compute.RequestSpec, o Options) *Request {
	t.Helper()
	o = o.withDefaults()
	ws, err := parseWeightSetting(o.MetricsWeightSetting)
	require.NoError(t, err)
	if spec.ProjectID == "" {
		spec.ProjectID = "p1"
	}
	r, err := newRequest(spec, &o, testNow, ws)
	require.NoError(t, err)
	return r
}

func flavorSpec(extra map[string]string) *compute.RequestSpec {
	return &compute.RequestSpec{ProjectID: "p1", UserID: "u1",
		Flavor: compute.Flavor{Name: "m1.small", VCPUs: 2, MemoryMB: 2048, RootGB: 10, ExtraSpecs: extra}}
}

type filterCase struct {
	name    string
	filter  Filter
	host    *HostState
	spec    *compute.RequestSpec
	opts    Options
	prepare func(r *Request)
	want    bool
	skipped bool // the filter does not apply to the request (every host passes)
}

func runFilterCases(t *testing.T, cases []filterCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			if spec == nil {
				spec = flavorSpec(nil)
			}
			r := request(t, spec, tc.opts)
			if tc.prepare != nil {
				tc.prepare(r)
			}
			if a, ok := tc.filter.(FilterApplier); ok && !a.Applies(r) {
				assert.True(t, tc.skipped, "filter unexpectedly skipped")
				return
			}
			assert.False(t, tc.skipped, "filter should not apply")
			assert.Equal(t, tc.want, tc.filter.HostPasses(tc.host, r))
		})
	}
}

func TestComputeFilter(t *testing.T) {
	runFilterCases(t, []filterCase{
		{name: "up and enabled", filter: ComputeFilter{}, host: host("h"), want: true},
		{name: "disabled", filter: ComputeFilter{}, host: host("h", func(h *HostState) { h.ServiceDisabled = true }), want: false},
		{name: "forced down", filter: ComputeFilter{}, host: host("h", func(h *HostState) { h.ServiceForcedDown = true }), want: false},
		{name: "not seen for 61s", filter: ComputeFilter{}, host: host("h", func(h *HostState) {
			h.setService(&compute.Service{LastSeenUp: testNow.Add(-61 * time.Second)})
		}), want: false},
		{name: "seen 59s ago", filter: ComputeFilter{}, host: host("h", func(h *HostState) {
			h.setService(&compute.Service{LastSeenUp: testNow.Add(-59 * time.Second)})
		}), want: true},
		{name: "never seen, created now", filter: ComputeFilter{}, host: host("h", func(h *HostState) {
			h.setService(&compute.Service{CreatedAt: testNow})
		}), want: true},
		{name: "no service", filter: ComputeFilter{}, host: host("h", func(h *HostState) { h.setService(nil) }), want: false},
		{name: "longer service_down_time", filter: ComputeFilter{}, opts: Options{ServiceDownTime: time.Hour}, host: host("h", func(h *HostState) {
			h.setService(&compute.Service{LastSeenUp: testNow.Add(-30 * time.Minute)})
		}), want: true},
	})
}

func TestAvailabilityZoneFilter(t *testing.T) {
	az := func(z string) *compute.RequestSpec { s := flavorSpec(nil); s.AvailabilityZone = z; return s }
	inAZ1 := host("h", withAggs(agg(map[string]string{"availability_zone": "az1"})))
	runFilterCases(t, []filterCase{
		{name: "no zone asked", filter: AvailabilityZoneFilter{}, host: inAZ1, skipped: true},
		{name: "host in zone", filter: AvailabilityZoneFilter{}, host: inAZ1, spec: az("az1"), want: true},
		{name: "host in other zone", filter: AvailabilityZoneFilter{}, host: inAZ1, spec: az("az2"), want: false},
		{name: "default zone host", filter: AvailabilityZoneFilter{}, host: host("h"), spec: az("nova"), want: true},
		{name: "default zone asked, zoned host", filter: AvailabilityZoneFilter{}, host: inAZ1, spec: az("nova"), want: false},
	})
}

func TestComputeCapabilitiesFilter(t *testing.T) {
	h := host("h", func(h *HostState) {
		h.CPUInfo = `{"arch": "x86_64", "features": ["avx2", "sse4.2"], "topology": {"cores": 8}}`
		h.Stats = map[string]string{"gpu": "nvidia"}
	})
	cases := []filterCase{
		{name: "no specs", host: h, skipped: true},
		{name: "other scope ignored", host: h, spec: flavorSpec(map[string]string{"hw:cpu_policy": "shared"}), skipped: true},
		{name: "numeric >= passes", host: h, spec: flavorSpec(map[string]string{"capabilities:free_ram_mb": ">= 2048"}), want: true},
		{name: "numeric >= fails", host: h, spec: flavorSpec(map[string]string{"capabilities:free_ram_mb": ">= 65536"}), want: false},
		{name: "= is at least", host: h, spec: flavorSpec(map[string]string{"capabilities:vcpus_total": "= 8"}), want: true},
		{name: "unscoped attribute", host: h, spec: flavorSpec(map[string]string{"hypervisor_type": "s== QEMU"}), want: true},
		{name: "bare value equality", host: h, spec: flavorSpec(map[string]string{"hypervisor_type": "KVM"}), want: false},
		{name: "stats fallback", host: h, spec: flavorSpec(map[string]string{"capabilities:gpu": "<in> nvi"}), want: true},
		{name: "nested cpu_info", host: h, spec: flavorSpec(map[string]string{"capabilities:cpu_info:arch": "x86_64"}), want: true},
		{name: "cpu_info list <in>", host: h, spec: flavorSpec(map[string]string{"capabilities:cpu_info:features": "<in> avx2"}), want: true},
		{name: "cpu_info list <all-in>", host: h, spec: flavorSpec(map[string]string{"capabilities:cpu_info:features": "<all-in> avx2 avx512f"}), want: false},
		{name: "cpu_info nested number", host: h, spec: flavorSpec(map[string]string{"capabilities:cpu_info:topology:cores": ">= 8"}), want: true},
		{name: "missing attribute fails", host: h, spec: flavorSpec(map[string]string{"capabilities:nope": "1"}), want: false},
		{name: "<or>", host: h, spec: flavorSpec(map[string]string{"capabilities:hypervisor_type": "<or> KVM <or> QEMU"}), want: true},
		{name: "ratio renders as python float", host: h, spec: flavorSpec(map[string]string{"capabilities:cpu_allocation_ratio": "4.0"}), want: true},
	}
	for i := range cases {
		cases[i].filter = ComputeCapabilitiesFilter{}
	}
	runFilterCases(t, cases)
}

func TestImagePropertiesFilter(t *testing.T) {
	img := func(p map[string]string) *compute.RequestSpec { s := flavorSpec(nil); s.Image.Properties = p; return s }
	h := host("h", func(h *HostState) {
		h.SupportedInstances = [][]string{{"x86_64", "qemu", "hvm"}, {"i686", "qemu", "hvm"}}
		h.HypervisorVersion = 6001000
	})
	bare := host("bare")
	cases := []filterCase{
		{name: "no relevant props", host: h, spec: img(map[string]string{"os_type": "linux"}), skipped: true},
		{name: "arch matches", host: h, spec: img(map[string]string{"hw_architecture": "x86_64"}), want: true},
		{name: "arch alias", host: h, spec: img(map[string]string{"hw_architecture": "amd64"}), want: true},
		{name: "arch i386 canonical i686", host: h, spec: img(map[string]string{"hw_architecture": "i386"}), want: true},
		{name: "arch mismatch", host: h, spec: img(map[string]string{"hw_architecture": "aarch64"}), want: false},
		{name: "hv type case-insensitive", host: h, spec: img(map[string]string{"img_hv_type": "QEMU", "hw_vm_mode": "hvm"}), want: true},
		{name: "vm mode mismatch", host: h, spec: img(map[string]string{"hw_vm_mode": "exe"}), want: false},
		{name: "host advertises nothing", host: bare, spec: img(map[string]string{"hw_architecture": "x86_64"}), want: false},
		{name: "version satisfied", host: h, spec: img(map[string]string{"hw_architecture": "x86_64", "img_hv_requested_version": ">=6.0,<6.2"}), want: true},
		{name: "version too old", host: h, spec: img(map[string]string{"hw_architecture": "x86_64", "img_hv_requested_version": ">=6.2"}), want: false},
	}
	for i := range cases {
		cases[i].filter = ImagePropertiesFilter{}
	}
	runFilterCases(t, cases)
}

func TestServerGroupFilters(t *testing.T) {
	group := func(policy string, rules map[string]int) *compute.RequestSpec {
		s := flavorSpec(nil)
		s.InstanceGroup = &compute.ServerGroup{Policy: policy, Rules: rules}
		return s
	}
	counts := func(m map[string]int) func(*Request) { return func(r *Request) { r.GroupHosts = m } }
	runFilterCases(t, []filterCase{
		{name: "affinity: no group", filter: ServerGroupAffinityFilter{}, host: host("a"), skipped: true},
		{name: "affinity: other policy", filter: ServerGroupAffinityFilter{}, host: host("a"), spec: group(compute.PolicyAntiAffinity, nil), skipped: true},
		{name: "affinity: empty group passes", filter: ServerGroupAffinityFilter{}, host: host("a"), spec: group(compute.PolicyAffinity, nil), prepare: counts(map[string]int{}), want: true},
		{name: "affinity: member host", filter: ServerGroupAffinityFilter{}, host: host("a"), spec: group(compute.PolicyAffinity, nil), prepare: counts(map[string]int{"a": 1}), want: true},
		{name: "affinity: other host", filter: ServerGroupAffinityFilter{}, host: host("b"), spec: group(compute.PolicyAffinity, nil), prepare: counts(map[string]int{"a": 1}), want: false},
		{name: "anti: free host", filter: ServerGroupAntiAffinityFilter{}, host: host("b"), spec: group(compute.PolicyAntiAffinity, nil), prepare: counts(map[string]int{"a": 1}), want: true},
		{name: "anti: member host", filter: ServerGroupAntiAffinityFilter{}, host: host("a"), spec: group(compute.PolicyAntiAffinity, nil), prepare: counts(map[string]int{"a": 1}), want: false},
		{name: "anti: max 2, one there", filter: ServerGroupAntiAffinityFilter{}, host: host("a"), spec: group(compute.PolicyAntiAffinity, map[string]int{"max_server_per_host": 2}), prepare: counts(map[string]int{"a": 1}), want: true},
		{name: "anti: max 2, two there", filter: ServerGroupAntiAffinityFilter{}, host: host("a"), spec: group(compute.PolicyAntiAffinity, map[string]int{"max_server_per_host": 2}), prepare: counts(map[string]int{"a": 2}), want: false},
		{name: "anti: soft policy skipped", filter: ServerGroupAntiAffinityFilter{}, host: host("a"), spec: group(compute.PolicySoftAntiAffinity, nil), skipped: true},
	})
}

func TestSameAndDifferentHostFilters(t *testing.T) {
	same := func(r *Request) { r.HasSameHost, r.SameHost = true, map[string]bool{"a": true} }
	diff := func(r *Request) { r.HasDifferentHost, r.DifferentHost = true, map[string]bool{"a": true} }
	runFilterCases(t, []filterCase{
		{name: "same: no hint", filter: SameHostFilter{}, host: host("a"), skipped: true},
		{name: "same: host has instance", filter: SameHostFilter{}, host: host("a"), prepare: same, want: true},
		{name: "same: host lacks instance", filter: SameHostFilter{}, host: host("b"), prepare: same, want: false},
		{name: "different: no hint", filter: DifferentHostFilter{}, host: host("a"), skipped: true},
		{name: "different: host has instance", filter: DifferentHostFilter{}, host: host("a"), prepare: diff, want: false},
		{name: "different: other host", filter: DifferentHostFilter{}, host: host("b"), prepare: diff, want: true},
	})
}

func TestSameHostHintResolvesInstances(t *testing.T) {
	c := &hostCache{insts: map[string]instRec{}}
	a := host("a")
	c.insts["i-1"] = instRec{host: a}
	spec := flavorSpec(nil)
	spec.SchedulerHints = map[string][]string{"same_host": {"i-1", "i-unknown"}, "different_host": {"i-unknown"}}
	r := request(t, spec, Options{})
	r.resolveHosts(c)
	assert.True(t, r.HasSameHost)
	assert.Equal(t, map[string]bool{"a": true}, r.SameHost)
	assert.True(t, r.HasDifferentHost)
	assert.Empty(t, r.DifferentHost)
}

func TestAggregateInstanceExtraSpecsFilter(t *testing.T) {
	ssd := host("h", withAggs(agg(map[string]string{"ssd": "true", "speed": "10"}), agg(map[string]string{"speed": "40"})))
	cases := []filterCase{
		{name: "no specs", host: ssd, skipped: true},
		{name: "scoped match", host: ssd, spec: flavorSpec(map[string]string{"aggregate_instance_extra_specs:ssd": "true"}), want: true},
		{name: "unscoped match", host: ssd, spec: flavorSpec(map[string]string{"ssd": "true"}), want: true},
		{name: "value mismatch", host: ssd, spec: flavorSpec(map[string]string{"aggregate_instance_extra_specs:ssd": "false"}), want: false},
		{name: "missing key", host: ssd, spec: flavorSpec(map[string]string{"aggregate_instance_extra_specs:gpu": "true"}), want: false},
		{name: "other scopes ignored", host: ssd, spec: flavorSpec(map[string]string{"hw:cpu_policy": "shared"}), want: true},
		{name: "any aggregate value matches op", host: ssd, spec: flavorSpec(map[string]string{"aggregate_instance_extra_specs:speed": ">= 20"}), want: true},
		{name: "host in no aggregate", host: host("bare"), spec: flavorSpec(map[string]string{"aggregate_instance_extra_specs:ssd": "true"}), want: false},
	}
	for i := range cases {
		cases[i].filter = AggregateInstanceExtraSpecsFilter{}
	}
	runFilterCases(t, cases)
}

func TestAggregateMultiTenancyIsolation(t *testing.T) {
	iso := host("h", withAggs(agg(map[string]string{"filter_tenant_id": "p1,p2"}), agg(map[string]string{"filter_tenant_id_2": "p3"})))
	proj := func(p string) *compute.RequestSpec { s := flavorSpec(nil); s.ProjectID = p; return s }
	runFilterCases(t, []filterCase{
		{name: "listed tenant", filter: AggregateMultiTenancyIsolation{}, host: iso, spec: proj("p2"), want: true},
		{name: "listed under second key", filter: AggregateMultiTenancyIsolation{}, host: iso, spec: proj("p3"), want: true},
		{name: "other tenant", filter: AggregateMultiTenancyIsolation{}, host: iso, spec: proj("p9"), want: false},
		{name: "unrestricted host", filter: AggregateMultiTenancyIsolation{}, host: host("h", withAggs(agg(map[string]string{"ssd": "1"}))), spec: proj("p9"), want: true},
	})
}

func TestAggregateImagePropertiesIsolation(t *testing.T) {
	h := host("h", withAggs(agg(map[string]string{"os_distro": "ubuntu,debian", "my.hw": "x"})))
	img := func(p map[string]string) *compute.RequestSpec { s := flavorSpec(nil); s.Image.Properties = p; return s }
	runFilterCases(t, []filterCase{
		{name: "no image props", filter: AggregateImagePropertiesIsolation{Separator: "."}, host: h, skipped: true},
		{name: "allowed value", filter: AggregateImagePropertiesIsolation{Separator: "."}, host: h, spec: img(map[string]string{"os_distro": "debian"}), want: true},
		{name: "other value", filter: AggregateImagePropertiesIsolation{Separator: "."}, host: h, spec: img(map[string]string{"os_distro": "fedora"}), want: false},
		{name: "image lacks property", filter: AggregateImagePropertiesIsolation{Separator: "."}, host: h, spec: img(map[string]string{"hw_disk_bus": "scsi"}), want: true},
		{name: "namespace limits keys", filter: AggregateImagePropertiesIsolation{Namespace: "my", Separator: "."}, host: h, spec: img(map[string]string{"os_distro": "fedora"}), want: true},
		{name: "namespaced key checked", filter: AggregateImagePropertiesIsolation{Namespace: "my", Separator: "."}, host: h, spec: img(map[string]string{"my.hw": "y"}), want: false},
	})
}

func TestInstanceAndIoOpsFilters(t *testing.T) {
	n := func(inst, io int) *HostState {
		return host("h", func(h *HostState) { h.NumInstances, h.NumIOOps = inst, io })
	}
	limited := host("h", withAggs(agg(map[string]string{"max_instances_per_host": "5", "max_io_ops_per_host": "2"}), agg(map[string]string{"max_instances_per_host": "3"})))
	limited.NumInstances, limited.NumIOOps = 3, 1
	runFilterCases(t, []filterCase{
		{name: "num instances below", filter: NumInstancesFilter{Max: 50}, host: n(49, 0), want: true},
		{name: "num instances at max", filter: NumInstancesFilter{Max: 50}, host: n(50, 0), want: false},
		{name: "aggregate limit min wins", filter: AggregateNumInstancesFilter{Max: 50}, host: limited, want: false},
		{name: "aggregate fallback", filter: AggregateNumInstancesFilter{Max: 4}, host: n(3, 0), want: true},
		{name: "io ops below", filter: IoOpsFilter{Max: 8}, host: n(0, 7), want: true},
		{name: "io ops at max", filter: IoOpsFilter{Max: 8}, host: n(0, 8), want: false},
		{name: "aggregate io ops", filter: AggregateIoOpsFilter{Max: 8}, host: limited, want: true},
		{name: "aggregate type affinity listed", filter: AggregateTypeAffinityFilter{}, host: host("h", withAggs(agg(map[string]string{"instance_type": "m1.small,m1.large"}))), want: true},
		{name: "aggregate type affinity not listed", filter: AggregateTypeAffinityFilter{}, host: host("h", withAggs(agg(map[string]string{"instance_type": "m1.large"}))), want: false},
	})
}

func TestJsonFilter(t *testing.T) {
	h := host("h", func(h *HostState) { h.FreeRAMMB = 4096; h.Stats = map[string]string{"rack": "r1", "load": "3"} })
	q := func(query string) *compute.RequestSpec {
		s := flavorSpec(nil)
		s.SchedulerHints = map[string][]string{"query": {query}}
		return s
	}
	runFilterCases(t, []filterCase{
		{name: "no query", filter: JsonFilter{}, host: h, skipped: true},
		{name: ">= passes", filter: JsonFilter{}, host: h, spec: q(`[">=", "$free_ram_mb", 1024]`), want: true},
		{name: ">= fails", filter: JsonFilter{}, host: h, spec: q(`[">=", "$free_ram_mb", 8192]`), want: false},
		{name: "and", filter: JsonFilter{}, host: h, spec: q(`["and", [">=", "$free_ram_mb", 1024], ["=", "$hypervisor_type", "QEMU"]]`), want: true},
		{name: "or", filter: JsonFilter{}, host: h, spec: q(`["or", ["<", "$free_ram_mb", 1], ["in", "$stats.rack", "r1", "r2"]]`), want: true},
		{name: "not", filter: JsonFilter{}, host: h, spec: q(`["not", ["=", "$host", "h"]]`), want: false},
		{name: "stats number as string", filter: JsonFilter{}, host: h, spec: q(`["<", "$load", 5]`), want: true},
		{name: "unknown variable dropped", filter: JsonFilter{}, host: h, spec: q(`[">", "$nope", 1]`), want: false},
		{name: "in list", filter: JsonFilter{}, host: h, spec: q(`["in", "$host", "x", "h"]`), want: true},
		{name: "empty query", filter: JsonFilter{}, host: h, spec: q(`[]`), want: true},
	})
}

func TestMetricsFilter(t *testing.T) {
	f := MetricsFilter{Names: []string{"cpu.percent", "mem.free"}}
	runFilterCases(t, []filterCase{
		{name: "no setting", filter: MetricsFilter{}, host: host("h"), skipped: true},
		{name: "all metrics", filter: f, host: host("h", func(h *HostState) { h.Metrics = map[string]float64{"cpu.percent": 0.1, "mem.free": 3} }), want: true},
		{name: "one missing", filter: f, host: host("h", func(h *HostState) { h.Metrics = map[string]float64{"cpu.percent": 0.1} }), want: false},
	})
}

func TestPciPassthroughFilter(t *testing.T) {
	n0, n1 := 0, 1
	pools := []PCIPool{
		{VendorID: "8086", ProductID: "154d", DeviceType: "type-VF", NUMANode: &n0, Count: 2, Tags: map[string]string{"physical_network": "physnet1"}},
		{VendorID: "10de", ProductID: "1eb8", DeviceType: "type-PCI", NUMANode: &n1, Count: 1},
	}
	aliases := map[string]PCIAlias{
		"vf":      {Spec: map[string]string{"vendor_id": "8086", "product_id": "154D", "physical_network": "physnet1"}},
		"gpu":     {Spec: map[string]string{"vendor_id": "0x10de", "device_type": "type-PCI"}, NUMAPolicy: "required"},
		"missing": {Spec: map[string]string{"vendor_id": "1234"}},
	}
	h := host("h", func(h *HostState) {
		h.PCIPools = pools
		h.NUMA = &NUMATopology{Cells: []NUMACell{{ID: 0, CPUs: []int{0, 1, 2, 3}, MemoryMB: 8192}, {ID: 1, CPUs: []int{4, 5, 6, 7}, MemoryMB: 8192}}}
	})
	alias := func(v string, extra map[string]string) *compute.RequestSpec {
		m := map[string]string{"pci_passthrough:alias": v}
		for k, x := range extra {
			m[k] = x
		}
		return flavorSpec(m)
	}
	o := Options{PCIAliases: aliases}
	runFilterCases(t, []filterCase{
		{name: "no request", filter: PciPassthroughFilter{}, host: h, opts: o, skipped: true},
		{name: "two VFs", filter: PciPassthroughFilter{}, host: h, opts: o, spec: alias("vf:2", nil), want: true},
		{name: "three VFs", filter: PciPassthroughFilter{}, host: h, opts: o, spec: alias("vf:3", nil), want: false},
		{name: "VF and GPU", filter: PciPassthroughFilter{}, host: h, opts: o, spec: alias("vf:1,gpu:1", nil), want: true},
		{name: "no such device", filter: PciPassthroughFilter{}, host: h, opts: o, spec: alias("missing:1", nil), want: false},
		{name: "GPU required on the guest's NUMA cell: the guest moves to cell 1", filter: PciPassthroughFilter{}, host: h, opts: o,
			spec: alias("gpu:1", map[string]string{"hw:numa_nodes": "1"}), want: true},
		{name: "explicit guest cell follows the GPU to cell 1", filter: PciPassthroughFilter{}, host: h, opts: o,
			spec: alias("gpu:1", map[string]string{"hw:numa_nodes": "1", "hw:numa_cpus.0": "0-1", "hw:numa_mem.0": "2048"}), want: true},
		{name: "NUMA filter honours PCI too", filter: NUMATopologyFilter{}, host: func() *HostState {
			c := *h
			c.NUMA = &NUMATopology{Cells: []NUMACell{h.NUMA.Cells[0], {ID: 1, CPUs: []int{4}, MemoryMB: 512}}}
			return &c
		}(), opts: o, spec: alias("gpu:1", map[string]string{"hw:numa_nodes": "1"}), want: false},
		{name: "host without pools", filter: PciPassthroughFilter{}, host: host("bare"), opts: o, spec: alias("vf:1", nil), want: false},
	})
}

func TestNUMATopologyFilter(t *testing.T) {
	twoCells := func(mods ...func(*NUMATopology)) *HostState {
		return host("h", func(h *HostState) {
			h.NUMA = &NUMATopology{Cells: []NUMACell{
				{ID: 0, CPUs: []int{0, 1, 2, 3}, PCPUs: []int{8, 9, 10, 11}, MemoryMB: 8192},
				{ID: 1, CPUs: []int{4, 5, 6, 7}, PCPUs: []int{12, 13, 14, 15}, MemoryMB: 8192},
			}}
			h.CPUAllocationRatio, h.RAMAllocationRatio = 2, 1
			for _, m := range mods {
				m(h.NUMA)
			}
		})
	}
	spec := func(vcpus, mem int, extra map[string]string) *compute.RequestSpec {
		s := flavorSpec(extra)
		s.Flavor.VCPUs, s.Flavor.MemoryMB = vcpus, mem
		return s
	}
	runFilterCases(t, []filterCase{
		{name: "no NUMA request", filter: NUMATopologyFilter{}, host: twoCells(), spec: spec(2, 2048, nil), skipped: true},
		{name: "one node fits", filter: NUMATopologyFilter{}, host: twoCells(), spec: spec(4, 4096, map[string]string{"hw:numa_nodes": "1"}), want: true},
		{name: "two nodes split", filter: NUMATopologyFilter{}, host: twoCells(), spec: spec(8, 16384, map[string]string{"hw:numa_nodes": "2"}), want: true},
		{name: "memory does not fit one cell", filter: NUMATopologyFilter{}, host: twoCells(), spec: spec(2, 10240, map[string]string{"hw:numa_nodes": "1"}), want: false},
		{name: "more vCPUs than the cell's CPUs", filter: NUMATopologyFilter{}, host: twoCells(), spec: spec(6, 2048, map[string]string{"hw:numa_nodes": "1"}), want: false},
		{name: "shared vCPUs within ratio", filter: NUMATopologyFilter{}, host: twoCells(func(t *NUMATopology) { t.Cells[0].CPUUsage, t.Cells[1].CPUUsage = 6, 6 }),
			spec: spec(2, 1024, map[string]string{"hw:numa_nodes": "1"}), want: true},
		{name: "shared vCPUs over ratio", filter: NUMATopologyFilter{}, host: twoCells(func(t *NUMATopology) { t.Cells[0].CPUUsage, t.Cells[1].CPUUsage = 7, 7 }),
			spec: spec(2, 1024, map[string]string{"hw:numa_nodes": "1"}), want: false},
		{name: "pinned fits free PCPUs", filter: NUMATopologyFilter{}, host: twoCells(func(t *NUMATopology) { t.Cells[0].PinnedCPUs = []int{8, 9, 10} }),
			spec: spec(4, 1024, map[string]string{"hw:cpu_policy": "dedicated"}), want: true},
		{name: "pinned: no cell has 4 free PCPUs", filter: NUMATopologyFilter{}, host: twoCells(func(t *NUMATopology) {
			t.Cells[0].PinnedCPUs = []int{8}
			t.Cells[1].PinnedCPUs = []int{12}
		}), spec: spec(4, 1024, map[string]string{"hw:cpu_policy": "dedicated"}), want: false},
		{name: "explicit asymmetric cells", filter: NUMATopologyFilter{}, host: twoCells(),
			spec: spec(4, 3072, map[string]string{"hw:numa_nodes": "2", "hw:numa_cpus.0": "0", "hw:numa_mem.0": "1024", "hw:numa_cpus.1": "1-3", "hw:numa_mem.1": "2048"}), want: true},
		{name: "image asks for NUMA", filter: NUMATopologyFilter{}, host: host("no-numa"), spec: func() *compute.RequestSpec {
			s := spec(2, 1024, nil)
			s.Image.Properties = map[string]string{"hw_numa_nodes": "1"}
			return s
		}(), want: false},
	})
}

func TestInstanceNUMAValidation(t *testing.T) {
	for name, extra := range map[string]map[string]string{
		"hw:numa_nodes":  {"hw:numa_nodes": "3"}, // 4 vCPUs don't split in 3
		"hw:cpu_policy":  {"hw:cpu_policy": "bogus"},
		"hw:numa_cpus.0": {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1"},
		"hw:numa_cpus":   {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0", "hw:numa_mem.0": "1024", "hw:numa_cpus.1": "1", "hw:numa_mem.1": "1024"},
		"hw:numa_nodes ": {"hw:numa_nodes": "zero"},
	} {
		f := compute.Flavor{VCPUs: 4, MemoryMB: 4096, ExtraSpecs: extra}
		_, err := instanceNUMA(&f, nil)
		require.ErrorIs(t, err, compute.ErrInvalidInput, name)
		assert.Contains(t, err.Error(), "hw:", name)
	}
	f := compute.Flavor{VCPUs: 4, MemoryMB: 4096, ExtraSpecs: map[string]string{"hw:cpu_policy": "dedicated"}}
	_, err := instanceNUMA(&f, map[string]string{"hw_cpu_policy": "shared"})
	require.ErrorIs(t, err, compute.ErrInvalidInput, "flavor and image conflict")
}

func TestNUMAConsumeAndRelease(t *testing.T) {
	top := &NUMATopology{Cells: []NUMACell{{ID: 0, PCPUs: []int{0, 1, 2, 3}, MemoryMB: 4096}}}
	inst := &InstanceNUMA{Dedicated: true, Cells: []InstanceNUMACell{{VCPUs: 2, MemoryMB: 1024}}}
	fit := fitNUMA(top, inst, 1, 1)
	require.Equal(t, []int{0}, fit)
	consumeNUMA(top, inst, fit)
	assert.Equal(t, []int{0, 1}, top.Cells[0].PinnedCPUs)
	assert.Equal(t, int64(1024), top.Cells[0].MemoryUsageMB)
	consumeNUMA(top, inst, fitNUMA(top, inst, 1, 1))
	assert.Nil(t, fitNUMA(top, inst, 1, 1), "every PCPU pinned")
	releaseNUMA(top, inst, fit)
	assert.Equal(t, []int{0, 1}, top.Cells[0].PinnedCPUs)
	assert.NotNil(t, fitNUMA(top, inst, 1, 1))
}

func TestParseCPUSet(t *testing.T) {
	got, err := parseCPUSet("0-3,^2,6")
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 3, 6}, got)
	for _, bad := range []string{"", "a", "3-1", "^1"} {
		_, err := parseCPUSet(bad)
		assert.Error(t, err, bad)
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	for _, name := range DefaultEnabledFilters() {
		assert.Contains(t, r.Filters(), name)
	}
	require.ErrorIs(t, r.RegisterFilter("ComputeFilter", func(*Options) (Filter, error) { return AllHostsFilter{}, nil }), ErrDuplicate)
	require.NoError(t, r.RegisterFilter("RackFilter", func(*Options) (Filter, error) { return rackFilter{}, nil }))
	o := DefaultOptions()
	o.EnabledFilters = []string{"ComputeFilter", "NoSuchFilter"}
	_, _, err := r.build(&o)
	require.ErrorContains(t, err, "NoSuchFilter")
}

type rackFilter struct{}

func (rackFilter) HostPasses(h *HostState, r *Request) bool {
	return h.Stats["rack"] == r.Hint("rack")
}
