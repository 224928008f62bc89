package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Flavor is a server size (Nova's flavors table with extra specs).
type Flavor struct{ ent.Schema }

// Mixin of Flavor.
func (Flavor) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of Flavor.
func (Flavor) Fields() []ent.Field {
	return []ent.Field{
		field.String("flavorid").MaxLen(255).Unique(),
		field.String("name").MaxLen(255).Unique(),
		field.Int("vcpus"),
		field.Int("memory_mb"),
		field.Int("root_gb").Default(0),
		field.Int("ephemeral_gb").Default(0),
		field.Int("swap").Default(0),
		field.Float("rxtx_factor").Default(1),
		field.Bool("is_public").Default(true),
		field.Bool("disabled").Default(false),
		text("description"),
		field.JSON("extra_specs", map[string]string{}).Optional(),
	}
}

// Edges of Flavor.
func (Flavor) Edges() []ent.Edge {
	return []ent.Edge{edge.To("projects", FlavorProject.Type)}
}

// FlavorProject grants a project a private flavor.
type FlavorProject struct{ ent.Schema }

// Fields of FlavorProject.
func (FlavorProject) Fields() []ent.Field {
	return []ent.Field{field.Int("flavor_id"), field.String("project_id").MaxLen(255)}
}

// Edges of FlavorProject.
func (FlavorProject) Edges() []ent.Edge {
	return []ent.Edge{edge.From("flavor", Flavor.Type).Ref("projects").Field("flavor_id").Unique().Required()}
}

// Indexes of FlavorProject.
func (FlavorProject) Indexes() []ent.Index {
	return []ent.Index{index.Fields("flavor_id", "project_id").Unique()}
}

// KeyPair is a user's public key.
type KeyPair struct{ ent.Schema }

// Mixin of KeyPair.
func (KeyPair) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of KeyPair.
func (KeyPair) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").MaxLen(255),
		field.String("user_id").MaxLen(255),
		field.String("type").MaxLen(10).Default("ssh"),
		text("public_key"),
		str("fingerprint"),
	}
}

// Indexes of KeyPair.
func (KeyPair) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "name").Unique()}
}

// InstanceAction is one entry of an instance's action log.
type InstanceAction struct{ ent.Schema }

// Fields of InstanceAction.
func (InstanceAction) Fields() []ent.Field {
	return []ent.Field{
		field.String("action").MaxLen(255),
		field.String("instance_uuid").MaxLen(36),
		field.String("request_id").MaxLen(255),
		str("user_id"),
		str("project_id"),
		timeField("start_time"),
		optTime("finish_time"),
		text("message"),
		timeField("updated_at"),
	}
}

// Edges of InstanceAction.
func (InstanceAction) Edges() []ent.Edge {
	return []ent.Edge{edge.To("events", InstanceActionEvent.Type)}
}

// Indexes of InstanceAction.
func (InstanceAction) Indexes() []ent.Index {
	return []ent.Index{index.Fields("instance_uuid", "request_id").Unique(), index.Fields("instance_uuid", "start_time")}
}

// InstanceActionEvent is one step of an instance action.
type InstanceActionEvent struct{ ent.Schema }

// Fields of InstanceActionEvent.
func (InstanceActionEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Int("action_id"),
		field.String("event").MaxLen(255),
		timeField("start_time"),
		optTime("finish_time"),
		str("result"),
		text("traceback"),
		str("host"),
		text("details"),
	}
}

// Edges of InstanceActionEvent.
func (InstanceActionEvent) Edges() []ent.Edge {
	return []ent.Edge{edge.From("action", InstanceAction.Type).Ref("events").Field("action_id").Unique().Required()}
}

// Indexes of InstanceActionEvent.
func (InstanceActionEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("action_id", "event")}
}

// InstanceFault records why an instance failed.
type InstanceFault struct{ ent.Schema }

// Fields of InstanceFault.
func (InstanceFault) Fields() []ent.Field {
	return []ent.Field{
		field.String("instance_uuid").MaxLen(36),
		field.Int("code"),
		text("message"),
		text("details"),
		str("host"),
		timeField("created_at"),
	}
}

