package placement

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

var v139 = Version{1, 39}

func eq(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// nestedHost: cn (VCPU 8, MEMORY_MB 4096) with numa0 → pf0, numa1 → pf1;
// pf0 has CUSTOM_PHYSNET_A, pf1 CUSTOM_PHYSNET_B; numa nodes have PCPU 4 and
// HW_NUMA_ROOT.
func nestedHost(t *testing.T) *fixture {
	f := newFixture(t)
	f.rp("cn", "", invs("VCPU", 8, "MEMORY_MB", 4096))
	f.rp("numa0", "cn", invs("PCPU", 4), "HW_NUMA_ROOT")
	f.rp("numa1", "cn", invs("PCPU", 4), "HW_NUMA_ROOT")
	f.rp("pf0", "numa0", invs("SRIOV_NET_VF", 4), "CUSTOM_PHYSNET_A")
	f.rp("pf1", "numa1", invs("SRIOV_NET_VF", 4), "CUSTOM_PHYSNET_B")
	return f
}

func TestCandidatesFlatCapacity(t *testing.T) {
	f := newFixture(t)
	f.rp("cn1", "", invs("VCPU", 8, "MEMORY_MB", 1024))
	f.rp("cn2", "", invs("VCPU", 2, "MEMORY_MB", 1024))
	bad := inv(16)
	bad.Reserved = 14
	f.rp("cn3", "", invs("VCPU", bad))
	eq(t, "VCPU:4", f.candidates("resources=VCPU:4", v139), "cn1:VCPU=4|=cn1")
	eq(t, "VCPU:2,MEMORY_MB:1024", f.candidates("resources=VCPU:2,MEMORY_MB:1024", v139),
		"cn1:MEMORY_MB=1024,VCPU=2|=cn1", "cn2:MEMORY_MB=1024,VCPU=2|=cn2")
	eq(t, "VCPU:3 needs capacity after reserved", f.candidates("resources=VCPU:3", v139), "cn1:VCPU=3|=cn1")
	eq(t, "no DISK", f.candidates("resources=DISK_GB:1", v139))
}

func TestCandidatesNestedUnsuffixedSpansTree(t *testing.T) {
	f := nestedHost(t)
	eq(t, "1.29+", f.candidates("resources=VCPU:1,SRIOV_NET_VF:1", v139),
		"cn:VCPU=1;pf0:SRIOV_NET_VF=1|=cn,pf0", "cn:VCPU=1;pf1:SRIOV_NET_VF=1|=cn,pf1")
	eq(t, "1.28 excludes nested", f.candidates("resources=VCPU:1,SRIOV_NET_VF:1", Version{1, 28}))
	eq(t, "1.28 single provider still fine", f.candidates("resources=VCPU:1", Version{1, 28}), "cn:VCPU=1|=cn")
	// Required traits are collective over the providers used.
	eq(t, "collective traits", f.candidates("resources=VCPU:1,SRIOV_NET_VF:1&required=CUSTOM_PHYSNET_B", v139),
		"cn:VCPU=1;pf1:SRIOV_NET_VF=1|=cn,pf1")
	// A trait on a provider that supplies nothing does not count.
	eq(t, "trait on an unused provider", f.candidates("resources=VCPU:1&required=HW_NUMA_ROOT", v139))
	eq(t, "forbidden", f.candidates("resources=VCPU:1,SRIOV_NET_VF:1&required=!CUSTOM_PHYSNET_A", v139),
		"cn:VCPU=1;pf1:SRIOV_NET_VF=1|=cn,pf1")
	eq(t, "any-of", f.candidates("resources=SRIOV_NET_VF:1&required=in:CUSTOM_PHYSNET_A,HW_CPU_X86_AVX2", v139),
		"pf0:SRIOV_NET_VF=1|=pf0")
}

func TestCandidatesGranular(t *testing.T) {
	f := nestedHost(t)
	eq(t, "granular with trait", f.candidates("resources=VCPU:1&resources1=SRIOV_NET_VF:1&required1=CUSTOM_PHYSNET_A", v139),
		"cn:VCPU=1;pf0:SRIOV_NET_VF=1|=cn;1=pf0")
	eq(t, "isolate", f.candidates("resources1=SRIOV_NET_VF:1&resources2=SRIOV_NET_VF:1&group_policy=isolate", v139),
		"pf0:SRIOV_NET_VF=1;pf1:SRIOV_NET_VF=1|1=pf0;2=pf1", "pf0:SRIOV_NET_VF=1;pf1:SRIOV_NET_VF=1|1=pf1;2=pf0")
	eq(t, "none consolidates", f.candidates("resources1=SRIOV_NET_VF:2&resources2=SRIOV_NET_VF:2&group_policy=none", v139),
		"pf0:SRIOV_NET_VF=2;pf1:SRIOV_NET_VF=2|1=pf0;2=pf1", "pf0:SRIOV_NET_VF=2;pf1:SRIOV_NET_VF=2|1=pf1;2=pf0",
		"pf0:SRIOV_NET_VF=4|1=pf0;2=pf0", "pf1:SRIOV_NET_VF=4|1=pf1;2=pf1")
	eq(t, "consolidated capacity", f.candidates("resources1=SRIOV_NET_VF:3&resources2=SRIOV_NET_VF:2&group_policy=none", v139),
		"pf0:SRIOV_NET_VF=3;pf1:SRIOV_NET_VF=2|1=pf0;2=pf1", "pf0:SRIOV_NET_VF=2;pf1:SRIOV_NET_VF=3|1=pf1;2=pf0")
	// Unsuffixed and suffixed groups may share a provider even with isolate.
	eq(t, "isolate is among suffixed groups only", f.candidates("resources=PCPU:1&resources1=PCPU:1&required1=HW_NUMA_ROOT&resources2=VCPU:1&group_policy=isolate&required=!HW_NUMA_ROOT", v139))
	eq(t, "granular needs one provider for all classes", f.candidates("resources1=VCPU:1,PCPU:1", v139))
}

func TestCandidatesConsolidatedUnitLimits(t *testing.T) {
	f := newFixture(t)
	mu := inv(8)
	mu.MaxUnit = 2
	st := inv(8)
	st.StepSize = 2
	f.rp("cn", "", invs("VCPU", mu, "MEMORY_MB", st))
	eq(t, "max_unit per group", f.candidates("resources1=VCPU:3", v139))
	eq(t, "max_unit on consolidated amount", f.candidates("resources1=VCPU:2&resources2=VCPU:1&group_policy=none", v139))
	eq(t, "max_unit ok", f.candidates("resources1=VCPU:1&resources2=VCPU:1&group_policy=none", v139), "cn:VCPU=2|1=cn;2=cn")
	eq(t, "step per group", f.candidates("resources=MEMORY_MB:1", v139))
	eq(t, "step ok", f.candidates("resources=MEMORY_MB:2&resources1=MEMORY_MB:4&group_policy=none", v139), "cn:MEMORY_MB=6|=cn;1=cn")
	mn := inv(8)
	mn.MinUnit = 2
	f.rp("cn2", "", invs("DISK_GB", mn))
	eq(t, "min_unit", f.candidates("resources=DISK_GB:1", v139))
}

func TestCandidatesSameSubtree(t *testing.T) {
	f := nestedHost(t)
	eq(t, "same_subtree", f.candidates("resources1=PCPU:1&resources2=SRIOV_NET_VF:1&same_subtree=1,2&group_policy=none", v139),
		"numa0:PCPU=1;pf0:SRIOV_NET_VF=1|1=numa0;2=pf0", "numa1:PCPU=1;pf1:SRIOV_NET_VF=1|1=numa1;2=pf1")
	eq(t, "resourceless group", f.candidates("resources1=SRIOV_NET_VF:1&required1=CUSTOM_PHYSNET_B&required2=HW_NUMA_ROOT&same_subtree=1,2&group_policy=none", v139),
		"pf1:SRIOV_NET_VF=1|1=pf1;2=numa1")
	eq(t, "without same_subtree", f.candidates("resources1=PCPU:1&resources2=SRIOV_NET_VF:1&group_policy=none", v139),
		"numa0:PCPU=1;pf0:SRIOV_NET_VF=1|1=numa0;2=pf0", "numa1:PCPU=1;pf1:SRIOV_NET_VF=1|1=numa1;2=pf1",
		"numa0:PCPU=1;pf1:SRIOV_NET_VF=1|1=numa0;2=pf1", "numa1:PCPU=1;pf0:SRIOV_NET_VF=1|1=numa1;2=pf0")
}

func TestCandidatesRootRequiredAndInTree(t *testing.T) {
	f := newFixture(t)
	f.rp("cn1", "", invs("VCPU", 4), "COMPUTE_STATUS_DISABLED")
	f.rp("cn2", "", invs("VCPU", 4), "HW_CPU_X86_AVX2")
	f.rp("c2", "cn2", invs("VCPU", 4))
	eq(t, "root forbidden", f.candidates("resources=VCPU:1&root_required=!COMPUTE_STATUS_DISABLED", v139),
		"c2:VCPU=1|=c2", "cn2:VCPU=1|=cn2")
	eq(t, "root required applies to the root, not the provider", f.candidates("resources1=VCPU:1&root_required=HW_CPU_X86_AVX2", v139),
		"c2:VCPU=1|1=c2", "cn2:VCPU=1|1=cn2")
	eq(t, "in_tree names any provider of the tree", f.candidates("resources=VCPU:1&in_tree=#c2", v139),
		"c2:VCPU=1|=c2", "cn2:VCPU=1|=cn2")
	eq(t, "in_tree suffixed", f.candidates("resources1=VCPU:1&in_tree1=#cn1", v139), "cn1:VCPU=1|1=cn1")
	eq(t, "in_tree unknown provider", f.candidates("resources=VCPU:1&in_tree="+uid("nope"), v139))
}

func TestCandidatesMemberOf(t *testing.T) {
	f := newFixture(t)
	f.rp("cn1", "", invs("VCPU", 4))
	f.rp("cn2", "", invs("VCPU", 4))
	f.rp("cn3", "", invs("VCPU", 4))
	f.rp("child", "cn3", invs("VCPU", 4))
	f.aggs("cn1", "a", "c")
	f.aggs("cn2", "b")
	f.aggs("cn3", "a")
	eq(t, "one", f.candidates("resources=VCPU:1&member_of=@b", v139), "cn2:VCPU=1|=cn2")
	eq(t, "in: any of; unsuffixed counts the root's aggregates for its children",
		f.candidates("resources=VCPU:1&member_of=in:@b,@c", v139), "cn1:VCPU=1|=cn1", "cn2:VCPU=1|=cn2")
	eq(t, "child via root", f.candidates("resources=VCPU:1&member_of=@a", v139), "cn1:VCPU=1|=cn1", "cn3:VCPU=1|=cn3", "child:VCPU=1|=child")
	eq(t, "granular needs the provider itself", f.candidates("resources1=VCPU:1&member_of1=@a", v139), "cn1:VCPU=1|1=cn1", "cn3:VCPU=1|1=cn3")
	eq(t, "repeated member_of is AND", f.candidates("resources=VCPU:1&member_of=@a&member_of=@c", v139), "cn1:VCPU=1|=cn1")
	eq(t, "forbidden", f.candidates("resources=VCPU:1&member_of=!@a", v139), "cn2:VCPU=1|=cn2")
	eq(t, "forbidden in:", f.candidates("resources=VCPU:1&member_of=!in:@a,@b", v139))
}

func TestCandidatesSharingProviders(t *testing.T) {
	f := newFixture(t)
	f.rp("cn1", "", invs("VCPU", 4))
	f.rp("cn2", "", invs("VCPU", 4))
	f.rp("cn3", "", invs("VCPU", 4, "DISK_GB", 10))
	f.rp("ss", "", invs("DISK_GB", 100), "MISC_SHARES_VIA_AGGREGATE")
	f.aggs("cn1", "s", "t")
	f.aggs("cn2", "s")
	f.aggs("ss", "s")
	eq(t, "shared disk", f.candidates("resources=VCPU:1,DISK_GB:10", v139),
		"cn1:VCPU=1;ss:DISK_GB=10|=cn1,ss", "cn2:VCPU=1;ss:DISK_GB=10|=cn2,ss", "cn3:DISK_GB=10,VCPU=1|=cn3")
	eq(t, "sharing provider alone is listed once", f.candidates("resources=DISK_GB:50", v139), "ss:DISK_GB=50|=ss")
	eq(t, "member_of must hold for the sharing provider itself",
		f.candidates("resources=VCPU:1,DISK_GB:10&member_of=@t", v139))
	eq(t, "member_of held by both", f.candidates("resources=VCPU:1,DISK_GB:10&member_of=@s", v139),
		"cn1:VCPU=1;ss:DISK_GB=10|=cn1,ss", "cn2:VCPU=1;ss:DISK_GB=10|=cn2,ss")
	eq(t, "granular group on the sharing provider", f.candidates("resources=VCPU:1&resources1=DISK_GB:20&in_tree=#cn1", v139),
		"cn1:VCPU=1;ss:DISK_GB=20|=cn1;1=ss")
	eq(t, "in_tree excludes sharing providers of other trees", f.candidates("resources=VCPU:1,DISK_GB:10&in_tree=#cn1", v139))
	eq(t, "1.28 keeps tree + sharing", f.candidates("resources=VCPU:1,DISK_GB:10", Version{1, 28}),
		"cn1:VCPU=1;ss:DISK_GB=10|=cn1,ss", "cn2:VCPU=1;ss:DISK_GB=10|=cn2,ss", "cn3:DISK_GB=10,VCPU=1|=cn3")
	// Removing the trait stops the sharing.
	p, _ := f.ix.Provider(f.ctx, uid("ss"))
	if _, err := f.ix.SetTraits(f.ctx, uid("ss"), p.Generation, nil); err != nil {
		t.Fatal(err)
	}
	eq(t, "no longer shared", f.candidates("resources=VCPU:1,DISK_GB:10", v139), "cn3:DISK_GB=10,VCPU=1|=cn3")
}

func TestCandidatesSummariesAndLimit(t *testing.T) {
	f := nestedHost(t)
	f.rp("other", "", invs("VCPU", 1))
	res, err := f.query("resources=VCPU:1", v139)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.ProviderSummaries {
		got = append(got, f.nameOf(s.UUID))
	}
	slices.Sort(got)
	eq(t, "summaries cover whole trees", got, "cn", "numa0", "numa1", "pf0", "pf1", "other")
	for _, s := range res.ProviderSummaries {
		if f.nameOf(s.UUID) == "pf0" {
			if s.ParentUUID != uid("numa0") || s.RootUUID != uid("cn") || !slices.Equal(s.Traits, []string{"CUSTOM_PHYSNET_A"}) ||
				len(s.Resources) != 1 || s.Resources[0] != (SummaryResource{"SRIOV_NET_VF", 4, 0}) {
				t.Errorf("pf0 summary %+v", s)
			}
		}
	}
	res, err = f.query("resources=VCPU:1&limit=1", v139)
	if err != nil || len(res.AllocationRequests) != 1 || !res.Truncated {
		t.Fatalf("limit=1: %v %+v", err, res)
	}
	want := 5
	if f.nameOf(res.AllocationRequests[0].Allocations[0].ProviderUUID) == "other" {
		want = 1
	}
	if len(res.ProviderSummaries) != want {
		t.Errorf("limited summaries: %d, want %d", len(res.ProviderSummaries), want)
	}
}

func TestCandidatesSeedSpreadsAndReplays(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 50; i++ {
		f.rp("cn"+itoa(int64(i)), "", invs("VCPU", 4))
	}
	first := map[string]bool{}
	for seed := uint64(0); seed < 20; seed++ {
		req := &CandidateRequest{Groups: []RequestGroup{{Resources: map[string]int64{"VCPU": 1}}}, Limit: 1, Seed: seed}
		a, err := f.ix.Candidates(f.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := f.ix.Candidates(f.ctx, req)
		if f.renderOne(a.AllocationRequests[0]) != f.renderOne(b.AllocationRequests[0]) {
			t.Fatal("same seed, different answer")
		}
		first[a.AllocationRequests[0].Allocations[0].ProviderUUID] = true
	}
	if len(first) < 10 {
		t.Errorf("20 seeds picked only %d distinct hosts", len(first))
	}
}

func TestCandidatesErrors(t *testing.T) {
	f := newFixture(t)
	f.rp("cn", "", invs("VCPU", 4))
	for _, q := range []string{"resources=CUSTOM_NOPE:1", "resources=VCPU:1&required=CUSTOM_NOPE", "resources=VCPU:1&root_required=CUSTOM_NOPE"} {
		if _, err := f.query(q, v139); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", q, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.ix.Candidates(ctx, &CandidateRequest{Groups: []RequestGroup{{Resources: map[string]int64{"VCPU": 1}}}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := f.ix.Candidates(f.ctx, &CandidateRequest{Groups: []RequestGroup{{Suffix: "1"}}}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "resources") {
		t.Errorf("resourceless: %v", err)
	}
}
