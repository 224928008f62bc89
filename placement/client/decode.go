package client

import (
	"encoding/json"
	"errors"
	"sort"
	"strconv"

	"github.com/novakit/novakit/placement"
)

// errSyntax makes the fast decoder give up; the caller then decodes with
// encoding/json, which explains what is wrong.
var errSyntax = errors.New("placement client: unexpected JSON")

// scanner is a minimal JSON reader for the allocation-candidates answer:
// no reflection, and strings interned so that the provider uuids and class
// names repeated over a thousand candidates are allocated once.
type scanner struct {
	b      []byte
	i      int
	intern map[string]string
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return errSyntax
	}
	s.i++
	return nil
}

// str reads a string; escapes are decoded by encoding/json.
func (s *scanner) str() (string, error) {
	if s.peek() != '"' {
		return "", errSyntax
	}
	start := s.i + 1
	escaped := false
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '\\':
			escaped = true
			j++
		case c < 0x20:
			return "", errSyntax
		case c == '"':
			s.i = j + 1
			if escaped {
				var out string
				if err := json.Unmarshal(s.b[start-1:j+1], &out); err != nil {
					return "", errSyntax
				}
				return out, nil
			}
			raw := s.b[start:j]
			if v, ok := s.intern[string(raw)]; ok {
				return v, nil
			}
			v := string(raw)
			s.intern[v] = v
			return v, nil
		}
	}
	return "", errSyntax
}

// int reads an integer (a JSON number without fraction or exponent).
func (s *scanner) int() (int64, error) {
	s.ws()
	j := s.i
	if j < len(s.b) && s.b[j] == '-' {
		j++
	}
	for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(s.b[s.i:j]), 10, 64)
	if err != nil {
		return 0, errSyntax
	}
	s.i = j
	return n, nil
}

// null consumes a null and reports whether there was one.
func (s *scanner) null() bool {
	if s.peek() == 'n' && len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// object calls member for each member of an object (the scanner is then
// positioned on the value, which member must consume).
func (s *scanner) object(member func(key string) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		k, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := member(k); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return errSyntax
		}
	}
}

func (s *scanner) array(elem func() error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return errSyntax
		}
	}
}

// skip consumes any value.
func (s *scanner) skip() error {
	switch c := s.peek(); {
	case c == '{':
		return s.object(func(string) error { return s.skip() })
	case c == '[':
		return s.array(s.skip)
	case c == '"':
		_, err := s.str()
		return err
	case c == 'n' || c == 't' || c == 'f' || c == '-' || c >= '0' && c <= '9':
		j := s.i
		for j < len(s.b) && (s.b[j] >= 'a' && s.b[j] <= 'z' || s.b[j] >= '0' && s.b[j] <= '9' || s.b[j] == '-' || s.b[j] == '+' || s.b[j] == '.' || s.b[j] == 'E') {
			j++
		}
		if j == s.i {
			return errSyntax
		}
		if !json.Valid(s.b[s.i:j]) {
			return errSyntax
		}
		s.i = j
		return nil
	}
	return errSyntax
}

func (s *scanner) strings() ([]string, error) {
	out := []string{}
	err := s.array(func() error {
		v, err := s.str()
		out = append(out, v)
		return err
	})
	return out, err
}

// decodeCandidates reads a GET /allocation_candidates answer (1.12+
// shapes) into the domain form Candidates returns, mappings ordered as
// req's groups. Any surprise is errSyntax.
func decodeCandidates(b []byte, req *placement.CandidateRequest) (*placement.CandidateResult, error) {
	s := &scanner{b: b, intern: make(map[string]string, 64)}
	// Size the lists from the body: about 150 bytes per allocation request
	// and 250 per summary in Placement's compact rendering.
	res := &placement.CandidateResult{AllocationRequests: make([]placement.AllocationRequest, 0, len(b)/400+1),
		ProviderSummaries: make([]placement.ProviderSummary, 0, len(b)/400+1)}
	err := s.object(func(key string) error {
		switch key {
		case "allocation_requests":
			return s.array(func() error {
				ar, err := s.allocationRequest(req)
				res.AllocationRequests = append(res.AllocationRequests, ar)
				return err
			})
		case "provider_summaries":
			return s.object(func(u string) error {
				ps, err := s.summary(u)
				res.ProviderSummaries = append(res.ProviderSummaries, ps)
				return err
			})
		}
		return s.skip()
	})
	if err != nil {
		return nil, err
	}
	if s.ws(); s.i != len(s.b) {
		return nil, errSyntax
	}
	sort.Slice(res.ProviderSummaries, func(i, j int) bool { return res.ProviderSummaries[i].UUID < res.ProviderSummaries[j].UUID })
	return res, nil
}

