-- Create "aggregates" table
CREATE TABLE `aggregates` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `uuid` text NOT NULL, `name` text NOT NULL, `metadata` json NULL);
-- Create index "aggregates_uuid_key" to table: "aggregates"
CREATE UNIQUE INDEX `aggregates_uuid_key` ON `aggregates` (`uuid`);
-- Create index "aggregates_name_key" to table: "aggregates"
CREATE UNIQUE INDEX `aggregates_name_key` ON `aggregates` (`name`);
-- Create "aggregate_hosts" table
CREATE TABLE `aggregate_hosts` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `host` text NOT NULL, `aggregate_id` integer NOT NULL, CONSTRAINT `aggregate_hosts_aggregates_hosts` FOREIGN KEY (`aggregate_id`) REFERENCES `aggregates` (`id`) ON DELETE NO ACTION);
-- Create index "aggregatehost_aggregate_id_host" to table: "aggregate_hosts"
CREATE UNIQUE INDEX `aggregatehost_aggregate_id_host` ON `aggregate_hosts` (`aggregate_id`, `host`);
-- Create index "aggregatehost_host" to table: "aggregate_hosts"
CREATE INDEX `aggregatehost_host` ON `aggregate_hosts` (`host`);
-- Create "block_device_mappings" table
CREATE TABLE `block_device_mappings` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `uuid` text NOT NULL, `instance_uuid` text NOT NULL, `boot_index` integer NULL, `source_type` text NOT NULL DEFAULT (''), `destination_type` text NOT NULL DEFAULT (''), `image_id` text NOT NULL DEFAULT (''), `volume_id` text NOT NULL DEFAULT (''), `snapshot_id` text NOT NULL DEFAULT (''), `volume_size` integer NOT NULL DEFAULT (0), `volume_type` text NOT NULL DEFAULT (''), `device_name` text NOT NULL DEFAULT (''), `device_type` text NOT NULL DEFAULT (''), `disk_bus` text NOT NULL DEFAULT (''), `guest_format` text NOT NULL DEFAULT (''), `delete_on_termination` bool NOT NULL DEFAULT (false), `tag` text NOT NULL DEFAULT (''), `attachment_id` text NOT NULL DEFAULT (''), `connection_info` text NOT NULL DEFAULT (''), `created_at` datetime NOT NULL);
-- Create index "block_device_mappings_uuid_key" to table: "block_device_mappings"
CREATE UNIQUE INDEX `block_device_mappings_uuid_key` ON `block_device_mappings` (`uuid`);
-- Create index "blockdevicemapping_instance_uuid" to table: "block_device_mappings"
CREATE INDEX `blockdevicemapping_instance_uuid` ON `block_device_mappings` (`instance_uuid`);
-- Create "compute_nodes" table
CREATE TABLE `compute_nodes` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `uuid` text NOT NULL, `host` text NOT NULL, `hypervisor_hostname` text NOT NULL, `hypervisor_type` text NOT NULL DEFAULT (''), `hypervisor_version` integer NOT NULL DEFAULT (0), `host_ip` text NOT NULL DEFAULT (''), `vcpus` integer NOT NULL DEFAULT (0), `vcpus_used` integer NOT NULL DEFAULT (0), `memory_mb` integer NOT NULL DEFAULT (0), `memory_mb_used` integer NOT NULL DEFAULT (0), `local_gb` integer NOT NULL DEFAULT (0), `local_gb_used` integer NOT NULL DEFAULT (0), `free_ram_mb` integer NOT NULL DEFAULT (0), `free_disk_gb` integer NOT NULL DEFAULT (0), `disk_available_least` integer NOT NULL DEFAULT (0), `current_workload` integer NOT NULL DEFAULT (0), `running_vms` integer NOT NULL DEFAULT (0), `cpu_info` text NOT NULL DEFAULT (''), `stats` json NULL, `cpu_allocation_ratio` real NOT NULL DEFAULT (0), `ram_allocation_ratio` real NOT NULL DEFAULT (0), `disk_allocation_ratio` real NOT NULL DEFAULT (0));
-- Create index "compute_nodes_uuid_key" to table: "compute_nodes"
CREATE UNIQUE INDEX `compute_nodes_uuid_key` ON `compute_nodes` (`uuid`);
-- Create index "computenode_host_hypervisor_hostname" to table: "compute_nodes"
CREATE UNIQUE INDEX `computenode_host_hypervisor_hostname` ON `compute_nodes` (`host`, `hypervisor_hostname`);
-- Create "flavors" table
CREATE TABLE `flavors` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `flavorid` text NOT NULL, `name` text NOT NULL, `vcpus` integer NOT NULL, `memory_mb` integer NOT NULL, `root_gb` integer NOT NULL DEFAULT (0), `ephemeral_gb` integer NOT NULL DEFAULT (0), `swap` integer NOT NULL DEFAULT (0), `rxtx_factor` real NOT NULL DEFAULT (1), `is_public` bool NOT NULL DEFAULT (true), `disabled` bool NOT NULL DEFAULT (false), `description` text NOT NULL DEFAULT (''), `extra_specs` json NULL);
-- Create index "flavors_flavorid_key" to table: "flavors"
CREATE UNIQUE INDEX `flavors_flavorid_key` ON `flavors` (`flavorid`);
-- Create index "flavors_name_key" to table: "flavors"
CREATE UNIQUE INDEX `flavors_name_key` ON `flavors` (`name`);
-- Create "flavor_projects" table
CREATE TABLE `flavor_projects` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `project_id` text NOT NULL, `flavor_id` integer NOT NULL, CONSTRAINT `flavor_projects_flavors_projects` FOREIGN KEY (`flavor_id`) REFERENCES `flavors` (`id`) ON DELETE NO ACTION);
-- Create index "flavorproject_flavor_id_project_id" to table: "flavor_projects"
CREATE UNIQUE INDEX `flavorproject_flavor_id_project_id` ON `flavor_projects` (`flavor_id`, `project_id`);
-- Create "instances" table
CREATE TABLE `instances` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `uuid` text NOT NULL, `display_name` text NOT NULL DEFAULT (''), `hostname` text NOT NULL DEFAULT (''), `description` text NOT NULL DEFAULT (''), `project_id` text NOT NULL DEFAULT (''), `user_id` text NOT NULL DEFAULT (''), `image_ref` text NOT NULL DEFAULT (''), `flavor_id` text NOT NULL DEFAULT (''), `vcpus` integer NOT NULL DEFAULT (0), `memory_mb` integer NOT NULL DEFAULT (0), `root_gb` integer NOT NULL DEFAULT (0), `ephemeral_gb` integer NOT NULL DEFAULT (0), `flavor` json NOT NULL, `flavor_old` json NULL, `flavor_new` json NULL, `vm_state` text NOT NULL DEFAULT (''), `task_state` text NOT NULL DEFAULT (''), `power_state` integer NOT NULL DEFAULT (0), `host` text NOT NULL DEFAULT (''), `node` text NOT NULL DEFAULT (''), `availability_zone` text NOT NULL DEFAULT (''), `key_name` text NOT NULL DEFAULT (''), `key_data` text NOT NULL DEFAULT (''), `user_data` text NOT NULL DEFAULT (''), `config_drive` bool NOT NULL DEFAULT (false), `access_ip_v4` text NOT NULL DEFAULT (''), `access_ip_v6` text NOT NULL DEFAULT (''), `metadata` json NULL, `system_metadata` json NULL, `reservation_id` text NOT NULL DEFAULT (''), `launch_index` integer NOT NULL DEFAULT (0), `locked` bool NOT NULL DEFAULT (false), `locked_by` text NOT NULL DEFAULT (''), `locked_reason` text NOT NULL DEFAULT (''), `root_device_name` text NOT NULL DEFAULT (''), `progress` integer NOT NULL DEFAULT (0), `disk_config` text NOT NULL DEFAULT (''), `driver_handle` blob NULL, `launched_at` datetime NULL, `terminated_at` datetime NULL, `deleted_at` datetime NULL, `deleted` bool NOT NULL DEFAULT (false));
-- Create index "instances_uuid_key" to table: "instances"
CREATE UNIQUE INDEX `instances_uuid_key` ON `instances` (`uuid`);
-- Create index "instance_project_id_deleted_created_at" to table: "instances"
CREATE INDEX `instance_project_id_deleted_created_at` ON `instances` (`project_id`, `deleted`, `created_at`);
-- Create index "instance_host_node_deleted" to table: "instances"
CREATE INDEX `instance_host_node_deleted` ON `instances` (`host`, `node`, `deleted`);
-- Create index "instance_updated_at" to table: "instances"
CREATE INDEX `instance_updated_at` ON `instances` (`updated_at`);
-- Create index "instance_reservation_id" to table: "instances"
CREATE INDEX `instance_reservation_id` ON `instances` (`reservation_id`);
-- Create index "instance_vm_state_task_state" to table: "instances"
CREATE INDEX `instance_vm_state_task_state` ON `instances` (`vm_state`, `task_state`);
-- Create "instance_actions" table
CREATE TABLE `instance_actions` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `action` text NOT NULL, `instance_uuid` text NOT NULL, `request_id` text NOT NULL, `user_id` text NOT NULL DEFAULT (''), `project_id` text NOT NULL DEFAULT (''), `start_time` datetime NOT NULL, `finish_time` datetime NULL, `message` text NOT NULL DEFAULT (''), `updated_at` datetime NOT NULL);
-- Create index "instanceaction_instance_uuid_request_id" to table: "instance_actions"
CREATE UNIQUE INDEX `instanceaction_instance_uuid_request_id` ON `instance_actions` (`instance_uuid`, `request_id`);
-- Create index "instanceaction_instance_uuid_start_time" to table: "instance_actions"
CREATE INDEX `instanceaction_instance_uuid_start_time` ON `instance_actions` (`instance_uuid`, `start_time`);
-- Create "instance_action_events" table
CREATE TABLE `instance_action_events` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `event` text NOT NULL, `start_time` datetime NOT NULL, `finish_time` datetime NULL, `result` text NOT NULL DEFAULT (''), `traceback` text NOT NULL DEFAULT (''), `host` text NOT NULL DEFAULT (''), `details` text NOT NULL DEFAULT (''), `action_id` integer NOT NULL, CONSTRAINT `instance_action_events_instance_actions_events` FOREIGN KEY (`action_id`) REFERENCES `instance_actions` (`id`) ON DELETE NO ACTION);
-- Create index "instanceactionevent_action_id_event" to table: "instance_action_events"
CREATE INDEX `instanceactionevent_action_id_event` ON `instance_action_events` (`action_id`, `event`);
-- Create "instance_faults" table
CREATE TABLE `instance_faults` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `instance_uuid` text NOT NULL, `code` integer NOT NULL, `message` text NOT NULL DEFAULT (''), `details` text NOT NULL DEFAULT (''), `host` text NOT NULL DEFAULT (''), `created_at` datetime NOT NULL);
-- Create index "instancefault_instance_uuid_created_at" to table: "instance_faults"
CREATE INDEX `instancefault_instance_uuid_created_at` ON `instance_faults` (`instance_uuid`, `created_at`);
-- Create "instance_tags" table
CREATE TABLE `instance_tags` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `tag` text NOT NULL, `instance_id` integer NOT NULL, CONSTRAINT `instance_tags_instances_tags` FOREIGN KEY (`instance_id`) REFERENCES `instances` (`id`) ON DELETE NO ACTION);
-- Create index "instancetag_instance_id_tag" to table: "instance_tags"
CREATE UNIQUE INDEX `instancetag_instance_id_tag` ON `instance_tags` (`instance_id`, `tag`);
-- Create index "instancetag_tag" to table: "instance_tags"
CREATE INDEX `instancetag_tag` ON `instance_tags` (`tag`);
-- Create "key_pairs" table
CREATE TABLE `key_pairs` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `user_id` text NOT NULL, `type` text NOT NULL DEFAULT ('ssh'), `public_key` text NOT NULL DEFAULT (''), `fingerprint` text NOT NULL DEFAULT (''));
-- Create index "keypair_user_id_name" to table: "key_pairs"
CREATE UNIQUE INDEX `keypair_user_id_name` ON `key_pairs` (`user_id`, `name`);
-- Create "migrations" table
CREATE TABLE `migrations` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `uuid` text NOT NULL, `instance_uuid` text NOT NULL, `migration_type` text NOT NULL DEFAULT (''), `status` text NOT NULL DEFAULT (''), `source_compute` text NOT NULL DEFAULT (''), `source_node` text NOT NULL DEFAULT (''), `dest_compute` text NOT NULL DEFAULT (''), `dest_node` text NOT NULL DEFAULT (''), `dest_host` text NOT NULL DEFAULT (''), `old_flavor_id` text NOT NULL DEFAULT (''), `new_flavor_id` text NOT NULL DEFAULT (''), `hidden` bool NOT NULL DEFAULT (false), `user_id` text NOT NULL DEFAULT (''), `project_id` text NOT NULL DEFAULT (''), `memory_total` integer NOT NULL DEFAULT (0), `memory_processed` integer NOT NULL DEFAULT (0), `memory_remaining` integer NOT NULL DEFAULT (0), `disk_total` integer NOT NULL DEFAULT (0), `disk_processed` integer NOT NULL DEFAULT (0), `disk_remaining` integer NOT NULL DEFAULT (0));
-- Create index "migrations_uuid_key" to table: "migrations"
CREATE UNIQUE INDEX `migrations_uuid_key` ON `migrations` (`uuid`);
-- Create index "migration_instance_uuid_status" to table: "migrations"
CREATE INDEX `migration_instance_uuid_status` ON `migrations` (`instance_uuid`, `status`);
-- Create index "migration_source_compute_status" to table: "migrations"
CREATE INDEX `migration_source_compute_status` ON `migrations` (`source_compute`, `status`);
-- Create index "migration_dest_compute_status" to table: "migrations"
CREATE INDEX `migration_dest_compute_status` ON `migrations` (`dest_compute`, `status`);
-- Create "quota" table
CREATE TABLE `quota` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `project_id` text NOT NULL, `user_id` text NOT NULL DEFAULT (''), `resource` text NOT NULL, `hard_limit` integer NOT NULL);
-- Create index "quota_project_id_user_id_resource" to table: "quota"
CREATE UNIQUE INDEX `quota_project_id_user_id_resource` ON `quota` (`project_id`, `user_id`, `resource`);
-- Create "request_specs" table
CREATE TABLE `request_specs` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `instance_uuid` text NOT NULL, `spec` text NOT NULL, `updated_at` datetime NOT NULL);
-- Create index "request_specs_instance_uuid_key" to table: "request_specs"
CREATE UNIQUE INDEX `request_specs_instance_uuid_key` ON `request_specs` (`instance_uuid`);
-- Create "server_groups" table
CREATE TABLE `server_groups` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `uuid` text NOT NULL, `name` text NOT NULL DEFAULT (''), `project_id` text NOT NULL DEFAULT (''), `user_id` text NOT NULL DEFAULT (''), `policy` text NOT NULL, `rules` json NULL, `created_at` datetime NOT NULL);
-- Create index "server_groups_uuid_key" to table: "server_groups"
CREATE UNIQUE INDEX `server_groups_uuid_key` ON `server_groups` (`uuid`);
-- Create index "servergroup_project_id" to table: "server_groups"
CREATE INDEX `servergroup_project_id` ON `server_groups` (`project_id`);
-- Create "server_group_members" table
CREATE TABLE `server_group_members` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `instance_uuid` text NOT NULL, `group_id` integer NOT NULL, CONSTRAINT `server_group_members_server_groups_members` FOREIGN KEY (`group_id`) REFERENCES `server_groups` (`id`) ON DELETE NO ACTION);
-- Create index "server_group_members_instance_uuid_key" to table: "server_group_members"
CREATE UNIQUE INDEX `server_group_members_instance_uuid_key` ON `server_group_members` (`instance_uuid`);
-- Create "services" table
CREATE TABLE `services` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `uuid` text NOT NULL, `host` text NOT NULL, `binary` text NOT NULL, `topic` text NOT NULL DEFAULT (''), `report_count` integer NOT NULL DEFAULT (0), `disabled` bool NOT NULL DEFAULT (false), `disabled_reason` text NOT NULL DEFAULT (''), `forced_down` bool NOT NULL DEFAULT (false), `last_seen_up` datetime NULL, `version` integer NOT NULL DEFAULT (0));
-- Create index "services_uuid_key" to table: "services"
CREATE UNIQUE INDEX `services_uuid_key` ON `services` (`uuid`);
-- Create index "service_host_binary" to table: "services"
CREATE UNIQUE INDEX `service_host_binary` ON `services` (`host`, `binary`);
