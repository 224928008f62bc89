package placement

import (
	"context"
	"fmt"
	"sort"
)

// SetAllocations replaces the allocations of every consumer in allocs in
// one atomic step (PUT /allocations/{consumer}, POST /allocations): for each
// consumer the generation is checked (nil = must not exist yet, unless
// SkipGenerationCheck), its old allocations are released, and the new ones
// must fit per (provider, class): min_unit ≤ amount ≤ max_unit, amount a
// multiple of step_size, and usage + the sum over all consumers in the call ≤
// capacity. On success the generation of every provider receiving an
// allocation is bumped, each consumer's generation is bumped (a new consumer
// gets 1), and consumers left without allocations are deleted. On any error
// nothing changes.
//
// Errors: ErrInvalid (malformed input, unknown provider or resource class),
// ErrConsumerGenerationConflict, ErrCapacityExceeded. Safe for concurrent
// use; concurrent calls are serialised and never overcommit.
func (ix *Index) SetAllocations(ctx context.Context, allocs map[string]ConsumerAllocations) error {
	return ix.Reshape(ctx, nil, allocs)
}

// InventoryUpdate is one provider's part of a reshape.
type InventoryUpdate struct {
	Generation  int64
	Inventories map[string]Inventory
}

// Reshape atomically replaces the inventories of several providers and the
// allocations of several consumers (POST /reshaper, 1.30): the consumers' old
// allocations are released first, then inventories are set (generation
// checked and bumped, classes in use may not vanish), then the new
// allocations are claimed as SetAllocations does. Errors: those of
// SetInventories and SetAllocations.
func (ix *Index) Reshape(ctx context.Context, invs map[string]InventoryUpdate, allocs map[string]ConsumerAllocations) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	consumers := make([]string, 0, len(allocs))
	norm := make(map[string]bool, len(allocs))
	for c, ca := range allocs {
		if err := validateConsumerAllocations(c, ca); err != nil {
			return err
		}
		if norm[normUUID(c)] {
			return invalid("consumer_uuid", "consumer %s given twice", c)
		}
		norm[normUUID(c)] = true
		consumers = append(consumers, c)
	}
	sort.Strings(consumers)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.begin()
	// Resolve and check consumer generations.
	type plan struct {
		uuid string
		ca   ConsumerAllocations
		old  *consumerRec
		rows []allocRow
	}
	plans := make([]plan, 0, len(consumers))
	for _, c := range consumers {
		ca := allocs[c]
		cu := normUUID(c)
		old := ix.consumers[cu]
		if !ca.SkipGenerationCheck {
			switch {
			case old == nil && ca.Generation != nil:
				return newErr(ErrConsumerGenerationConflict, CodeConcurrentUpdate, "consumer_generation",
					"consumer generation conflict - expected null but got %d", *ca.Generation)
			case old != nil && ca.Generation == nil:
				return newErr(ErrConsumerGenerationConflict, CodeConcurrentUpdate, "consumer_generation",
					"consumer generation conflict - expected %d but got None", old.gen)
			case old != nil && *ca.Generation != old.gen:
				return newErr(ErrConsumerGenerationConflict, CodeConcurrentUpdate, "consumer_generation",
					"consumer generation conflict - expected %d but got %d", old.gen, *ca.Generation)
			}
		}
		p := plan{uuid: cu, ca: ca, old: old}
		provs := make([]string, 0, len(ca.Allocations))
		for pu := range ca.Allocations {
			provs = append(provs, pu)
		}
		sort.Strings(provs)
		for _, pu := range provs {
			n := t.lookup(normUUID(pu))
			if n == nil {
				return invalid("allocations", "allocation for resource provider %s that does not exist", pu)
			}
			classes := make([]string, 0, len(ca.Allocations[pu]))
			for class := range ca.Allocations[pu] {
				classes = append(classes, class)
			}
			sort.Strings(classes)
			for _, class := range classes {
				rc, ok := t.s.rcIDs[class]
				if !ok {
					return invalid("allocations", "unknown resource class %q in allocation for consumer %s", class, c)
				}
				for _, r := range p.rows {
					if r.prov == n.id && r.rc == rc {
						return invalid("allocations", "provider %s given twice for consumer %s", pu, c)
					}
				}
				p.rows = append(p.rows, allocRow{prov: n.id, rc: rc, used: ca.Allocations[pu][class]})
			}
		}
		plans = append(plans, p)
	}
	// Release the consumers' old allocations.
	for _, p := range plans {
		if p.old == nil {
			continue
		}
		for _, r := range p.old.allocs {
			t.mut(r.prov).invFor(r.rc).used -= r.used
		}
	}
	// Inventories (reshaper only).
	if len(invs) > 0 {
		provs := make([]string, 0, len(invs))
		for u := range invs {
			provs = append(provs, u)
		}
		sort.Strings(provs)
		for _, u := range provs {
			if _, err := t.setInventories(normUUID(u), invs[u].Generation, invs[u].Inventories); err != nil {
				return err
			}
		}
	}
	// Claim.
	type key struct{ prov, rc int32 }
	sums := map[key]int64{}
	var order []key
	for _, p := range plans {
		for _, r := range p.rows {
			n := t.get(r.prov)
			inv := n.invFor(r.rc)
			if inv == nil {
				return newErr(ErrCapacityExceeded, CodeUndefined, "allocations",
					"unable to allocate inventory: resource provider %s has no inventory of %s", n.uuid, t.s.rcNames[r.rc])
			}
			if r.used < inv.inv.MinUnit || r.used > inv.inv.MaxUnit || r.used%inv.inv.StepSize != 0 {
				return newErr(ErrCapacityExceeded, CodeUndefined, "allocations",
					"unable to allocate inventory: allocation of %d %s on resource provider %s violates min_unit %d, max_unit %d or step_size %d",
					r.used, t.s.rcNames[r.rc], n.uuid, inv.inv.MinUnit, inv.inv.MaxUnit, inv.inv.StepSize)
			}
			k := key{r.prov, r.rc}
			if _, ok := sums[k]; !ok {
				order = append(order, k)
			}
			sums[k] += r.used
		}
	}
	bumped := map[int32]bool{}
	for _, k := range order {
		n := t.get(k.prov)
		inv := n.invFor(k.rc)
		if inv.used+sums[k] > inv.inv.Capacity() {
			return newErr(ErrCapacityExceeded, CodeUndefined, "allocations",
				"unable to allocate inventory: %d %s on resource provider %s would exceed the capacity (used %d, capacity %d)",
				sums[k], t.s.rcNames[k.rc], n.uuid, inv.used, inv.inv.Capacity())
		}
		m := t.mut(k.prov)
		m.invFor(k.rc).used += sums[k]
		if !bumped[k.prov] {
			bumped[k.prov] = true
			m.generation++
			m.updated = t.now
		}
	}
	t.commit()
	for _, p := range plans {
		if len(p.rows) == 0 {
			delete(ix.consumers, p.uuid)
			continue
		}
		rec := &consumerRec{uuid: p.uuid, project: p.ca.Project, user: p.ca.User, ctype: p.ca.ConsumerType, gen: 1, allocs: p.rows}
		if p.old != nil {
			rec.gen = p.old.gen + 1
			if rec.ctype == "" {
				rec.ctype = p.old.ctype
			}
		}
		if rec.ctype == "" {
			rec.ctype = ConsumerTypeUnknown
		}
		ix.consumers[p.uuid] = rec
	}
	return nil
}

