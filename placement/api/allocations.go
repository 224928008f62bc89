package api

import (
	"net/http"
	"net/url"

	"github.com/novakit/novakit/placement"
)

func init() {
	addRoute("/allocations", map[string]endpoint{
		"POST": {min: 13, rule: RuleAllocationsManage, h: postAllocations},
	})
	addRoute("/allocations/{consumer}", map[string]endpoint{
		"GET":    {rule: RuleAllocationsList, h: showAllocations},
		"PUT":    {rule: RuleAllocationsUpdate, h: putAllocations},
		"DELETE": {rule: RuleAllocationsDelete, h: deleteAllocations},
	})
	addRoute("/resource_providers/{uuid}/allocations", map[string]endpoint{
		"GET": {rule: RuleProviderAllocationsList, h: providerAllocations},
	})
	addRoute("/usages", map[string]endpoint{
		"GET": {min: 9, rule: RuleTotalUsages, h: totalUsages},
	})
	addRoute("/reshaper", map[string]endpoint{
		"POST": {min: 30, rule: RuleReshape, h: reshape},
	})
}

// resourcesOf parses {"RC": amount, ...}: at least one class, amounts 1..MaxInt.
func resourcesOf(o object) (map[string]int64, error) {
	if len(o.m) == 0 {
		return nil, badRequest("JSON does not validate: %s must have at least one resource class", o.path)
	}
	res := make(map[string]int64, len(o.m))
	for _, rc := range o.keys() {
		if err := checkClass(rc, o.path); err != nil {
			return nil, err
		}
		n, err := o.int(rc, 1, placement.MaxInt)
		if err != nil {
			return nil, err
		}
		res[rc] = n
	}
	return res, nil
}

// consumerOf parses the body of PUT /allocations/{consumer} (topLevel) or
// one consumer of POST /allocations or /reshaper, for microversion v.
func consumerOf(o object, v placement.Version, topLevel bool) (placement.ConsumerAllocations, error) {
	var ca placement.ConsumerAllocations
	allowed := []string{"allocations", "project_id", "user_id"}
	required := []string{"allocations"}
	if v.AtLeast(8) {
		required = append(required, "project_id", "user_id")
	}
	if v.AtLeast(28) {
		allowed = append(allowed, "consumer_generation")
		required = append(required, "consumer_generation")
	}
	if v.AtLeast(34) {
		allowed = append(allowed, "mappings")
	}
	if v.AtLeast(38) {
		allowed = append(allowed, "consumer_type")
		required = append(required, "consumer_type")
	}
	if err := o.only(allowed...); err != nil {
		return ca, err
	}
	if err := o.require(required...); err != nil {
		return ca, err
	}
	var err error
	if ca.Project, _, err = o.str("project_id", false); err != nil {
		return ca, err
	}
	if ca.User, _, err = o.str("user_id", false); err != nil {
		return ca, err
	}
	for _, f := range []struct{ key, val string }{{"project_id", ca.Project}, {"user_id", ca.User}} {
		if o.has(f.key) && (f.val == "" || len(f.val) > 255) {
			return ca, badRequest("JSON does not validate: %s must be 1 to 255 characters", join(o.path, f.key))
		}
	}
	if ca.Project == "" {
		ca.Project = placement.IncompleteConsumerID
	}
	if ca.User == "" {
		ca.User = placement.IncompleteConsumerID
	}
	if v.AtLeast(28) {
		if ca.Generation, err = o.nullableInt("consumer_generation", 0, 1<<62); err != nil {
			return ca, err
		}
	} else {
		ca.SkipGenerationCheck = true
	}
	if v.AtLeast(38) {
		if ca.ConsumerType, _, err = o.str("consumer_type", false); err != nil {
			return ca, err
		}
		if ca.ConsumerType == "" || len(ca.ConsumerType) > 255 {
			return ca, badRequest("JSON does not validate: %s must be 1 to 255 characters of [A-Z0-9_]", join(o.path, "consumer_type"))
		}
	}
	if o.has("mappings") {
		if _, err := o.obj("mappings"); err != nil {
			return ca, err
		}
	}
	ca.Allocations = map[string]map[string]int64{}
	if !v.AtLeast(12) {
		// 1.0–1.11: a list of {"resource_provider": {"uuid"}, "resources"}.
		raw := o.m["allocations"]
		f := join(o.path, "allocations")
		if jsonKind(raw) != "array" {
			return ca, typeErr(f, "an array", raw)
		}
		items, err := rawArray(raw, f)
		if err != nil {
			return ca, err
		}
		if len(items) == 0 {
			return ca, badRequest("JSON does not validate: %s must not be empty", f)
		}
		for i, it := range items {
			io, err := parseObject(it, f+"["+itoa(i)+"]")
			if err != nil {
				return ca, err
			}
			if err := io.only("resource_provider", "resources"); err != nil {
				return ca, err
			}
			if err := io.require("resource_provider", "resources"); err != nil {
				return ca, err
			}
			rpo, err := io.obj("resource_provider")
			if err != nil {
				return ca, err
			}
			if err := rpo.only("uuid"); err != nil {
				return ca, err
			}
			if err := rpo.require("uuid"); err != nil {
				return ca, err
			}
			u, _, err := rpo.uuid("uuid", false)
			if err != nil {
				return ca, err
			}
			ro, err := io.obj("resources")
			if err != nil {
				return ca, err
			}
			res, err := resourcesOf(ro)
			if err != nil {
				return ca, err
			}
			if _, dup := ca.Allocations[u]; dup {
				return ca, badRequest("JSON does not validate: resource provider %s listed twice in %s", u, f)
			}
			ca.Allocations[u] = res
		}
		return ca, nil
	}
	ao, err := o.obj("allocations")
	if err != nil {
		return ca, err
	}
	if len(ao.m) == 0 && topLevel && !v.AtLeast(28) {
		return ca, badRequest("JSON does not validate: %s must not be empty before microversion 1.28", ao.path)
	}
	for _, u := range ao.keys() {
		if !uuidLike(u) {
			return ca, badRequest("JSON does not validate: %s: %q is not a 'uuid'", ao.path, u)
		}
		po, err := ao.obj(u)
		if err != nil {
			return ca, err
		}
		if err := po.only("resources", "generation"); err != nil {
			return ca, err
		}
		if err := po.require("resources"); err != nil {
			return ca, err
		}
		ro, err := po.obj("resources")
		if err != nil {
			return ca, err
		}
		if ca.Allocations[u], err = resourcesOf(ro); err != nil {
			return ca, err
		}
	}
	return ca, nil
}

