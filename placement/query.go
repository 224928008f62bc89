package placement

import (
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Group policies (microversion 1.25).
const (
	GroupPolicyNone    = "none"
	GroupPolicyIsolate = "isolate"
)

// RequestGroup is one request group of GET /allocation_candidates. The group
// with the empty suffix may be satisfied collectively by providers of one tree
// plus sharing providers; every suffixed group is satisfied by exactly one
// provider.
type RequestGroup struct {
	// Suffix is "" for the unsuffixed group.
	Suffix string
	// Resources maps resource class → amount (≥ 1). Empty only for a
	// suffixed group named in a same_subtree (1.36).
	Resources map[string]int64
	// RequiredTraits is a conjunction of disjunctions: every inner list needs
	// at least one of its traits.
	RequiredTraits [][]string
	// ForbiddenTraits must all be absent.
	ForbiddenTraits []string
	// MemberOf is a conjunction of disjunctions of aggregate uuids.
	MemberOf [][]string
	// ForbiddenAggregates must all be absent.
	ForbiddenAggregates []string
	// InTree restricts the group to the tree of this provider uuid.
	InTree string
}

// CandidateRequest is a parsed GET /allocation_candidates query. It is a
// plain value: build it by hand or with ParseCandidateQuery; the engine never
// modifies it.
type CandidateRequest struct {
	// Groups holds the unsuffixed group (if any) first, then the suffixed
	// groups in suffix order.
	Groups []RequestGroup
	// GroupPolicy is "", GroupPolicyNone or GroupPolicyIsolate.
	GroupPolicy string
	// SameSubtree lists sets of suffixes: within each set, one provider that
	// satisfies one of the groups must be an ancestor of (or equal to) all
	// the providers satisfying the others.
	SameSubtree [][]string
	// RootRequired and RootForbidden constrain the root of each candidate's
	// anchor tree.
	RootRequired  []string
	RootForbidden []string
	// Limit caps the number of candidates generated (0 = no limit beyond
	// the Index's MaxCandidates).
	Limit int
	// ExcludeNested drops candidates that use several providers of one tree
	// (Placement below 1.29).
	ExcludeNested bool
	// Seed orders the search. Equal seeds over equal snapshots give equal
	// answers; callers pass something derived from the request id so that
	// concurrent schedulers spread out and a decision can be replayed.
	Seed uint64
}

type qkey struct {
	prefix string // resources, required, member_of, in_tree
	suffix string
}

var groupPrefixes = [...]string{"resources", "required", "member_of", "in_tree"}

// splitKey matches Placement's group key pattern for version v.
func splitKey(key string, v Version) (qkey, bool) {
	for _, p := range groupPrefixes {
		if !strings.HasPrefix(key, p) {
			continue
		}
		s := key[len(p):]
		if s == "" {
			return qkey{p, ""}, true
		}
		if validSuffix(s, v) {
			return qkey{p, s}, true
		}
	}
	return qkey{}, false
}

func validSuffix(s string, v Version) bool {
	if v.AtLeast(33) {
		if len(s) < 1 || len(s) > 64 {
			return false
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
		return true
	}
	if s == "" || s[0] < '1' || s[0] > '9' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// keyAllowed applies the per-microversion JSON schema of Placement's handler
// (additionalProperties: false).
func keyAllowed(k qkey, v Version) bool {
	if k.suffix != "" && !v.AtLeast(25) {
		return false
	}
	switch k.prefix {
	case "resources":
		return true
	case "required":
		return v.AtLeast(17)
	case "member_of":
		return v.AtLeast(21)
	case "in_tree":
		return v.AtLeast(31)
	}
	return false
}

// ParseCandidateQuery parses the query string of GET /allocation_candidates
// at microversion v (1.10 … 1.39) with Placement's rules: which parameters
// exist at v, duplicate keys, resource amounts, trait and aggregate syntax,
// orphaned or resourceless groups, group_policy and same_subtree. It checks
// names syntactically only; whether a custom resource class or trait exists
// is for the Index to say. Every error matches ErrInvalid and is an *Error
// whose Field names the parameter and whose Code is Placement's
// (placement.query.duplicate_key, .bad_value, .missing_value, or
// placement.undefined_code where Placement sets none). It never panics and is
// safe for concurrent use.
//
// Deliberate differences from Placement: a repeated resources{S},
// in_tree{S}, limit or group_policy is placement.query.duplicate_key (Placement
// silently keeps one of the values; only root_required is refused there), and
// resource class and trait names are checked for syntax here (standard or
// CUSTOM_[A-Z0-9_]+, placement.query.bad_value) rather than only by lookup.
func ParseCandidateQuery(q url.Values, v Version) (*CandidateRequest, error) {
	if !v.AtLeast(10) || !v.Supported() {
		return nil, invalid("version", "GET /allocation_candidates needs microversion 1.10 to %s, got %s", MaxVersion(), v)
	}
	req := &CandidateRequest{ExcludeNested: !v.AtLeast(29)}
	groups := map[string]*RequestGroup{}
	grp := func(s string) *RequestGroup {
		g := groups[s]
		if g == nil {
			g = &RequestGroup{Suffix: s}
			groups[s] = g
		}
		return g
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic error choice
	seenResources := false
	for _, key := range keys {
		vals := q[key]
		if len(vals) == 0 {
			continue
		}
		switch key {
		case "limit":
			if !v.AtLeast(16) {
				return nil, unknownParam(key)
			}
			if len(vals) > 1 {
				return nil, dupKey(key)
			}
			n, ok := positiveInt(vals[0])
			if !ok || n > MaxInt {
				return nil, invalid(key, "limit must be a positive integer, got %q", vals[0])
			}
			req.Limit = int(n)
			continue
		case "group_policy":
			if !v.AtLeast(25) {
				return nil, unknownParam(key)
			}
			if len(vals) > 1 {
				return nil, dupKey(key)
			}
			if vals[0] != GroupPolicyNone && vals[0] != GroupPolicyIsolate {
				return nil, invalid(key, "group_policy must be 'none' or 'isolate', got %q", vals[0])
			}
			req.GroupPolicy = vals[0]
			continue
		case "root_required":
			if !v.AtLeast(35) {
				return nil, unknownParam(key)
			}
			if len(vals) > 1 {
				return nil, queryErr(CodeQueryDuplicateKey, key, "query parameter 'root_required' may be specified only once")
			}
			req2, forb, err := parseTraits(key, vals[0], true, false)
			if err != nil {
				return nil, err
			}
			for _, s := range req2 {
				req.RootRequired = append(req.RootRequired, s[0])
			}
			req.RootForbidden = forb
			sort.Strings(req.RootRequired)
			req.RootRequired = slices.Compact(req.RootRequired)
			for _, t := range req.RootRequired {
				if slices.Contains(forb, t) {
					return nil, queryErr(CodeQueryBadValue, key, "conflicting required and forbidden traits found in root_required: %s", t)
				}
			}
			continue
		case "same_subtree":
			if !v.AtLeast(36) {
				return nil, unknownParam(key)
			}
			for _, val := range vals {
				var set []string
				for _, s := range strings.Split(val, ",") {
					s = strings.TrimSpace(s)
					if s == "" {
						return nil, queryErr(CodeQueryBadValue, key, "empty string (unsuffixed group) can not be specified in same_subtree")
					}
					set = append(set, s)
				}
				sort.Strings(set)
				req.SameSubtree = append(req.SameSubtree, slices.Compact(set))
			}
			continue
		}
		k, ok := splitKey(key, v)
		if !ok || !keyAllowed(k, v) {
			return nil, unknownParam(key)
		}
		g := grp(k.suffix)
		switch k.prefix {
		case "resources":
			if len(vals) > 1 {
				return nil, dupKey(key)
			}
			res, err := parseResources(key, vals[0])
			if err != nil {
				return nil, err
			}
			g.Resources = res
			if k.suffix == "" {
				seenResources = true
			}
		case "in_tree":
			if len(vals) > 1 {
				return nil, dupKey(key)
			}
			t := strings.TrimSpace(vals[0])
			if !isUUIDLike(t) {
				return nil, invalid(key, "expected %s to be a uuid, got %q", key, vals[0])
			}
			g.InTree = t
		case "required":
			if !v.AtLeast(39) {
				vals = vals[len(vals)-1:] // Placement < 1.39 honours the last one
			}
			for _, val := range vals {
				r, f, err := parseTraits(key, val, v.AtLeast(22), v.AtLeast(39))
				if err != nil {
					return nil, err
				}
				g.RequiredTraits = append(g.RequiredTraits, r...)
				g.ForbiddenTraits = append(g.ForbiddenTraits, f...)
			}
			sort.Strings(g.ForbiddenTraits)
			g.ForbiddenTraits = slices.Compact(g.ForbiddenTraits)
		case "member_of":
			if len(vals) > 1 && !v.AtLeast(24) {
				return nil, invalid(key, "multiple %s parameters are not supported before microversion 1.24", key)
			}
			for _, val := range vals {
				r, f, err := parseMemberOf(key, val)
				if err != nil {
					return nil, err
				}
				if len(f) > 0 && !v.AtLeast(32) {
					return nil, invalid(key, "forbidden %s parameters are not supported before microversion 1.32", key)
				}
				if len(r) > 0 {
					g.MemberOf = append(g.MemberOf, r)
				}
				g.ForbiddenAggregates = append(g.ForbiddenAggregates, f...)
			}
			sort.Strings(g.ForbiddenAggregates)
			g.ForbiddenAggregates = slices.Compact(g.ForbiddenAggregates)
		}
	}
	if !v.AtLeast(25) && !seenResources {
		return nil, queryErr(CodeQueryMissingValue, "resources", "the resources parameter is required")
	}
	// Group-level checks, as Placement's RequestGroup.dict_from_request.
	suffixes := make([]string, 0, len(groups))
	for s := range groups {
		suffixes = append(suffixes, s)
	}
	sort.Strings(suffixes)
	if v.AtLeast(36) {
		inSubtree := map[string]bool{}
		for _, set := range req.SameSubtree {
			for _, s := range set {
				inSubtree[s] = true
			}
		}
		nResourceful := 0
		for _, s := range suffixes {
			if len(groups[s].Resources) > 0 {
				nResourceful++
			}
		}
		if nResourceful == 0 {
			return nil, queryErr(CodeQueryMissingValue, "resources", "there must be at least one resources or resources{S} parameter")
		}
		for _, s := range suffixes {
			if len(groups[s].Resources) == 0 && !inSubtree[s] {
				return nil, queryErr(CodeQueryBadValue, "resources"+s,
					"resourceless suffixed group request should be specified in same_subtree: bad group %q", s)
			}
		}
		for _, set := range req.SameSubtree {
			for _, s := range set {
				if groups[s] == nil {
					return nil, queryErr(CodeQueryBadValue, "same_subtree", "real suffixes should be specified in same_subtree: %q not found", s)
				}
			}
		}
	} else {
		for _, s := range suffixes {
			g := groups[s]
			if len(g.Resources) > 0 {
				continue
			}
			switch {
			case len(g.RequiredTraits) > 0:
				return nil, invalid("required"+s, "all traits parameters must be associated with resources: orphaned required%s", s)
			case len(g.MemberOf) > 0 || len(g.ForbiddenAggregates) > 0:
				return nil, invalid("member_of"+s, "all member_of parameters must be associated with resources: orphaned member_of%s", s)
			default:
				return nil, invalid("resources"+s, "all request groups must specify resources")
			}
		}
		if len(suffixes) == 0 {
			return nil, invalid("resources", "at least one request group (resources or resources{S}) is required")
		}
	}
	if v.AtLeast(22) {
		for _, s := range suffixes {
			g := groups[s]
			for _, any := range g.RequiredTraits {
				conflict := true
				for _, t := range any {
					if !slices.Contains(g.ForbiddenTraits, t) {
						conflict = false
						break
					}
				}
				if conflict {
					return nil, invalid("required"+s, "conflicting required and forbidden traits found in required%s: (%s)", s, strings.Join(any, ", "))
				}
			}
		}
	}
	nGranular := 0
	for _, s := range suffixes {
		if s != "" {
			nGranular++
		}
		req.Groups = append(req.Groups, *groups[s]) // "" sorts first
	}
	if nGranular > 1 && req.GroupPolicy == "" {
		return nil, invalid("group_policy", "the group_policy parameter is required when specifying more than one resources{S} parameter")
	}
	return req, nil
}

func unknownParam(key string) *Error {
	field := key
	if field == "" {
		field = "<empty key>"
	}
	return invalid(field, "invalid query string parameters: additional property %q is not allowed at this microversion", key)
}

func dupKey(key string) *Error {
	return queryErr(CodeQueryDuplicateKey, key, "query parameter %q may be specified only once", key)
}

// positiveInt accepts ^[1-9][0-9]*$.
func positiveInt(s string) (int64, bool) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseResources implements util.normalize_resources_qs_param plus a syntax
// check of the class names.
func parseResources(key, val string) (map[string]int64, error) {
	if strings.TrimSpace(val) == "" {
		return nil, invalid(key, "badly formed resources parameter: expected RC:N[,RC:N...], got an empty string")
	}
	res := map[string]int64{}
	for _, part := range strings.Split(val, ",") {
		rc, amt, ok := strings.Cut(part, ":")
		if !ok || strings.Contains(amt, ":") {
			return nil, invalid(key, "badly formed resources parameter: expected RC:N[,RC:N...], got %q", part)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(amt), 10, 64)
		if err != nil {
			return nil, invalid(key, "requested resource %s expected positive integer amount, got %q", rc, amt)
		}
		if n < 1 {
			return nil, invalid(key, "requested resource %s requires amount >= 1, got %d", rc, n)
		}
		if n > MaxInt {
			return nil, invalid(key, "requested resource %s amount %d exceeds %d", rc, n, MaxInt)
		}
		if err := ValidateResourceClassName(rc); err != nil {
			return nil, queryErr(CodeQueryBadValue, key, "invalid resource class in resources parameter: %q", rc)
		}
		res[rc] = n // Placement: a repeated class keeps the last amount
	}
	return res, nil
}

// parseTraits implements util.normalize_traits_qs_param. Required traits come
// back as any-of lists (one element each unless "in:" was used).
func parseTraits(key, val string, allowForbidden, allowAny bool) (req [][]string, forb []string, err error) {
	if strings.HasPrefix(val, "in:") {
		if !allowAny {
			return nil, nil, invalid(key, "the format 'in:T1,T2' is only supported since microversion 1.39, got %q", val)
		}
		var any []string
		for _, t := range strings.Split(val[3:], ",") {
			t = strings.TrimSpace(t)
			if t == "" {
				return nil, nil, invalid(key, "expected %s of the form in:T1,T2, got an empty trait in %q", key, val)
			}
			if strings.HasPrefix(t, "!") {
				return nil, nil, invalid(key, "the format 'in:T1,T2' does not support forbidden traits, got %q", val)
			}
			if err := ValidateTraitName(t); err != nil {
				return nil, nil, queryErr(CodeQueryBadValue, key, "no such trait %q", t)
			}
			any = append(any, t)
		}
		sort.Strings(any)
		return [][]string{slices.Compact(any)}, nil, nil
	}
	for _, t := range strings.Split(val, ",") {
		t = strings.TrimSpace(t)
		neg := strings.HasPrefix(t, "!")
		name := strings.TrimLeft(t, "!") // Placement strips any number of '!'
		if name == "" {
			return nil, nil, invalid(key, "expected %s of the form T1,!T2, got an empty trait in %q", key, val)
		}
		if neg && !allowForbidden {
			return nil, nil, invalid(key, "forbidden traits are only supported since microversion 1.22, got %q", val)
		}
		if err := ValidateTraitName(name); err != nil {
			return nil, nil, queryErr(CodeQueryBadValue, key, "no such trait %q", name)
		}
		if neg {
			forb = append(forb, name)
		} else {
			req = append(req, []string{name})
		}
	}
	sort.Strings(forb)
	return req, slices.Compact(forb), nil
}

// parseMemberOf implements util.normalize_member_of_qs_param.
func parseMemberOf(key, val string) (req, forb []string, err error) {
	if strings.Contains(val, ",") && !strings.HasPrefix(val, "in:") && !strings.HasPrefix(val, "!in:") {
		return nil, nil, invalid(key, "multiple values for %s must be prefixed with 'in:' or '!in:', got %q", key, val)
	}
	var list []string
	neg := false
	switch {
	case strings.HasPrefix(val, "!in:"):
		list, neg = strings.Split(val[4:], ","), true
	case strings.HasPrefix(val, "!"):
		list, neg = []string{val[1:]}, true
	case strings.HasPrefix(val, "in:"):
		list = strings.Split(val[3:], ",")
	default:
		list = []string{val}
	}
	for _, a := range list {
		if !isUUIDLike(a) {
			return nil, nil, invalid(key, "expected %s to contain valid uuid(s), got %q", key, a)
		}
	}
	sort.Strings(list)
	list = slices.Compact(list)
	if neg {
		return nil, list, nil
	}
	return list, nil, nil
}
