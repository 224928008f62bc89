package scheduler

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
)

// Trait names the request filters use.
const (
	traitComputeStatusDisabled = "COMPUTE_STATUS_DISABLED"
	traitImageTypePrefix       = "COMPUTE_IMAGE_TYPE_"
	traitPackedVirtqueue       = "COMPUTE_NET_VIRTIO_PACKED"
)

// candidateRequest builds the placement query for one instance of the
// request: the resource groups from flavor, image and requested
// resources, then Nova's request filters in Nova's order
// (require_tenant_aggregate, map_az_to_placement_aggregate,
// require_image_type_support, compute_status_filter, isolate_aggregates,
// transform_image_metadata, packed_virtqueue_filter; routed_networks_filter
// is not implemented and Options.Validate refuses to enable it), then the
// requested destination (aggregates, forbidden aggregates, and in_tree for
// a requested node). A request filter that rules out every host gives an
// error wrapping compute.ErrNoValidHost.
func (s *Scheduler) candidateRequest(spec *compute.RequestSpec, req *Request, seed uint64) (*placement.CandidateRequest, error) {
	groups, policy, err := resourceGroups(spec, req.NUMA)
	if err != nil {
		return nil, err
	}
	un := groups[""]
	rootReq := slices.Clone(spec.RootRequired)
	rootForb := slices.Clone(spec.RootForbidden)
	o := &s.opts

	s.cache.mu.RLock()
	aggs := s.cache.aggs
	s.cache.mu.RUnlock()

	// require_tenant_aggregate
	if o.LimitTenantsToPlacementAggregate {
		var ids []string
		for _, a := range aggs {
			for k, v := range a.Metadata {
				if strings.HasPrefix(k, "filter_tenant_id") && v == spec.ProjectID {
					ids = append(ids, a.UUID)
					break
				}
			}
		}
		if len(ids) > 0 {
			sort.Strings(ids)
			un.MemberOf = append(un.MemberOf, ids)
		} else if o.PlacementAggregateRequiredForTenants {
			return nil, noValidHost("project %s is in no tenant aggregate (placement_aggregate_required_for_tenants)", spec.ProjectID)
		}
	}
	// map_az_to_placement_aggregate
	if az := spec.AvailabilityZone; az != "" {
		var in, zoned []string
		for _, a := range aggs {
			switch v := a.Metadata[compute.AggregateAZKey]; {
			case v == az:
				in = append(in, a.UUID)
			case v != "":
				zoned = append(zoned, a.UUID)
			}
		}
		switch {
		case len(in) > 0:
			sort.Strings(in)
			un.MemberOf = append(un.MemberOf, in)
		case az == s.cache.defaultAZ:
			// The default zone is every host in no zone aggregate.
			sort.Strings(zoned)
			un.ForbiddenAggregates = append(un.ForbiddenAggregates, zoned...)
		default:
			return nil, noValidHost("availability zone %q has no hosts", az)
		}
	}
	// require_image_type_support
	if o.QueryPlacementForImageTypeSupport && !spec.IsBFV && spec.Image.DiskFormat != "" {
		t := traitImageTypePrefix + strings.ToUpper(spec.Image.DiskFormat)
		if !placement.IsStandardTrait(t) {
			return nil, noValidHost("no host supports image disk format %q", spec.Image.DiskFormat)
		}
		rootReq = append(rootReq, t)
	}
	// compute_status_filter
	if !slices.Contains(rootForb, traitComputeStatusDisabled) {
		rootForb = append(rootForb, traitComputeStatusDisabled)
	}
	// isolate_aggregates
	if o.EnableIsolatedAggregateFiltering {
		required := requiredTraitSet(groups, rootReq)
		var forb []string
		for _, a := range aggs {
			for k, v := range a.Metadata {
				if t, ok := strings.CutPrefix(k, "trait:"); ok && v == "required" && !required[t] {
					forb = append(forb, a.UUID)
					break
				}
			}
		}
		sort.Strings(forb)
		un.ForbiddenAggregates = append(un.ForbiddenAggregates, forb...)
	}
	// transform_image_metadata
	if o.ImageMetadataPrefilter {
		for _, t := range imageMetadataTraits(req.ImageProps) {
			if !slices.Contains(rootReq, t) {
				rootReq = append(rootReq, t)
			}
		}
	}
	// packed_virtqueue_filter
	if isTrue(spec.Flavor.ExtraSpecs["hw:virtio_packed_ring"]) || isTrue(req.ImageProps["hw_virtio_packed_ring"]) {
		rootReq = append(rootReq, traitPackedVirtqueue)
	}
	// requested destination
	if d := spec.RequestedDestination; d != nil {
		for _, a := range d.Aggregates {
			var any []string
			for _, x := range strings.Split(a, ",") {
				if x = strings.TrimSpace(x); x != "" {
					any = append(any, x)
				}
			}
			if len(any) > 0 {
				un.MemberOf = append(un.MemberOf, any)
			}
		}
		un.ForbiddenAggregates = append(un.ForbiddenAggregates, d.ForbiddenAggregates...)
		if d.Node != "" || d.Host != "" {
			s.cache.mu.RLock()
			var node *HostState
			for _, h := range s.cache.byHost[d.Host] {
				if d.Node == "" || h.Nodename == d.Node {
					if node != nil { // several nodes: filter by name later
						node = nil
						break
					}
					node = h
				}
			}
			if d.Host == "" {
				for _, h := range s.cache.hosts {
					if h.Nodename == d.Node {
						node = h
						break
					}
				}
			}
			s.cache.mu.RUnlock()
			if node != nil {
				un.InTree = node.UUID
			}
		}
	}

	cr := &placement.CandidateRequest{GroupPolicy: policy, SameSubtree: spec.SameSubtree,
		RootRequired: rootReq, RootForbidden: rootForb, Limit: o.MaxPlacementResults, Seed: seed}
	if len(un.Resources) > 0 {
		cr.Groups = append(cr.Groups, *un)
	}
	suffixes := make([]string, 0, len(groups))
	for sfx, g := range groups {
		if sfx != "" && (len(g.Resources) > 0 || inSameSubtree(spec.SameSubtree, sfx)) {
			suffixes = append(suffixes, sfx)
		}
	}
	sort.Strings(suffixes)
	for _, sfx := range suffixes {
		cr.Groups = append(cr.Groups, *groups[sfx])
	}
	if len(suffixes) > 1 && cr.GroupPolicy == "" {
		// Nova refuses flavors with several groups and no group_policy; the
		// API validates that, so default as placement-friendly "none".
		cr.GroupPolicy = placement.GroupPolicyNone
	}
	return cr, nil
}

