// Package store keeps novakit's records in a SQL database: SQLite by
// default (pure Go, no cgo), PostgreSQL or MySQL/MariaDB for scale.
//
// # Opening
//
// [Open] takes a URL and applies any pending schema migration:
//
//	st, err := store.Open(ctx, "sqlite:///var/lib/novakit/nova.db", nil)
//	st, err := store.Open(ctx, "postgres://nova:secret@db:5432/nova?sslmode=disable", nil)
//	st, err := store.Open(ctx, "mysql://nova:secret@db:3306/nova", nil)
//
// A malformed URL or an unreachable server fails at once (within
// Options.ConnectTimeout) with an error naming the URL without its
// password. SQLite runs in WAL mode with foreign keys on, a busy timeout,
// one writer connection and a pool of readers. On a SQLite file the writes
// are group-committed: write transactions queued for the writer share one
// SQLite commit, each inside its own savepoint (a failing one is undone
// alone), and each call returns only once that commit is done, so what a
// call reports written is in the WAL as before (Options.NoGroupCommit
// turns grouping off).
//
// # Repositories
//
// Each record kind has a small repository value reached from the Store:
// [Store.Instances], flavors, key pairs, instance actions, faults,
// services, compute nodes, migrations, server groups, aggregates, request
// specs, block device mappings and quotas. They take and return the
// domain types of package compute; no ent type or ent error leaves this
// package. Errors satisfy errors.Is with compute.ErrNotFound (missing),
// compute.ErrConflict (duplicate key or lost race),
// compute.ErrInvalidInput (a bad field, named in a
// *compute.InvalidInputError) and compute.ErrUnavailable (the database
// cannot be reached; retry later).
//
// # Compare-and-swap
//
// Instance updates name the vm_states and task_states they expect
// ([compute.InstanceUpdate]); the update is one conditional UPDATE inside
// a transaction, so of two racing writers exactly one wins and the other
// gets a *compute.StateConflictError with the states it found. There are
// no process-wide locks: several processes may share one database.
//
// # Schema and migrations
//
// The ent schemas live in internal/ent/schema; `go generate ./store/...`
// regenerates the ent code and writes the next versioned migration for
// each dialect into migrations/<dialect>/ (checked by atlas.sum), using
// scratch SQLite, PostgreSQL and MariaDB databases. [Store.Migrate]
// applies pending migrations in order under a database lock, so several
// processes may open the same database at once; Open calls it, and
// operators' `db sync` calls it too. MySQL support targets MariaDB 10.5+
// (text columns with defaults).
package store
