package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/novakit/novakit/placement"
)

func init() {
	addRoute("/traits", map[string]endpoint{
		"GET": {min: 6, rule: RuleTraitsList, h: listTraits},
	})
	addRoute("/traits/{name}", map[string]endpoint{
		"GET":    {min: 6, rule: RuleTraitsShow, h: showTrait},
		"PUT":    {min: 6, rule: RuleTraitsUpdate, h: putTrait},
		"DELETE": {min: 6, rule: RuleTraitsDelete, h: deleteTrait},
	})
	addRoute("/resource_providers/{uuid}/traits", map[string]endpoint{
		"GET":    {min: 6, rule: RuleProviderTraitsList, h: providerTraits},
		"PUT":    {min: 6, rule: RuleProviderTraitsUpdate, h: setProviderTraits},
		"DELETE": {min: 6, rule: RuleProviderTraitsDelete, h: deleteProviderTraits},
	})
	addRoute("/resource_classes", map[string]endpoint{
		"GET":  {min: 2, rule: RuleClassesList, h: listClasses},
		"POST": {min: 2, rule: RuleClassesCreate, h: createClass},
	})
	addRoute("/resource_classes/{name}", map[string]endpoint{
		"GET":    {min: 2, rule: RuleClassesShow, h: showClass},
		"PUT":    {min: 2, rule: RuleClassesUpdate, h: putClass},
		"DELETE": {min: 2, rule: RuleClassesDelete, h: deleteClass},
	})
	addRoute("/resource_providers/{uuid}/aggregates", map[string]endpoint{
		"GET": {min: 1, rule: RuleAggregatesList, h: providerAggregates},
		"PUT": {min: 1, rule: RuleAggregatesUpdate, h: setProviderAggregates},
	})
}

func queryBad(format string, args ...any) error {
	e := badRequest(format, args...)
	e.code = placement.CodeQueryBadValue
	return e
}

func listTraits(rq *request) error {
	q := rq.r.URL.Query()
	if err := queryParams(q, map[string]bool{"name": true, "associated": true}, nil); err != nil {
		return err
	}
	names, err := rq.s.idx.TraitNames(rq.ctx)
	if err != nil {
		return err
	}
	if q.Has("name") {
		n := q.Get("name")
		switch {
		case strings.HasPrefix(n, "in:"):
			want := strings.Split(n[3:], ",")
			names = slices.DeleteFunc(names, func(t string) bool { return !slices.Contains(want, t) })
		case strings.HasPrefix(n, "startswith:"):
			p := n[len("startswith:"):]
			names = slices.DeleteFunc(names, func(t string) bool { return !strings.HasPrefix(t, p) })
		default:
			return queryBad("Badly formatted name parameter. Expected name query string parameter in form: ?name=[in|startswith]:[name1,name2|prefix]. Got: %q", n)
		}
	}
	if q.Has("associated") {
		var want bool
		switch strings.ToLower(q.Get("associated")) {
		case "true":
			want = true
		case "false":
		default:
			return queryBad("Invalid query string parameters: associated must be true or false")
		}
		rps, err := rq.s.idx.Providers(rq.ctx, placement.ProviderFilter{})
		if err != nil {
			return err
		}
		used := map[string]bool{}
		for _, rp := range rps {
			ts, _, err := rq.s.idx.Traits(rq.ctx, rp.UUID)
			if err != nil {
				continue // deleted meanwhile
			}
			for _, t := range ts {
				used[t] = true
			}
		}
		names = slices.DeleteFunc(names, func(t string) bool { return used[t] != want })
	}
	if names == nil {
		names = []string{}
	}
	rq.ok(map[string]any{"traits": names})
	return nil
}

func traitExists(rq *request, name string) (bool, error) {
	names, err := rq.s.idx.TraitNames(rq.ctx)
	if err != nil {
		return false, err
	}
	_, found := slices.BinarySearch(names, name)
	return found, nil
}

func showTrait(rq *request) error {
	name := rq.params["name"]
	ok, err := traitExists(rq, name)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(http.StatusNotFound, "No such trait(s): %s", name)
	}
	rq.noContent(http.StatusNoContent)
	return nil
}

func putTrait(rq *request) error {
	name := rq.params["name"]
	if !strings.HasPrefix(name, "CUSTOM_") {
		return badRequest("The trait %s must start with CUSTOM_ and consist of [A-Z0-9_]", name)
	}
	created, err := rq.s.idx.CreateTrait(rq.ctx, name)
	if err != nil {
		return err
	}
	rq.w.Header().Set("Location", "/traits/"+name)
	if created {
		rq.noContent(http.StatusCreated)
	} else {
		rq.noContent(http.StatusNoContent)
	}
	return nil
}

