package api_test

import (
	"strings"
	"testing"

	"github.com/novakit/novakit/placement"
)

type call struct {
	name   string
	method string
	path   string
	ver    string
	body   any
	status int
	code   string // expected error code (checked when non-empty)
	check  func(t *testing.T, r resp)
}

func run(t *testing.T, c *client, calls []call) {
	t.Helper()
	for _, tc := range calls {
		r := c.do(tc.method, tc.path, tc.ver, tc.body)
		if r.status != tc.status {
			t.Errorf("%s: %s %s @%s: status %d, want %d: %s", tc.name, tc.method, tc.path, tc.ver, r.status, tc.status, r.raw)
			continue
		}
		if tc.code != "" && r.code() != tc.code {
			t.Errorf("%s: code %q, want %q: %s", tc.name, r.code(), tc.code, r.raw)
		}
		if tc.check != nil {
			tc.check(t, r)
		}
	}
}

func has(keys ...string) func(t *testing.T, r resp) {
	return func(t *testing.T, r resp) {
		t.Helper()
		for _, k := range keys {
			if _, ok := r.body[k]; !ok {
				t.Errorf("missing %q in %s", k, r.raw)
			}
		}
	}
}

func lacks(keys ...string) func(t *testing.T, r resp) {
	return func(t *testing.T, r resp) {
		t.Helper()
		for _, k := range keys {
			if _, ok := r.body[k]; ok {
				t.Errorf("unexpected %q in %s", k, r.raw)
			}
		}
	}
}

func detailHas(s string) func(t *testing.T, r resp) {
	return func(t *testing.T, r resp) {
		t.Helper()
		if !strings.Contains(r.detail(), s) {
			t.Errorf("detail %q lacks %q", r.detail(), s)
		}
	}
}

const dup = placement.CodeDuplicateName

