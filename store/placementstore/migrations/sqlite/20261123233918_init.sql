-- Create "allocations" table
CREATE TABLE `allocations` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `used` integer NOT NULL, `consumer_id` integer NOT NULL, `resource_class` text NOT NULL, `resource_provider_id` integer NOT NULL, CONSTRAINT `allocations_consumers_allocations` FOREIGN KEY (`consumer_id`) REFERENCES `consumers` (`id`) ON DELETE CASCADE, CONSTRAINT `allocations_resource_classes_allocations` FOREIGN KEY (`resource_class`) REFERENCES `resource_classes` (`name`) ON DELETE RESTRICT, CONSTRAINT `allocations_resource_providers_allocations` FOREIGN KEY (`resource_provider_id`) REFERENCES `resource_providers` (`id`) ON DELETE RESTRICT);
-- Create index "allocation_consumer_id_resource_provider_id_resource_class" to table: "allocations"
CREATE UNIQUE INDEX `allocation_consumer_id_resource_provider_id_resource_class` ON `allocations` (`consumer_id`, `resource_provider_id`, `resource_class`);
-- Create index "allocation_resource_provider_id_resource_class" to table: "allocations"
CREATE INDEX `allocation_resource_provider_id_resource_class` ON `allocations` (`resource_provider_id`, `resource_class`);
-- Create "placement_changes" table
CREATE TABLE `placement_changes` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `entities` text NOT NULL, `created_at` datetime NOT NULL);
-- Create "consumers" table
CREATE TABLE `consumers` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `uuid` text NOT NULL, `project_id` text NOT NULL, `user_id` text NOT NULL, `consumer_type` text NOT NULL DEFAULT (''), `generation` integer NOT NULL DEFAULT (1), `change_id` integer NOT NULL DEFAULT (0), `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL);
-- Create index "consumers_uuid_key" to table: "consumers"
CREATE UNIQUE INDEX `consumers_uuid_key` ON `consumers` (`uuid`);
-- Create index "consumer_project_id_user_id" to table: "consumers"
CREATE INDEX `consumer_project_id_user_id` ON `consumers` (`project_id`, `user_id`);
-- Create "inventories" table
CREATE TABLE `inventories` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `total` integer NOT NULL, `reserved` integer NOT NULL DEFAULT (0), `min_unit` integer NOT NULL DEFAULT (1), `max_unit` integer NOT NULL, `step_size` integer NOT NULL DEFAULT (1), `allocation_ratio` real NOT NULL DEFAULT (1), `used` integer NOT NULL DEFAULT (0), `resource_class` text NOT NULL, `resource_provider_id` integer NOT NULL, CONSTRAINT `inventories_resource_classes_inventories` FOREIGN KEY (`resource_class`) REFERENCES `resource_classes` (`name`) ON DELETE RESTRICT, CONSTRAINT `inventories_resource_providers_inventories` FOREIGN KEY (`resource_provider_id`) REFERENCES `resource_providers` (`id`) ON DELETE CASCADE);
-- Create index "inventory_resource_provider_id_resource_class" to table: "inventories"
CREATE UNIQUE INDEX `inventory_resource_provider_id_resource_class` ON `inventories` (`resource_provider_id`, `resource_class`);
-- Create "resource_provider_aggregates" table
CREATE TABLE `resource_provider_aggregates` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `aggregate_uuid` text NOT NULL, `resource_provider_id` integer NOT NULL, CONSTRAINT `resource_provider_aggregates_resource_providers_aggregates` FOREIGN KEY (`resource_provider_id`) REFERENCES `resource_providers` (`id`) ON DELETE CASCADE);
-- Create index "provideraggregate_resource_provider_id_aggregate_uuid" to table: "resource_provider_aggregates"
CREATE UNIQUE INDEX `provideraggregate_resource_provider_id_aggregate_uuid` ON `resource_provider_aggregates` (`resource_provider_id`, `aggregate_uuid`);
-- Create index "provideraggregate_aggregate_uuid" to table: "resource_provider_aggregates"
CREATE INDEX `provideraggregate_aggregate_uuid` ON `resource_provider_aggregates` (`aggregate_uuid`);
-- Create "resource_provider_traits" table
CREATE TABLE `resource_provider_traits` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `resource_provider_id` integer NOT NULL, `trait` text NOT NULL, CONSTRAINT `resource_provider_traits_resource_providers_traits` FOREIGN KEY (`resource_provider_id`) REFERENCES `resource_providers` (`id`) ON DELETE CASCADE, CONSTRAINT `resource_provider_traits_traits_providers` FOREIGN KEY (`trait`) REFERENCES `traits` (`name`) ON DELETE RESTRICT);
-- Create index "providertrait_resource_provider_id_trait" to table: "resource_provider_traits"
CREATE UNIQUE INDEX `providertrait_resource_provider_id_trait` ON `resource_provider_traits` (`resource_provider_id`, `trait`);
-- Create index "providertrait_trait" to table: "resource_provider_traits"
CREATE INDEX `providertrait_trait` ON `resource_provider_traits` (`trait`);
-- Create "resource_classes" table
CREATE TABLE `resource_classes` (`name` text NOT NULL, PRIMARY KEY (`name`));
-- Create "resource_providers" table
CREATE TABLE `resource_providers` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `uuid` text NOT NULL, `name` text NOT NULL, `generation` integer NOT NULL DEFAULT (0), `root_provider_id` integer NULL, `change_id` integer NOT NULL DEFAULT (0), `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `parent_provider_id` integer NULL, CONSTRAINT `resource_providers_resource_providers_children` FOREIGN KEY (`parent_provider_id`) REFERENCES `resource_providers` (`id`) ON DELETE RESTRICT);
-- Create index "resource_providers_uuid_key" to table: "resource_providers"
CREATE UNIQUE INDEX `resource_providers_uuid_key` ON `resource_providers` (`uuid`);
-- Create index "resource_providers_name_key" to table: "resource_providers"
CREATE UNIQUE INDEX `resource_providers_name_key` ON `resource_providers` (`name`);
-- Create index "resourceprovider_root_provider_id" to table: "resource_providers"
CREATE INDEX `resourceprovider_root_provider_id` ON `resource_providers` (`root_provider_id`);
-- Create "traits" table
CREATE TABLE `traits` (`name` text NOT NULL, PRIMARY KEY (`name`));