func deleteTrait(rq *request) error {
	if err := rq.s.idx.DeleteTrait(rq.ctx, rq.params["name"]); err != nil {
		return err
	}
	rq.noContent(http.StatusNoContent)
	return nil
}

func traitsJSON(ts []string, gen int64) map[string]any {
	if ts == nil {
		ts = []string{}
	}
	return map[string]any{"traits": ts, "resource_provider_generation": gen}
}

func providerTraits(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	ts, gen, err := rq.s.idx.Traits(rq.ctx, u)
	if err != nil {
		return err
	}
	rq.ok(traitsJSON(ts, gen))
	return nil
}

func setProviderTraits(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	o, err := rq.bodyObject()
	if err != nil {
		return err
	}
	if err := o.only("traits", "resource_provider_generation"); err != nil {
		return err
	}
	if err := o.require("traits", "resource_provider_generation"); err != nil {
		return err
	}
	gen, err := o.int("resource_provider_generation", 0, 1<<62)
	if err != nil {
		return err
	}
	ts, err := o.strings("traits")
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, t := range ts {
		if seen[t] {
			return badRequest("JSON does not validate: traits has non-unique elements (%s)", t)
		}
		seen[t] = true
		if placement.ValidateTraitName(t) != nil {
			return badRequest("JSON does not validate: traits: invalid trait name %q", t)
		}
	}
	ng, err := rq.s.idx.SetTraits(rq.ctx, u, gen, ts)
	if err != nil {
		return err
	}
	slices.Sort(ts)
	rq.json(http.StatusOK, traitsJSON(ts, ng), rq.s.now())
	return nil
}

func deleteProviderTraits(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	_, gen, err := rq.s.idx.Traits(rq.ctx, u)
	if err != nil {
		return err
	}
	if _, err := rq.s.idx.SetTraits(rq.ctx, u, gen, nil); err != nil {
		return err
	}
	rq.noContent(http.StatusNoContent)
	return nil
}

// ---------------------------------------------------------------------------
// Resource classes

func classJSON(name string) map[string]any {
	return map[string]any{"name": name, "links": []any{map[string]any{"rel": "self", "href": "/resource_classes/" + name}}}
}

func listClasses(rq *request) error {
	names, err := rq.s.idx.ResourceClasses(rq.ctx)
	if err != nil {
		return err
	}
	list := make([]any, 0, len(names))
	for _, n := range names {
		list = append(list, classJSON(n))
	}
	rq.ok(map[string]any{"resource_classes": list})
	return nil
}

func classExists(rq *request, name string) (bool, error) {
	names, err := rq.s.idx.ResourceClasses(rq.ctx)
	if err != nil {
		return false, err
	}
	_, found := slices.BinarySearch(names, name)
	return found, nil
}

func createClass(rq *request) error {
	o, err := rq.bodyObject()
	if err != nil {
		return err
	}
	if err := o.only("name"); err != nil {
		return err
	}
	if err := o.require("name"); err != nil {
		return err
	}
	name, _, err := o.str("name", false)
	if err != nil {
		return err
	}
	if !placement.IsCustomName(name) {
		return badRequest("JSON does not validate: name %q must match CUSTOM_[A-Z0-9_]+", name)
	}
	if err := rq.s.idx.CreateResourceClass(rq.ctx, name); err != nil {
		return err
	}
	rq.w.Header().Set("Location", "/resource_classes/"+name)
	if rq.v.AtLeast(2) { // always true on this route; kept for clarity
		rq.noContent(http.StatusCreated)
	}
	return nil
}

func showClass(rq *request) error {
	name := rq.params["name"]
	ok, err := classExists(rq, name)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(http.StatusNotFound, "No such resource class %s.", name)
	}
	rq.ok(classJSON(name))
	return nil
}

func putClass(rq *request) error {
	name := rq.params["name"]
	if !rq.v.AtLeast(7) {
		return renameClass(rq, name)
	}
	if !placement.IsCustomName(name) {
		return badRequest("The resource class %s must start with CUSTOM_ and consist of [A-Z0-9_]", name)
	}
	err := rq.s.idx.CreateResourceClass(rq.ctx, name)
	rq.w.Header().Set("Location", "/resource_classes/"+name)
	switch {
	case err == nil:
		rq.noContent(http.StatusCreated)
	case placement.ErrorCode(err) == placement.CodeDuplicateName:
		rq.noContent(http.StatusNoContent)
	default:
		return err
	}
	return nil
}