func TestProviders(t *testing.T) {
	c := newClient(t)
	rpPath := "/resource_providers/" + rp1
	run(t, c, []call{
		{"create 1.0", "POST", "/resource_providers", "1.0", map[string]any{"name": "a", "uuid": rp1}, 201, "", func(t *testing.T, r resp) {
			if r.header.Get("Location") != rpPath || len(r.raw) != 0 {
				t.Errorf("location %q body %q", r.header.Get("Location"), r.raw)
			}
		}},
		{"dup uuid", "POST", "/resource_providers", "1.39", map[string]any{"name": "b", "uuid": rp1}, 409, dup, nil},
		{"dup name", "POST", "/resource_providers", "1.39", map[string]any{"name": "a"}, 409, dup, nil},
		{"create 1.20 body", "POST", "/resource_providers", "1.20", map[string]any{"name": "child", "uuid": rp2, "parent_provider_uuid": rp1}, 200, "", has("uuid", "generation", "root_provider_uuid", "links")},
		{"parent before 1.14", "POST", "/resource_providers", "1.13", map[string]any{"name": "x", "parent_provider_uuid": rp1}, 400, "", detailHas("parent_provider_uuid")},
		{"unknown parent", "POST", "/resource_providers", "1.39", map[string]any{"name": "x", "parent_provider_uuid": rp3}, 400, "", nil},
		{"no name", "POST", "/resource_providers", "1.39", map[string]any{"uuid": rp3}, 400, "", detailHas("name")},
		{"name type", "POST", "/resource_providers", "1.39", map[string]any{"name": 5}, 400, "", detailHas("name")},
		{"empty name", "POST", "/resource_providers", "1.39", map[string]any{"name": ""}, 400, "", nil},
		{"bad uuid", "POST", "/resource_providers", "1.39", map[string]any{"name": "x", "uuid": "nope"}, 400, "", detailHas("uuid")},
		{"unknown field", "POST", "/resource_providers", "1.39", map[string]any{"name": "x", "colour": "red"}, 400, "", detailHas("colour")},
		{"invalid json", "POST", "/resource_providers", "1.39", `{"name":`, 400, "", detailHas("JSON")},
		{"array body", "POST", "/resource_providers", "1.39", `[1]`, 400, "", nil},
		{"show 1.0", "GET", rpPath, "1.0", nil, 200, "", lacks("root_provider_uuid", "parent_provider_uuid")},
		{"show 1.14", "GET", "/resource_providers/" + rp2, "1.14", nil, 200, "", func(t *testing.T, r resp) {
			if r.body["parent_provider_uuid"] != rp1 || r.body["root_provider_uuid"] != rp1 {
				t.Errorf("tree fields %s", r.raw)
			}
		}},
		{"show missing", "GET", "/resource_providers/" + rp3, "1.39", nil, 404, placement.CodeProviderNotFound, nil},
		{"show malformed", "GET", "/resource_providers/xyz", "1.39", nil, 404, "", nil},
		{"list", "GET", "/resource_providers", "1.39", nil, 200, "", func(t *testing.T, r resp) {
			if n := len(r.body["resource_providers"].([]any)); n != 2 {
				t.Errorf("list has %d", n)
			}
		}},
		{"list name", "GET", "/resource_providers?name=child", "1.39", nil, 200, "", count("resource_providers", 1)},
		{"list uuid", "GET", "/resource_providers?uuid=" + rp1, "1.0", nil, 200, "", count("resource_providers", 1)},
		{"list bad uuid", "GET", "/resource_providers?uuid=zz", "1.39", nil, 400, placement.CodeQueryBadValue, nil},
		{"list in_tree", "GET", "/resource_providers?in_tree=" + rp2, "1.14", nil, 200, "", count("resource_providers", 2)},
		{"list in_tree 1.13", "GET", "/resource_providers?in_tree=" + rp2, "1.13", nil, 400, "", nil},
		{"list unknown param", "GET", "/resource_providers?colour=red", "1.39", nil, 400, placement.CodeQueryBadValue, nil},
		{"list resources 1.3", "GET", "/resource_providers?resources=VCPU:1", "1.3", nil, 400, "", nil},
		{"list resources none fit", "GET", "/resource_providers?resources=VCPU:1", "1.4", nil, 200, "", count("resource_providers", 0)},
		{"list resources bad", "GET", "/resource_providers?resources=VCPU:0", "1.39", nil, 400, "", nil},
		{"list resources unknown", "GET", "/resource_providers?resources=CUSTOM_NOPE:1", "1.39", nil, 400, "", nil},
		{"list member_of", "GET", "/resource_providers?member_of=" + agg1, "1.3", nil, 200, "", count("resource_providers", 0)},
		{"list member_of twice 1.23", "GET", "/resource_providers?member_of=" + agg1 + "&member_of=" + agg1, "1.23", nil, 400, placement.CodeQueryDuplicateKey, nil},
		{"list required", "GET", "/resource_providers?required=HW_CPU_X86_AVX2", "1.18", nil, 200, "", count("resource_providers", 0)},
		{"list forbidden", "GET", "/resource_providers?required=!HW_CPU_X86_AVX2", "1.22", nil, 200, "", count("resource_providers", 2)},
		{"list forbidden 1.21", "GET", "/resource_providers?required=!HW_CPU_X86_AVX2", "1.21", nil, 400, "", nil},
		{"list required unknown", "GET", "/resource_providers?required=CUSTOM_NOPE", "1.18", nil, 400, "", detailHas("CUSTOM_NOPE")},
		{"list required bad", "GET", "/resource_providers?required=lower", "1.39", nil, 400, "", nil},
		{"update", "PUT", rpPath, "1.39", map[string]any{"name": "renamed"}, 200, "", func(t *testing.T, r resp) {
			if r.body["name"] != "renamed" {
				t.Errorf("%s", r.raw)
			}
		}},
		{"update dup", "PUT", rpPath, "1.39", map[string]any{"name": "child"}, 409, dup, nil},
		{"update no name", "PUT", rpPath, "1.39", map[string]any{}, 400, "", nil},
		{"update extra", "PUT", rpPath, "1.39", map[string]any{"name": "z", "uuid": rp1}, 400, "", nil},
		{"update missing", "PUT", "/resource_providers/" + rp3, "1.39", map[string]any{"name": "z"}, 404, "", nil},
		{"unparent 1.36", "PUT", "/resource_providers/" + rp2, "1.36", map[string]any{"name": "child", "parent_provider_uuid": nil}, 400, "", nil},
		{"same parent 1.36", "PUT", "/resource_providers/" + rp2, "1.36", map[string]any{"name": "child", "parent_provider_uuid": rp1}, 200, "", nil},
		{"loop 1.37", "PUT", rpPath, "1.37", map[string]any{"name": "renamed", "parent_provider_uuid": rp2}, 400, "", nil},
		{"delete parent", "DELETE", rpPath, "1.39", nil, 409, placement.CodeCannotDeleteParent, nil},
		{"unparent 1.37", "PUT", "/resource_providers/" + rp2, "1.37", map[string]any{"name": "child", "parent_provider_uuid": nil}, 200, "", func(t *testing.T, r resp) {
			if r.body["parent_provider_uuid"] != nil || r.body["root_provider_uuid"] != rp2 {
				t.Errorf("%s", r.raw)
			}
		}},
		{"delete", "DELETE", rpPath, "1.39", nil, 204, "", nil},
		{"delete again", "DELETE", rpPath, "1.39", nil, 404, "", nil},
	})
}

