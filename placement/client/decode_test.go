package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novakit/novakit/placement"
	"github.com/novakit/novakit/placement/api"
)

// answers asks placement/api for candidates over a small cloud with a
// nested tree, a sharing provider, traits and several request shapes, and
// returns the raw answers with the requests.
func answers(t testing.TB) (bodies [][]byte, reqs []*placement.CandidateRequest) {
	ctx := t.Context()
	idx := placement.New(placement.Options{})
	h := api.New(idx, api.Options{Authenticator: api.NoAuth()})
	mk := func(u, name, parent string, invs map[string]int64, traits ...string) {
		_, err := idx.CreateProvider(ctx, placement.ProviderSpec{UUID: u, Name: name, ParentUUID: parent})
		require.NoError(t, err)
		m := map[string]placement.Inventory{}
		for rc, n := range invs {
			m[rc] = placement.NewInventory(n)
		}
		g, _, err := idx.SetInventories(ctx, u, 0, m)
		require.NoError(t, err)
		if len(traits) > 0 {
			_, err = idx.SetTraits(ctx, u, g, traits)
			require.NoError(t, err)
		}
	}
	require.NoError(t, idx.CreateResourceClass(ctx, "CUSTOM_VF"))
	_, err := idx.CreateTrait(ctx, "CUSTOM_PHYSNET1")
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		root := fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
		mk(root, fmt.Sprintf("cn%d", i), "", map[string]int64{"VCPU": 8, "MEMORY_MB": 8192})
		mk(fmt.Sprintf("%08d-0000-4000-8000-000000000001", i), fmt.Sprintf("cn%d_nic", i), root, map[string]int64{"CUSTOM_VF": 4}, "CUSTOM_PHYSNET1")
	}
	mk("eeeeeeee-0000-4000-8000-000000000000", "share", "", map[string]int64{"DISK_GB": 1000}, "MISC_SHARES_VIA_AGGREGATE")
	for _, q := range []string{
		"resources=VCPU:1,MEMORY_MB:512",
		"resources=VCPU:1&resources_NET=CUSTOM_VF:1&required_NET=CUSTOM_PHYSNET1&group_policy=isolate",
		"resources=VCPU:1&limit=2",
		"resources=VCPU:100",
		"resources_A=VCPU:1&resources_B=CUSTOM_VF:1&same_subtree=_A,_B&group_policy=none",
	} {
		vals, err := url.ParseQuery(q)
		require.NoError(t, err)
		req, err := placement.ParseCandidateQuery(vals, placement.MaxVersion())
		require.NoError(t, err)
		r := httptest.NewRequest("GET", "/allocation_candidates?"+q, nil)
		r.Header.Set("X-Auth-Token", "admin")
		r.Header.Set("OpenStack-API-Version", "placement 1.39")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, 200, w.Code, w.Body.String())
		b, _ := io.ReadAll(w.Body)
		bodies = append(bodies, b)
		reqs = append(reqs, req)
	}
	return bodies, reqs
}

// normal makes nil and empty slices compare equal.
func normal(r *placement.CandidateResult) string {
	b, _ := json.Marshal(r)
	return string(bytes.ReplaceAll(b, []byte("null"), []byte("[]")))
}

func TestFastDecoderMatchesEncodingJSON(t *testing.T) {
	bodies, reqs := answers(t)
	for i, b := range bodies {
		var indented bytes.Buffer
		require.NoError(t, json.Indent(&indented, b, "", "  \t"))
		// OpenStack's Placement may add members we do not know.
		extra := bytes.Replace(b, []byte(`"provider_summaries":{`), []byte(`"x_extra":[1,{"a":null},"s\"q",-2.5e3,true],"provider_summaries":{`), 1)
		for _, in := range [][]byte{b, indented.Bytes(), extra} {
			want, err := decodeCandidatesJSON(in, reqs[i])
			require.NoError(t, err)
			got, err := decodeCandidates(in, reqs[i])
			require.NoError(t, err, "%s", in)
			assert.Equal(t, normal(want), normal(got), "%s", in)
		}
	}
	for _, bad := range []string{``, `{`, `{"allocation_requests":[{"allocations":[]}]}`, `{"provider_summaries":{"u":{"resources":{"VCPU":{"capacity":"x"}}}}}`, `{} x`, `{"a":tru}`} {
		_, err := decodeCandidates([]byte(bad), &placement.CandidateRequest{})
		assert.Error(t, err, bad)
	}
}

func FuzzDecodeCandidates(f *testing.F) {
	bodies, _ := answers(f)
	for _, b := range bodies {
		f.Add(b)
	}
	req := &placement.CandidateRequest{Groups: []placement.RequestGroup{{}, {Suffix: "_NET"}, {Suffix: "_A"}, {Suffix: "_B"}}}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := decodeCandidates(b, req)
		if err == nil && res == nil {
			t.Fatal("nil result without error")
		}
		if err == nil && !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
	})
}

// BenchmarkDecodeCandidates compares the fast reader with encoding/json on
// the answer for 1,000 flat providers (about 400 KB).
func BenchmarkDecodeCandidates(b *testing.B) {
	ctx := b.Context()
	idx := placement.New(placement.Options{})
	for i := 0; i < 1000; i++ {
		u := fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
		if _, err := idx.CreateProvider(ctx, placement.ProviderSpec{UUID: u, Name: "cn" + u[:8]}); err != nil {
			b.Fatal(err)
		}
		if _, _, err := idx.SetInventories(ctx, u, 0, map[string]placement.Inventory{"VCPU": placement.NewInventory(64), "MEMORY_MB": placement.NewInventory(131072), "DISK_GB": placement.NewInventory(2000)}); err != nil {
			b.Fatal(err)
		}
	}
	h := api.New(idx, api.Options{Authenticator: api.NoAuth()})
	r := httptest.NewRequest("GET", "/allocation_candidates?resources=VCPU:1,MEMORY_MB:512,DISK_GB:10", nil)
	r.Header.Set("X-Auth-Token", "admin")
	r.Header.Set("OpenStack-API-Version", "placement 1.39")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	body := w.Body.Bytes()
	req := &placement.CandidateRequest{Groups: []placement.RequestGroup{{Resources: map[string]int64{"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 10}}}}
	for _, bc := range []struct {
		name string
		fn   func([]byte, *placement.CandidateRequest) (*placement.CandidateResult, error)
	}{{"fast", decodeCandidates}, {"encoding-json", decodeCandidatesJSON}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				res, err := bc.fn(body, req)
				if err != nil || len(res.AllocationRequests) != 1000 {
					b.Fatal(err)
				}
			}
		})
	}
}