// renameClass is PUT /resource_classes/{name} at 1.2–1.6: rename a custom
// class to the {"name"} of the body (200 with the new class; 400 for a
// standard class, 404 for an unknown one, 409 when the new name exists).
func renameClass(rq *request, name string) error {
	o, err := rq.bodyObject()
	if err != nil {
		return err
	}
	if err := o.only("name"); err != nil {
		return err
	}
	if err := o.require("name"); err != nil {
		return err
	}
	newName, _, err := o.str("name", false)
	if err != nil {
		return err
	}
	if !placement.IsCustomName(newName) {
		return badRequest("JSON does not validate: name %q must match CUSTOM_[A-Z0-9_]+", newName)
	}
	if placement.IsStandardResourceClass(name) {
		return badRequest("Cannot update standard resource class %s", name)
	}
	ok, err := classExists(rq, name)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(http.StatusNotFound, "No such resource class %s.", name)
	}
	if newName != name {
		if err := renameBackendClass(rq, name, newName); err != nil {
			return err
		}
	}
	rq.json(http.StatusOK, classJSON(newName), time.Time{})
	return nil
}

func renameBackendClass(rq *request, old, new string) error {
	if rn, ok := rq.s.idx.(ResourceClassRenamer); ok {
		err := rn.RenameResourceClass(rq.ctx, old, new)
		if errors.Is(err, placement.ErrDuplicateName) {
			return errorf(http.StatusConflict, "Resource class already exists: %s", new)
		}
		return err
	}
	// Without a renamer: create the new class and delete the old one,
	// which works when no provider uses the old class.
	if err := rq.s.idx.CreateResourceClass(rq.ctx, new); err != nil {
		if errors.Is(err, placement.ErrDuplicateName) {
			return errorf(http.StatusConflict, "Resource class already exists: %s", new)
		}
		return err
	}
	if err := rq.s.idx.DeleteResourceClass(rq.ctx, old); err != nil {
		if uerr := rq.s.idx.DeleteResourceClass(context.WithoutCancel(rq.ctx), new); uerr != nil {
			err = errors.Join(err, fmt.Errorf("undoing the creation of %s: %w", new, uerr))
		}
		if errors.Is(err, placement.ErrInUse) {
			return errorf(http.StatusConflict, "Cannot rename resource class %s: it is in use and this backend renames only unused classes", old)
		}
		return err
	}
	return nil
}

func deleteClass(rq *request) error {
	if err := rq.s.idx.DeleteResourceClass(rq.ctx, rq.params["name"]); err != nil {
		return err
	}
	rq.noContent(http.StatusNoContent)
	return nil
}

// ---------------------------------------------------------------------------
// Aggregates

func aggregatesJSON(aggs []string, gen int64, v placement.Version) map[string]any {
	if aggs == nil {
		aggs = []string{}
	}
	out := map[string]any{"aggregates": aggs}
	if v.AtLeast(19) {
		out["resource_provider_generation"] = gen
	}
	return out
}

func providerAggregates(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	aggs, gen, err := rq.s.idx.Aggregates(rq.ctx, u)
	if err != nil {
		return err
	}
	rq.ok(aggregatesJSON(aggs, gen, rq.v))
	return nil
}

func setProviderAggregates(rq *request) error {
	u, err := rq.providerUUID()
	if err != nil {
		return err
	}
	b, err := rq.readBody()
	if err != nil {
		return err
	}
	var aggs []string
	gen := placement.AnyGeneration
	if rq.v.AtLeast(19) {
		o, err := parseObject(b, "")
		if err != nil {
			return err
		}
		if err := o.only("aggregates", "resource_provider_generation"); err != nil {
			return err
		}
		if err := o.require("aggregates", "resource_provider_generation"); err != nil {
			return err
		}
		if gen, err = o.int("resource_provider_generation", 0, 1<<62); err != nil {
			return err
		}
		if aggs, err = o.strings("aggregates"); err != nil {
			return err
		}
	} else {
		if !jsonValid(b) {
			return badRequest("Malformed JSON: the body is not valid JSON")
		}
		if aggs, err = stringArray(b, "body"); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, a := range aggs {
		if !uuidLike(a) {
			return badRequest("JSON does not validate: aggregates: %q is not a 'uuid'", a)
		}
		if seen[strings.ToLower(a)] {
			return badRequest("JSON does not validate: aggregates has non-unique elements")
		}
		seen[strings.ToLower(a)] = true
	}
	ng, err := rq.s.idx.SetAggregates(rq.ctx, u, gen, aggs)
	if err != nil {
		return err
	}
	out, _, err := rq.s.idx.Aggregates(rq.ctx, u)
	if err != nil {
		return err
	}
	rq.json(http.StatusOK, aggregatesJSON(out, ng, rq.v), rq.s.now())
	return nil
}