func validateConsumerAllocations(c string, ca ConsumerAllocations) error {
	if !isUUIDLike(c) {
		return invalid("consumer_uuid", "invalid consumer uuid %q", c)
	}
	if ca.Project == "" || ca.User == "" || len(ca.Project) > 255 || len(ca.User) > 255 {
		return invalid("project_id", "consumer %s needs a project_id and a user_id of 1 to 255 characters", c)
	}
	if ca.ConsumerType != "" && ca.ConsumerType != ConsumerTypeUnknown && !upperName(ca.ConsumerType) {
		return invalid("consumer_type", "invalid consumer type %q", ca.ConsumerType)
	}
	for pu, res := range ca.Allocations {
		if !isUUIDLike(pu) {
			return invalid("allocations", "invalid resource provider uuid %q", pu)
		}
		if len(res) == 0 {
			return invalid(fmt.Sprintf("allocations.%s.resources", pu), "resources must not be empty")
		}
		for class, amt := range res {
			if amt < 1 || amt > MaxInt {
				return invalid(fmt.Sprintf("allocations.%s.resources.%s", pu, class), "amount must be between 1 and %d, got %d", MaxInt, amt)
			}
		}
	}
	return nil
}

// DeleteAllocations removes every allocation of a consumer and the consumer
// (DELETE /allocations/{consumer}); unconditional, no generation is bumped.
// Errors: ErrNotFound if the consumer has no allocations.
func (ix *Index) DeleteAllocations(ctx context.Context, consumer string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cu := normUUID(consumer)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	old := ix.consumers[cu]
	if old == nil {
		return notFound(CodeUndefined, "no allocations for consumer %s", consumer)
	}
	t := ix.begin()
	for _, r := range old.allocs {
		t.mut(r.prov).invFor(r.rc).used -= r.used
	}
	t.commit()
	delete(ix.consumers, cu)
	return nil
}

