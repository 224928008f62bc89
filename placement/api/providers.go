package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novakit/novakit/placement"
)

func init() {
	addRoute("/resource_providers", map[string]endpoint{
		"GET":  {rule: RuleProvidersList, h: listProviders},
		"POST": {rule: RuleProvidersCreate, h: createProvider},
	})
	addRoute("/resource_providers/{uuid}", map[string]endpoint{
		"GET":    {rule: RuleProvidersShow, h: showProvider},
		"PUT":    {rule: RuleProvidersUpdate, h: updateProvider},
		"DELETE": {rule: RuleProvidersDelete, h: deleteProvider},
	})
}

// appendProvider renders a provider as in GET /resource_providers/{uuid}
// at microversion v, without reflection: links grow with the version
// (aggregates 1.1, traits 1.6, allocations 1.11), parent and root uuids
// appear from 1.14.
func appendProvider(b []byte, rp placement.ResourceProvider, v placement.Version) []byte {
	base := "/resource_providers/" + rp.UUID
	b = append(b, `{"uuid":`...)
	b = appendString(b, rp.UUID)
	b = append(b, `,"name":`...)
	b = appendString(b, rp.Name)
	b = append(b, `,"generation":`...)
	b = strconv.AppendInt(b, rp.Generation, 10)
	b = append(b, `,"links":[`...)
	link := func(rel, href string, first bool) {
		if !first {
			b = append(b, ',')
		}
		b = append(b, `{"rel":"`...)
		b = append(b, rel...)
		b = append(b, `","href":`...)
		b = appendString(b, href)
		b = append(b, '}')
	}
	link("self", base, true)
	link("inventories", base+"/inventories", false)
	link("usages", base+"/usages", false)
	if v.AtLeast(1) {
		link("aggregates", base+"/aggregates", false)
	}
	if v.AtLeast(6) {
		link("traits", base+"/traits", false)
	}
	if v.AtLeast(11) {
		link("allocations", base+"/allocations", false)
	}
	b = append(b, ']')
	if v.AtLeast(14) {
		b = append(b, `,"root_provider_uuid":`...)
		b = appendString(b, rp.RootUUID)
		b = append(b, `,"parent_provider_uuid":`...)
		if rp.ParentUUID == "" {
			b = append(b, "null"...)
		} else {
			b = appendString(b, rp.ParentUUID)
		}
	}
	return append(b, '}')
}

// queryParams checks q against the parameters allowed at v (Placement
// validates list queries with a schema refusing other members) and refuses
// repeats of single-valued ones.
func queryParams(q url.Values, allowed map[string]bool, repeatable map[string]bool) error {
	for k, vs := range q {
		if !allowed[k] {
			return &httpError{status: http.StatusBadRequest, code: placement.CodeQueryBadValue,
				detail: "Invalid query string parameters: additional property " + k + " is not allowed"}
		}
		if len(vs) > 1 && !repeatable[k] {
			return &httpError{status: http.StatusBadRequest, code: placement.CodeQueryDuplicateKey,
				detail: "Invalid query string parameters: " + k + " given more than once"}
		}
	}
	return nil
}