func count(key string, n int) func(t *testing.T, r resp) {
	return func(t *testing.T, r resp) {
		t.Helper()
		l, _ := r.body[key].([]any)
		if len(l) != n {
			t.Errorf("%s has %d entries, want %d: %s", key, len(l), n, r.raw)
		}
	}
}

func TestInventories(t *testing.T) {
	c := newClient(t)
	c.must(200, "POST", "/resource_providers", "1.20", map[string]any{"name": "a", "uuid": rp1})
	inv := "/resource_providers/" + rp1 + "/inventories"
	put := func(gen int, invs map[string]any) map[string]any {
		return map[string]any{"resource_provider_generation": gen, "inventories": invs}
	}
	run(t, c, []call{
		{"empty", "GET", inv, "1.0", nil, 200, "", has("inventories", "resource_provider_generation")},
		{"put", "PUT", inv, "1.39", put(0, map[string]any{"VCPU": map[string]any{"total": 8, "allocation_ratio": 2.0}, "DISK_GB": map[string]any{"total": 100}}), 200, "", func(t *testing.T, r resp) {
			v := r.body["inventories"].(map[string]any)["VCPU"].(map[string]any)
			if r.body["resource_provider_generation"] != float64(1) || v["max_unit"] != float64(placement.MaxInt) || v["allocation_ratio"] != 2.0 {
				t.Errorf("%s", r.raw)
			}
		}},
		{"stale", "PUT", inv, "1.39", put(0, map[string]any{"VCPU": map[string]any{"total": 8}}), 409, placement.CodeConcurrentUpdate, nil},
		{"no generation", "PUT", inv, "1.39", map[string]any{"inventories": map[string]any{}}, 400, "", detailHas("resource_provider_generation")},
		{"gen type", "PUT", inv, "1.39", map[string]any{"resource_provider_generation": "1", "inventories": map[string]any{}}, 400, "", detailHas("resource_provider_generation")},
		{"total zero", "PUT", inv, "1.39", put(1, map[string]any{"VCPU": map[string]any{"total": 0}}), 400, "", detailHas("total")},
		{"total negative", "PUT", inv, "1.39", put(1, map[string]any{"VCPU": map[string]any{"total": -3}}), 400, "", detailHas("total")},
		{"total float", "PUT", inv, "1.39", put(1, map[string]any{"VCPU": map[string]any{"total": 1.5}}), 400, "", detailHas("total")},
		{"total huge", "PUT", inv, "1.39", put(1, map[string]any{"VCPU": map[string]any{"total": 1e30}}), 400, "", detailHas("total")},
		{"ratio negative", "PUT", inv, "1.39", put(1, map[string]any{"VCPU": map[string]any{"total": 1, "allocation_ratio": -1}}), 400, "", detailHas("allocation_ratio")},
		{"unknown inv field", "PUT", inv, "1.39", put(1, map[string]any{"VCPU": map[string]any{"total": 1, "colour": 1}}), 400, "", detailHas("colour")},
		{"bad class", "PUT", inv, "1.39", put(1, map[string]any{"vcpu": map[string]any{"total": 1}}), 400, "", detailHas("vcpu")},
		{"unknown custom class", "PUT", inv, "1.39", put(1, map[string]any{"CUSTOM_NOPE": map[string]any{"total": 1}}), 400, "", nil},
		{"reserved==total 1.25", "PUT", inv, "1.25", put(1, map[string]any{"VCPU": map[string]any{"total": 4, "reserved": 4}}), 400, "", nil},
		{"reserved>total", "PUT", inv, "1.39", put(1, map[string]any{"VCPU": map[string]any{"total": 4, "reserved": 5}}), 400, "", nil},
		{"reserved==total 1.26", "PUT", "/resource_providers/" + rp1 + "/inventories/DISK_GB", "1.26", map[string]any{"resource_provider_generation": 1, "total": 4, "reserved": 4}, 200, "", nil},
		{"show class", "GET", inv + "/VCPU", "1.39", nil, 200, "", has("total", "resource_provider_generation")},
		{"show missing class", "GET", inv + "/PCI_DEVICE", "1.39", nil, 404, "", nil},
		{"update class stale", "PUT", inv + "/VCPU", "1.39", map[string]any{"resource_provider_generation": 0, "total": 4}, 409, placement.CodeConcurrentUpdate, nil},
		{"update absent class", "PUT", inv + "/PCI_DEVICE", "1.39", map[string]any{"resource_provider_generation": 2, "total": 4}, 400, "", nil},
		{"post class", "POST", inv, "1.39", map[string]any{"resource_class": "PCI_DEVICE", "resource_provider_generation": 2, "total": 4}, 201, "", has("total")},
		{"post existing", "POST", inv, "1.39", map[string]any{"resource_class": "PCI_DEVICE", "resource_provider_generation": 3, "total": 4}, 409, "", nil},
		{"delete class", "DELETE", inv + "/PCI_DEVICE", "1.39", nil, 204, "", nil},
		{"delete class missing", "DELETE", inv + "/PCI_DEVICE", "1.39", nil, 404, "", nil},
		{"usages", "GET", "/resource_providers/" + rp1 + "/usages", "1.0", nil, 200, "", has("usages", "resource_provider_generation")},
		{"usages missing rp", "GET", "/resource_providers/" + rp3 + "/usages", "1.0", nil, 404, "", nil},
	})
	// Inventory in use cannot go.
	c.must(204, "PUT", "/allocations/"+con1, "1.39", alloc(rp1, nil, "VCPU", 2))
	run(t, c, []call{
		{"delete all in use", "DELETE", inv, "1.39", nil, 409, placement.CodeInventoryInUse, nil},
		{"replace drops used class", "PUT", inv, "1.39", put(5, map[string]any{"DISK_GB": map[string]any{"total": 4}}), 409, placement.CodeInventoryInUse, nil},
	})
	c.must(204, "DELETE", "/allocations/"+con1, "1.39", nil)
	c.must(204, "DELETE", inv, "1.5", nil)
}

