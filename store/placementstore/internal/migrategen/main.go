// Command migrategen writes the next versioned migration of the Placement
// store for every dialect (store/placementstore/migrations/<dialect>). It
// runs from `go generate ./store/placementstore/...` in the
// store/placementstore directory and takes the flags of
// store/internal/migrategen:
//
//	go run ./internal/migrategen -name add_foo
package main

import (
	"github.com/novakit/novakit/store/internal/migrategen/gen"
	"github.com/novakit/novakit/store/placementstore/internal/ent/migrate"
)

func main() { gen.Main(migrate.Tables) }
