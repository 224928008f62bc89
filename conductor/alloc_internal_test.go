package conductor

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
)

func TestParseAllocationRequest(t *testing.T) {
	for name, tc := range map[string]struct {
		in string
		ok bool
	}{
		"one provider":   {`{"allocations":{"rp1":{"resources":{"VCPU":1,"MEMORY_MB":512}}},"mappings":{"":["rp1"]}}`, true},
		"two providers":  {`{"allocations":{"rp1":{"resources":{"VCPU":1}},"rp2":{"resources":{"DISK_GB":10}}}}`, true},
		"empty":          {``, false},
		"not json":       {`{`, false},
		"no allocations": {`{"allocations":{}}`, false},
		"no resources":   {`{"allocations":{"rp1":{"resources":{}}}}`, false},
		"zero amount":    {`{"allocations":{"rp1":{"resources":{"VCPU":0}}}}`, false},
		"negative":       {`{"allocations":{"rp1":{"resources":{"VCPU":-2}}}}`, false},
		"empty provider": {`{"allocations":{"":{"resources":{"VCPU":1}}}}`, false},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := parseAllocationRequest(compute.Selection{ServiceHost: "h", AllocationRequest: json.RawMessage(tc.in)})
			if tc.ok != (err == nil) {
				t.Fatalf("ok %v, got %v, %v", tc.ok, out, err)
			}
			var ie *compute.InvalidInputError
			if err != nil && (!errors.As(err, &ie) || ie.Field != "allocation_request") {
				t.Fatalf("error %v does not name allocation_request", err)
			}
		})
	}
}

// FuzzParseAllocationRequest: any bytes give either a well-formed
// allocation (every provider and class named, every amount ≥ 1) or an
// *compute.InvalidInputError naming allocation_request; never a panic.
func FuzzParseAllocationRequest(f *testing.F) {
	f.Add([]byte(`{"allocations":{"rp1":{"resources":{"VCPU":1,"MEMORY_MB":512}}},"mappings":{"":["rp1"]}}`))
	f.Add([]byte(`{"allocations":{"rp1":{"resources":{"VCPU":-1}}}}`))
	f.Add([]byte(`{"allocations":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := parseAllocationRequest(compute.Selection{AllocationRequest: b})
		if err != nil {
			var ie *compute.InvalidInputError
			if !errors.As(err, &ie) || ie.Field != "allocation_request" {
				t.Fatalf("error %v does not name allocation_request", err)
			}
			return
		}
		if len(out) == 0 {
			t.Fatal("no error and no allocation")
		}
		for rp, res := range out {
			if rp == "" || len(res) == 0 {
				t.Fatalf("provider %q with %v", rp, res)
			}
			for rc, n := range res {
				if rc == "" || n < 1 {
					t.Fatalf("%s: %q=%d", rp, rc, n)
				}
			}
		}
	})
}

func TestSameAllocations(t *testing.T) {
	pa := func(r map[string]int64) placement.ProviderAllocation {
		return placement.ProviderAllocation{Resources: r}
	}
	want := map[string]map[string]int64{"rp1": {"VCPU": 1, "MEMORY_MB": 128}}
	for _, tc := range []struct {
		name string
		held map[string]placement.ProviderAllocation
		same bool
	}{
		{"exact", map[string]placement.ProviderAllocation{"rp1": pa(map[string]int64{"VCPU": 1, "MEMORY_MB": 128})}, true},
		// Two claims on the same host for one consumer, merged.
		{"doubled on the chosen host", map[string]placement.ProviderAllocation{"rp1": pa(map[string]int64{"VCPU": 2, "MEMORY_MB": 256})}, false},
		{"another host too", map[string]placement.ProviderAllocation{
			"rp1": pa(map[string]int64{"VCPU": 1, "MEMORY_MB": 128}), "rp2": pa(map[string]int64{"VCPU": 1, "MEMORY_MB": 128})}, false},
		{"another class", map[string]placement.ProviderAllocation{"rp1": pa(map[string]int64{"VCPU": 1, "MEMORY_MB": 128, "DISK_GB": 1})}, false},
		{"another host only", map[string]placement.ProviderAllocation{"rp2": pa(map[string]int64{"VCPU": 1, "MEMORY_MB": 128})}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameAllocations(tc.held, want); got != tc.same {
				t.Fatalf("sameAllocations = %v, want %v", got, tc.same)
			}
		})
	}
}