func (rq *request) consumerParam() (string, error) {
	c := rq.params["consumer"]
	if !uuidLike(c) {
		return "", badRequest("Malformed consumer_uuid %q", c)
	}
	return c, nil
}

func putAllocations(rq *request) error {
	c, err := rq.consumerParam()
	if err != nil {
		return err
	}
	o, err := rq.bodyObject()
	if err != nil {
		return err
	}
	ca, err := consumerOf(o, rq.v, true)
	if err != nil {
		return err
	}
	if err := rq.s.idx.SetAllocations(rq.ctx, map[string]placement.ConsumerAllocations{c: ca}); err != nil {
		return allocationError(err)
	}
	rq.noContent(http.StatusNoContent)
	return nil
}

// allocationError adds Placement's wording to allocation failures.
func allocationError(err error) error {
	he := toHTTPError(err)
	switch he.status {
	case http.StatusConflict:
		if he.code == placement.CodeUndefined {
			he.detail = "Unable to allocate inventory: " + he.detail
		}
	case http.StatusBadRequest:
		he.detail = "Unable to allocate inventory: " + he.detail
	}
	return he
}

func postAllocations(rq *request) error {
	o, err := rq.bodyObject()
	if err != nil {
		return err
	}
	if len(o.m) == 0 {
		return badRequest("JSON does not validate: the body must name at least one consumer")
	}
	all := make(map[string]placement.ConsumerAllocations, len(o.m))
	for _, c := range o.keys() {
		if !uuidLike(c) {
			return badRequest("JSON does not validate: %q is not a 'uuid'", c)
		}
		co, err := o.obj(c)
		if err != nil {
			return err
		}
		if all[c], err = consumerOf(co, rq.v, false); err != nil {
			return err
		}
	}
	if err := rq.s.idx.SetAllocations(rq.ctx, all); err != nil {
		return allocationError(err)
	}
	rq.noContent(http.StatusNoContent)
	return nil
}

func showAllocations(rq *request) error {
	c := rq.params["consumer"]
	out := map[string]any{}
	allocs := map[string]any{}
	out["allocations"] = allocs
	cons, err := rq.s.idx.Consumer(rq.ctx, c)
	switch {
	case err == nil:
		for u, pa := range cons.Allocations {
			allocs[u] = map[string]any{"generation": pa.Generation, "resources": pa.Resources}
		}
		if rq.v.AtLeast(12) {
			out["project_id"], out["user_id"] = cons.Project, cons.User
		}
		if rq.v.AtLeast(28) {
			out["consumer_generation"] = cons.Generation
		}
		if rq.v.AtLeast(38) {
			out["consumer_type"] = cons.ConsumerType
		}
	case placement.ErrorCode(err) == placement.CodeUndefined && isNotFound(err):
	default:
		return err
	}
	rq.ok(out)
	return nil
}

