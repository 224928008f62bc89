-- Create index "instance_project_id_deleted_user_id_vcpus_memory_mb" to table: "instances"
CREATE INDEX `instance_project_id_deleted_user_id_vcpus_memory_mb` ON `instances` (`project_id`, `deleted`, `user_id`, `vcpus`, `memory_mb`);
