package placement

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestResourceClassesAndTraits(t *testing.T) {
	f := newFixture(t)
	ctx := f.ctx
	if err := f.ix.CreateResourceClass(ctx, "CUSTOM_FPGA_X"); err != nil {
		t.Fatal(err)
	}
	if err := f.ix.CreateResourceClass(ctx, "CUSTOM_FPGA_X"); !errors.Is(err, ErrDuplicateName) {
		t.Errorf("duplicate class: %v", err)
	}
	if err := f.ix.CreateResourceClass(ctx, "FPGA_X"); !errors.Is(err, ErrInvalid) {
		t.Errorf("non-custom class: %v", err)
	}
	rcs, _ := f.ix.ResourceClasses(ctx)
	if !slices.Contains(rcs, "CUSTOM_FPGA_X") || !slices.Contains(rcs, "VCPU") || len(rcs) != len(StandardResourceClasses())+1 {
		t.Errorf("classes %v", rcs)
	}
	f.rp("cn", "", invs("CUSTOM_FPGA_X", 2), "CUSTOM_GOLD")
	if err := f.ix.DeleteResourceClass(ctx, "CUSTOM_FPGA_X"); !errors.Is(err, ErrInUse) {
		t.Errorf("delete class in use: %v", err)
	}
	if err := f.ix.DeleteResourceClass(ctx, "VCPU"); !errors.Is(err, ErrInvalid) {
		t.Errorf("delete standard class: %v", err)
	}
	eq(t, "custom class candidates", f.candidates("resources=CUSTOM_FPGA_X:1&required=CUSTOM_GOLD", v139), "cn:CUSTOM_FPGA_X=1|=cn")
	inv, g, err := f.ix.Inventories(ctx, uid("cn"))
	if err != nil || g != 2 || inv["CUSTOM_FPGA_X"].Total != 2 {
		t.Errorf("inventories %v %d %v", inv, g, err)
	}
	if _, _, err := f.ix.SetInventories(ctx, uid("cn"), g, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.ix.DeleteResourceClass(ctx, "CUSTOM_FPGA_X"); err != nil {
		t.Errorf("delete unused class: %v", err)
	}
	if err := f.ix.DeleteResourceClass(ctx, "CUSTOM_FPGA_X"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete again: %v", err)
	}
	if _, err := f.query("resources=CUSTOM_FPGA_X:1", v139); !errors.Is(err, ErrInvalid) {
		t.Errorf("deleted class in a query: %v", err)
	}

	if created, err := f.ix.CreateTrait(ctx, "CUSTOM_GOLD"); err != nil || created {
		t.Errorf("existing trait: %v %v", created, err)
	}
	traits, _ := f.ix.TraitNames(ctx)
	if !slices.Contains(traits, "CUSTOM_GOLD") || !slices.Contains(traits, "COMPUTE_NODE") {
		t.Error("trait names")
	}
	if err := f.ix.DeleteTrait(ctx, "CUSTOM_GOLD"); !errors.Is(err, ErrInUse) {
		t.Errorf("delete trait in use: %v", err)
	}
	if err := f.ix.DeleteTrait(ctx, "COMPUTE_NODE"); !errors.Is(err, ErrInvalid) {
		t.Errorf("delete standard trait: %v", err)
	}
	ts, g, _ := f.ix.Traits(ctx, uid("cn"))
	if !slices.Equal(ts, []string{"CUSTOM_GOLD"}) {
		t.Errorf("traits %v", ts)
	}
	if _, err := f.ix.SetTraits(ctx, uid("cn"), g, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.ix.DeleteTrait(ctx, "CUSTOM_GOLD"); err != nil {
		t.Errorf("delete unused trait: %v", err)
	}
	if err := f.ix.DeleteTrait(ctx, "CUSTOM_GOLD"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete trait again: %v", err)
	}
	f.aggs("cn", "x", "y")
	as, _, _ := f.ix.Aggregates(ctx, uid("cn"))
	if len(as) != 2 {
		t.Errorf("aggregates %v", as)
	}
	if _, err := f.ix.SetAggregates(ctx, uid("cn"), AnyGeneration, []string{"nope"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad aggregate: %v", err)
	}
	if _, _, err := f.ix.Traits(ctx, uid("none")); !errors.Is(err, ErrNotFound) || ErrorCode(err) != CodeProviderNotFound {
		t.Errorf("traits of a missing provider: %v", err)
	}
}

func TestInventoryValidate(t *testing.T) {
	ok := NewInventory(4)
	for name, mut := range map[string]func(*Inventory){
		"total":    func(i *Inventory) { i.Total = 0 },
		"reserved": func(i *Inventory) { i.Reserved = -1 },
		"min_unit": func(i *Inventory) { i.MinUnit = 0 },
		"max_unit": func(i *Inventory) { i.MaxUnit = MaxInt + 1 },
		"step":     func(i *Inventory) { i.StepSize = 0 },
		"ratio":    func(i *Inventory) { i.AllocationRatio = -1 },
	} {
		inv := ok
		mut(&inv)
		if err := inv.Validate("VCPU"); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s accepted", name)
		}
	}
	full := ok
	full.Reserved = 4
	if full.Validate("VCPU") != nil || full.Capacity() != 0 {
		t.Error("reserved == total is allowed (1.26)")
	}
	if !ok.Fits(3, 1) || ok.Fits(4, 1) {
		t.Error("Fits")
	}
}

func TestAggregateUUIDForms(t *testing.T) {
	f := newFixture(t)
	f.rp("cn", "", invs("VCPU", 1))
	agg := uid("agg:x")
	p, _ := f.ix.Provider(f.ctx, uid("cn"))
	upper := strings.ToUpper(strings.ReplaceAll(agg, "-", ""))
	if _, err := f.ix.SetAggregates(f.ctx, uid("cn"), p.Generation, []string{upper}); err != nil {
		t.Fatal(err)
	}
	eq(t, "member_of in another spelling", f.candidates("resources=VCPU:1&member_of="+strings.ToUpper(agg), v139), "cn:VCPU=1|=cn")
	list, _ := f.ix.Providers(f.ctx, ProviderFilter{MemberOf: [][]string{{agg}}})
	if len(list) != 1 {
		t.Errorf("providers by aggregate: %v", list)
	}
}
