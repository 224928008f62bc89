package conductor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
)

// allocationRequest is placement's allocation request as the scheduler
// passes it in a Selection (GET /allocation_candidates, 1.12+ shape).
type allocationRequest struct {
	Allocations map[string]struct {
		Resources map[string]int64 `json:"resources"`
	} `json:"allocations"`
}

// parseAllocationRequest decodes a Selection's allocation request into
// provider → class → amount.
func parseAllocationRequest(sel compute.Selection) (map[string]map[string]int64, error) {
	if len(sel.AllocationRequest) == 0 {
		return nil, compute.InvalidInput("allocation_request", "selection %s/%s carries no allocation request", sel.ServiceHost, sel.Nodename)
	}
	var ar allocationRequest
	if err := json.Unmarshal(sel.AllocationRequest, &ar); err != nil {
		return nil, compute.InvalidInput("allocation_request", "selection %s/%s: %v", sel.ServiceHost, sel.Nodename, err)
	}
	if len(ar.Allocations) == 0 {
		return nil, compute.InvalidInput("allocation_request", "selection %s/%s allocates nothing", sel.ServiceHost, sel.Nodename)
	}
	out := make(map[string]map[string]int64, len(ar.Allocations))
	for rp, a := range ar.Allocations {
		if rp == "" || len(a.Resources) == 0 {
			return nil, compute.InvalidInput("allocation_request", "selection %s/%s: provider %q allocates nothing", sel.ServiceHost, sel.Nodename, rp)
		}
		for rc, n := range a.Resources {
			if rc == "" || n < 1 {
				return nil, compute.InvalidInput("allocation_request", "selection %s/%s: provider %s: %q: %d is not a resource amount", sel.ServiceHost, sel.Nodename, rp, rc, n)
			}
		}
		out[rp] = a.Resources
	}
	return out, nil
}

// claim puts the selection's allocation request as the allocations of
// consumer, which must not hold any (Nova's claim_resources with
// consumer_generation null). A capacity or generation failure means the
// host is gone for us: the caller tries the next alternate.
func (s *Service) claim(ctx context.Context, consumer, project, user string, sel compute.Selection) error {
	allocs, err := parseAllocationRequest(sel)
	if err != nil {
		return err
	}
	return s.pl.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
		consumer: {Project: project, User: user, ConsumerType: placement.ConsumerTypeInstance, Allocations: allocs},
	})
}

// release deletes every allocation of consumer; a consumer without
// allocations is already released.
func (s *Service) release(ctx context.Context, consumer string) error {
	err := s.pl.DeleteAllocations(ctx, consumer)
	if err != nil && !errors.Is(err, placement.ErrNotFound) {
		return fmt.Errorf("conductor: release allocations of %s: %w", consumer, err)
	}
	return nil
}

// releaseHeld releases the consumer's allocations if it holds any. A
// first build holds none, so it costs a read instead of a placement
// write; what an earlier interrupted attempt claimed is found and
// released all the same.
func (s *Service) releaseHeld(ctx context.Context, consumer string) error {
	_, held, err := s.consumer(ctx, consumer)
	if err != nil || !held {
		return err
	}
	return s.release(ctx, consumer)
}

// consumer returns the consumer's allocations, or ok false when it holds
// none.
func (s *Service) consumer(ctx context.Context, uuid string) (c placement.Consumer, ok bool, err error) {
	c, err = s.pl.Consumer(ctx, uuid)
	if errors.Is(err, placement.ErrNotFound) {
		return placement.Consumer{}, false, nil
	}
	if err != nil {
		return placement.Consumer{}, false, fmt.Errorf("conductor: read allocations of %s: %w", uuid, err)
	}
	return c, len(c.Allocations) > 0, nil
}

func flatten(c placement.Consumer) map[string]map[string]int64 {
	out := make(map[string]map[string]int64, len(c.Allocations))
	for rp, pa := range c.Allocations {
		res := make(map[string]int64, len(pa.Resources))
		for k, v := range pa.Resources {
			res[k] = v
		}
		out[rp] = res
	}
	return out
}

