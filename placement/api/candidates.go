package api

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/novakit/novakit/placement"
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func init() {
	addRoute("/allocation_candidates", map[string]endpoint{
		"GET": {min: 10, rule: RuleCandidatesList, h: listCandidates},
	})
}

func listCandidates(rq *request) error {
	req, err := placement.ParseCandidateQuery(rq.r.URL.Query(), rq.v)
	if err != nil {
		return err
	}
	req.Seed = rq.seed()
	res, err := rq.s.idx.Candidates(rq.ctx, req)
	if err != nil {
		return err
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	need := 64 + 160*len(res.AllocationRequests) + 256*len(res.ProviderSummaries)
	if cap(*bp) < need {
		*bp = make([]byte, 0, need)
	}
	b := renderCandidates((*bp)[:0], req, res, rq.v)
	*bp = b
	h := rq.w.Header()
	if rq.v.AtLeast(15) {
		h.Set("Last-Modified", rq.s.now().UTC().Format(http.TimeFormat))
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	rq.written = true
	rq.w.WriteHeader(http.StatusOK)
	if rq.r.Method != http.MethodHead {
		_, _ = rq.w.Write(b)
	}
	return nil
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c < 0x20 {
			plain = false
			break
		}
	}
	if plain {
		b = append(b, s...)
		return append(b, '"')
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// renderCandidates writes the GET /allocation_candidates body in the shape
// of microversion v: allocations as a list before 1.12 and an object after;
// summaries limited to the requested classes before 1.27; traits from 1.17;
// parent and root uuids from 1.29; mappings from 1.34.
func renderCandidates(b []byte, req *placement.CandidateRequest, res *placement.CandidateResult, v placement.Version) []byte {
	var requested map[string]bool
	if !v.AtLeast(27) {
		requested = map[string]bool{}
		for _, g := range req.Groups {
			for rc := range g.Resources {
				requested[rc] = true
			}
		}
	}
	b = append(b, `{"allocation_requests":[`...)
	for i, ar := range res.AllocationRequests {
		if i > 0 {
			b = append(b, ',')
		}
		if v.AtLeast(12) {
			b = append(b, `{"allocations":{`...)
			for j, pr := range ar.Allocations {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendString(b, pr.ProviderUUID)
				b = append(b, `:{"resources":`...)
				b = appendAmounts(b, pr.Resources)
				b = append(b, '}')
			}
			b = append(b, '}')
			if v.AtLeast(34) {
				b = append(b, `,"mappings":{`...)
				for j, m := range ar.Mappings {
					if j > 0 {
						b = append(b, ',')
					}
					b = appendString(b, m.Suffix)
					b = append(b, ':', '[')
					for k, p := range m.Providers {
						if k > 0 {
							b = append(b, ',')
						}
						b = appendString(b, p)
					}
					b = append(b, ']')
				}
				b = append(b, '}')
			}
			b = append(b, '}')
		} else {
			b = append(b, `{"allocations":[`...)
			for j, pr := range ar.Allocations {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"resource_provider":{"uuid":`...)
				b = appendString(b, pr.ProviderUUID)
				b = append(b, `},"resources":`...)
				b = appendAmounts(b, pr.Resources)
				b = append(b, '}')
			}
			b = append(b, `]}`...)
		}
	}
	b = append(b, `],"provider_summaries":{`...)
	for i, ps := range res.ProviderSummaries {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, ps.UUID)
		b = append(b, `:{"resources":{`...)
		n := 0
		for _, r := range ps.Resources {
			if requested != nil && !requested[r.Class] {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendString(b, r.Class)
			b = append(b, `:{"capacity":`...)
			b = strconv.AppendInt(b, r.Capacity, 10)
			b = append(b, `,"used":`...)
			b = strconv.AppendInt(b, r.Used, 10)
			b = append(b, '}')
		}
		b = append(b, '}')
		if v.AtLeast(17) {
			b = append(b, `,"traits":[`...)
			for k, t := range ps.Traits {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendString(b, t)
			}
			b = append(b, ']')
		}
		if v.AtLeast(29) {
			b = append(b, `,"parent_provider_uuid":`...)
			if ps.ParentUUID == "" {
				b = append(b, "null"...)
			} else {
				b = appendString(b, ps.ParentUUID)
			}
			b = append(b, `,"root_provider_uuid":`...)
			b = appendString(b, ps.RootUUID)
		}
		b = append(b, '}')
	}
	return append(b, "}}"...)
}

func appendAmounts(b []byte, rs []placement.ResourceAmount) []byte {
	b = append(b, '{')
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, r.Class)
		b = append(b, ':')
		b = strconv.AppendInt(b, r.Amount, 10)
	}
	return append(b, '}')
}
