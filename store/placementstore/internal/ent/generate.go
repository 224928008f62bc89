// Package ent is the generated entgo.io/ent client of novakit's Placement
// store. Everything here except schema/ and this file is generated: change
// a schema under schema/ and run `go generate ./store/placementstore/...`,
// which also writes the next versioned migration (see
// store/internal/migrategen). Nothing in this package leaves package
// placementstore.
package ent

//go:generate go run -mod=mod entgo.io/ent/cmd/ent generate --feature sql/upsert,sql/modifier,sql/execquery,sql/lock,sql/versioned-migration ./schema
