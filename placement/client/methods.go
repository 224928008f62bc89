package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/novakit/novakit/placement"
)

var _ interface {
	CreateProvider(ctx context.Context, spec placement.ProviderSpec) (placement.ResourceProvider, error)
	Candidates(ctx context.Context, req *placement.CandidateRequest) (*placement.CandidateResult, error)
} = (*Client)(nil)

func esc(s string) string { return url.PathEscape(s) }

type providerJSON struct {
	UUID       string  `json:"uuid"`
	Name       string  `json:"name"`
	Generation int64   `json:"generation"`
	ParentUUID *string `json:"parent_provider_uuid"`
	RootUUID   string  `json:"root_provider_uuid"`
}

func (p providerJSON) provider(lastModified time.Time) placement.ResourceProvider {
	rp := placement.ResourceProvider{UUID: p.UUID, Name: p.Name, Generation: p.Generation, RootUUID: p.RootUUID,
		CreatedAt: lastModified, UpdatedAt: lastModified}
	if p.ParentUUID != nil {
		rp.ParentUUID = *p.ParentUUID
	}
	if rp.RootUUID == "" {
		rp.RootUUID = rp.UUID
	}
	return rp
}

func lastModified(resp *http.Response) time.Time {
	t, err := http.ParseTime(resp.Header.Get("Last-Modified"))
	if err != nil {
		return time.Time{}
	}
	return t
}

// CreateProvider creates a provider (POST /resource_providers). Errors as
// the Index: ErrInvalid, ErrDuplicateName. CreatedAt and UpdatedAt come
// from the answer's Last-Modified (whole seconds).
func (c *Client) CreateProvider(ctx context.Context, spec placement.ProviderSpec) (placement.ResourceProvider, error) {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return placement.ResourceProvider{}, err
	}
	body := map[string]any{"name": spec.Name}
	if spec.UUID != "" {
		body["uuid"] = spec.UUID
	}
	if spec.ParentUUID != "" {
		body["parent_provider_uuid"] = spec.ParentUUID
	}
	var p providerJSON
	resp, err := c.send(ctx, "POST", "/resource_providers", v, body, &p, opGeneric)
	if err != nil {
		return placement.ResourceProvider{}, err
	}
	return p.provider(lastModified(resp)), nil
}

// UpdateProvider renames and optionally reparents a provider (PUT
// /resource_providers/{uuid}). Without up.AllowReparenting the request is
// made at microversion 1.36, where Placement applies the same rule as the
// Index (only a root may gain a parent). Errors: ErrNotFound,
// ErrDuplicateName, ErrInvalid.
func (c *Client) UpdateProvider(ctx context.Context, u string, up placement.ProviderUpdate) (placement.ResourceProvider, error) {
	want := placement.Version{}
	if !up.AllowReparenting {
		want = v1(36)
	}
	v, err := c.at(ctx, want)
	if err != nil {
		return placement.ResourceProvider{}, err
	}
	body := map[string]any{"name": up.Name}
	if up.SetParent {
		if up.ParentUUID == "" {
			body["parent_provider_uuid"] = nil
		} else {
			body["parent_provider_uuid"] = up.ParentUUID
		}
	}
	var p providerJSON
	resp, err := c.send(ctx, "PUT", "/resource_providers/"+esc(u), v, body, &p, opGeneric)
	if err != nil {
		return placement.ResourceProvider{}, err
	}
	return p.provider(lastModified(resp)), nil
}

// DeleteProvider deletes a provider. Errors: ErrNotFound,
// ErrCannotDeleteParent, ErrProviderInUse.
func (c *Client) DeleteProvider(ctx context.Context, u string) error {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return err
	}
	_, err = c.send(ctx, "DELETE", "/resource_providers/"+esc(u), v, nil, nil, opGeneric)
	return err
}

// Provider returns one provider. Errors: ErrNotFound.
func (c *Client) Provider(ctx context.Context, u string) (placement.ResourceProvider, error) {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return placement.ResourceProvider{}, err
	}
	var p providerJSON
	resp, err := c.send(ctx, "GET", "/resource_providers/"+esc(u), v, nil, &p, opGeneric)
	if err != nil {
		return placement.ResourceProvider{}, err
	}
	return p.provider(lastModified(resp)), nil
}

