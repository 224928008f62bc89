// Package schema holds the ent schemas of novakit's Placement database,
// in the shape of OpenStack Placement's own database: resource classes,
// traits, resource providers (trees by parent and root), inventories with
// their usage counters, provider traits and aggregates, consumers and
// allocations, and a change log that lets several placement processes
// follow each other's writes. Times are UTC, truncated to microseconds;
// MySQL columns are datetime(6) for that reason.
package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

var timeType = map[string]string{dialect.MySQL: "datetime(6)"}

func name(n string) ent.Field {
	return field.String(n).MaxLen(255).NotEmpty()
}

func table(n string) []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: n}}
}

// ResourceClass is a resource class, standard or CUSTOM_*; the name is the
// key inventories and allocations refer to.
type ResourceClass struct{ ent.Schema }

// Annotations of ResourceClass.
func (ResourceClass) Annotations() []schema.Annotation { return table("resource_classes") }

// Fields of ResourceClass.
func (ResourceClass) Fields() []ent.Field {
	return []ent.Field{field.String("id").StorageKey("name").MaxLen(255).NotEmpty().Immutable()}
}

// Edges of ResourceClass.
func (ResourceClass) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("inventories", Inventory.Type).Annotations(entsql.OnDelete(entsql.Restrict)),
		edge.To("allocations", Allocation.Type).Annotations(entsql.OnDelete(entsql.Restrict)),
	}
}

// Trait is a trait, standard or CUSTOM_*.
type Trait struct{ ent.Schema }

// Annotations of Trait.
func (Trait) Annotations() []schema.Annotation { return table("traits") }

// Fields of Trait.
func (Trait) Fields() []ent.Field {
	return []ent.Field{field.String("id").StorageKey("name").MaxLen(255).NotEmpty().Immutable()}
}

// Edges of Trait.
func (Trait) Edges() []ent.Edge {
	return []ent.Edge{edge.To("providers", ProviderTrait.Type).Annotations(entsql.OnDelete(entsql.Restrict))}
}

// ResourceProvider is one node of a provider tree. generation is
// Placement's provider generation; change_id is the change log entry that
// last wrote the provider or its inventories, usages, traits or aggregates
// (it orders a process's view of the row). root_provider_id is NULL for a
// root.
type ResourceProvider struct{ ent.Schema }

// Annotations of ResourceProvider.
func (ResourceProvider) Annotations() []schema.Annotation { return table("resource_providers") }

// Fields of ResourceProvider.
func (ResourceProvider) Fields() []ent.Field {
	return []ent.Field{
		field.String("uuid").MaxLen(36).NotEmpty().Unique().Immutable(),
		field.String("name").MaxLen(200).NotEmpty().Unique(),
		field.Int64("generation").Default(0),
		field.Int("parent_provider_id").Optional().Nillable(),
		field.Int("root_provider_id").Optional().Nillable(),
		field.Int64("change_id").Default(0),
		field.Time("created_at").Immutable().SchemaType(timeType),
		field.Time("updated_at").SchemaType(timeType),
	}
}

// Edges of ResourceProvider.
func (ResourceProvider) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("children", ResourceProvider.Type).Annotations(entsql.OnDelete(entsql.Restrict)).
			From("parent").Field("parent_provider_id").Unique(),
		edge.To("inventories", Inventory.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("traits", ProviderTrait.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("aggregates", ProviderAggregate.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("allocations", Allocation.Type).Annotations(entsql.OnDelete(entsql.Restrict)),
	}
}

// Indexes of ResourceProvider.
func (ResourceProvider) Indexes() []ent.Index {
	return []ent.Index{index.Fields("root_provider_id")}
}

// Inventory is what a provider offers of one class; used is the sum of
// the allocations against it, kept in the same transactions.
type Inventory struct{ ent.Schema }

// Annotations of Inventory.
func (Inventory) Annotations() []schema.Annotation { return table("inventories") }

// Fields of Inventory.
func (Inventory) Fields() []ent.Field {
	return []ent.Field{
		field.Int("resource_provider_id"),
		field.String("resource_class").MaxLen(255),
		field.Int64("total"),
		field.Int64("reserved").Default(0),
		field.Int64("min_unit").Default(1),
		field.Int64("max_unit"),
		field.Int64("step_size").Default(1),
		field.Float("allocation_ratio").Default(1),
		field.Int64("used").Default(0),
	}
}

// Edges of Inventory.
func (Inventory) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("provider", ResourceProvider.Type).Ref("inventories").Field("resource_provider_id").Unique().Required(),
		edge.From("class", ResourceClass.Type).Ref("inventories").Field("resource_class").Unique().Required(),
	}
}

