package scheduler

import (
	"encoding/json"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/novakit/novakit/compute"
	"github.com/novakit/novakit/placement"
)

// Request is one scheduling request as filters and weighers see it: the
// request spec and what the scheduler derived from it once (image
// properties, NUMA and PCI requests, parsed hints, the server group's
// members per host including the instances placed earlier in the same
// request). Filters and weighers must not modify it.
type Request struct {
	Spec *compute.RequestSpec
	// Options are the scheduler's options (defaults filled in).
	Options *Options
	// Now is the time the request started (service liveness is judged
	// against it).
	Now time.Time
	// InstanceIndex is the position, in a multi-create, of the instance
	// being placed.
	InstanceIndex int

	// ImageProps are the image properties (never nil).
	ImageProps map[string]string
	// NUMA is the instance's NUMA request, nil for none.
	NUMA *InstanceNUMA
	// PCI are the flavor's PCI alias requests.
	PCI []PCIRequest
	// SameHost and DifferentHost are the hosts (names) of the instances
	// named by the same_host / different_host hints; the Has flags say
	// whether the hint was given at all.
	SameHost, DifferentHost       map[string]bool
	HasSameHost, HasDifferentHost bool
	// Query is the parsed "query" hint of JsonFilter (nil: none).
	Query any
	// Group is the server group (nil: none); GroupHosts counts its
	// members per host name, including the instances placed earlier in
	// this request.
	Group      *compute.ServerGroup
	GroupHosts map[string]int

	nowN         int64
	downN        int64
	metricsSet   []metricWeight
	requestedCap bool            // flavor has extra specs ComputeCapabilitiesFilter looks at
	multKeys     map[string]bool // multiplier keys some aggregate overrides
}

// Hint returns the first value of a scheduler hint.
func (r *Request) Hint(k string) string { return r.Spec.Hint(k) }

func newRequest(spec *compute.RequestSpec, opts *Options, now time.Time, metrics []metricWeight) (*Request, error) {
	r := &Request{Spec: spec, Options: opts, Now: now, nowN: now.UnixNano(), downN: int64(opts.ServiceDownTime), metricsSet: metrics}
	r.ImageProps = spec.Image.Properties
	if r.ImageProps == nil {
		r.ImageProps = map[string]string{}
	}
	var err error
	if r.NUMA, err = instanceNUMA(&spec.Flavor, r.ImageProps); err != nil {
		return nil, err
	}
	if r.PCI, err = pciRequests(&spec.Flavor, opts.PCIAliases); err != nil {
		return nil, err
	}
	if q := spec.Hint("query"); q != "" {
		if err := json.Unmarshal([]byte(q), &r.Query); err != nil {
			return nil, compute.InvalidInput("scheduler_hints.query", "not JSON: %v", err)
		}
		if _, ok := r.Query.([]any); !ok {
			return nil, compute.InvalidInput("scheduler_hints.query", "must be a JSON list")
		}
	}
	if g := spec.InstanceGroup; g != nil && g.Policy != "" {
		r.Group = g
	}
	for k := range spec.Flavor.ExtraSpecs {
		scope, _, scoped := strings.Cut(k, ":")
		if !scoped || scope == "capabilities" {
			r.requestedCap = true
		}
	}
	return r, nil
}

// resolveHosts fills SameHost, DifferentHost and GroupHosts from the
// cache's instance map; the cache must be read-locked.
func (r *Request) resolveHosts(c *hostCache) {
	r.multKeys = c.multKeys
	hostsOf := func(uuids []string) map[string]bool {
		m := map[string]bool{}
		for _, u := range uuids {
			for _, x := range strings.Split(u, ",") {
				if rec, ok := c.insts[strings.TrimSpace(x)]; ok && rec.host != nil {
					m[rec.host.Host] = true
				}
			}
		}
		return m
	}
	if v, ok := r.Spec.SchedulerHints["same_host"]; ok && len(v) > 0 {
		r.HasSameHost, r.SameHost = true, hostsOf(v)
	}
	if v, ok := r.Spec.SchedulerHints["different_host"]; ok && len(v) > 0 {
		r.HasDifferentHost, r.DifferentHost = true, hostsOf(v)
	}
	if r.Group != nil {
		r.GroupHosts = map[string]int{}
		for _, m := range r.Group.Members {
			if rec, ok := c.insts[m]; ok && rec.host != nil {
				r.GroupHosts[rec.host.Host]++
			}
		}
		for _, h := range r.Group.Hosts {
			if r.GroupHosts[h] == 0 {
				r.GroupHosts[h] = 1
			}
		}
	}
}

// seedFor derives the placement and subset seed from the request id, so a
// decision can be replayed.
func seedFor(requestID string) uint64 {
	f := fnv.New64a()
	f.Write([]byte(requestID))
	return f.Sum64()
}