// anyOf renders one any-of list: "X" or "in:X,Y".
func anyOf(list []string) string {
	if len(list) == 1 {
		return list[0]
	}
	return "in:" + strings.Join(list, ",")
}

func resourcesParam(res map[string]int64) string {
	classes := make([]string, 0, len(res))
	for rc := range res {
		classes = append(classes, rc)
	}
	sort.Strings(classes)
	var b strings.Builder
	for i, rc := range classes {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(rc)
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(res[rc], 10))
	}
	return b.String()
}

// traitsParams renders required traits (a conjunction of any-of lists) and
// forbidden ones as required parameters (several from 1.39).
func traitsParams(q url.Values, key string, required [][]string, forbidden []string) {
	for _, any := range required {
		q.Add(key, anyOf(any))
	}
	if len(forbidden) > 0 {
		q.Add(key, "!"+strings.Join(forbidden, ",!"))
	}
}

func memberOfParams(q url.Values, key string, memberOf [][]string, forbidden []string) {
	for _, any := range memberOf {
		q.Add(key, anyOf(any))
	}
	if len(forbidden) > 0 {
		q.Add(key, "!"+anyOf(forbidden))
	}
}

// Providers lists the providers matching f (GET /resource_providers),
// ordered by uuid. Errors: ErrInvalid.
func (c *Client) Providers(ctx context.Context, f placement.ProviderFilter) ([]placement.ResourceProvider, error) {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if f.Name != "" {
		q.Set("name", f.Name)
	}
	if f.UUID != "" {
		q.Set("uuid", f.UUID)
	}
	if f.InTree != "" {
		q.Set("in_tree", f.InTree)
	}
	memberOfParams(q, "member_of", f.MemberOf, f.ForbiddenAggregates)
	traitsParams(q, "required", f.RequiredTraits, f.ForbiddenTraits)
	if len(f.Resources) > 0 {
		q.Set("resources", resourcesParam(f.Resources))
	}
	path := "/resource_providers"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Providers []providerJSON `json:"resource_providers"`
	}
	resp, err := c.send(ctx, "GET", path, v, nil, &out, opGeneric)
	if err != nil {
		return nil, err
	}
	lm := lastModified(resp)
	rps := make([]placement.ResourceProvider, 0, len(out.Providers))
	for _, p := range out.Providers {
		rps = append(rps, p.provider(lm))
	}
	sort.Slice(rps, func(i, j int) bool { return rps[i].UUID < rps[j].UUID })
	return rps, nil
}

type inventoryJSON struct {
	Total           int64   `json:"total"`
	Reserved        int64   `json:"reserved"`
	MinUnit         int64   `json:"min_unit"`
	MaxUnit         int64   `json:"max_unit"`
	StepSize        int64   `json:"step_size"`
	AllocationRatio float64 `json:"allocation_ratio"`
}

// Inventories returns a provider's inventories and generation. Errors:
// ErrNotFound.
func (c *Client) Inventories(ctx context.Context, u string) (map[string]placement.Inventory, int64, error) {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return nil, 0, err
	}
	var out struct {
		Inventories map[string]inventoryJSON `json:"inventories"`
		Generation  int64                    `json:"resource_provider_generation"`
	}
	if _, err := c.send(ctx, "GET", "/resource_providers/"+esc(u)+"/inventories", v, nil, &out, opGeneric); err != nil {
		return nil, 0, err
	}
	invs := make(map[string]placement.Inventory, len(out.Inventories))
	for rc, in := range out.Inventories {
		invs[rc] = placement.Inventory(in)
	}
	return invs, out.Generation, nil
}

