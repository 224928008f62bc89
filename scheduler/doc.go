// Package scheduler is novakit's scheduler: it picks compute nodes for
// instances the way Nova's filter scheduler does (nova/scheduler/manager.py,
// host_manager.py, request_filter.py, filters/, weights/), as composable Go
// plugins over a host-state cache.
//
// # A decision
//
// [Scheduler.SelectDestinations] takes a *compute.RequestSpec and the
// instance uuids of one create (or move) request and:
//
//  1. builds the placement query: VCPU (PCPU for hw:cpu_policy=dedicated),
//     MEMORY_MB and DISK_GB from the flavor (root disk left out for
//     boot-from-volume), extra specs resources[N]:RC, trait[N]:T=
//     required|forbidden and group_policy, the image's trait:T properties
//     and the spec's requested resource groups; then Nova's request filters
//     in Nova's order — require_tenant_aggregate, map_az_to_placement_aggregate
//     (always; the default zone forbids every zoned aggregate),
//     require_image_type_support, compute_status_filter (always: root
//     forbidden COMPUTE_STATUS_DISABLED), isolate_aggregates,
//     transform_image_metadata, packed_virtqueue_filter — and the requested
//     destination (member_of, forbidden aggregates, in_tree for a named
//     node). routed_networks_filter is named but not implemented yet:
//     enabling it is refused by [Options.Validate]. The query's limit is
//     max_placement_results and its seed is derived from the request id;
//  2. asks placement for allocation candidates and maps them to cached
//     host states (the root provider of a candidate is its compute node);
//  3. per instance: applies ignore_hosts, force_hosts/force_nodes (forced
//     hosts skip the filters, as in Nova) and the requested host/node, runs
//     the enabled filters (those that look only at static host facts once
//     per request), weighs the survivors — each weigher's raw values
//     normalised to 0..1 over the hosts (min-max; RAM, CPU, disk and I/O
//     normalise against 0), times its multiplier, which aggregate metadata
//     may override per host (the smallest wins) — and draws the chosen host
//     at random among the best host_subset_size with a generator seeded
//     from the request id;
//  4. claims the chosen host's allocation request in placement for the
//     instance uuid (consumer generation nil for a new consumer; an
//     existing consumer's allocations are merged under its generation, as
//     Nova does for evacuations); a refused claim moves on to the next
//     host in weight order;
//  5. consumes the host state at once (RAM, disk, vCPUs, instance count,
//     NUMA cells, PCI devices, server-group membership), so the next
//     instance of the batch and the next request see it;
//  6. once every instance has its host, gives each up to max_attempts-1
//     alternates: the next best hosts of its weighed list in the same cell
//     that were not chosen for any instance of the request, each with its
//     own unclaimed allocation request.
//
// If an instance of a multi-create cannot be placed, the claims of the
// instances placed before it are deleted, their consumption undone, and
// the error wraps compute.ErrNoValidHost.
//
// # Host states
//
// The cache is built from a [HostSource] (scheduler/storesource adapts a
// *store.Store): compute nodes (resources, hypervisor, cpu_info, stats —
// see the Stat* keys for NUMA topology, PCI pools, supported instances
// and metrics), nova-compute services (disabled, forced down, up from the
// last heartbeat and service_down_time), aggregates (availability zone,
// filter_tenant_id, extra-spec keys, multiplier overrides) and instances
// (count and I/O operations per node, membership for server groups and
// same/different host). A refresh reloads nodes, services and aggregates
// and only the instances changed since the previous refresh; it runs when
// a request finds the cache older than RefreshInterval, or in the
// background under [Scheduler.Run].
//
// # Plugins
//
// Filters ([Filter]) and weighers ([Weigher]) are looked up by name in a
// [Registry]; [NewRegistry] holds every built-in and an embedder registers
// their own. [Options] carries Nova's configuration (enabled_filters,
// weight_classes, the multipliers, host_subset_size, max_attempts,
// max_io_ops_per_host, max_instances_per_host, the request-filter switches,
// [metrics] and [pci] alias settings).
//
// # Performance
//
// Filtering and weighing work over a pooled per-request scratch: no
// allocation per host on the hot path (allocations per decision do not grow
// with the number of hosts), filters and weighers that do not apply to a
// request are skipped for the whole request, candidates are visited in the
// memory order of the host states, weighers fill one raw-value column each
// in a single pass over the hosts, provider uuids placement returned before
// are recognised by string identity instead of being parsed and hashed
// again, and only the best host_subset_size+max_attempts hosts are ranked
// (O(n·k)), the full order being computed only if claims keep failing. Optionally
// ([Options.CandidateCacheTTL]) requests with an identical placement query
// share the candidates for a short time; placement still refuses every
// claim that would overcommit.
//
// # RPC
//
// [RegisterServer] serves select_destinations on the "scheduler" topic of
// the queue; [Client] calls it. [RegisterErrors] registers the sentinel
// codes so that errors.Is(err, compute.ErrNoValidHost) holds across
// processes.
//
// # Differences from Nova
//
// The weighed order breaks ties by placement's (seeded) candidate order;
// alternates come from each instance's own weighed list (Nova uses the last
// instance's); MetricsWeigher
// gives weight_of_unavailable to hosts missing a metric even with
// [metrics]required (Nova raises; MetricsFilter keeps such hosts out);
// hw:cpu_policy=mixed, PCI NUMA policies other than "required" (treated
// as preferred) and the ImagePropertiesWeigher are not implemented.
package scheduler