// resourceGroups builds the placement request groups from the flavor
// (resources, extra specs resources[N]:, trait[N]:, group_policy), the
// image's trait: properties and the spec's requested resources.
func resourceGroups(spec *compute.RequestSpec, numa *InstanceNUMA) (groups map[string]*placement.RequestGroup, policy string, err error) {
	groups = map[string]*placement.RequestGroup{}
	group := func(s string) *placement.RequestGroup {
		g := groups[s]
		if g == nil {
			g = &placement.RequestGroup{Suffix: s, Resources: map[string]int64{}}
			groups[s] = g
		}
		return g
	}
	f := &spec.Flavor
	un := group("")
	cpuRC := "VCPU"
	if numa != nil && numa.Dedicated {
		cpuRC = "PCPU"
	}
	un.Resources[cpuRC] = int64(f.VCPUs)
	un.Resources["MEMORY_MB"] = int64(f.MemoryMB)
	if d := f.DiskGB(spec.IsBFV); d > 0 {
		un.Resources["DISK_GB"] = int64(d)
	}
	keys := make([]string, 0, len(f.ExtraSpecs))
	for k := range f.ExtraSpecs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := f.ExtraSpecs[k]
		switch {
		case k == "group_policy":
			if v != placement.GroupPolicyNone && v != placement.GroupPolicyIsolate {
				return nil, "", compute.InvalidInput("group_policy", "%q is not none or isolate", v)
			}
			policy = v
		case strings.HasPrefix(k, "resources"):
			pre, rc, ok := strings.Cut(k, ":")
			if !ok {
				continue
			}
			n, perr := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if perr != nil || n < 0 {
				return nil, "", compute.InvalidInput(k, "%q is not a non-negative integer", v)
			}
			g := group(strings.TrimPrefix(pre, "resources"))
			if n == 0 {
				delete(g.Resources, rc)
			} else {
				g.Resources[rc] = n
			}
		case strings.HasPrefix(k, "trait"):
			pre, t, ok := strings.Cut(k, ":")
			if !ok {
				continue
			}
			g := group(strings.TrimPrefix(pre, "trait"))
			if err := addTrait(g, t, v, k); err != nil {
				return nil, "", err
			}
		}
	}
	for k, v := range spec.Image.Properties {
		if t, ok := strings.CutPrefix(k, "trait:"); ok {
			if err := addTrait(un, t, v, "image property "+k); err != nil {
				return nil, "", err
			}
		}
	}
	for _, rg := range spec.RequestedResources {
		g := group(rg.Suffix)
		for rc, n := range rg.Resources {
			g.Resources[rc] += n
		}
		for _, t := range rg.RequiredTraits {
			g.RequiredTraits = append(g.RequiredTraits, []string{t})
		}
		for _, any := range rg.AnyTraits {
			g.RequiredTraits = append(g.RequiredTraits, slices.Clone(any))
		}
		g.ForbiddenTraits = append(g.ForbiddenTraits, rg.ForbiddenTraits...)
		for _, m := range rg.MemberOf {
			g.MemberOf = append(g.MemberOf, slices.Clone(m))
		}
		g.ForbiddenAggregates = append(g.ForbiddenAggregates, rg.ForbiddenAggs...)
		if rg.InTree != "" {
			g.InTree = rg.InTree
		}
	}
	return groups, policy, nil
}

func addTrait(g *placement.RequestGroup, t, v, field string) error {
	switch v {
	case "required":
		for _, have := range g.RequiredTraits {
			if len(have) == 1 && have[0] == t {
				return nil
			}
		}
		g.RequiredTraits = append(g.RequiredTraits, []string{t})
	case "forbidden":
		if !slices.Contains(g.ForbiddenTraits, t) {
			g.ForbiddenTraits = append(g.ForbiddenTraits, t)
		}
	default:
		return compute.InvalidInput(field, "%q is not required or forbidden", v)
	}
	return nil
}

// requiredTraitSet returns every trait the request requires (for
// isolate_aggregates).
func requiredTraitSet(groups map[string]*placement.RequestGroup, root []string) map[string]bool {
	m := map[string]bool{}
	for _, g := range groups {
		for _, any := range g.RequiredTraits {
			if len(any) == 1 {
				m[any[0]] = true
			}
		}
	}
	for _, t := range root {
		m[t] = true
	}
	return m
}

// imageMetadataTraits maps image properties to the traits Nova's
// transform_image_metadata request filter asks for.
func imageMetadataTraits(props map[string]string) []string {
	var out []string
	add := func(prefix, v string) {
		if v == "" {
			return
		}
		t := prefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(v))
		if placement.IsStandardTrait(t) && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	add("COMPUTE_STORAGE_BUS_", props["hw_disk_bus"])
	add("COMPUTE_STORAGE_BUS_", props["hw_cdrom_bus"])
	add("COMPUTE_GRAPHICS_MODEL_", props["hw_video_model"])
	add("COMPUTE_NET_VIF_MODEL_", props["hw_vif_model"])
	add("HW_ARCH_", props["hw_architecture"])
	add("COMPUTE_ARCH_", props["hw_emulation_architecture"])
	add("COMPUTE_VIOMMU_MODEL_", props["hw_viommu_model"])
	sort.Strings(out)
	return out
}
