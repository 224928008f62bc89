// Command migrategen writes the next versioned migration of novakit's
// store for every dialect, by diffing the ent schema against the
// migrations already checked in (replayed on a scratch "dev" database).
//
// It runs from `go generate ./store/...` (after the ent code is
// generated) in the store directory:
//
//	go run ./internal/migrategen -name add_instance_foo
//
// SQLite needs nothing; PostgreSQL and MariaDB dev databases are started
// from the Debian binaries (internal/testsvc) unless -postgres / -mysql
// name empty databases to use instead. A schema without changes writes
// nothing. A migration edited by hand (a data backfill after a schema
// change) needs its checksum rewritten: go run ./internal/migrategen -rehash.
//
// The work is done by package gen, which store/placementstore's own
// migrategen shares for the Placement schema.
package main

import (
	entmigrate "github.com/novakit/novakit/store/internal/ent/migrate"
	"github.com/novakit/novakit/store/internal/migrategen/gen"
)

func main() { gen.Main(entmigrate.Tables) }