// SetInventories replaces a provider's inventories (PUT
// /resource_providers/{uuid}/inventories) and returns the new generation.
// overCapacity (classes now used beyond their capacity) is computed from a
// usages read made just after the write, so a concurrent change may show
// in it. Errors: ErrNotFound, ErrGenerationConflict, ErrInvalid,
// ErrInventoryInUse.
func (c *Client) SetInventories(ctx context.Context, u string, generation int64, invs map[string]placement.Inventory) (int64, []string, error) {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return 0, nil, err
	}
	body := map[string]any{"resource_provider_generation": generation}
	m := make(map[string]inventoryJSON, len(invs))
	for rc, in := range invs {
		m[rc] = inventoryJSON(in)
	}
	body["inventories"] = m
	var out struct {
		Generation int64 `json:"resource_provider_generation"`
	}
	if _, err := c.send(ctx, "PUT", "/resource_providers/"+esc(u)+"/inventories", v, body, &out, opProviderGenWrite); err != nil {
		return 0, nil, err
	}
	var over []string
	if len(invs) > 0 {
		used, _, err := c.ProviderUsages(ctx, u)
		if err == nil {
			for rc, n := range used {
				if in, ok := invs[rc]; ok && n > in.Capacity() {
					over = append(over, rc)
				}
			}
			sort.Strings(over)
		}
	}
	return out.Generation, over, nil
}

// ProviderUsages returns a provider's usages and generation. Errors:
// ErrNotFound.
func (c *Client) ProviderUsages(ctx context.Context, u string) (map[string]int64, int64, error) {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return nil, 0, err
	}
	var out struct {
		Usages     map[string]int64 `json:"usages"`
		Generation int64            `json:"resource_provider_generation"`
	}
	if _, err := c.send(ctx, "GET", "/resource_providers/"+esc(u)+"/usages", v, nil, &out, opGeneric); err != nil {
		return nil, 0, err
	}
	if out.Usages == nil {
		out.Usages = map[string]int64{}
	}
	return out.Usages, out.Generation, nil
}

type namesGen struct {
	Traits     []string `json:"traits"`
	Aggregates []string `json:"aggregates"`
	Generation int64    `json:"resource_provider_generation"`
}

func sorted(s []string) []string {
	if s == nil {
		return []string{}
	}
	sort.Strings(s)
	return s
}

// Traits returns a provider's traits (sorted) and generation. Errors:
// ErrNotFound.
func (c *Client) Traits(ctx context.Context, u string) ([]string, int64, error) {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return nil, 0, err
	}
	var out namesGen
	if _, err := c.send(ctx, "GET", "/resource_providers/"+esc(u)+"/traits", v, nil, &out, opGeneric); err != nil {
		return nil, 0, err
	}
	return sorted(out.Traits), out.Generation, nil
}

// SetTraits replaces a provider's traits and returns the new generation.
// Errors: ErrNotFound, ErrGenerationConflict, ErrInvalid.
func (c *Client) SetTraits(ctx context.Context, u string, generation int64, traits []string) (int64, error) {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return 0, err
	}
	if traits == nil {
		traits = []string{}
	}
	var out namesGen
	body := map[string]any{"traits": traits, "resource_provider_generation": generation}
	if _, err := c.send(ctx, "PUT", "/resource_providers/"+esc(u)+"/traits", v, body, &out, opProviderGenWrite); err != nil {
		return 0, err
	}
	return out.Generation, nil
}

// Aggregates returns a provider's aggregates (sorted) and generation.
// Errors: ErrNotFound.
func (c *Client) Aggregates(ctx context.Context, u string) ([]string, int64, error) {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return nil, 0, err
	}
	var out namesGen
	if _, err := c.send(ctx, "GET", "/resource_providers/"+esc(u)+"/aggregates", v, nil, &out, opGeneric); err != nil {
		return nil, 0, err
	}
	return sorted(out.Aggregates), out.Generation, nil
}

