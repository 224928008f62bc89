package placement

import (
	"errors"
	"net/url"
	"reflect"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for s, want := range map[string]Version{"1.0": {1, 0}, "1.39": {1, 39}, "latest": MaxVersion(), " 1.2 ": {1, 2}} {
		if v, err := ParseVersion(s); err != nil || v != want {
			t.Errorf("%q: %v %v", s, v, err)
		}
	}
	for _, s := range []string{"", "1", "1.", ".1", "a.b", "1.-1", "1.2.3", "+1.2", "1.1234567"} {
		if _, err := ParseVersion(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q accepted", s)
		}
	}
	if (Version{1, 40}).Supported() || !(Version{1, 39}).Supported() || (Version{2, 0}).Supported() {
		t.Error("Supported")
	}
	if (Version{1, 9}).Compare(Version{1, 10}) != -1 || !(Version{1, 22}).AtLeast(22) || (Version{1, 21}).AtLeast(22) {
		t.Error("Compare/AtLeast")
	}
}

func TestNames(t *testing.T) {
	if !IsStandardTrait("HW_CPU_X86_AVX2") || !IsStandardTrait("MISC_SHARES_VIA_AGGREGATE") || IsStandardTrait("HW_CPU_X86_NOPE") {
		t.Error("standard traits")
	}
	if len(StandardTraits()) < 300 || OSTraitsVersion == "" {
		t.Error("trait list")
	}
	for _, ok := range []string{"VCPU", "CUSTOM_A_1", "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC"} {
		if ValidateResourceClassName(ok) != nil {
			t.Errorf("%s rejected", ok)
		}
	}
	for _, bad := range []string{"", "vcpu", "CUSTOM_", "CUSTOM_a", "FOO", "CUSTOM_X-Y"} {
		if err := ValidateResourceClassName(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q accepted", bad)
		}
	}
	if ValidateTraitName("CUSTOM_GOLD") != nil || ValidateTraitName("GOLD") == nil {
		t.Error("trait names")
	}
	if (Inventory{Total: 10, Reserved: 2, AllocationRatio: 1.5}).Capacity() != 12 {
		t.Error("capacity")
	}
}

