package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/novakit/novakit/placement"
)

// CandidateQuery renders req as the query string of GET
// /allocation_candidates (1.39 syntax: suffixed groups, any-of "in:"
// traits and aggregates, repeated required, same_subtree, root_required),
// the inverse of placement.ParseCandidateQuery. req.Seed has no query
// form: the server draws its own.
func CandidateQuery(req *placement.CandidateRequest) url.Values {
	q := url.Values{}
	for _, g := range req.Groups {
		s := g.Suffix
		if len(g.Resources) > 0 {
			q.Set("resources"+s, resourcesParam(g.Resources))
		}
		traitsParams(q, "required"+s, g.RequiredTraits, g.ForbiddenTraits)
		memberOfParams(q, "member_of"+s, g.MemberOf, g.ForbiddenAggregates)
		if g.InTree != "" {
			q.Set("in_tree"+s, g.InTree)
		}
	}
	if req.GroupPolicy != "" {
		q.Set("group_policy", req.GroupPolicy)
	}
	for _, set := range req.SameSubtree {
		q.Add("same_subtree", strings.Join(set, ","))
	}
	if len(req.RootRequired) > 0 || len(req.RootForbidden) > 0 {
		parts := append([]string{}, req.RootRequired...)
		for _, t := range req.RootForbidden {
			parts = append(parts, "!"+t)
		}
		q.Set("root_required", strings.Join(parts, ","))
	}
	if req.Limit > 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	return q
}

type candidatesJSON struct {
	AllocationRequests []struct {
		Allocations map[string]struct {
			Resources map[string]int64 `json:"resources"`
		} `json:"allocations"`
		Mappings map[string][]string `json:"mappings"`
	} `json:"allocation_requests"`
	ProviderSummaries map[string]struct {
		Resources map[string]struct {
			Capacity int64 `json:"capacity"`
			Used     int64 `json:"used"`
		} `json:"resources"`
		Traits     []string `json:"traits"`
		ParentUUID *string  `json:"parent_provider_uuid"`
		RootUUID   string   `json:"root_provider_uuid"`
	} `json:"provider_summaries"`
}

// Candidates answers GET /allocation_candidates for req, in the Index's
// domain form: allocations sorted by provider and class, mappings in group
// order, summaries sorted by provider uuid. With req.ExcludeNested the
// request is made at microversion 1.28 (no mappings in the answer). The
// server picks the search order (req.Seed cannot travel); Truncated is
// reported when the answer holds exactly req.Limit candidates. Errors:
// ErrInvalid for a malformed request or an unknown class or trait.
func (c *Client) Candidates(ctx context.Context, req *placement.CandidateRequest) (*placement.CandidateResult, error) {
	want := placement.Version{}
	if req.ExcludeNested {
		want = v1(28)
	}
	v, err := c.at(ctx, want)
	if err != nil {
		return nil, err
	}
	buf := bufPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 8<<20 {
			buf.Reset()
			bufPool.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := c.send(ctx, "GET", "/allocation_candidates?"+CandidateQuery(req).Encode(), v, nil, buf, opGeneric); err != nil {
		return nil, err
	}
	res, err := decodeCandidates(buf.Bytes(), req)
	if err != nil {
		// Not the shape the fast reader expects: let encoding/json decode
		// it, or say what is wrong with it.
		if res, err = decodeCandidatesJSON(buf.Bytes(), req); err != nil {
			return nil, fmt.Errorf("placement client: GET /allocation_candidates: decoding the answer: %w", err)
		}
	}
	res.Truncated = req.Limit > 0 && len(res.AllocationRequests) == req.Limit
	return res, nil
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// decodeCandidatesJSON is decodeCandidates by encoding/json (the
// reference the fast reader is tested against, and its fallback).
func decodeCandidatesJSON(b []byte, req *placement.CandidateRequest) (*placement.CandidateResult, error) {
	var out candidatesJSON
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	res := &placement.CandidateResult{
		AllocationRequests: make([]placement.AllocationRequest, 0, len(out.AllocationRequests)),
		ProviderSummaries:  make([]placement.ProviderSummary, 0, len(out.ProviderSummaries)),
	}
	for _, ar := range out.AllocationRequests {
		a := placement.AllocationRequest{Allocations: make([]placement.ProviderResources, 0, len(ar.Allocations))}
		for u, pr := range ar.Allocations {
			a.Allocations = append(a.Allocations, placement.ProviderResources{ProviderUUID: u, Resources: amounts(pr.Resources)})
		}
		sort.Slice(a.Allocations, func(i, j int) bool { return a.Allocations[i].ProviderUUID < a.Allocations[j].ProviderUUID })
		if ar.Mappings != nil {
			for _, g := range req.Groups {
				if ps, ok := ar.Mappings[g.Suffix]; ok {
					sort.Strings(ps)
					a.Mappings = append(a.Mappings, placement.Mapping{Suffix: g.Suffix, Providers: ps})
				}
			}
		}
		res.AllocationRequests = append(res.AllocationRequests, a)
	}
	for u, ps := range out.ProviderSummaries {
		s := placement.ProviderSummary{UUID: u, RootUUID: ps.RootUUID, Traits: ps.Traits}
		if ps.ParentUUID != nil {
			s.ParentUUID = *ps.ParentUUID
		}
		if s.RootUUID == "" {
			s.RootUUID = u
		}
		sort.Strings(s.Traits)
		s.Resources = make([]placement.SummaryResource, 0, len(ps.Resources))
		for rc, r := range ps.Resources {
			s.Resources = append(s.Resources, placement.SummaryResource{Class: rc, Capacity: r.Capacity, Used: r.Used})
		}
		sort.Slice(s.Resources, func(i, j int) bool { return s.Resources[i].Class < s.Resources[j].Class })
		res.ProviderSummaries = append(res.ProviderSummaries, s)
	}
	sort.Slice(res.ProviderSummaries, func(i, j int) bool { return res.ProviderSummaries[i].UUID < res.ProviderSummaries[j].UUID })
	return res, nil
}

func amounts(m map[string]int64) []placement.ResourceAmount {
	out := make([]placement.ResourceAmount, 0, len(m))
	for rc, n := range m {
		out = append(out, placement.ResourceAmount{Class: rc, Amount: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Class < out[j].Class })
	return out
}