// SetAggregates replaces a provider's aggregates. With a generation it is
// checked and bumped; with placement.AnyGeneration the request is made at
// microversion 1.18 (no check, no bump) and the generation is read back.
// Errors: ErrNotFound, ErrGenerationConflict, ErrInvalid.
func (c *Client) SetAggregates(ctx context.Context, u string, generation int64, aggs []string) (int64, error) {
	if aggs == nil {
		aggs = []string{}
	}
	if generation == placement.AnyGeneration {
		if _, err := c.send(ctx, "PUT", "/resource_providers/"+esc(u)+"/aggregates", v1(18), aggs, nil, opProviderGenWrite); err != nil {
			return 0, err
		}
		_, gen, err := c.Aggregates(ctx, u)
		return gen, err
	}
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return 0, err
	}
	var out namesGen
	body := map[string]any{"aggregates": aggs, "resource_provider_generation": generation}
	if _, err := c.send(ctx, "PUT", "/resource_providers/"+esc(u)+"/aggregates", v, body, &out, opProviderGenWrite); err != nil {
		return 0, err
	}
	return out.Generation, nil
}

// ResourceClasses lists every resource class, sorted.
func (c *Client) ResourceClasses(ctx context.Context) ([]string, error) {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return nil, err
	}
	var out struct {
		Classes []struct {
			Name string `json:"name"`
		} `json:"resource_classes"`
	}
	if _, err := c.send(ctx, "GET", "/resource_classes", v, nil, &out, opGeneric); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(out.Classes))
	for _, rc := range out.Classes {
		names = append(names, rc.Name)
	}
	sort.Strings(names)
	return names, nil
}

// CreateResourceClass creates a custom resource class. Errors: ErrInvalid,
// ErrDuplicateName.
func (c *Client) CreateResourceClass(ctx context.Context, name string) error {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return err
	}
	_, err = c.send(ctx, "POST", "/resource_classes", v, map[string]any{"name": name}, nil, opCreateClass)
	return err
}

// DeleteResourceClass deletes a custom resource class. Errors: ErrNotFound,
// ErrInvalid, ErrInUse.
func (c *Client) DeleteResourceClass(ctx context.Context, name string) error {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return err
	}
	_, err = c.send(ctx, "DELETE", "/resource_classes/"+esc(name), v, nil, nil, opClassOrTrait)
	return err
}

// TraitNames lists every trait, sorted.
func (c *Client) TraitNames(ctx context.Context) ([]string, error) {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return nil, err
	}
	var out namesGen
	if _, err := c.send(ctx, "GET", "/traits", v, nil, &out, opGeneric); err != nil {
		return nil, err
	}
	return sorted(out.Traits), nil
}

// CreateTrait creates a custom trait and reports whether it was created
// (false: it existed). Errors: ErrInvalid.
func (c *Client) CreateTrait(ctx context.Context, name string) (bool, error) {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return false, err
	}
	resp, err := c.send(ctx, "PUT", "/traits/"+esc(name), v, nil, nil, opGeneric)
	if err != nil {
		return false, err
	}
	return resp.StatusCode == http.StatusCreated, nil
}

// DeleteTrait deletes a custom trait. Errors: ErrNotFound, ErrInvalid,
// ErrInUse.
func (c *Client) DeleteTrait(ctx context.Context, name string) error {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return err
	}
	_, err = c.send(ctx, "DELETE", "/traits/"+esc(name), v, nil, nil, opClassOrTrait)
	return err
}

// allocationsVersion picks the microversion for writing allocs: 1.37 when
// a consumer leaves its type unset (Placement then keeps an existing type
// and records a new consumer as unknown, as the Index does), otherwise the
// negotiated one; allocations skipping the generation check are 1.27 and
// cannot be mixed with checked ones in one call.
func (c *Client) allocationsVersion(ctx context.Context, allocs map[string]placement.ConsumerAllocations, min placement.Version) (placement.Version, error) {
	skip, check := 0, 0
	untyped := false
	for _, ca := range allocs {
		if ca.SkipGenerationCheck {
			skip++
		} else {
			check++
		}
		if ca.ConsumerType == "" {
			untyped = true
		}
	}
	if skip > 0 && check > 0 {
		return placement.Version{}, &placement.Error{Kind: placement.ErrInvalid, Code: placement.CodeUndefined, Field: "allocations",
			Detail: "over HTTP one call cannot mix consumers with and without a generation check"}
	}
	want := placement.Version{}
	switch {
	case skip > 0:
		want = v1(27)
	case untyped:
		want = v1(37)
	}
	if want != (placement.Version{}) && want.Compare(min) < 0 {
		return placement.Version{}, &placement.Error{Kind: placement.ErrInvalid, Code: placement.CodeUndefined, Field: "allocations",
			Detail: fmt.Sprintf("this call needs microversion %s or later, where consumer generations are always checked", min)}
	}
	return c.at(ctx, want)
}