// Indexes of Inventory.
func (Inventory) Indexes() []ent.Index {
	return []ent.Index{index.Fields("resource_provider_id", "resource_class").Unique()}
}

// ProviderTrait puts a trait on a provider.
type ProviderTrait struct{ ent.Schema }

// Annotations of ProviderTrait.
func (ProviderTrait) Annotations() []schema.Annotation { return table("resource_provider_traits") }

// Fields of ProviderTrait.
func (ProviderTrait) Fields() []ent.Field {
	return []ent.Field{field.Int("resource_provider_id"), field.String("trait").MaxLen(255)}
}

// Edges of ProviderTrait.
func (ProviderTrait) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("provider", ResourceProvider.Type).Ref("traits").Field("resource_provider_id").Unique().Required(),
		edge.From("trait_ref", Trait.Type).Ref("providers").Field("trait").Unique().Required(),
	}
}

// Indexes of ProviderTrait.
func (ProviderTrait) Indexes() []ent.Index {
	return []ent.Index{index.Fields("resource_provider_id", "trait").Unique(), index.Fields("trait")}
}

// ProviderAggregate puts a provider in an aggregate (by uuid; aggregates
// have no table of their own).
type ProviderAggregate struct{ ent.Schema }

// Annotations of ProviderAggregate.
func (ProviderAggregate) Annotations() []schema.Annotation {
	return table("resource_provider_aggregates")
}

// Fields of ProviderAggregate.
func (ProviderAggregate) Fields() []ent.Field {
	return []ent.Field{field.Int("resource_provider_id"), field.String("aggregate_uuid").MaxLen(36)}
}

// Edges of ProviderAggregate.
func (ProviderAggregate) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("provider", ResourceProvider.Type).Ref("aggregates").Field("resource_provider_id").Unique().Required(),
	}
}

// Indexes of ProviderAggregate.
func (ProviderAggregate) Indexes() []ent.Index {
	return []ent.Index{index.Fields("resource_provider_id", "aggregate_uuid").Unique(), index.Fields("aggregate_uuid")}
}

// Consumer holds allocations (an instance, a migration …). change_id is
// the change log entry that last wrote it.
type Consumer struct{ ent.Schema }

// Annotations of Consumer.
func (Consumer) Annotations() []schema.Annotation { return table("consumers") }

// Fields of Consumer.
func (Consumer) Fields() []ent.Field {
	return []ent.Field{
		field.String("uuid").MaxLen(36).NotEmpty().Unique().Immutable(),
		name("project_id"),
		name("user_id"),
		field.String("consumer_type").MaxLen(255).Default(""),
		field.Int64("generation").Default(1),
		field.Int64("change_id").Default(0),
		field.Time("created_at").Immutable().SchemaType(timeType),
		field.Time("updated_at").SchemaType(timeType),
	}
}

// Edges of Consumer.
func (Consumer) Edges() []ent.Edge {
	return []ent.Edge{edge.To("allocations", Allocation.Type).Annotations(entsql.OnDelete(entsql.Cascade))}
}

// Indexes of Consumer.
func (Consumer) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id", "user_id")}
}

// Allocation is a consumer's use of one class on one provider.
type Allocation struct{ ent.Schema }

// Annotations of Allocation.
func (Allocation) Annotations() []schema.Annotation { return table("allocations") }

// Fields of Allocation.
func (Allocation) Fields() []ent.Field {
	return []ent.Field{
		field.Int("consumer_id"),
		field.Int("resource_provider_id"),
		field.String("resource_class").MaxLen(255),
		field.Int64("used"),
	}
}

// Edges of Allocation.
func (Allocation) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("consumer", Consumer.Type).Ref("allocations").Field("consumer_id").Unique().Required(),
		edge.From("provider", ResourceProvider.Type).Ref("allocations").Field("resource_provider_id").Unique().Required(),
		edge.From("class", ResourceClass.Type).Ref("allocations").Field("resource_class").Unique().Required(),
	}
}

// Indexes of Allocation.
func (Allocation) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("consumer_id", "resource_provider_id", "resource_class").Unique(),
		index.Fields("resource_provider_id", "resource_class"),
	}
}

// Change is one committed write, listing what it touched ("p:<uuid>",
// "c:<uuid>", "rc", "trait", space separated), so that other processes
// reload exactly that. Ids come from the database's sequence; a process
// remembers ids it has not seen below the highest one it has (a write
// still committing) until they appear or expire.
type Change struct{ ent.Schema }

// Annotations of Change.
func (Change) Annotations() []schema.Annotation { return table("placement_changes") }

// Fields of Change.
func (Change) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.Text("entities").SchemaType(map[string]string{dialect.MySQL: "longtext"}),
		field.Time("created_at").SchemaType(timeType),
	}
}