// moveToMigration moves the instance's allocations to the migration's
// consumer in one atomic write (Nova's replace_allocation_with_migration,
// since Queens): afterwards the source's usage is held by the migration
// and the instance consumer is empty, ready for the scheduler's claim on
// the destination. Idempotent: when the migration consumer already holds
// allocations the move was done and nothing is written.
func (s *Service) moveToMigration(ctx context.Context, instUUID, migUUID string) error {
	if _, ok, err := s.consumer(ctx, migUUID); err != nil || ok {
		return err
	}
	ic, ok, err := s.consumer(ctx, instUUID)
	if err != nil || !ok {
		return err
	}
	gen := ic.Generation
	err = s.pl.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
		migUUID: {Project: ic.Project, User: ic.User, ConsumerType: placement.ConsumerTypeMigration, Allocations: flatten(ic)},
		instUUID: {Project: ic.Project, User: ic.User, Generation: &gen,
			Allocations: map[string]map[string]int64{}},
	})
	if err != nil {
		return fmt.Errorf("conductor: move allocations of %s to migration %s: %w", instUUID, migUUID, err)
	}
	return nil
}

// moveBack gives the migration consumer's allocations back to the
// instance, replacing what the instance holds (a destination claim), in
// one atomic write: the rollback of moveToMigration and Nova's revert.
// With merge the instance keeps what it holds and gains the migration's
// allocations (an evacuation's end state: source and destination both
// held by the instance until the source host cleans up). Idempotent:
// without a migration consumer nothing is written.
func (s *Service) moveBack(ctx context.Context, instUUID, migUUID string, merge bool) error {
	mc, ok, err := s.consumer(ctx, migUUID)
	if err != nil || !ok {
		return err
	}
	allocs := flatten(mc)
	ic, iok, err := s.consumer(ctx, instUUID)
	if err != nil {
		return err
	}
	ca := placement.ConsumerAllocations{Project: mc.Project, User: mc.User, ConsumerType: placement.ConsumerTypeInstance, Allocations: allocs}
	if iok {
		gen := ic.Generation
		ca.Generation = &gen
		if merge {
			for rp, res := range flatten(ic) {
				if cur, ok := allocs[rp]; ok {
					for k, v := range res {
						cur[k] += v
					}
				} else {
					allocs[rp] = res
				}
			}
		}
	}
	mgen := mc.Generation
	err = s.pl.SetAllocations(ctx, map[string]placement.ConsumerAllocations{
		instUUID: ca,
		migUUID:  {Project: mc.Project, User: mc.User, Generation: &mgen, Allocations: map[string]map[string]int64{}},
	})
	if err != nil {
		return fmt.Errorf("conductor: move allocations of migration %s back to %s: %w", migUUID, instUUID, err)
	}
	return nil
}

// trimStaleClaim keeps only the chosen host's allocations on a freshly
// scheduled instance. A scheduler call left over from an interrupted
// earlier attempt of the same build (its conductor killed while the call
// was in flight) may have claimed another host for the same consumer, and
// the scheduler merges claims on an existing consumer; without this the
// instance would hold two hosts, or, when both calls chose the same host,
// twice its flavor there. The consumer's allocations are set to exactly
// the chosen host's request; harmless when they already are.
func (s *Service) trimStaleClaim(ctx context.Context, uuid string, chosen compute.Selection) error {
	want, err := parseAllocationRequest(chosen)
	if err != nil || len(want) == 0 {
		return err
	}
	for try := 0; try < 3; try++ {
		c, held, err := s.consumer(ctx, uuid)
		if err != nil || !held {
			return err
		}
		if sameAllocations(c.Allocations, want) {
			return nil
		}
		g := c.Generation
		err = s.pl.SetAllocations(ctx, map[string]placement.ConsumerAllocations{uuid: {
			Project: c.Project, User: c.User, ConsumerType: c.ConsumerType, Generation: &g, Allocations: want,
		}})
		if !errors.Is(err, placement.ErrConsumerGenerationConflict) {
			return err
		}
	}
	return nil
}

// sameAllocations reports whether held is exactly want, provider by
// provider and class by class.
func sameAllocations(held map[string]placement.ProviderAllocation, want map[string]map[string]int64) bool {
	if len(held) != len(want) {
		return false
	}
	for rp, pa := range held {
		w, ok := want[rp]
		if !ok || len(w) != len(pa.Resources) {
			return false
		}
		for rc, n := range pa.Resources {
			if w[rc] != n {
				return false
			}
		}
	}
	return true
}
