-- Modify "instances" table
ALTER TABLE `instances` ADD INDEX `instance_project_id_deleted_user_id_vcpus_memory_mb` (`project_id`, `deleted`, `user_id`, `vcpus`, `memory_mb`);