func TestParseCandidateQueryErrors(t *testing.T) {
	a1, a2 := uid("agg:1"), uid("agg:2")
	cases := []struct {
		q    string
		v    Version
		code string
		key  string
	}{
		{"resources=VCPU:1", Version{1, 9}, CodeUndefined, "version"},
		{"", Version{1, 10}, CodeQueryMissingValue, "resources"},
		{"resources=VCPU:1&limit=2", Version{1, 15}, CodeUndefined, "limit"},
		{"resources=VCPU:1&limit=0", v139, CodeUndefined, "limit"},
		{"resources=VCPU:1&limit=-1", v139, CodeUndefined, "limit"},
		{"resources=VCPU:1&limit=1&limit=2", v139, CodeQueryDuplicateKey, "limit"},
		{"resources=VCPU:1&resources=VCPU:2", v139, CodeQueryDuplicateKey, "resources"},
		{"resources=VCPU:0", v139, CodeUndefined, "resources"},
		{"resources=VCPU:-1", v139, CodeUndefined, "resources"},
		{"resources=VCPU:1.5", v139, CodeUndefined, "resources"},
		{"resources=VCPU", v139, CodeUndefined, "resources"},
		{"resources=VCPU:1:2", v139, CodeUndefined, "resources"},
		{"resources=", v139, CodeUndefined, "resources"},
		{"resources=vcpu:1", v139, CodeQueryBadValue, "resources"},
		{"resources=VCPU:99999999999", v139, CodeUndefined, "resources"},
		{"resources=VCPU:1&required=HW_CPU_X86_AVX2", Version{1, 16}, CodeUndefined, "required"},
		{"resources=VCPU:1&required=!HW_CPU_X86_AVX2", Version{1, 21}, CodeUndefined, "required"},
		{"resources=VCPU:1&required=in:HW_CPU_X86_AVX2,HW_CPU_X86_SSE", Version{1, 38}, CodeUndefined, "required"},
		{"resources=VCPU:1&required=in:HW_CPU_X86_AVX2,!HW_CPU_X86_SSE", v139, CodeUndefined, "required"},
		{"resources=VCPU:1&required=in:", v139, CodeUndefined, "required"},
		{"resources=VCPU:1&required=HW_CPU_X86_AVX2,,", v139, CodeUndefined, "required"},
		{"resources=VCPU:1&required=lower", v139, CodeQueryBadValue, "required"},
		{"resources=VCPU:1&required=HW_CPU_X86_AVX2,!HW_CPU_X86_AVX2", v139, CodeUndefined, "required"},
		{"resources=VCPU:1&required=in:HW_CPU_X86_AVX2&required=!HW_CPU_X86_AVX2", v139, CodeUndefined, "required"},
		{"resources=VCPU:1&member_of=" + a1, Version{1, 20}, CodeUndefined, "member_of"},
		{"resources=VCPU:1&member_of=" + a1 + "&member_of=" + a2, Version{1, 23}, CodeUndefined, "member_of"},
		{"resources=VCPU:1&member_of=!" + a1, Version{1, 31}, CodeUndefined, "member_of"},
		{"resources=VCPU:1&member_of=" + a1 + "," + a2, v139, CodeUndefined, "member_of"},
		{"resources=VCPU:1&member_of=in:" + a1 + ",!" + a2, v139, CodeUndefined, "member_of"},
		{"resources=VCPU:1&member_of=in:not-a-uuid", v139, CodeUndefined, "member_of"},
		{"resources=VCPU:1&in_tree=" + a1, Version{1, 30}, CodeUndefined, "in_tree"},
		{"resources=VCPU:1&in_tree=xyz", v139, CodeUndefined, "in_tree"},
		{"resources1=VCPU:1", Version{1, 24}, CodeUndefined, "resources1"},
		{"resources_A=VCPU:1", Version{1, 32}, CodeUndefined, "resources_A"},
		{"resources01=VCPU:1", Version{1, 32}, CodeUndefined, "resources01"},
		{"resources1=VCPU:1&resources2=VCPU:1", v139, CodeUndefined, "group_policy"},
		{"resources1=VCPU:1&group_policy=all", v139, CodeUndefined, "group_policy"},
		{"resources1=VCPU:1&required2=HW_CPU_X86_AVX2", Version{1, 35}, CodeUndefined, "required2"},
		{"resources1=VCPU:1&member_of2=" + a1, Version{1, 35}, CodeUndefined, "member_of2"},
		{"resources1=VCPU:1&required2=HW_CPU_X86_AVX2", v139, CodeQueryBadValue, "resources2"},
		{"required1=HW_CPU_X86_AVX2&same_subtree=1", v139, CodeQueryMissingValue, "resources"},
		{"resources1=VCPU:1&same_subtree=1,3", v139, CodeQueryBadValue, "same_subtree"},
		{"resources1=VCPU:1&same_subtree=1,", v139, CodeQueryBadValue, "same_subtree"},
		{"resources1=VCPU:1&same_subtree=1", Version{1, 35}, CodeUndefined, "same_subtree"},
		{"resources=VCPU:1&root_required=HW_CPU_X86_AVX2", Version{1, 34}, CodeUndefined, "root_required"},
		{"resources=VCPU:1&root_required=HW_CPU_X86_AVX2&root_required=HW_CPU_X86_SSE", v139, CodeQueryDuplicateKey, "root_required"},
		{"resources=VCPU:1&root_required=HW_CPU_X86_AVX2,!HW_CPU_X86_AVX2", v139, CodeQueryBadValue, "root_required"},
		{"resources=VCPU:1&root_required=in:HW_CPU_X86_AVX2", v139, CodeUndefined, "root_required"},
		{"resources=VCPU:1&foo=bar", v139, CodeUndefined, "foo"},
	}
	for _, tc := range cases {
		q, err := url.ParseQuery(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseCandidateQuery(q, tc.v)
		var pe *Error
		if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s @%s: got %v, want an error", tc.q, tc.v, err)
			continue
		}
		if pe.Code != tc.code || pe.Field != tc.key {
			t.Errorf("%s @%s: code %q field %q, want %q %q (%v)", tc.q, tc.v, pe.Code, pe.Field, tc.code, tc.key, err)
		}
	}
}