func (s *scanner) allocationRequest(req *placement.CandidateRequest) (placement.AllocationRequest, error) {
	var ar placement.AllocationRequest
	var mappings []placement.Mapping
	seenMappings := false
	err := s.object(func(key string) error {
		switch key {
		case "allocations":
			if s.peek() != '{' {
				return errSyntax // the pre-1.12 list form is not expected here
			}
			return s.object(func(u string) error {
				pr := placement.ProviderResources{ProviderUUID: u, Resources: make([]placement.ResourceAmount, 0, 4)}
				err := s.object(func(k string) error {
					if k != "resources" {
						return s.skip()
					}
					return s.object(func(rc string) error {
						n, err := s.int()
						pr.Resources = append(pr.Resources, placement.ResourceAmount{Class: rc, Amount: n})
						return err
					})
				})
				sortAmounts(pr.Resources)
				ar.Allocations = append(ar.Allocations, pr)
				return err
			})
		case "mappings":
			seenMappings = true
			return s.object(func(suffix string) error {
				ps, err := s.strings()
				sort.Strings(ps)
				for i := range mappings {
					if mappings[i].Suffix == suffix {
						mappings[i].Providers = ps // a repeated key: the last wins, as in encoding/json
						return err
					}
				}
				mappings = append(mappings, placement.Mapping{Suffix: suffix, Providers: ps})
				return err
			})
		}
		return s.skip()
	})
	if err != nil {
		return ar, err
	}
	if ar.Allocations == nil {
		ar.Allocations = []placement.ProviderResources{}
	}
	sort.Slice(ar.Allocations, func(i, j int) bool { return ar.Allocations[i].ProviderUUID < ar.Allocations[j].ProviderUUID })
	if seenMappings && len(mappings) > 0 {
		ar.Mappings = make([]placement.Mapping, 0, len(mappings))
		for _, g := range req.Groups {
			for _, m := range mappings {
				if m.Suffix == g.Suffix {
					ar.Mappings = append(ar.Mappings, m)
					break
				}
			}
		}
	}
	return ar, nil
}

func (s *scanner) summary(u string) (placement.ProviderSummary, error) {
	ps := placement.ProviderSummary{UUID: u, Resources: make([]placement.SummaryResource, 0, 4)}
	err := s.object(func(key string) error {
		switch key {
		case "resources":
			return s.object(func(rc string) error {
				r := placement.SummaryResource{Class: rc}
				err := s.object(func(k string) error {
					var err error
					switch k {
					case "capacity":
						r.Capacity, err = s.int()
					case "used":
						r.Used, err = s.int()
					default:
						err = s.skip()
					}
					return err
				})
				ps.Resources = append(ps.Resources, r)
				return err
			})
		case "traits":
			ts, err := s.strings()
			sort.Strings(ts)
			ps.Traits = ts
			return err
		case "parent_provider_uuid":
			if s.null() {
				return nil
			}
			var err error
			ps.ParentUUID, err = s.str()
			return err
		case "root_provider_uuid":
			var err error
			ps.RootUUID, err = s.str()
			return err
		}
		return s.skip()
	})
	if ps.RootUUID == "" {
		ps.RootUUID = u
	}
	sort.Slice(ps.Resources, func(i, j int) bool { return ps.Resources[i].Class < ps.Resources[j].Class })
	return ps, err
}

func sortAmounts(rs []placement.ResourceAmount) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Class < rs[j].Class })
}
