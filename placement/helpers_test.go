package placement

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// fixture builds providers by short names; uuids are derived from the names.
type fixture struct {
	t   testing.TB
	ix  *Index
	ctx context.Context
}

func newFixture(t testing.TB) *fixture {
	return &fixture{t: t, ix: New(Options{}), ctx: context.Background()}
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

func (f *fixture) rp(name, parent string, inv map[string]Inventory, traits ...string) string {
	f.t.Helper()
	spec := ProviderSpec{UUID: uid(name), Name: name}
	if parent != "" {
		spec.ParentUUID = uid(parent)
	}
	if _, err := f.ix.CreateProvider(f.ctx, spec); err != nil {
		f.t.Fatalf("create %s: %v", name, err)
	}
	if len(inv) > 0 {
		if _, _, err := f.ix.SetInventories(f.ctx, uid(name), 0, inv); err != nil {
			f.t.Fatalf("inventory %s: %v", name, err)
		}
	}
	if len(traits) > 0 {
		for _, tr := range traits {
			if IsCustomName(tr) {
				if _, err := f.ix.CreateTrait(f.ctx, tr); err != nil {
					f.t.Fatal(err)
				}
			}
		}
		p, _ := f.ix.Provider(f.ctx, uid(name))
		if _, err := f.ix.SetTraits(f.ctx, uid(name), p.Generation, traits); err != nil {
			f.t.Fatalf("traits %s: %v", name, err)
		}
	}
	return uid(name)
}

func (f *fixture) aggs(name string, aggs ...string) {
	f.t.Helper()
	var us []string
	for _, a := range aggs {
		us = append(us, uid("agg:"+a))
	}
	p, _ := f.ix.Provider(f.ctx, uid(name))
	if _, err := f.ix.SetAggregates(f.ctx, uid(name), p.Generation, us); err != nil {
		f.t.Fatal(err)
	}
}

func inv(total int64) Inventory { return NewInventory(total) }

func invs(kv ...any) map[string]Inventory {
	m := map[string]Inventory{}
	for i := 0; i < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case int:
			m[kv[i].(string)] = NewInventory(int64(v))
		case Inventory:
			m[kv[i].(string)] = v
		}
	}
	return m
}

// names maps uuids back to fixture names for readable assertions.
func (f *fixture) nameOf(u string) string {
	p, err := f.ix.Provider(f.ctx, u)
	if err != nil {
		return u
	}
	return p.Name
}

// render gives each candidate as "rp:RC=n,...;rp2:...|sfx=rp,rp" with names,
// sorted, for comparisons.
func (f *fixture) render(res *CandidateResult) []string {
	var out []string
	for _, ar := range res.AllocationRequests {
		out = append(out, f.renderOne(ar))
	}
	sort.Strings(out)
	return out
}

func (f *fixture) renderOne(ar AllocationRequest) string {
	var parts []string
	for _, pr := range ar.Allocations {
		var rs []string
		for _, r := range pr.Resources {
			rs = append(rs, fmt.Sprintf("%s=%d", r.Class, r.Amount))
		}
		parts = append(parts, f.nameOf(pr.ProviderUUID)+":"+strings.Join(rs, ","))
	}
	sort.Strings(parts)
	var ms []string
	for _, m := range ar.Mappings {
		var ps []string
		for _, p := range m.Providers {
			ps = append(ps, f.nameOf(p))
		}
		sort.Strings(ps)
		ms = append(ms, m.Suffix+"="+strings.Join(ps, ","))
	}
	return strings.Join(parts, ";") + "|" + strings.Join(ms, ";")
}

func (f *fixture) candidates(q string, v Version) []string {
	f.t.Helper()
	res, err := f.query(q, v)
	if err != nil {
		f.t.Fatalf("candidates %q: %v", q, err)
	}
	return f.render(res)
}

func (f *fixture) query(q string, v Version) (*CandidateResult, error) {
	vals, err := parseQueryString(q)
	if err != nil {
		return nil, err
	}
	req, err := ParseCandidateQuery(vals, v)
	if err != nil {
		return nil, err
	}
	return f.ix.Candidates(f.ctx, req)
}

func parseQueryString(q string) (map[string][]string, error) {
	m := map[string][]string{}
	if q == "" {
		return m, nil
	}
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		k = strings.ReplaceAll(k, "$AGG_", "")
		m[k] = append(m[k], expandAggs(v))
	}
	return m, nil
}

// expandAggs replaces @name with the uuid of aggregate name and #name with
// the uuid of provider name inside a value.
func expandAggs(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); {
		if v[i] == '@' || v[i] == '#' {
			j := i + 1
			for j < len(v) && (v[j] >= 'a' && v[j] <= 'z' || v[j] >= '0' && v[j] <= '9') {
				j++
			}
			if v[i] == '@' {
				b.WriteString(uid("agg:" + v[i+1:j]))
			} else {
				b.WriteString(uid(v[i+1 : j]))
			}
			i = j
			continue
		}
		b.WriteByte(v[i])
		i++
	}
	return b.String()
}