func consumerBody(ca placement.ConsumerAllocations, v placement.Version) map[string]any {
	allocs := make(map[string]any, len(ca.Allocations))
	for u, res := range ca.Allocations {
		allocs[u] = map[string]any{"resources": res}
	}
	body := map[string]any{"allocations": allocs, "project_id": ca.Project, "user_id": ca.User}
	if v.AtLeast(28) {
		if ca.Generation == nil {
			body["consumer_generation"] = nil
		} else {
			body["consumer_generation"] = *ca.Generation
		}
	}
	if v.AtLeast(38) && ca.ConsumerType != "" {
		body["consumer_type"] = ca.ConsumerType
	}
	return body
}

// SetAllocations replaces the allocations of every consumer in allocs
// atomically: PUT /allocations/{consumer} for one, POST /allocations for
// several. Errors: ErrInvalid, ErrConsumerGenerationConflict,
// ErrCapacityExceeded (and ErrInvalid for mixing consumers with and without
// SkipGenerationCheck, which one HTTP call cannot express).
func (c *Client) SetAllocations(ctx context.Context, allocs map[string]placement.ConsumerAllocations) error {
	if len(allocs) == 0 {
		return nil
	}
	v, err := c.allocationsVersion(ctx, allocs, placement.Version{})
	if err != nil {
		return err
	}
	if len(allocs) == 1 {
		for cu, ca := range allocs {
			_, err = c.send(ctx, "PUT", "/allocations/"+esc(cu), v, consumerBody(ca, v), nil, opAllocations)
		}
		return err
	}
	body := make(map[string]any, len(allocs))
	for cu, ca := range allocs {
		body[cu] = consumerBody(ca, v)
	}
	_, err = c.send(ctx, "POST", "/allocations", v, body, nil, opAllocations)
	return err
}

// Reshape replaces inventories and allocations atomically (POST
// /reshaper). Errors: those of SetInventories and SetAllocations.
func (c *Client) Reshape(ctx context.Context, invs map[string]placement.InventoryUpdate, allocs map[string]placement.ConsumerAllocations) error {
	v, err := c.allocationsVersion(ctx, allocs, v1(30))
	if err != nil {
		return err
	}
	ib := make(map[string]any, len(invs))
	for u, up := range invs {
		m := make(map[string]inventoryJSON, len(up.Inventories))
		for rc, in := range up.Inventories {
			m[rc] = inventoryJSON(in)
		}
		ib[u] = map[string]any{"resource_provider_generation": up.Generation, "inventories": m}
	}
	ab := make(map[string]any, len(allocs))
	for cu, ca := range allocs {
		ab[cu] = consumerBody(ca, v)
	}
	_, err = c.send(ctx, "POST", "/reshaper", v, map[string]any{"inventories": ib, "allocations": ab}, nil, opAllocations)
	return err
}

// DeleteAllocations removes every allocation of a consumer. Errors:
// ErrNotFound.
func (c *Client) DeleteAllocations(ctx context.Context, consumer string) error {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return err
	}
	_, err = c.send(ctx, "DELETE", "/allocations/"+esc(consumer), v, nil, nil, opGeneric)
	return err
}