// Indexes of InstanceFault.
func (InstanceFault) Indexes() []ent.Index {
	return []ent.Index{index.Fields("instance_uuid", "created_at")}
}

// Service is a running service's registration and heartbeat.
type Service struct{ ent.Schema }

// Mixin of Service.
func (Service) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of Service.
func (Service) Fields() []ent.Field {
	return []ent.Field{
		field.String("uuid").MaxLen(36).Unique().Immutable(),
		field.String("host").MaxLen(255),
		field.String("binary").MaxLen(255),
		str("topic"),
		field.Int64("report_count").Default(0),
		field.Bool("disabled").Default(false),
		str("disabled_reason"),
		field.Bool("forced_down").Default(false),
		optTime("last_seen_up"),
		field.Int("version").Default(0),
	}
}

// Indexes of Service.
func (Service) Indexes() []ent.Index {
	return []ent.Index{index.Fields("host", "binary").Unique()}
}

// ComputeNode is a hypervisor node and its resources.
type ComputeNode struct{ ent.Schema }

// Mixin of ComputeNode.
func (ComputeNode) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of ComputeNode.
func (ComputeNode) Fields() []ent.Field {
	return []ent.Field{
		field.String("uuid").MaxLen(36).Unique().Immutable(),
		field.String("host").MaxLen(255),
		field.String("hypervisor_hostname").MaxLen(255),
		str("hypervisor_type"),
		field.Int("hypervisor_version").Default(0),
		str("host_ip"),
		field.Int("vcpus").Default(0),
		field.Int("vcpus_used").Default(0),
		field.Int("memory_mb").Default(0),
		field.Int("memory_mb_used").Default(0),
		field.Int("local_gb").Default(0),
		field.Int("local_gb_used").Default(0),
		field.Int("free_ram_mb").Default(0),
		field.Int("free_disk_gb").Default(0),
		field.Int("disk_available_least").Default(0),
		field.Int("current_workload").Default(0),
		field.Int("running_vms").Default(0),
		text("cpu_info"),
		field.JSON("stats", map[string]string{}).Optional(),
		field.Float("cpu_allocation_ratio").Default(0),
		field.Float("ram_allocation_ratio").Default(0),
		field.Float("disk_allocation_ratio").Default(0),
	}
}

// Indexes of ComputeNode.
func (ComputeNode) Indexes() []ent.Index {
	return []ent.Index{index.Fields("host", "hypervisor_hostname").Unique()}
}

// Migration records a move of an instance.
type Migration struct{ ent.Schema }

// Mixin of Migration.
func (Migration) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of Migration.
func (Migration) Fields() []ent.Field {
	return []ent.Field{
		field.String("uuid").MaxLen(36).Unique().Immutable(),
		field.String("instance_uuid").MaxLen(36),
		str("migration_type"),
		str("status"),
		str("source_compute"),
		str("source_node"),
		str("dest_compute"),
		str("dest_node"),
		str("dest_host"),
		str("old_flavor_id"),
		str("new_flavor_id"),
		field.Bool("hidden").Default(false),
		str("user_id"),
		str("project_id"),
		field.Int64("memory_total").Default(0),
		field.Int64("memory_processed").Default(0),
		field.Int64("memory_remaining").Default(0),
		field.Int64("disk_total").Default(0),
		field.Int64("disk_processed").Default(0),
		field.Int64("disk_remaining").Default(0),
	}
}

// Indexes of Migration.
func (Migration) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("instance_uuid", "status"),
		index.Fields("source_compute", "status"),
		index.Fields("dest_compute", "status"),
	}
}

// ServerGroup is a set of servers with a placement policy.
type ServerGroup struct{ ent.Schema }

// Fields of ServerGroup.
func (ServerGroup) Fields() []ent.Field {
	return []ent.Field{
		field.String("uuid").MaxLen(36).Unique().Immutable(),
		str("name"),
		str("project_id"),
		str("user_id"),
		field.String("policy").MaxLen(255),
		field.JSON("rules", map[string]int{}).Optional(),
		timeField("created_at"),
	}
}

