-- Add column "tag_list" to table: "instances"
ALTER TABLE `instances` ADD COLUMN `tag_list` json NULL;
-- Backfill "tag_list" from "instance_tags"
UPDATE `instances` SET `tag_list` = (SELECT json_group_array(`tag`) FROM (SELECT `tag` FROM `instance_tags` WHERE `instance_tags`.`instance_id` = `instances`.`id` ORDER BY `tag`)) WHERE EXISTS (SELECT 1 FROM `instance_tags` WHERE `instance_tags`.`instance_id` = `instances`.`id`);