// Consumer returns a consumer with its allocations. Errors: ErrNotFound
// (Placement answers an empty set of allocations).
func (c *Client) Consumer(ctx context.Context, consumer string) (placement.Consumer, error) {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return placement.Consumer{}, err
	}
	var out struct {
		Allocations map[string]struct {
			Generation int64            `json:"generation"`
			Resources  map[string]int64 `json:"resources"`
		} `json:"allocations"`
		Project      string `json:"project_id"`
		User         string `json:"user_id"`
		Generation   int64  `json:"consumer_generation"`
		ConsumerType string `json:"consumer_type"`
	}
	if _, err := c.send(ctx, "GET", "/allocations/"+esc(consumer), v, nil, &out, opGeneric); err != nil {
		return placement.Consumer{}, err
	}
	if len(out.Allocations) == 0 {
		return placement.Consumer{}, &placement.Error{Kind: placement.ErrNotFound, Code: placement.CodeUndefined, Detail: "no consumer " + consumer}
	}
	cons := placement.Consumer{UUID: strings.ToLower(consumer), Project: out.Project, User: out.User,
		ConsumerType: out.ConsumerType, Generation: out.Generation, Allocations: make(map[string]placement.ProviderAllocation, len(out.Allocations))}
	for u, pa := range out.Allocations {
		cons.Allocations[u] = placement.ProviderAllocation{Generation: pa.Generation, Resources: pa.Resources}
	}
	return cons, nil
}

// ProviderAllocations returns consumer → class → amount on a provider and
// its generation. Errors: ErrNotFound.
func (c *Client) ProviderAllocations(ctx context.Context, u string) (map[string]map[string]int64, int64, error) {
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return nil, 0, err
	}
	var out struct {
		Allocations map[string]struct {
			Resources map[string]int64 `json:"resources"`
		} `json:"allocations"`
		Generation int64 `json:"resource_provider_generation"`
	}
	if _, err := c.send(ctx, "GET", "/resource_providers/"+esc(u)+"/allocations", v, nil, &out, opGeneric); err != nil {
		return nil, 0, err
	}
	m := make(map[string]map[string]int64, len(out.Allocations))
	for cu, a := range out.Allocations {
		m[cu] = a.Resources
	}
	return m, out.Generation, nil
}

// Usages sums a project's (and user's) allocations by consumer type (GET
// /usages), ordered by type. Before 1.38 the server does not group: one
// Usage of type "all" without a consumer count is returned. Errors:
// ErrInvalid (no project).
func (c *Client) Usages(ctx context.Context, f placement.UsageFilter) ([]placement.Usage, error) {
	if f.Project == "" {
		return nil, &placement.Error{Kind: placement.ErrInvalid, Code: placement.CodeQueryMissingValue, Field: "project_id", Detail: "a project is required"}
	}
	v, err := c.at(ctx, placement.Version{})
	if err != nil {
		return nil, err
	}
	q := url.Values{"project_id": {f.Project}}
	if f.User != "" {
		q.Set("user_id", f.User)
	}
	// "all" is left out: Placement then sums every type under one key,
	// while the Index (and so this method) groups by type.
	if f.ConsumerType != "" && f.ConsumerType != "all" && v.AtLeast(38) {
		q.Set("consumer_type", f.ConsumerType)
	}
	path := "/usages?" + q.Encode()
	if !v.AtLeast(38) {
		var out struct {
			Usages map[string]int64 `json:"usages"`
		}
		if _, err := c.send(ctx, "GET", path, v, nil, &out, opGeneric); err != nil {
			return nil, err
		}
		if len(out.Usages) == 0 {
			return []placement.Usage{}, nil
		}
		return []placement.Usage{{ConsumerType: "all", Resources: out.Usages}}, nil
	}
	var out struct {
		Usages map[string]map[string]int64 `json:"usages"`
	}
	if _, err := c.send(ctx, "GET", path, v, nil, &out, opGeneric); err != nil {
		return nil, err
	}
	us := make([]placement.Usage, 0, len(out.Usages))
	for t, g := range out.Usages {
		u := placement.Usage{ConsumerType: t, ConsumerCount: int(g["consumer_count"]), Resources: make(map[string]int64, len(g))}
		for rc, n := range g {
			if rc != "consumer_count" {
				u.Resources[rc] = n
			}
		}
		us = append(us, u)
	}
	sort.Slice(us, func(i, j int) bool { return us[i].ConsumerType < us[j].ConsumerType })
	return us, nil
}
