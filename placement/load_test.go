package placement

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestExportLoadRoundTrip(t *testing.T) {
	for seed := 0; seed < 50; seed++ {
		r := rand.New(rand.NewPCG(uint64(seed), 9))
		w := randomWorld(r)
		f := w.load(t, r)
		st, err := f.ix.Export(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		g := newFixture(t)
		if err := g.ix.Load(g.ctx, st); err != nil {
			t.Fatalf("seed %d: load: %v", seed, err)
		}
		st2, _ := g.ix.Export(g.ctx)
		if !reflect.DeepEqual(st, st2) {
			t.Fatalf("seed %d: round trip differs:\n%+v\n%+v", seed, st, st2)
		}
		for k := 0; k < 3; k++ {
			req := randomRequest(r, w)
			a, err1 := f.ix.Candidates(f.ctx, req)
			b, err2 := g.ix.Candidates(g.ctx, req)
			if err1 != nil || err2 != nil || !slices.Equal(f.render(a), g.render(b)) {
				t.Fatalf("seed %d: candidates differ after load: %v %v", seed, err1, err2)
			}
		}
		// Reloading an Index in place works, and writes continue from the
		// loaded generations.
		if err := f.ix.Load(f.ctx, st); err != nil {
			t.Fatal(err)
		}
		p, _ := f.ix.Provider(f.ctx, uid("p0"))
		if _, err := f.ix.SetTraits(f.ctx, uid("p0"), p.Generation, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	ix := New(Options{})
	a, b := uid("a"), uid("b")
	cases := map[string]State{
		"cycle": {Providers: []ProviderState{
			{Provider: ResourceProvider{UUID: a, Name: "a", ParentUUID: b}},
			{Provider: ResourceProvider{UUID: b, Name: "b", ParentUUID: a}}}},
		"unknown parent": {Providers: []ProviderState{{Provider: ResourceProvider{UUID: a, Name: "a", ParentUUID: b}}}},
		"duplicate name": {Providers: []ProviderState{{Provider: ResourceProvider{UUID: a, Name: "a"}}, {Provider: ResourceProvider{UUID: b, Name: "a"}}}},
		"unknown class":  {Providers: []ProviderState{{Provider: ResourceProvider{UUID: a, Name: "a"}, Inventories: invs("CUSTOM_X", 1)}}},
		"unknown trait":  {Providers: []ProviderState{{Provider: ResourceProvider{UUID: a, Name: "a"}, Traits: []string{"CUSTOM_T"}}}},
		"allocation without inventory": {Providers: []ProviderState{{Provider: ResourceProvider{UUID: a, Name: "a"}}},
			Consumers: []Consumer{{UUID: b, Project: "p", User: "u", Allocations: map[string]ProviderAllocation{a: {Resources: map[string]int64{"VCPU": 1}}}}}},
	}
	for name, st := range cases {
		if err := ix.Load(t.Context(), st); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if list, _ := ix.Providers(t.Context(), ProviderFilter{}); len(list) != 0 {
		t.Errorf("a failed load left %d providers", len(list))
	}
}
