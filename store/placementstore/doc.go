// Package placementstore is novakit's persistent Placement: the resource
// providers, inventories, traits, aggregates, consumers and allocations of
// package placement kept in their own SQL database (SQLite, PostgreSQL or
// MySQL/MariaDB, as OpenStack Placement keeps its own), with the exact
// in-memory placement.Index in front of it for reads and allocation
// candidates.
//
// [Open] returns a [Service], which has the method set of
// *placement.Index, so the Placement REST API, the scheduler and the
// conductor take either. Every write is one database transaction that
// locks the rows it touches, runs Placement's checks with the Index's own
// code against the state it just read (provider generation, consumer
// generation, capacity = (total − reserved) × allocation_ratio against the
// usage of every provider a claim touches, min_unit, max_unit, step_size,
// inventories in use), writes with compare-and-swap generation updates and
// appends a change log entry; the Index is updated after the commit.
// Several processes sharing one database follow each other through the
// change log ([Options.PollInterval], [Service.Refresh]). Claims are
// checked against the database, never against a possibly stale Index, so
// no interleaving of processes can overcommit.
//
// Throughput: concurrent writes are group-committed — the allocation
// writes waiting when a transaction starts lock all their rows at once
// (consumers by uuid, then providers by id: no deadlocks), are checked one
// after the other and share one commit and one change log entry; on
// PostgreSQL their statements travel in one round trip. A write of the
// batch that fails its checks leaves the others alone.
//
// The schema lives in internal/ent/schema; `go generate
// ./store/placementstore/...` regenerates the ent code and writes the next
// versioned migration for every dialect under migrations/ (through
// store/internal/migrategen). Open applies pending migrations.
package placementstore
