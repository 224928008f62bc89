// Package placement is novakit's Placement: resource providers arranged in
// trees, their inventories, usages, traits and aggregates, consumers and their
// allocations, and the allocation-candidate search of
// GET /allocation_candidates, with the semantics of OpenStack Placement up to
// microversion 1.39.
//
// # Pieces
//
//   - Domain types and validation: [ResourceProvider], [Inventory] (with
//     [Inventory.Capacity] = int((total − reserved) × allocation_ratio)),
//     [ConsumerAllocations], [Consumer], [Usage]; the os-resource-classes and
//     os-traits standard names ([StandardResourceClasses], [StandardTraits],
//     generated from os-traits [OSTraitsVersion]) and the CUSTOM_[A-Z0-9_]+
//     syntax.
//   - Errors: sentinels for errors.Is ([ErrNotFound], [ErrGenerationConflict],
//     [ErrConsumerGenerationConflict], [ErrInventoryInUse],
//     [ErrCapacityExceeded], [ErrDuplicateName], [ErrProviderInUse],
//     [ErrCannotDeleteParent], [ErrInUse], [ErrInvalid]); the concrete [*Error]
//     carries Placement's error code ([ErrorCode]) and the offending field.
//   - [Version], the microversion type the REST layer shares, and
//     [ParseCandidateQuery], which turns a query string into a
//     [CandidateRequest] with Placement's per-microversion rules.
//   - [Index], the exact in-memory engine: copy-on-write snapshots for
//     lock-free reads and candidate searches, one short writer lock for
//     generation-checked, atomic writes.
//
// # Allocation-candidate semantics
//
// Each candidate is anchored at one root provider R. The unsuffixed group
// takes each of its resource classes, whole, from one provider of R's tree or
// from a sharing provider (trait MISC_SHARES_VIA_AGGREGATE) that has an
// aggregate in common with some provider of R's tree; its required traits must
// be present collectively on the providers it uses and its forbidden traits
// absent from each; member_of must hold for the provider or for R, forbidden
// aggregates for neither (a sharing provider must itself be a member). A
// suffixed group is satisfied by one provider of R's tree, or a sharing
// provider anchored to R, that holds all of its classes, traits and
// aggregates. Per group each amount must satisfy min_unit, max_unit,
// step_size and capacity; once groups are combined the consolidated amount per
// (provider, class) must still fit capacity and max_unit. group_policy=isolate
// puts suffixed groups on distinct providers; same_subtree needs one provider
// of the named groups to be an ancestor of (or equal to) all the others;
// root_required constrains R; in_tree restricts a group to one tree. Below
// 1.29 ([CandidateRequest.ExcludeNested]) candidates using two providers of a
// tree are dropped.
//
// Deliberate differences from Placement, each small: in_tree{S} also
// restricts a resourceless suffixed group (Placement ignores it there);
// candidates come in a seeded order and, with a limit, are the first ones the
// breadth-first search finds rather than a random sample of a full
// enumeration (always a subset of the full answer, of size min(limit, all));
// provider summaries are in no defined order. The parser's differences are
// listed on [ParseCandidateQuery].
//
// # Bounded work
//
// Candidates visits anchor trees in an order drawn from the request's Seed
// and takes one candidate per tree per round, stopping as soon as the limit
// (or [Options.MaxCandidates]) is reached, so limit bounds the work rather
// than trimming a full enumeration; within a tree, partial combinations that
// already exceed a capacity or max_unit are pruned, so wide symmetric trees
// (upstream bug 2126751) stay cheap.
//
// # Persistence
//
// The Index is the truth in this step. A SQL store will mirror its write
// operations (the same generation checks, as compare-and-swap UPDATEs) and the
// Index will become a cache in front of it, refreshed from the database
// whenever a write observes a generation it did not produce.
package placement