func inSameSubtree(ss [][]string, sfx string) bool {
	for _, set := range ss {
		if slices.Contains(set, sfx) {
			return true
		}
	}
	return false
}

func isTrue(v string) bool {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on", "y":
		return true
	}
	return false
}

// candMemo remembers, for a cached candidate result, the host index of
// each allocation request, so that requests sharing the result skip the
// lookups.
type candMemo struct {
	mu     sync.Mutex
	layout uint64
	idx    []int32
}

// candidates asks placement, through the candidate cache when enabled (the
// memo is nil without it).
func (s *Scheduler) candidates(ctx context.Context, cr *placement.CandidateRequest) (*placement.CandidateResult, *candMemo, error) {
	ttl := s.opts.CandidateCacheTTL
	if ttl <= 0 {
		res, err := s.pl.Candidates(ctx, cr)
		return res, nil, err
	}
	seed := cr.Seed
	cr.Seed = 0
	kb, err := json.Marshal(cr)
	cr.Seed = seed
	if err != nil {
		res, err := s.pl.Candidates(ctx, cr)
		return res, nil, err
	}
	key := string(kb)
	now := s.opts.Now()
	s.ccMu.Lock()
	e, ok := s.ccMap[key]
	s.ccMu.Unlock()
	if ok && now.Sub(e.at) < ttl {
		return e.res, e.memo, nil
	}
	res, err := s.pl.Candidates(ctx, cr)
	if err != nil {
		return nil, nil, err
	}
	e = ccEntry{res: res, at: now, memo: &candMemo{}}
	s.ccMu.Lock()
	if len(s.ccMap) >= 256 {
		clear(s.ccMap)
	}
	s.ccMap[key] = e
	s.ccMu.Unlock()
	return res, e.memo, nil
}