func listProviders(rq *request) error {
	v := rq.v
	q := rq.r.URL.Query()
	allowed := map[string]bool{"name": true, "uuid": true}
	if v.AtLeast(3) {
		allowed["member_of"] = true
	}
	if v.AtLeast(4) {
		allowed["resources"] = true
	}
	if v.AtLeast(14) {
		allowed["in_tree"] = true
	}
	if v.AtLeast(18) {
		allowed["required"] = true
	}
	repeat := map[string]bool{}
	if v.AtLeast(24) {
		repeat["member_of"] = true
	}
	if v.AtLeast(39) {
		repeat["required"] = true
	}
	if err := queryParams(q, allowed, repeat); err != nil {
		return err
	}
	f := placement.ProviderFilter{Name: q.Get("name"), UUID: q.Get("uuid"), InTree: q.Get("in_tree")}
	if f.UUID != "" && !uuidLike(f.UUID) {
		return &httpError{status: 400, code: placement.CodeQueryBadValue, detail: "Invalid query string parameters: uuid " + f.UUID + " is not a 'uuid'"}
	}
	if f.InTree != "" && !uuidLike(f.InTree) {
		return &httpError{status: 400, code: placement.CodeQueryBadValue, detail: "Invalid query string parameters: in_tree " + f.InTree + " is not a 'uuid'"}
	}
	// member_of, resources and required reuse the candidate-query parser, so
	// the syntax and per-microversion rules are Placement's.
	if q.Has("member_of") || q.Has("resources") || q.Has("required") {
		cq := url.Values{}
		for _, k := range []string{"member_of", "resources", "required"} {
			if vs, ok := q[k]; ok {
				cq[k] = vs
			}
		}
		if !q.Has("resources") {
			cq.Set("resources", "VCPU:1") // placeholder so the group is valid
		}
		pv := v
		if !pv.AtLeast(21) {
			pv = placement.Version{Major: 1, Minor: 21} // the list rules up to 1.21 are a_c's 1.21 ones
		}
		cr, err := placement.ParseCandidateQuery(cq, pv)
		if err != nil {
			return err
		}
		if len(cr.Groups) > 0 {
			g := cr.Groups[0]
			f.MemberOf, f.ForbiddenAggregates = g.MemberOf, g.ForbiddenAggregates
			f.RequiredTraits, f.ForbiddenTraits = g.RequiredTraits, g.ForbiddenTraits
			if q.Has("resources") {
				f.Resources = g.Resources
			}
		}
		if !v.AtLeast(32) && len(f.ForbiddenAggregates) > 0 {
			return &httpError{status: 400, code: placement.CodeQueryBadValue, detail: "Invalid query string parameters: forbidden aggregates need microversion 1.32"}
		}
		if !v.AtLeast(22) && len(f.ForbiddenTraits) > 0 {
			return &httpError{status: 400, code: placement.CodeQueryBadValue, detail: "Invalid query string parameters: forbidden traits need microversion 1.22"}
		}
	}
	if len(f.RequiredTraits) > 0 || len(f.ForbiddenTraits) > 0 {
		// Placement refuses traits that do not exist.
		names, err := rq.s.idx.TraitNames(rq.ctx)
		if err != nil {
			return err
		}
		var missing []string
		check := func(t string) {
			if _, ok := slices.BinarySearch(names, t); !ok {
				missing = append(missing, t)
			}
		}
		for _, any := range f.RequiredTraits {
			for _, t := range any {
				check(t)
			}
		}
		for _, t := range f.ForbiddenTraits {
			check(t)
		}
		if len(missing) > 0 {
			return badRequest("No such trait(s): %s", strings.Join(missing, ", "))
		}
	}
	rps, err := rq.s.idx.Providers(rq.ctx, f)
	if err != nil {
		return err
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b := append((*bp)[:0], `{"resource_providers":[`...)
	var lm time.Time
	for i, rp := range rps {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendProvider(b, rp, v)
		if rp.UpdatedAt.After(lm) {
			lm = rp.UpdatedAt
		}
	}
	b = append(b, "]}"...)
	*bp = b
	if lm.IsZero() {
		lm = rq.s.now()
	}
	rq.raw(http.StatusOK, b, lm)
	return nil
}

func createProvider(rq *request) error {
	o, err := rq.bodyObject()
	if err != nil {
		return err
	}
	allowed := []string{"name", "uuid"}
	if rq.v.AtLeast(14) {
		allowed = append(allowed, "parent_provider_uuid")
	}
	if err := o.only(allowed...); err != nil {
		return err
	}
	if err := o.require("name"); err != nil {
		return err
	}
	spec := placement.ProviderSpec{}
	if spec.Name, _, err = o.str("name", false); err != nil {
		return err
	}
	if spec.Name == "" || len(spec.Name) > 200 {
		return badRequest("JSON does not validate: name must be 1 to 200 characters")
	}
	if spec.UUID, _, err = o.uuid("uuid", false); err != nil {
		return err
	}
	if spec.ParentUUID, _, err = o.uuid("parent_provider_uuid", true); err != nil {
		return err
	}
	rp, err := rq.s.idx.CreateProvider(rq.ctx, spec)
	if err != nil {
		if placement.ErrorCode(err) == placement.CodeDuplicateName {
			return &httpError{status: http.StatusConflict, code: placement.CodeDuplicateName, detail: err.Error()}
		}
		return err
	}
	rq.w.Header().Set("Location", "/resource_providers/"+rp.UUID)
	if rq.v.AtLeast(20) {
		rq.provider(http.StatusOK, rp, rp.UpdatedAt)
		return nil
	}
	rq.noContent(http.StatusCreated)
	return nil
}

// providerUUID returns the {uuid} path parameter; a malformed one is 404
// as no provider can have it.
func (rq *request) providerUUID() (string, error) {
	u := rq.params["uuid"]
	if !uuidLike(u) {
		return "", &httpError{status: 404, code: placement.CodeProviderNotFound, detail: "No resource provider with uuid " + u + " found"}
	}
	return u, nil
}

func showProvider(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	rp, err := rq.s.idx.Provider(rq.ctx, u)
	if err != nil {
		return err
	}
	rq.provider(http.StatusOK, rp, rp.UpdatedAt)
	return nil
}

func updateProvider(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	o, err := rq.bodyObject()
	if err != nil {
		return err
	}
	allowed := []string{"name"}
	if rq.v.AtLeast(14) {
		allowed = append(allowed, "parent_provider_uuid")
	}
	if err := o.only(allowed...); err != nil {
		return err
	}
	if err := o.require("name"); err != nil {
		return err
	}
	up := placement.ProviderUpdate{AllowReparenting: rq.v.AtLeast(37)}
	if up.Name, _, err = o.str("name", false); err != nil {
		return err
	}
	if up.Name == "" || len(up.Name) > 200 {
		return badRequest("JSON does not validate: name must be 1 to 200 characters")
	}
	if o.has("parent_provider_uuid") {
		up.SetParent = true
		if up.ParentUUID, _, err = o.uuid("parent_provider_uuid", true); err != nil {
			return err
		}
		if !up.AllowReparenting {
			// Before 1.37 a null parent on a root, or the current parent,
			// is a no-op; the Index refuses any real change except a root
			// gaining a parent.
			cur, err := rq.s.idx.Provider(rq.ctx, u)
			if err != nil {
				return err
			}
			if strings.EqualFold(cur.ParentUUID, up.ParentUUID) {
				up.SetParent = false
			}
		}
	}
	rp, err := rq.s.idx.UpdateProvider(rq.ctx, u, up)
	if err != nil {
		return err
	}
	rq.provider(http.StatusOK, rp, time.Time{})
	return nil
}

func deleteProvider(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	if err := rq.s.idx.DeleteProvider(rq.ctx, u); err != nil {
		return err
	}
	rq.noContent(http.StatusNoContent)
	return nil
}

// provider writes one provider with a pooled buffer.
func (rq *request) provider(status int, rp placement.ResourceProvider, lastModified time.Time) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	*bp = appendProvider((*bp)[:0], rp, rq.v)
	rq.raw(status, *bp, lastModified)
}
