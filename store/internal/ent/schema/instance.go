package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/novakit/novakit/compute"
)

// Instance is a server (Nova's instances table).
type Instance struct{ ent.Schema }

// Mixin of Instance.
func (Instance) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of Instance.
func (Instance) Fields() []ent.Field {
	return []ent.Field{
		field.String("uuid").MaxLen(36).Unique().Immutable(),
		str("display_name"),
		str("hostname"),
		text("description"),
		str("project_id"),
		str("user_id"),
		str("image_ref"),
		str("flavor_id"),
		field.Int("vcpus").Default(0),
		field.Int("memory_mb").Default(0),
		field.Int("root_gb").Default(0),
		field.Int("ephemeral_gb").Default(0),
		field.JSON("flavor", compute.Flavor{}),
		field.JSON("flavor_old", &compute.Flavor{}).Optional(),
		field.JSON("flavor_new", &compute.Flavor{}).Optional(),
		str("vm_state"),
		str("task_state"),
		field.Int("power_state").Default(0),
		str("host"),
		str("node"),
		str("availability_zone"),
		str("key_name"),
		text("key_data"),
		text("user_data"),
		field.Bool("config_drive").Default(false),
		str("access_ip_v4"),
		str("access_ip_v6"),
		field.JSON("metadata", map[string]string{}).Optional(),
		field.JSON("system_metadata", map[string]string{}).Optional(),
		// tag_list mirrors the instance_tags rows (sorted), so reading an
		// instance takes one query; the rows serve the tag filters.
		field.JSON("tag_list", []string{}).Optional(),
		str("reservation_id"),
		field.Int("launch_index").Default(0),
		field.Bool("locked").Default(false),
		str("locked_by"),
		str("locked_reason"),
		str("root_device_name"),
		field.Int("progress").Default(0),
		str("disk_config"),
		field.Bytes("driver_handle").Optional(),
		optTime("launched_at"),
		optTime("terminated_at"),
		optTime("deleted_at"),
		field.Bool("deleted").Default(false),
	}
}

// Edges of Instance.
func (Instance) Edges() []ent.Edge {
	return []ent.Edge{edge.To("tags", InstanceTag.Type)}
}

// Indexes of Instance.
func (Instance) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("project_id", "deleted", "created_at"),
		index.Fields("host", "node", "deleted"),
		index.Fields("updated_at"),
		index.Fields("reservation_id"),
		index.Fields("vm_state", "task_state"),
		// Covers the quota count (Instances.Usage): counting a
		// project's instances and summing their vCPUs and RAM reads
		// the index only, not every instance row.
		index.Fields("project_id", "deleted", "user_id", "vcpus", "memory_mb"),
	}
}

// InstanceTag is one tag of an instance (Nova's tags table).
type InstanceTag struct{ ent.Schema }

// Fields of InstanceTag.
func (InstanceTag) Fields() []ent.Field {
	return []ent.Field{
		field.Int("instance_id"),
		field.String("tag").MaxLen(60),
	}
}

// Edges of InstanceTag.
func (InstanceTag) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("instance", Instance.Type).Ref("tags").Field("instance_id").Unique().Required(),
	}
}

// Indexes of InstanceTag.
func (InstanceTag) Indexes() []ent.Index {
	return []ent.Index{index.Fields("instance_id", "tag").Unique(), index.Fields("tag")}
}
