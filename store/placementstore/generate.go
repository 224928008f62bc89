package placementstore

// Regenerate the ent code from internal/ent/schema, then write the
// versioned migration for the change (name it with
// NOVAKIT_MIGRATION_NAME).
//go:generate go generate ./internal/ent
//go:generate go run ./internal/migrategen
