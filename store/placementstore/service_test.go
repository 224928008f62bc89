package placementstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/internal/testsvc"
	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/store/placementstore"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	testsvc.Main(m)
}

// backends are the databases every test runs on. SQLite in memory and on
// a file run everywhere; PostgreSQL and MariaDB are real servers started
// by internal/testsvc (required in CI).
var backends = []struct {
	name     string
	url      func(t *testing.T) string
	reopens  bool
	isServer bool
}{
	{"sqlite-memory", func(t *testing.T) string { return "sqlite://:memory:" }, false, false},
	{"sqlite-file", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "placement.db") }, true, false},
	{"postgres", func(t *testing.T) string { return testsvc.NewDatabase(t, testsvc.SharedPostgres(t)) }, true, true},
	{"mariadb", func(t *testing.T) string { return testsvc.NewDatabase(t, testsvc.SharedMariaDB(t)) }, true, true},
}

func open(t testing.TB, url string, opts *placementstore.Options) *placementstore.Service {
	t.Helper()
	s, err := placementstore.Open(context.Background(), url, opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// uid maps a short name to a stable uuid.
func uid(name string) string {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(h>>32), uint16(h>>16), uint16(h)&0xfff, uint16(h>>4)&0xfff, h&0xffffffffffff)
}

func gen(g int64) *int64 { return &g }

func inv(total int64) placement.Inventory { return placement.NewInventory(total) }

func alloc(project string, g *int64, kv ...any) placement.ConsumerAllocations {
	ca := placement.ConsumerAllocations{Project: project, User: "u", ConsumerType: placement.ConsumerTypeInstance, Generation: g,
		Allocations: map[string]map[string]int64{}}
	for i := 0; i < len(kv); i += 3 {
		rp := uid(kv[i].(string))
		if ca.Allocations[rp] == nil {
			ca.Allocations[rp] = map[string]int64{}
		}
		ca.Allocations[rp][kv[i+1].(string)] = int64(kv[i+2].(int))
	}
	return ca
}

// api is the method set the Service shares with *placement.Index.
type api interface {
	CreateProvider(context.Context, placement.ProviderSpec) (placement.ResourceProvider, error)
	UpdateProvider(context.Context, string, placement.ProviderUpdate) (placement.ResourceProvider, error)
	DeleteProvider(context.Context, string) error
	Provider(context.Context, string) (placement.ResourceProvider, error)
	Providers(context.Context, placement.ProviderFilter) ([]placement.ResourceProvider, error)
	Inventories(context.Context, string) (map[string]placement.Inventory, int64, error)
	SetInventories(context.Context, string, int64, map[string]placement.Inventory) (int64, []string, error)
	ProviderUsages(context.Context, string) (map[string]int64, int64, error)
	Traits(context.Context, string) ([]string, int64, error)
	SetTraits(context.Context, string, int64, []string) (int64, error)
	Aggregates(context.Context, string) ([]string, int64, error)
	SetAggregates(context.Context, string, int64, []string) (int64, error)
	ResourceClasses(context.Context) ([]string, error)
	CreateResourceClass(context.Context, string) error
	DeleteResourceClass(context.Context, string) error
	TraitNames(context.Context) ([]string, error)
	CreateTrait(context.Context, string) (bool, error)
	DeleteTrait(context.Context, string) error
	SetAllocations(context.Context, map[string]placement.ConsumerAllocations) error
	Reshape(context.Context, map[string]placement.InventoryUpdate, map[string]placement.ConsumerAllocations) error
	DeleteAllocations(context.Context, string) error
	Consumer(context.Context, string) (placement.Consumer, error)
	ProviderAllocations(context.Context, string) (map[string]map[string]int64, int64, error)
	Usages(context.Context, placement.UsageFilter) ([]placement.Usage, error)
	Candidates(context.Context, *placement.CandidateRequest) (*placement.CandidateResult, error)
}

var (
	_ api = (*placement.Index)(nil)
	_ api = (*placementstore.Service)(nil)
)

func errStr(err error) string {
	if err == nil {
		return "ok"
	}
	var pe *placement.Error
	if errors.As(err, &pe) {
		return fmt.Sprintf("%v [%s] %s: %s", pe.Kind, pe.Code, pe.Field, pe.Detail)
	}
	return "other: " + err.Error()
}

func rpStr(rp placement.ResourceProvider, err error) string {
	if err != nil {
		return errStr(err)
	}
	return fmt.Sprintf("%s %s g%d parent=%s root=%s", rp.UUID, rp.Name, rp.Generation, rp.ParentUUID, rp.RootUUID)
}

// script is a sequence of operations with every kind of outcome. Each
// step returns its result as text; the Service must give the Index's
// results, step by step.
var script = []struct {
	name string
	run  func(ctx context.Context, b api) string
}{
	{"create root", func(ctx context.Context, b api) string {
		return rpStr(b.CreateProvider(ctx, placement.ProviderSpec{UUID: uid("root"), Name: "root"}))
	}},
	{"create child", func(ctx context.Context, b api) string {
		return rpStr(b.CreateProvider(ctx, placement.ProviderSpec{UUID: uid("child"), Name: "child", ParentUUID: uid("root")}))
	}},
	{"create grandchild", func(ctx context.Context, b api) string {
		return rpStr(b.CreateProvider(ctx, placement.ProviderSpec{UUID: strings.ReplaceAll(uid("grandchild"), "-", ""), Name: "grandchild", ParentUUID: uid("child")}))
	}},
	{"duplicate name", func(ctx context.Context, b api) string {
		return rpStr(b.CreateProvider(ctx, placement.ProviderSpec{UUID: uid("x1"), Name: "root"}))
	}},
	{"duplicate uuid", func(ctx context.Context, b api) string {
		return rpStr(b.CreateProvider(ctx, placement.ProviderSpec{UUID: uid("root"), Name: "x"}))
	}},
	{"unknown parent", func(ctx context.Context, b api) string {
		return rpStr(b.CreateProvider(ctx, placement.ProviderSpec{UUID: uid("x2"), Name: "x", ParentUUID: uid("nope")}))
	}},
	{"bad uuid", func(ctx context.Context, b api) string {
		return rpStr(b.CreateProvider(ctx, placement.ProviderSpec{UUID: "not-a-uuid", Name: "x"}))
	}},
	{"get grandchild", func(ctx context.Context, b api) string { return rpStr(b.Provider(ctx, uid("grandchild"))) }},
	{"delete a parent", func(ctx context.Context, b api) string { return errStr(b.DeleteProvider(ctx, uid("child"))) }},
	{"un-parent before 1.37", func(ctx context.Context, b api) string {
		return rpStr(b.UpdateProvider(ctx, uid("child"), placement.ProviderUpdate{Name: "child", SetParent: true}))
	}},
	{"loop", func(ctx context.Context, b api) string {
		return rpStr(b.UpdateProvider(ctx, uid("child"), placement.ProviderUpdate{Name: "child", SetParent: true, ParentUUID: uid("grandchild"), AllowReparenting: true}))
	}},
	{"create other", func(ctx context.Context, b api) string {
		return rpStr(b.CreateProvider(ctx, placement.ProviderSpec{UUID: uid("other"), Name: "other"}))
	}},
	{"re-parent before 1.37", func(ctx context.Context, b api) string {
		return rpStr(b.UpdateProvider(ctx, uid("child"), placement.ProviderUpdate{Name: "child", SetParent: true, ParentUUID: uid("other")}))
	}},
	{"move and rename", func(ctx context.Context, b api) string {
		return rpStr(b.UpdateProvider(ctx, uid("child"), placement.ProviderUpdate{Name: "child2", SetParent: true, ParentUUID: uid("other"), AllowReparenting: true}))
	}},
	{"moved subtree root", func(ctx context.Context, b api) string { return rpStr(b.Provider(ctx, uid("grandchild"))) }},
	{"un-parent", func(ctx context.Context, b api) string {
		return rpStr(b.UpdateProvider(ctx, uid("child"), placement.ProviderUpdate{Name: "child2", SetParent: true, AllowReparenting: true}))
	}},
	{"parent a root", func(ctx context.Context, b api) string {
		return rpStr(b.UpdateProvider(ctx, uid("child"), placement.ProviderUpdate{Name: "child2", SetParent: true, ParentUUID: uid("root")}))
	}},
	{"rename to a taken name", func(ctx context.Context, b api) string {
		return rpStr(b.UpdateProvider(ctx, uid("root"), placement.ProviderUpdate{Name: "other"}))
	}},
	{"in_tree", func(ctx context.Context, b api) string {
		l, err := b.Providers(ctx, placement.ProviderFilter{InTree: uid("grandchild")})
		var out []string
		for _, p := range l {
			out = append(out, rpStr(p, nil))
		}
		return errStr(err) + strings.Join(out, "; ")
	}},
	{"delete grandchild", func(ctx context.Context, b api) string { return errStr(b.DeleteProvider(ctx, uid("grandchild"))) }},
	{"deleted", func(ctx context.Context, b api) string { return rpStr(b.Provider(ctx, uid("grandchild"))) }},
	{"re-create", func(ctx context.Context, b api) string {
		return rpStr(b.CreateProvider(ctx, placement.ProviderSpec{UUID: uid("grandchild"), Name: "gc2"}))
	}},
	{"compute nodes", func(ctx context.Context, b api) string {
		var out []string
		for _, n := range []string{"cn1", "cn2", "shared"} {
			out = append(out, rpStr(b.CreateProvider(ctx, placement.ProviderSpec{UUID: uid(n), Name: n})))
		}
		return strings.Join(out, "; ")
	}},
	{"inventory", func(ctx context.Context, b api) string {
		step := inv(64)
		step.StepSize = 2
		step.MinUnit = 2
		step.MaxUnit = 8
		g, over, err := b.SetInventories(ctx, uid("cn1"), 0, map[string]placement.Inventory{"VCPU": inv(4), "MEMORY_MB": step})
		return fmt.Sprint(g, over, errStr(err))
	}},
	{"inventory cn2", func(ctx context.Context, b api) string {
		r := inv(8)
		r.Reserved = 2
		r.AllocationRatio = 1.5
		g, over, err := b.SetInventories(ctx, uid("cn2"), 0, map[string]placement.Inventory{"VCPU": r})
		return fmt.Sprint(g, over, errStr(err))
	}},
	{"stale inventory", func(ctx context.Context, b api) string {
		g, over, err := b.SetInventories(ctx, uid("cn1"), 0, map[string]placement.Inventory{"VCPU": inv(8)})
		return fmt.Sprint(g, over, errStr(err))
	}},
	{"unknown class inventory", func(ctx context.Context, b api) string {
		g, over, err := b.SetInventories(ctx, uid("cn1"), 1, map[string]placement.Inventory{"CUSTOM_NOPE": inv(8)})
		return fmt.Sprint(g, over, errStr(err))
	}},
	{"bad inventory", func(ctx context.Context, b api) string {
		g, over, err := b.SetInventories(ctx, uid("cn1"), 1, map[string]placement.Inventory{"VCPU": {Total: 0}})
		return fmt.Sprint(g, over, errStr(err))
	}},
	{"stale traits", func(ctx context.Context, b api) string {
		g, err := b.SetTraits(ctx, uid("cn1"), 0, []string{"HW_CPU_X86_AVX2"})
		return fmt.Sprint(g, errStr(err))
	}},
	{"traits", func(ctx context.Context, b api) string {
		g, err := b.SetTraits(ctx, uid("cn1"), 1, []string{"HW_CPU_X86_AVX2", "HW_CPU_X86_AVX2", "COMPUTE_STATUS_DISABLED"})
		return fmt.Sprint(g, errStr(err))
	}},
	{"unknown trait", func(ctx context.Context, b api) string {
		g, err := b.SetTraits(ctx, uid("cn1"), 2, []string{"CUSTOM_MISSING"})
		return fmt.Sprint(g, errStr(err))
	}},
	{"custom trait", func(ctx context.Context, b api) string {
		c1, err1 := b.CreateTrait(ctx, "CUSTOM_GOLD")
		c2, err2 := b.CreateTrait(ctx, "CUSTOM_GOLD")
		c3, err3 := b.CreateTrait(ctx, "gold")
		return fmt.Sprint(c1, errStr(err1), c2, errStr(err2), c3, errStr(err3))
	}},
	{"custom trait on provider", func(ctx context.Context, b api) string {
		g, err := b.SetTraits(ctx, uid("cn2"), 1, []string{"CUSTOM_GOLD"})
		return fmt.Sprint(g, errStr(err))
	}},
	{"delete trait in use", func(ctx context.Context, b api) string { return errStr(b.DeleteTrait(ctx, "CUSTOM_GOLD")) }},
	{"delete standard trait", func(ctx context.Context, b api) string { return errStr(b.DeleteTrait(ctx, "HW_CPU_X86_AVX2")) }},
	{"delete missing trait", func(ctx context.Context, b api) string { return errStr(b.DeleteTrait(ctx, "CUSTOM_NONE")) }},
	{"aggregates pre-1.19", func(ctx context.Context, b api) string {
		g, err := b.SetAggregates(ctx, uid("cn1"), placement.AnyGeneration, []string{uid("agg"), strings.ToUpper(uid("agg"))})
		return fmt.Sprint(g, errStr(err))
	}},
	{"stale aggregates", func(ctx context.Context, b api) string {
		g, err := b.SetAggregates(ctx, uid("cn1"), 1, nil)
		return fmt.Sprint(g, errStr(err))
	}},
	{"shared storage", func(ctx context.Context, b api) string {
		g1, _, err1 := b.SetInventories(ctx, uid("shared"), 0, map[string]placement.Inventory{"DISK_GB": inv(100)})
		g2, err2 := b.SetTraits(ctx, uid("shared"), g1, []string{"MISC_SHARES_VIA_AGGREGATE"})
		g3, err3 := b.SetAggregates(ctx, uid("shared"), g2, []string{uid("agg")})
		return fmt.Sprint(g1, errStr(err1), g2, errStr(err2), g3, errStr(err3))
	}},
	{"custom class", func(ctx context.Context, b api) string {
		return fmt.Sprint(errStr(b.CreateResourceClass(ctx, "CUSTOM_FPGA")), errStr(b.CreateResourceClass(ctx, "CUSTOM_FPGA")),
			errStr(b.CreateResourceClass(ctx, "FPGA")), errStr(b.DeleteResourceClass(ctx, "VCPU")), errStr(b.DeleteResourceClass(ctx, "CUSTOM_NONE")))
	}},
	{"custom class inventory", func(ctx context.Context, b api) string {
		g, over, err := b.SetInventories(ctx, uid("cn2"), 2, map[string]placement.Inventory{"VCPU": inv(8), "CUSTOM_FPGA": inv(2)})
		return fmt.Sprint(g, over, errStr(err), errStr(b.DeleteResourceClass(ctx, "CUSTOM_FPGA")))
	}},
	{"claim", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("vm1"): alloc("p1", nil, "cn1", "VCPU", 2, "cn1", "MEMORY_MB", 4)}))
	}},
	{"claim again as new", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("vm1"): alloc("p1", nil, "cn1", "VCPU", 1)}))
	}},
	{"claim with a stale consumer generation", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("vm1"): alloc("p1", gen(7), "cn1", "VCPU", 1)}))
	}},
	{"new consumer with a generation", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("vm9"): alloc("p1", gen(1), "cn1", "VCPU", 1)}))
	}},
	{"capacity exceeded", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("vm2"): alloc("p1", nil, "cn1", "VCPU", 3)}))
	}},
	{"step size", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("vm2"): alloc("p1", nil, "cn1", "MEMORY_MB", 3)}))
	}},
	{"max unit", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("vm2"): alloc("p1", nil, "cn1", "MEMORY_MB", 10)}))
	}},
	{"no such inventory", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("vm2"): alloc("p1", nil, "cn1", "DISK_GB", 1)}))
	}},
	{"unknown provider", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("vm2"): alloc("p1", nil, "nope", "VCPU", 1)}))
	}},
	{"unknown class", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("vm2"): alloc("p1", nil, "cn1", "CUSTOM_NOPE", 1)}))
	}},
	{"bad amount", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("vm2"): alloc("p1", nil, "cn1", "VCPU", 0)}))
	}},
	{"two consumers, one does not fit: nothing written", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
			uid("vm3"): alloc("p1", nil, "cn2", "VCPU", 5),
			uid("vm4"): alloc("p2", nil, "cn2", "VCPU", 5, "shared", "DISK_GB", 10)}))
	}},
	{"capacity with reserved and ratio", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
			uid("vm3"): alloc("p1", nil, "cn2", "VCPU", 5, "cn2", "CUSTOM_FPGA", 1),
			uid("vm4"): alloc("p2", nil, "cn2", "VCPU", 4, "shared", "DISK_GB", 10)}))
	}},
	{"move a consumer", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("vm1"): alloc("p1", gen(1), "cn2", "VCPU", 3)}))
	}},
	{"move back with the old generation", func(ctx context.Context, b api) string {
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("vm1"): alloc("p1", gen(1), "cn1", "VCPU", 1)}))
	}},
	{"move back", func(ctx context.Context, b api) string {
		ca := alloc("p1", gen(2), "cn1", "VCPU", 2, "cn1", "MEMORY_MB", 4)
		ca.ConsumerType = ""
		return errStr(b.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uid("vm1"): ca}))
	}},
	{"remove an inventory in use", func(ctx context.Context, b api) string {
		_, g, _ := b.Inventories(ctx, uid("cn1"))
		ng, over, err := b.SetInventories(ctx, uid("cn1"), g, map[string]placement.Inventory{"VCPU": inv(4)})
		return fmt.Sprint(ng, over, errStr(err))
	}},
	{"shrink below usage", func(ctx context.Context, b api) string {
		_, g, _ := b.Inventories(ctx, uid("cn1"))
		mem := inv(2)
		ng, over, err := b.SetInventories(ctx, uid("cn1"), g, map[string]placement.Inventory{"VCPU": inv(1), "MEMORY_MB": mem})
		return fmt.Sprint(ng, over, errStr(err))
	}},
	{"delete a provider in use", func(ctx context.Context, b api) string { return errStr(b.DeleteProvider(ctx, uid("cn1"))) }},
	{"reshape", func(ctx context.Context, b api) string {
		_, g, _ := b.Inventories(ctx, uid("other"))
		c, _ := b.Consumer(ctx, uid("vm4"))
		return errStr(b.Reshape(ctx,
			map[string]placement.InventoryUpdate{uid("other"): {Generation: g, Inventories: map[string]placement.Inventory{"VCPU": inv(16)}}},
			map[string]placement.ConsumerAllocations{uid("vm4"): alloc("p2", gen(c.Generation), "other", "VCPU", 4, "shared", "DISK_GB", 10)}))
	}},
	{"reshape with a stale provider", func(ctx context.Context, b api) string {
		c, _ := b.Consumer(ctx, uid("vm4"))
		return errStr(b.Reshape(ctx,
			map[string]placement.InventoryUpdate{uid("other"): {Generation: 0, Inventories: map[string]placement.Inventory{"VCPU": inv(4)}}},
			map[string]placement.ConsumerAllocations{uid("vm4"): alloc("p2", gen(c.Generation), "cn2", "VCPU", 4)}))
	}},
	{"views", func(ctx context.Context, b api) string {
		var out []string
		for _, c := range []string{"vm1", "vm3", "vm4", "vm9"} {
			co, err := b.Consumer(ctx, uid(c))
			out = append(out, fmt.Sprintf("%+v %s", co, errStr(err)))
		}
		for _, p := range []string{"cn1", "cn2", "shared", "other"} {
			pa, g, err := b.ProviderAllocations(ctx, uid(p))
			u, g2, err2 := b.ProviderUsages(ctx, uid(p))
			out = append(out, fmt.Sprint(pa, g, errStr(err), u, g2, errStr(err2)))
		}
		us, err := b.Usages(ctx, placement.UsageFilter{Project: "p1"})
		out = append(out, fmt.Sprintf("%+v %s", us, errStr(err)))
		us, err = b.Usages(ctx, placement.UsageFilter{Project: "p2", User: "u", ConsumerType: "INSTANCE"})
		out = append(out, fmt.Sprintf("%+v %s", us, errStr(err)))
		tr, g, err := b.Traits(ctx, uid("cn1"))
		out = append(out, fmt.Sprint(tr, g, errStr(err)))
		ag, g, err := b.Aggregates(ctx, uid("shared"))
		out = append(out, fmt.Sprint(ag, g, errStr(err)))
		rcs, _ := b.ResourceClasses(ctx)
		tns, _ := b.TraitNames(ctx)
		out = append(out, fmt.Sprint(len(rcs), len(tns)))
		return strings.Join(out, "\n")
	}},
	{"candidates", func(ctx context.Context, b api) string {
		q, _ := url.ParseQuery("resources=VCPU:1,DISK_GB:5")
		req, err := placement.ParseCandidateQuery(q, placement.Version{Major: 1, Minor: 39})
		if err != nil {
			return errStr(err)
		}
		res, err := b.Candidates(ctx, req)
		if err != nil {
			return errStr(err)
		}
		var out []string
		for _, ar := range res.AllocationRequests {
			out = append(out, fmt.Sprint(ar.Allocations))
		}
		sort.Strings(out)
		return strings.Join(out, "; ")
	}},
	{"delete allocations", func(ctx context.Context, b api) string {
		return fmt.Sprint(errStr(b.DeleteAllocations(ctx, uid("vm3"))), errStr(b.DeleteAllocations(ctx, uid("vm3"))))
	}},
	{"delete an unused custom class", func(ctx context.Context, b api) string {
		_, g, _ := b.Inventories(ctx, uid("cn2"))
		_, _, err := b.SetInventories(ctx, uid("cn2"), g, map[string]placement.Inventory{"VCPU": inv(8)})
		return fmt.Sprint(errStr(err), errStr(b.DeleteResourceClass(ctx, "CUSTOM_FPGA")))
	}},
	{"delete a trait no longer in use", func(ctx context.Context, b api) string {
		_, g, _ := b.Traits(ctx, uid("cn2"))
		_, err := b.SetTraits(ctx, uid("cn2"), g, nil)
		return fmt.Sprint(errStr(err), errStr(b.DeleteTrait(ctx, "CUSTOM_GOLD")))
	}},
	{"delete a leaf", func(ctx context.Context, b api) string {
		return fmt.Sprint(errStr(b.DeleteProvider(ctx, uid("gc2"))), errStr(b.DeleteProvider(ctx, uid("grandchild"))))
	}},
}

// TestBehavesAsTheIndex runs the script on a plain Index and on the
// Service; every step must give the same result, the database must hold
// what the Service's Index holds, and a Service opened afresh on the same
// database must load the same state.
func TestBehavesAsTheIndex(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			url := be.url(t)
			s := open(t, url, nil)
			ix := placement.New(placement.Options{})
			for _, st := range script {
				want := st.run(ctx, ix)
				got := st.run(ctx, s)
				require.Equal(t, want, got, "step %q", st.name)
			}
			require.NoError(t, placementstore.CheckDB(ctx, s))
			want, err := ix.Export(ctx)
			require.NoError(t, err)
			got, err := s.Index().Export(ctx)
			require.NoError(t, err)
			assert.Equal(t, placementstore.Normalize(want), placementstore.Normalize(got))
			if !be.reopens {
				return
			}
			require.NoError(t, s.Close())
			s2 := open(t, url, nil)
			again, err := s2.Index().Export(ctx)
			require.NoError(t, err)
			assert.Equal(t, got, again, "state after a restart (timestamps included)")
			require.NoError(t, placementstore.CheckDB(ctx, s2))
		})
	}
}