// Edges of ServerGroup.
func (ServerGroup) Edges() []ent.Edge {
	return []ent.Edge{edge.To("members", ServerGroupMember.Type)}
}

// Indexes of ServerGroup.
func (ServerGroup) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id")}
}

// ServerGroupMember puts an instance in a server group; an instance is in
// at most one group.
type ServerGroupMember struct{ ent.Schema }

// Fields of ServerGroupMember.
func (ServerGroupMember) Fields() []ent.Field {
	return []ent.Field{field.Int("group_id"), field.String("instance_uuid").MaxLen(36).Unique()}
}

// Edges of ServerGroupMember.
func (ServerGroupMember) Edges() []ent.Edge {
	return []ent.Edge{edge.From("group", ServerGroup.Type).Ref("members").Field("group_id").Unique().Required()}
}

// Aggregate is a named set of hosts with metadata.
type Aggregate struct{ ent.Schema }

// Mixin of Aggregate.
func (Aggregate) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of Aggregate.
func (Aggregate) Fields() []ent.Field {
	return []ent.Field{
		field.String("uuid").MaxLen(36).Unique().Immutable(),
		field.String("name").MaxLen(255).Unique(),
		field.JSON("metadata", map[string]string{}).Optional(),
	}
}

// Edges of Aggregate.
func (Aggregate) Edges() []ent.Edge {
	return []ent.Edge{edge.To("hosts", AggregateHost.Type)}
}

// AggregateHost puts a host in an aggregate.
type AggregateHost struct{ ent.Schema }

// Fields of AggregateHost.
func (AggregateHost) Fields() []ent.Field {
	return []ent.Field{field.Int("aggregate_id"), field.String("host").MaxLen(255)}
}

// Edges of AggregateHost.
func (AggregateHost) Edges() []ent.Edge {
	return []ent.Edge{edge.From("aggregate", Aggregate.Type).Ref("hosts").Field("aggregate_id").Unique().Required()}
}

// Indexes of AggregateHost.
func (AggregateHost) Indexes() []ent.Index {
	return []ent.Index{index.Fields("aggregate_id", "host").Unique(), index.Fields("host")}
}

// RequestSpec keeps an instance's scheduling request as JSON.
type RequestSpec struct{ ent.Schema }

// Fields of RequestSpec.
func (RequestSpec) Fields() []ent.Field {
	return []ent.Field{
		field.String("instance_uuid").MaxLen(36).Unique(),
		field.Text("spec").SchemaType(map[string]string{"mysql": "longtext"}),
		timeField("updated_at"),
	}
}

// BlockDeviceMapping is one disk of an instance.
type BlockDeviceMapping struct{ ent.Schema }

// Fields of BlockDeviceMapping.
func (BlockDeviceMapping) Fields() []ent.Field {
	return []ent.Field{
		field.String("uuid").MaxLen(36).Unique().Immutable(),
		field.String("instance_uuid").MaxLen(36),
		field.Int("boot_index").Optional().Nillable(),
		str("source_type"),
		str("destination_type"),
		str("image_id"),
		str("volume_id"),
		str("snapshot_id"),
		field.Int("volume_size").Default(0),
		str("volume_type"),
		str("device_name"),
		str("device_type"),
		str("disk_bus"),
		str("guest_format"),
		field.Bool("delete_on_termination").Default(false),
		str("tag"),
		str("attachment_id"),
		text("connection_info"),
		timeField("created_at"),
	}
}

// Indexes of BlockDeviceMapping.
func (BlockDeviceMapping) Indexes() []ent.Index {
	return []ent.Index{index.Fields("instance_uuid")}
}

// Quota is one limit of a project (or of a user in it).
type Quota struct{ ent.Schema }

// Fields of Quota.
func (Quota) Fields() []ent.Field {
	return []ent.Field{
		field.String("project_id").MaxLen(255),
		field.String("user_id").MaxLen(255).Default(""),
		field.String("resource").MaxLen(255),
		field.Int("hard_limit"),
	}
}

// Indexes of Quota.
func (Quota) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id", "user_id", "resource").Unique()}
}