func TestParseCandidateQuery(t *testing.T) {
	a1, a2, a3 := uid("agg:1"), uid("agg:2"), uid("agg:3")
	q, _ := url.ParseQuery("resources=VCPU:2,MEMORY_MB:1024&required=HW_CPU_X86_AVX2,!COMPUTE_STATUS_DISABLED&required=in:CUSTOM_A,CUSTOM_B" +
		"&member_of=" + a1 + "&member_of=in:" + a2 + "," + a3 + "&member_of=!" + a3 + "&in_tree=" + a1 +
		"&resources_NET=SRIOV_NET_VF:1&required_NET=CUSTOM_PHYSNET&required_NUMA=HW_NUMA_ROOT&same_subtree=_NET,_NUMA" +
		"&group_policy=isolate&limit=5&root_required=!CUSTOM_X,HW_CPU_X86_SSE")
	got, err := ParseCandidateQuery(q, v139)
	if err != nil {
		t.Fatal(err)
	}
	sorted2 := func(a, b string) []string {
		if a > b {
			a, b = b, a
		}
		return []string{a, b}
	}
	want := &CandidateRequest{
		Groups: []RequestGroup{
			{Suffix: "", Resources: map[string]int64{"VCPU": 2, "MEMORY_MB": 1024},
				RequiredTraits:  [][]string{{"HW_CPU_X86_AVX2"}, {"CUSTOM_A", "CUSTOM_B"}},
				ForbiddenTraits: []string{"COMPUTE_STATUS_DISABLED"},
				MemberOf:        [][]string{{a1}, sorted2(a2, a3)}, ForbiddenAggregates: []string{a3}, InTree: a1},
			{Suffix: "_NET", Resources: map[string]int64{"SRIOV_NET_VF": 1}, RequiredTraits: [][]string{{"CUSTOM_PHYSNET"}}},
			{Suffix: "_NUMA", RequiredTraits: [][]string{{"HW_NUMA_ROOT"}}},
		},
		GroupPolicy: GroupPolicyIsolate, SameSubtree: [][]string{{"_NET", "_NUMA"}},
		RootRequired: []string{"HW_CPU_X86_SSE"}, RootForbidden: []string{"CUSTOM_X"}, Limit: 5,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// Before 1.39 a repeated required keeps the last one; before 1.29 nested
	// candidates are excluded.
	q, _ = url.ParseQuery("resources=VCPU:1&required=HW_CPU_X86_AVX2&required=HW_CPU_X86_SSE")
	got, err = ParseCandidateQuery(q, Version{1, 28})
	if err != nil || !reflect.DeepEqual(got.Groups[0].RequiredTraits, [][]string{{"HW_CPU_X86_SSE"}}) || !got.ExcludeNested {
		t.Errorf("1.28: %+v %v", got, err)
	}
	// Placement strips any number of '!'.
	q, _ = url.ParseQuery("resources=VCPU:1&required=!!HW_CPU_X86_SSE")
	if got, err = ParseCandidateQuery(q, v139); err != nil || got.Groups[0].ForbiddenTraits[0] != "HW_CPU_X86_SSE" {
		t.Errorf("!!: %+v %v", got, err)
	}
}

func FuzzParseCandidateQuery(f *testing.F) {
	for _, s := range []string{
		"resources=VCPU:1", "resources=VCPU:1,MEMORY_MB:512&required=HW_CPU_X86_AVX2,!CUSTOM_X&limit=3",
		"resources1=SRIOV_NET_VF:1&required2=in:CUSTOM_A,CUSTOM_B&same_subtree=1,2&group_policy=none",
		"resources=VCPU:1&member_of=!in:5e1d1bd8-8e09-4a0b-a1c5-7c9e0a1f2b3c,5e1d1bd8-8e09-4a0b-a1c5-7c9e0a1f2b3d",
		"resources=VCPU:1&root_required=!X&in_tree=5e1d1bd8-8e09-4a0b-a1c5-7c9e0a1f2b3c",
	} {
		f.Add(s, 39)
		f.Add(s, 25)
	}
	f.Fuzz(func(t *testing.T, raw string, minor int) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, err := ParseCandidateQuery(q, Version{1, minor})
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) || pe.Field == "" {
				t.Fatalf("untyped error %T %v", err, err)
			}
			return
		}
		// A parsed request is always acceptable to the engine (it may name
		// custom classes or traits that do not exist).
		ix := New(Options{})
		if _, err := ix.Candidates(t.Context(), req); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("engine: %v", err)
		}
	})
}