// alloc is a 1.39 PUT /allocations body on one provider.
func alloc(rp string, gen any, class string, n int) map[string]any {
	return map[string]any{
		"allocations": map[string]any{rp: map[string]any{"resources": map[string]any{class: n}}},
		"project_id":  "p", "user_id": "u",
		"consumer_generation": gen, "consumer_type": "INSTANCE",
	}
}

func TestTraitsClassesAggregates(t *testing.T) {
	c := newClient(t)
	c.compute(rp1, "a", 4)
	tp := "/resource_providers/" + rp1 + "/traits"
	ap := "/resource_providers/" + rp1 + "/aggregates"
	run(t, c, []call{
		{"put trait", "PUT", "/traits/CUSTOM_GOLD", "1.6", nil, 201, "", nil},
		{"put trait again", "PUT", "/traits/CUSTOM_GOLD", "1.6", nil, 204, "", nil},
		{"put standard", "PUT", "/traits/HW_CPU_X86_AVX2", "1.6", nil, 400, "", nil},
		{"put lower", "PUT", "/traits/CUSTOM_gold", "1.6", nil, 400, "", nil},
		{"show trait", "GET", "/traits/CUSTOM_GOLD", "1.6", nil, 204, "", nil},
		{"show missing", "GET", "/traits/CUSTOM_NOPE", "1.6", nil, 404, "", nil},
		{"list in", "GET", "/traits?name=in:CUSTOM_GOLD,HW_CPU_X86_AVX2", "1.6", nil, 200, "", count("traits", 2)},
		{"list startswith", "GET", "/traits?name=startswith:CUSTOM_", "1.6", nil, 200, "", count("traits", 1)},
		{"list bad name", "GET", "/traits?name=CUSTOM_", "1.6", nil, 400, "", nil},
		{"list bad associated", "GET", "/traits?associated=maybe", "1.6", nil, 400, "", nil},
		{"rp traits", "GET", tp, "1.6", nil, 200, "", count("traits", 0)},
		{"rp set", "PUT", tp, "1.6", map[string]any{"resource_provider_generation": 1, "traits": []string{"CUSTOM_GOLD", "HW_CPU_X86_AVX2"}}, 200, "", count("traits", 2)},
		{"rp set stale", "PUT", tp, "1.23", map[string]any{"resource_provider_generation": 1, "traits": []string{}}, 409, placement.CodeConcurrentUpdate, nil},
		{"rp set unknown", "PUT", tp, "1.6", map[string]any{"resource_provider_generation": 2, "traits": []string{"CUSTOM_NOPE"}}, 400, "", nil},
		{"rp set type", "PUT", tp, "1.6", map[string]any{"resource_provider_generation": 2, "traits": []any{1}}, 400, "", detailHas("traits[0]")},
		{"rp set dup", "PUT", tp, "1.6", map[string]any{"resource_provider_generation": 2, "traits": []string{"CUSTOM_GOLD", "CUSTOM_GOLD"}}, 400, "", nil},
		{"rp set no gen", "PUT", tp, "1.6", map[string]any{"traits": []string{}}, 400, "", nil},
		{"associated", "GET", "/traits?associated=true", "1.6", nil, 200, "", count("traits", 2)},
		{"associated startswith", "GET", "/traits?associated=true&name=startswith:CUSTOM_", "1.6", nil, 200, "", count("traits", 1)},
		{"delete in use", "DELETE", "/traits/CUSTOM_GOLD", "1.6", nil, 409, "", nil},
		{"delete standard", "DELETE", "/traits/HW_CPU_X86_AVX2", "1.6", nil, 400, "", nil},
		{"rp traits delete", "DELETE", tp, "1.6", nil, 204, "", nil},
		{"delete trait", "DELETE", "/traits/CUSTOM_GOLD", "1.6", nil, 204, "", nil},
		{"delete trait missing", "DELETE", "/traits/CUSTOM_GOLD", "1.6", nil, 404, "", nil},

		{"classes 1.1", "GET", "/resource_classes", "1.1", nil, 404, "", nil},
		{"classes", "GET", "/resource_classes", "1.2", nil, 200, "", nil},
		{"create class", "POST", "/resource_classes", "1.2", map[string]any{"name": "CUSTOM_FPGA_X"}, 201, "", nil},
		{"create dup", "POST", "/resource_classes", "1.39", map[string]any{"name": "CUSTOM_FPGA_X"}, 409, dup, nil},
		{"create standard", "POST", "/resource_classes", "1.2", map[string]any{"name": "VCPU"}, 400, "", nil},
		{"create extra", "POST", "/resource_classes", "1.2", map[string]any{"name": "CUSTOM_Y", "x": 1}, 400, "", nil},
		{"show class", "GET", "/resource_classes/CUSTOM_FPGA_X", "1.2", nil, 200, "", has("name", "links")},
		{"show standard", "GET", "/resource_classes/VCPU", "1.2", nil, 200, "", nil},
		{"show missing", "GET", "/resource_classes/CUSTOM_NOPE", "1.2", nil, 404, "", nil},
		{"put new 1.7", "PUT", "/resource_classes/CUSTOM_Z", "1.7", nil, 201, "", nil},
		{"put existing 1.7", "PUT", "/resource_classes/CUSTOM_Z", "1.7", nil, 204, "", nil},
		{"rename 1.6", "PUT", "/resource_classes/CUSTOM_Z", "1.6", map[string]any{"name": "CUSTOM_W"}, 200, "", func(t *testing.T, r resp) {
			if r.body["name"] != "CUSTOM_W" {
				t.Errorf("%s", r.raw)
			}
		}},
		{"renamed old gone", "GET", "/resource_classes/CUSTOM_Z", "1.2", nil, 404, "", nil},
		{"renamed new there", "GET", "/resource_classes/CUSTOM_W", "1.2", nil, 200, "", nil},
		{"rename to existing", "PUT", "/resource_classes/CUSTOM_W", "1.6", map[string]any{"name": "CUSTOM_FPGA_X"}, 409, "", nil},
		{"rename missing", "PUT", "/resource_classes/CUSTOM_NOPE", "1.6", map[string]any{"name": "CUSTOM_NOPE2"}, 404, "", nil},
		{"rename standard", "PUT", "/resource_classes/VCPU", "1.6", map[string]any{"name": "CUSTOM_V"}, 400, "", nil},
		{"rename to standard", "PUT", "/resource_classes/CUSTOM_W", "1.6", map[string]any{"name": "VCPU"}, 400, "", nil},
		{"rename no body", "PUT", "/resource_classes/CUSTOM_W", "1.6", map[string]any{}, 400, "", nil},
		{"rename extra", "PUT", "/resource_classes/CUSTOM_W", "1.6", map[string]any{"name": "CUSTOM_Q", "x": 1}, 400, "", nil},
		{"rename back", "PUT", "/resource_classes/CUSTOM_W", "1.2", map[string]any{"name": "CUSTOM_Z"}, 200, "", nil},
		{"delete standard class", "DELETE", "/resource_classes/VCPU", "1.2", nil, 400, "", nil},
		{"delete class", "DELETE", "/resource_classes/CUSTOM_Z", "1.2", nil, 204, "", nil},
		{"delete class missing", "DELETE", "/resource_classes/CUSTOM_Z", "1.2", nil, 404, "", nil},

		{"aggs 1.0", "GET", ap, "1.0", nil, 404, "", nil},
		{"aggs 1.1", "GET", ap, "1.1", nil, 200, "", lacks("resource_provider_generation")},
		{"set aggs 1.1", "PUT", ap, "1.1", []string{agg1}, 200, "", func(t *testing.T, r resp) {
			if _, ok := r.body["resource_provider_generation"]; ok || len(r.body["aggregates"].([]any)) != 1 {
				t.Errorf("%s", r.raw)
			}
		}},
		{"set aggs 1.1 object", "PUT", ap, "1.1", map[string]any{"aggregates": []string{}}, 400, "", nil},
		{"set aggs bad uuid", "PUT", ap, "1.1", []string{"x"}, 400, "", nil},
		{"aggs 1.19", "GET", ap, "1.19", nil, 200, "", has("aggregates", "resource_provider_generation")},
		{"set aggs 1.19 list", "PUT", ap, "1.19", []string{agg1}, 400, "", nil},
		{"set aggs 1.19 stale", "PUT", ap, "1.23", map[string]any{"aggregates": []string{}, "resource_provider_generation": 0}, 409, placement.CodeConcurrentUpdate, nil},
		{"set aggs 1.19", "PUT", ap, "1.19", map[string]any{"aggregates": []string{}, "resource_provider_generation": 3}, 200, "", func(t *testing.T, r resp) {
			if r.body["resource_provider_generation"] != float64(4) {
				t.Errorf("%s", r.raw)
			}
		}},
	})
}