func isNotFound(err error) bool { return toHTTPError(err).status == http.StatusNotFound }

func deleteAllocations(rq *request) error {
	c := rq.params["consumer"]
	if err := rq.s.idx.DeleteAllocations(rq.ctx, c); err != nil {
		if isNotFound(err) {
			return errorf(http.StatusNotFound, "No allocations for consumer '%s'", c)
		}
		return err
	}
	rq.noContent(http.StatusNoContent)
	return nil
}

func providerAllocations(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	allocs, gen, err := rq.s.idx.ProviderAllocations(rq.ctx, u)
	if err != nil {
		return err
	}
	m := make(map[string]any, len(allocs))
	for c, res := range allocs {
		m[c] = map[string]any{"resources": res}
	}
	rq.ok(map[string]any{"allocations": m, "resource_provider_generation": gen})
	return nil
}

func totalUsages(rq *request) error {
	q := rq.r.URL.Query()
	allowed := map[string]bool{"project_id": true, "user_id": true}
	if rq.v.AtLeast(38) {
		allowed["consumer_type"] = true
	}
	if err := queryParams(q, allowed, nil); err != nil {
		return err
	}
	if q.Get("project_id") == "" {
		e := badRequest("Invalid query string parameters: 'project_id' is a required property")
		e.code = placement.CodeQueryMissingValue
		return e
	}
	f := placement.UsageFilter{Project: q.Get("project_id"), User: q.Get("user_id"), ConsumerType: q.Get("consumer_type")}
	us, err := rq.s.idx.Usages(rq.ctx, f)
	if err != nil {
		return err
	}
	if rq.v.AtLeast(38) {
		if f.ConsumerType == "all" {
			// Placement sums every type under the one key "all".
			all := placement.Usage{ConsumerType: "all", Resources: map[string]int64{}}
			for _, u := range us {
				all.ConsumerCount += u.ConsumerCount
				for rc, n := range u.Resources {
					all.Resources[rc] += n
				}
			}
			us = us[:0]
			if all.ConsumerCount > 0 {
				us = append(us, all)
			}
		}
		m := map[string]any{}
		for _, u := range us {
			g := map[string]any{"consumer_count": u.ConsumerCount}
			for rc, n := range u.Resources {
				g[rc] = n
			}
			m[u.ConsumerType] = g
		}
		rq.ok(map[string]any{"usages": m})
		return nil
	}
	sum := map[string]int64{}
	for _, u := range us {
		for rc, n := range u.Resources {
			sum[rc] += n
		}
	}
	rq.ok(map[string]any{"usages": sum})
	return nil
}

func reshape(rq *request) error {
	o, err := rq.bodyObject()
	if err != nil {
		return err
	}
	if err := o.only("inventories", "allocations"); err != nil {
		return err
	}
	if err := o.require("inventories", "allocations"); err != nil {
		return err
	}
	io, err := o.obj("inventories")
	if err != nil {
		return err
	}
	invs := map[string]placement.InventoryUpdate{}
	for _, u := range io.keys() {
		if !uuidLike(u) {
			return badRequest("JSON does not validate: inventories: %q is not a 'uuid'", u)
		}
		po, err := io.obj(u)
		if err != nil {
			return err
		}
		if err := po.only("resource_provider_generation", "inventories"); err != nil {
			return err
		}
		if err := po.require("resource_provider_generation", "inventories"); err != nil {
			return err
		}
		var up placement.InventoryUpdate
		if up.Generation, err = po.int("resource_provider_generation", 0, 1<<62); err != nil {
			return err
		}
		ino, err := po.obj("inventories")
		if err != nil {
			return err
		}
		up.Inventories = map[string]placement.Inventory{}
		for _, rc := range ino.keys() {
			if err := checkClass(rc, ino.path); err != nil {
				return err
			}
			one, err := ino.obj(rc)
			if err != nil {
				return err
			}
			if up.Inventories[rc], err = inventoryOf(one, rq.v); err != nil {
				return err
			}
		}
		invs[u] = up
	}
	ao, err := o.obj("allocations")
	if err != nil {
		return err
	}
	allocs := map[string]placement.ConsumerAllocations{}
	for _, c := range ao.keys() {
		if !uuidLike(c) {
			return badRequest("JSON does not validate: allocations: %q is not a 'uuid'", c)
		}
		co, err := ao.obj(c)
		if err != nil {
			return err
		}
		if allocs[c], err = consumerOf(co, rq.v, false); err != nil {
			return err
		}
	}
	if err := rq.s.idx.Reshape(rq.ctx, invs, allocs); err != nil {
		return allocationError(err)
	}
	rq.noContent(http.StatusNoContent)
	return nil
}

var _ = url.Values{}
