package api_test

import (
	"testing"

	"github.com/novakit/novakit/placement"
)

func TestAllocations(t *testing.T) {
	c := newClient(t)
	c.compute(rp1, "a", 4)
	c.compute(rp2, "b", 4)
	ap := "/allocations/" + con1
	legacy := map[string]any{"allocations": []any{map[string]any{"resource_provider": map[string]any{"uuid": rp1}, "resources": map[string]any{"VCPU": 1}}}}
	dict := func(extra map[string]any) map[string]any {
		m := map[string]any{"allocations": map[string]any{rp1: map[string]any{"resources": map[string]any{"VCPU": 1}}}, "project_id": "p", "user_id": "u"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	run(t, c, []call{
		{"get unknown", "GET", ap, "1.39", nil, 200, "", func(t *testing.T, r resp) {
			if len(r.body["allocations"].(map[string]any)) != 0 || len(r.body) != 1 {
				t.Errorf("%s", r.raw)
			}
		}},
		{"legacy 1.0", "PUT", ap, "1.0", legacy, 204, "", nil},
		{"get 1.0", "GET", ap, "1.0", nil, 200, "", lacks("project_id", "consumer_generation")},
		{"get 1.12 incomplete", "GET", ap, "1.12", nil, 200, "", func(t *testing.T, r resp) {
			if r.body["project_id"] != placement.IncompleteConsumerID {
				t.Errorf("%s", r.raw)
			}
		}},
		{"legacy 1.8 needs project", "PUT", ap, "1.8", legacy, 400, "", detailHas("project_id")},
		{"legacy empty list", "PUT", ap, "1.0", map[string]any{"allocations": []any{}}, 400, "", nil},
		{"dict at 1.11", "PUT", ap, "1.11", dict(nil), 400, "", nil},
		{"list at 1.12", "PUT", ap, "1.12", map[string]any{"allocations": []any{}, "project_id": "p", "user_id": "u"}, 400, "", nil},
		{"dict 1.12", "PUT", ap, "1.12", dict(nil), 204, "", nil},
		{"empty dict 1.27", "PUT", ap, "1.27", map[string]any{"allocations": map[string]any{}, "project_id": "p", "user_id": "u"}, 400, "", nil},
		{"1.28 needs generation", "PUT", ap, "1.28", dict(nil), 400, "", detailHas("consumer_generation")},
		{"1.28 null for existing", "PUT", ap, "1.28", dict(map[string]any{"consumer_generation": nil}), 409, placement.CodeConcurrentUpdate, nil},
		{"get 1.28", "GET", ap, "1.28", nil, 200, "", has("consumer_generation", "project_id", "user_id")},
		{"1.28 stale", "PUT", ap, "1.28", dict(map[string]any{"consumer_generation": 0}), 409, placement.CodeConcurrentUpdate, nil},
		{"1.28 gen type", "PUT", ap, "1.28", dict(map[string]any{"consumer_generation": "2"}), 400, "", detailHas("consumer_generation")},
		{"1.38 needs type", "PUT", ap, "1.38", dict(map[string]any{"consumer_generation": 2}), 400, "", detailHas("consumer_type")},
		{"1.37 refuses type", "PUT", ap, "1.37", dict(map[string]any{"consumer_generation": 2, "consumer_type": "INSTANCE"}), 400, "", detailHas("consumer_type")},
		{"bad type", "PUT", ap, "1.38", dict(map[string]any{"consumer_generation": 2, "consumer_type": "lower"}), 400, "", nil},
		{"1.38", "PUT", ap, "1.38", dict(map[string]any{"consumer_generation": 2, "consumer_type": "INSTANCE"}), 204, "", nil},
		{"get 1.38", "GET", ap, "1.38", nil, 200, "", func(t *testing.T, r resp) {
			if r.body["consumer_type"] != "INSTANCE" || r.body["consumer_generation"] != float64(3) {
				t.Errorf("%s", r.raw)
			}
		}},
		{"mappings 1.33", "PUT", ap, "1.33", dict(map[string]any{"consumer_generation": 3, "mappings": map[string]any{}}), 400, "", detailHas("mappings")},
		{"mappings 1.34", "PUT", ap, "1.34", dict(map[string]any{"consumer_generation": 3, "mappings": map[string]any{"": []string{rp1}}}), 204, "", nil},
		{"over capacity", "PUT", ap, "1.39", alloc(rp1, 4, "VCPU", 5), 409, placement.CodeUndefined, detailHas("Unable to allocate")},
		{"zero amount", "PUT", ap, "1.39", alloc(rp1, 4, "VCPU", 0), 400, "", detailHas("VCPU")},
		{"negative amount", "PUT", ap, "1.39", alloc(rp1, 4, "VCPU", -1), 400, "", detailHas("VCPU")},
		{"unknown class", "PUT", ap, "1.39", alloc(rp1, 4, "CUSTOM_NOPE", 1), 400, "", nil},
		{"no inventory", "PUT", ap, "1.39", alloc(rp1, 4, "DISK_GB", 1), 409, "", nil},
		{"unknown provider", "PUT", ap, "1.39", alloc(rp3, 4, "VCPU", 1), 400, "", nil},
		{"bad provider key", "PUT", ap, "1.39", alloc("x", 4, "VCPU", 1), 400, "", nil},
		{"empty resources", "PUT", ap, "1.39", map[string]any{"allocations": map[string]any{rp1: map[string]any{"resources": map[string]any{}}}, "project_id": "p", "user_id": "u", "consumer_generation": 4, "consumer_type": "INSTANCE"}, 400, "", nil},
		{"bad consumer", "PUT", "/allocations/xyz", "1.39", alloc(rp1, nil, "VCPU", 1), 400, "", nil},
		{"rp allocations", "GET", "/resource_providers/" + rp1 + "/allocations", "1.39", nil, 200, "", func(t *testing.T, r resp) {
			a := r.body["allocations"].(map[string]any)[con1].(map[string]any)["resources"].(map[string]any)
			if a["VCPU"] != float64(1) {
				t.Errorf("%s", r.raw)
			}
		}},
		{"usages", "GET", "/usages?project_id=p", "1.9", nil, 200, "", func(t *testing.T, r resp) {
			if r.body["usages"].(map[string]any)["VCPU"] != float64(1) {
				t.Errorf("%s", r.raw)
			}
		}},
		{"usages 1.38", "GET", "/usages?project_id=p&consumer_type=INSTANCE", "1.38", nil, 200, "", func(t *testing.T, r resp) {
			g := r.body["usages"].(map[string]any)["INSTANCE"].(map[string]any)
			if g["consumer_count"] != float64(1) || g["VCPU"] != float64(1) {
				t.Errorf("%s", r.raw)
			}
		}},
		{"usages all", "GET", "/usages?project_id=p&consumer_type=all", "1.38", nil, 200, "", func(t *testing.T, r resp) {
			us := r.body["usages"].(map[string]any)
			g, _ := us["all"].(map[string]any)
			if len(us) != 1 || g["consumer_count"] != float64(1) || g["VCPU"] != float64(1) {
				t.Errorf("consumer_type=all must sum everything under \"all\": %s", r.raw)
			}
		}},
		{"usages no project", "GET", "/usages", "1.39", nil, 400, placement.CodeQueryMissingValue, nil},
		{"usages type 1.37", "GET", "/usages?project_id=p&consumer_type=INSTANCE", "1.37", nil, 400, "", nil},
		// Move the allocation to a migration consumer atomically.
		{"post 1.13", "POST", "/allocations", "1.39", map[string]any{
			con2: alloc(rp1, nil, "VCPU", 1)["allocations"].(map[string]any),
		}, 400, "", nil},
		{"post move", "POST", "/allocations", "1.39", map[string]any{
			con2: map[string]any{"allocations": map[string]any{rp1: map[string]any{"resources": map[string]any{"VCPU": 1}}}, "project_id": "p", "user_id": "u", "consumer_generation": nil, "consumer_type": "MIGRATION"},
			con1: map[string]any{"allocations": map[string]any{}, "project_id": "p", "user_id": "u", "consumer_generation": 4, "consumer_type": "INSTANCE"},
		}, 204, "", nil},
		{"post empty", "POST", "/allocations", "1.39", map[string]any{}, 400, "", nil},
		{"post bad consumer", "POST", "/allocations", "1.39", map[string]any{"x": map[string]any{}}, 400, "", nil},
		{"moved", "GET", ap, "1.39", nil, 200, "", lacks("consumer_generation")},
		{"delete", "DELETE", "/allocations/" + con2, "1.39", nil, 204, "", nil},
		{"delete again", "DELETE", "/allocations/" + con2, "1.39", nil, 404, "", nil},
		{"rp in use", "DELETE", "/resource_providers/" + rp2, "1.39", nil, 204, "", nil},
	})
	c.must(204, "PUT", ap, "1.39", alloc(rp1, nil, "VCPU", 1))
	r := c.must(409, "DELETE", "/resource_providers/"+rp1, "1.39", nil)
	if r.code() != placement.CodeProviderInUse {
		t.Fatalf("%s", r.raw)
	}
	// Safe delete at 1.28: empty allocations with the generation.
	c.must(204, "PUT", ap, "1.39", map[string]any{"allocations": map[string]any{}, "project_id": "p", "user_id": "u", "consumer_generation": 1, "consumer_type": "INSTANCE"})
	c.must(204, "DELETE", "/resource_providers/"+rp1, "1.39", nil)
}

func TestReshaper(t *testing.T) {
	c := newClient(t)
	c.compute(rp1, "root", 8)
	c.must(200, "POST", "/resource_providers", "1.20", map[string]any{"name": "numa0", "uuid": rp2, "parent_provider_uuid": rp1})
	c.must(204, "PUT", "/allocations/"+con1, "1.39", alloc(rp1, nil, "VCPU", 2))
	body := func(rootGen int) map[string]any {
		return map[string]any{
			"inventories": map[string]any{
				rp1: map[string]any{"resource_provider_generation": rootGen, "inventories": map[string]any{"MEMORY_MB": map[string]any{"total": 4096}}},
				rp2: map[string]any{"resource_provider_generation": 0, "inventories": map[string]any{"VCPU": map[string]any{"total": 8}}},
			},
			"allocations": map[string]any{
				con1: map[string]any{"allocations": map[string]any{rp2: map[string]any{"resources": map[string]any{"VCPU": 2}}}, "project_id": "p", "user_id": "u", "consumer_generation": 1, "consumer_type": "INSTANCE"},
			},
		}
	}
	run(t, c, []call{
		{"1.29", "POST", "/reshaper", "1.29", body(2), 404, "", nil},
		{"stale", "POST", "/reshaper", "1.39", body(1), 409, placement.CodeConcurrentUpdate, nil},
		{"missing allocations", "POST", "/reshaper", "1.39", map[string]any{"inventories": map[string]any{}}, 400, "", nil},
		{"bad inventory", "POST", "/reshaper", "1.39", map[string]any{"inventories": map[string]any{rp1: map[string]any{"resource_provider_generation": 2, "inventories": map[string]any{"VCPU": map[string]any{"total": -1}}}}, "allocations": map[string]any{}}, 400, "", nil},
		{"reshape", "POST", "/reshaper", "1.39", body(2), 204, "", nil},
		{"moved", "GET", "/allocations/" + con1, "1.39", nil, 200, "", func(t *testing.T, r resp) {
			if _, ok := r.body["allocations"].(map[string]any)[rp2]; !ok {
				t.Errorf("%s", r.raw)
			}
		}},
	})
}

func TestCandidates(t *testing.T) {
	c := newClient(t)
	c.compute(rp1, "root", 8)
	c.must(200, "POST", "/resource_providers", "1.20", map[string]any{"name": "numa0", "uuid": rp2, "parent_provider_uuid": rp1})
	summary := func(r resp, u string) map[string]any {
		s, _ := r.body["provider_summaries"].(map[string]any)[u].(map[string]any)
		return s
	}
	firstAR := func(r resp) map[string]any {
		l := r.body["allocation_requests"].([]any)
		if len(l) == 0 {
			return nil
		}
		return l[0].(map[string]any)
	}
	_ = summary
	run(t, c, []call{
		{"custom class unknown", "GET", "/allocation_candidates?resources=CUSTOM_FPGA:1", "1.39", nil, 400, "", nil},
	})
	c.must(201, "PUT", "/resource_classes/CUSTOM_FPGA", "1.7", nil)
	c.must(200, "PUT", "/resource_providers/"+rp2+"/inventories", "1.39", map[string]any{"resource_provider_generation": 0,
		"inventories": map[string]any{"CUSTOM_FPGA": map[string]any{"total": 2}}})
	run(t, c, []call{
		{"1.10 list shape", "GET", "/allocation_candidates?resources=VCPU:1", "1.10", nil, 200, "", func(t *testing.T, r resp) {
			a := firstAR(r)["allocations"].([]any)[0].(map[string]any)
			if a["resource_provider"].(map[string]any)["uuid"] != rp1 {
				t.Errorf("%s", r.raw)
			}
			s := summary(r, rp1)
			if _, ok := s["traits"]; ok {
				t.Errorf("traits before 1.17: %s", r.raw)
			}
			if _, ok := s["resources"].(map[string]any)["MEMORY_MB"]; ok {
				t.Errorf("unrequested class before 1.27: %s", r.raw)
			}
		}},
		{"1.12 dict shape", "GET", "/allocation_candidates?resources=VCPU:1", "1.12", nil, 200, "", func(t *testing.T, r resp) {
			if _, ok := firstAR(r)["allocations"].(map[string]any)[rp1]; !ok {
				t.Errorf("%s", r.raw)
			}
		}},
		{"1.17 traits", "GET", "/allocation_candidates?resources=VCPU:1", "1.17", nil, 200, "", func(t *testing.T, r resp) {
			if _, ok := summary(r, rp1)["traits"]; !ok {
				t.Errorf("%s", r.raw)
			}
		}},
		{"1.27 all classes", "GET", "/allocation_candidates?resources=VCPU:1", "1.27", nil, 200, "", func(t *testing.T, r resp) {
			if _, ok := summary(r, rp1)["resources"].(map[string]any)["MEMORY_MB"]; !ok {
				t.Errorf("%s", r.raw)
			}
			if _, ok := summary(r, rp1)["root_provider_uuid"]; ok {
				t.Errorf("root before 1.29: %s", r.raw)
			}
		}},
		{"nested 1.28 excluded", "GET", "/allocation_candidates?resources=VCPU:1,CUSTOM_FPGA:1", "1.28", nil, 200, "", count("allocation_requests", 0)},
		{"nested 1.29", "GET", "/allocation_candidates?resources=VCPU:1,CUSTOM_FPGA:1", "1.29", nil, 200, "", func(t *testing.T, r resp) {
			s := summary(r, rp2)
			if s["parent_provider_uuid"] != rp1 || s["root_provider_uuid"] != rp1 || summary(r, rp1)["parent_provider_uuid"] != nil {
				t.Errorf("%s", r.raw)
			}
			if _, ok := firstAR(r)["mappings"]; ok {
				t.Errorf("mappings before 1.34")
			}
		}},
		{"1.34 mappings", "GET", "/allocation_candidates?resources=VCPU:1&resources_ACC=CUSTOM_FPGA:1&group_policy=none", "1.34", nil, 200, "", func(t *testing.T, r resp) {
			m := firstAR(r)["mappings"].(map[string]any)
			if m["_ACC"].([]any)[0] != rp2 || m[""].([]any)[0] != rp1 {
				t.Errorf("%s", r.raw)
			}
		}},
		{"limit", "GET", "/allocation_candidates?resources=VCPU:1&limit=1", "1.16", nil, 200, "", count("allocation_requests", 1)},
		{"limit 1.15", "GET", "/allocation_candidates?resources=VCPU:1&limit=1", "1.15", nil, 400, "", nil},
		{"no resources", "GET", "/allocation_candidates", "1.39", nil, 400, "", nil},
		{"zero", "GET", "/allocation_candidates?resources=VCPU:0", "1.39", nil, 400, "", detailHas("VCPU")},
		{"dup key", "GET", "/allocation_candidates?resources=VCPU:1&limit=1&limit=2", "1.39", nil, 400, placement.CodeQueryDuplicateKey, nil},
		{"unknown param", "GET", "/allocation_candidates?resources=VCPU:1&colour=red", "1.39", nil, 400, "", nil},
		{"bad trait", "GET", "/allocation_candidates?resources=VCPU:1&required=nope", "1.39", nil, 400, "", nil},
		{"required", "GET", "/allocation_candidates?resources=VCPU:1&required=HW_CPU_X86_AVX2", "1.17", nil, 200, "", count("allocation_requests", 0)},
		{"forbidden", "GET", "/allocation_candidates?resources=VCPU:1&required=!HW_CPU_X86_AVX2", "1.22", nil, 200, "", count("allocation_requests", 1)},
		{"groups need policy", "GET", "/allocation_candidates?resources1=VCPU:1&resources2=VCPU:1", "1.25", nil, 400, "", nil},
		{"in_tree", "GET", "/allocation_candidates?resources=VCPU:1&in_tree=" + rp2, "1.31", nil, 200, "", count("allocation_requests", 1)},
		{"root_required", "GET", "/allocation_candidates?resources=VCPU:1&root_required=!HW_CPU_X86_AVX2", "1.35", nil, 200, "", count("allocation_requests", 1)},
		{"over capacity", "GET", "/allocation_candidates?resources=VCPU:9", "1.39", nil, 200, "", count("allocation_requests", 0)},
	})
}

// TestNoPartialWrite: a multi-consumer POST /allocations or a reshape that
// fails on its last part changes nothing.
func TestNoPartialWrite(t *testing.T) {
	c := newClient(t)
	c.compute(rp1, "a", 4)
	body := map[string]any{
		con1: map[string]any{"allocations": map[string]any{rp1: map[string]any{"resources": map[string]any{"VCPU": 2}}}, "project_id": "p", "user_id": "u", "consumer_generation": nil, "consumer_type": "INSTANCE"},
		con2: map[string]any{"allocations": map[string]any{rp1: map[string]any{"resources": map[string]any{"VCPU": 3}}}, "project_id": "p", "user_id": "u", "consumer_generation": nil, "consumer_type": "INSTANCE"},
	}
	c.must(409, "POST", "/allocations", "1.39", body)
	body[con2].(map[string]any)["allocations"] = map[string]any{rp1: map[string]any{"resources": map[string]any{"VCPU": 1 << 40}}}
	c.must(400, "POST", "/allocations", "1.39", body)
	r := c.must(200, "GET", "/resource_providers/"+rp1+"/usages", "1.39", nil)
	if r.body["usages"].(map[string]any)["VCPU"] != float64(0) {
		t.Fatalf("partial write: %s", r.raw)
	}
	r = c.must(200, "GET", "/resource_providers/"+rp1, "1.39", nil)
	if r.body["generation"] != float64(1) {
		t.Fatalf("generation moved: %s", r.raw)
	}
	c.must(400, "POST", "/reshaper", "1.39", map[string]any{
		"inventories": map[string]any{rp1: map[string]any{"resource_provider_generation": 1, "inventories": map[string]any{"VCPU": map[string]any{"total": 1}}}},
		"allocations": map[string]any{con1: map[string]any{"allocations": map[string]any{rp1: map[string]any{"resources": map[string]any{"VCPU": 2}}}, "project_id": "p", "user_id": "u", "consumer_generation": nil}},
	})
	c.must(409, "POST", "/reshaper", "1.39", map[string]any{
		"inventories": map[string]any{rp1: map[string]any{"resource_provider_generation": 1, "inventories": map[string]any{"VCPU": map[string]any{"total": 1}}}},
		"allocations": map[string]any{con1: map[string]any{"allocations": map[string]any{rp1: map[string]any{"resources": map[string]any{"VCPU": 2}}}, "project_id": "p", "user_id": "u", "consumer_generation": nil, "consumer_type": "INSTANCE"}},
	})
	r = c.must(200, "GET", "/resource_providers/"+rp1+"/inventories", "1.39", nil)
	if r.body["resource_provider_generation"] != float64(1) || r.body["inventories"].(map[string]any)["VCPU"].(map[string]any)["total"] != float64(4) {
		t.Fatalf("reshape partially applied: %s", r.raw)
	}
}
