package scheduler

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/novakit/novakit/compute"
)

func TestMatchExtraSpec(t *testing.T) {
	cases := []struct {
		value, req string
		want       bool
	}{
		{"1", "1", true},
		{"a", "b", false},
		{"4096", "= 2048", true},
		{"1024", "= 2048", false},
		{"2048", "== 2048.0", true},
		{"2048", "!= 2048", false},
		{"10", ">= 10", true},
		{"9", ">= 10", false},
		{"10", "<= 10", true},
		{"abc", ">= 10", false},
		{"abc", "s== abc", true},
		{"abc", "s!= abc", false},
		{"abc", "s< abd", true},
		{"abc", "s<= abc", true},
		{"abd", "s> abc", true},
		{"abc", "s>= abd", false},
		{"avx avx2 sse", "<in> avx2", true},
		{"avx sse", "<in> avx2", false},
		{"['avx', 'sse4.2']", "<all-in> avx sse4.2", true},
		{"['avx']", "<all-in> avx sse4.2", false},
		{"kvm", "<or> qemu <or> kvm", true},
		{"xen", "<or> qemu <or> kvm", false},
		{"x", "<in>", false},
		{"", "", true},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, matchExtraSpec(tc.value, tc.req), "%q vs %q", tc.value, tc.req)
	}
}

func TestVersionSatisfies(t *testing.T) {
	assert.True(t, versionSatisfies(6001000, ">=6.0,<6.2"))
	assert.False(t, versionSatisfies(6002000, ">=6.0,<6.2"))
	assert.True(t, versionSatisfies(6002000, "6.2"))
	assert.True(t, versionSatisfies(0, ">=9"), "unknown version passes")
	assert.False(t, versionSatisfies(6002000, "~=6"))
}

func TestPyStr(t *testing.T) {
	assert.Equal(t, "16.0", pyStr(pyFloat(16)))
	assert.Equal(t, "1.5", pyStr(pyFloat(1.5)))
	assert.Equal(t, "['a', 1]", pyStr([]any{"a", json.Number("1")}))
	assert.Equal(t, "{'a': True}", pyStr(map[string]any{"a": true}))
}

// FuzzExtraSpec: any operator string is handled without a panic, and a
// bare requirement (no operator word) is string equality.
func FuzzExtraSpec(f *testing.F) {
	for _, s := range []string{"= 10", "<or> a <or> b", "<all-in> x y", "s>= q", "<in>", "", "<or>"} {
		f.Add("10", s)
	}
	f.Fuzz(func(t *testing.T, value, req string) {
		got := matchExtraSpec(value, req)
		if req == value && req != "" && !startsWithOp(req) && !got {
			t.Fatalf("%q should equal itself", req)
		}
	})
}

func startsWithOp(s string) bool {
	for _, op := range []string{"=", "==", "!=", ">=", "<=", "s==", "s!=", "s<", "s<=", "s>", "s>=", "<in>", "<all-in>", "<or>"} {
		if len(s) >= len(op) && s[:len(op)] == op {
			return true
		}
	}
	return false
}

// FuzzJsonQuery: any JSON query either is refused by the request parser
// (naming the hint) or evaluates without a panic.
func FuzzJsonQuery(f *testing.F) {
	for _, s := range []string{`[">=", "$free_ram_mb", 1]`, `["and", ["not", ["=", "$host", "h"]]]`, `["in"]`, `[[]]`, `{}`, `[1, 2]`} {
		f.Add(s)
	}
	h := host("h", func(h *HostState) { h.Stats = map[string]string{"x": "1"}; h.CPUInfo = `{"a": [1]}` })
	f.Fuzz(func(t *testing.T, q string) {
		spec := flavorSpec(nil)
		spec.SchedulerHints = map[string][]string{"query": {q}}
		o := DefaultOptions()
		r, err := newRequest(spec, &o, testNow, nil)
		if err != nil {
			if !assert.ErrorIs(t, err, compute.ErrInvalidInput) {
				t.FailNow()
			}
			return
		}
		if r.Query != nil {
			_ = JsonFilter{}.HostPasses(h, r)
		}
	})
}

// FuzzFlavorExtraSpecs: NUMA, PCI and resource-group extra specs are
// either accepted or refused with ErrInvalidInput, never a panic.
func FuzzFlavorExtraSpecs(f *testing.F) {
	f.Add("hw:numa_nodes", "2", "hw:numa_cpus.0", "0-1")
	f.Add("resources1:VCPU", "2", "trait1:HW_CPU_X86_AVX", "required")
	f.Add("pci_passthrough:alias", "a:1", "hw:cpu_policy", "dedicated")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		spec := &compute.RequestSpec{Flavor: compute.Flavor{VCPUs: 4, MemoryMB: 4096, ExtraSpecs: map[string]string{k1: v1, k2: v2}}}
		o := DefaultOptions()
		o.PCIAliases = map[string]PCIAlias{"a": {Spec: map[string]string{"vendor_id": "8086"}}}
		r, err := newRequest(spec, &o, testNow, nil)
		if err != nil {
			assert.ErrorIs(t, err, compute.ErrInvalidInput)
			return
		}
		if _, _, err := resourceGroups(spec, r.NUMA); err != nil {
			assert.ErrorIs(t, err, compute.ErrInvalidInput)
		}
	})
}