// Consumer returns a consumer with its allocations and the current
// generations of the providers involved. Errors: ErrNotFound (no such
// consumer: Placement then answers 200 with empty allocations). Takes the
// read lock briefly.
func (ix *Index) Consumer(ctx context.Context, consumer string) (Consumer, error) {
	if err := ctx.Err(); err != nil {
		return Consumer{}, err
	}
	cu := normUUID(consumer)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	rec := ix.consumers[cu]
	if rec == nil {
		return Consumer{}, notFound(CodeUndefined, "no consumer %s", consumer)
	}
	s := ix.snap.Load()
	out := Consumer{UUID: rec.uuid, Project: rec.project, User: rec.user, ConsumerType: rec.ctype,
		Generation: rec.gen, Allocations: map[string]ProviderAllocation{}}
	for _, r := range rec.allocs {
		n := s.get(r.prov)
		pa, ok := out.Allocations[n.uuid]
		if !ok {
			pa = ProviderAllocation{Generation: n.generation, Resources: map[string]int64{}}
			out.Allocations[n.uuid] = pa
		}
		pa.Resources[s.rcNames[r.rc]] += r.used
	}
	return out, nil
}

// ProviderAllocations returns consumer → class → amount on one provider and
// the provider's generation (GET /resource_providers/{uuid}/allocations).
// O(consumers). Errors: ErrNotFound.
func (ix *Index) ProviderAllocations(ctx context.Context, u string) (map[string]map[string]int64, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := ix.snap.Load()
	n := ix.lookup(s, normUUID(u))
	if n == nil {
		return nil, 0, providerNotFound(u)
	}
	out := map[string]map[string]int64{}
	for _, c := range ix.consumers {
		for _, r := range c.allocs {
			if r.prov != n.id {
				continue
			}
			m := out[c.uuid]
			if m == nil {
				m = map[string]int64{}
				out[c.uuid] = m
			}
			m[s.rcNames[r.rc]] += r.used
		}
	}
	return out, n.generation, nil
}

// Usages sums the allocations of the consumers of a project (and user),
// grouped by consumer type (GET /usages; before 1.38 callers merge the
// groups). O(consumers). Errors: ErrInvalid (no project).
func (ix *Index) Usages(ctx context.Context, f UsageFilter) ([]Usage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.Project == "" {
		return nil, invalid("project_id", "project_id is required")
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := ix.snap.Load()
	byType := map[string]*Usage{}
	for _, c := range ix.consumers {
		if c.project != f.Project || f.User != "" && c.user != f.User ||
			f.ConsumerType != "" && f.ConsumerType != "all" && c.ctype != f.ConsumerType {
			continue
		}
		u := byType[c.ctype]
		if u == nil {
			u = &Usage{ConsumerType: c.ctype, Resources: map[string]int64{}}
			byType[c.ctype] = u
		}
		u.ConsumerCount++
		for _, r := range c.allocs {
			u.Resources[s.rcNames[r.rc]] += r.used
		}
	}
	out := make([]Usage, 0, len(byType))
	for _, u := range byType {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ConsumerType < out[j].ConsumerType })
	return out, nil
}
