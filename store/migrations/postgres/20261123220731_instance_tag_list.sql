-- Modify "instances" table
ALTER TABLE "instances" ADD COLUMN "tag_list" jsonb NULL;
-- Backfill "tag_list" from "instance_tags"
UPDATE "instances" SET "tag_list" = (SELECT jsonb_agg("tag" ORDER BY "tag") FROM "instance_tags" WHERE "instance_tags"."instance_id" = "instances"."id") WHERE EXISTS (SELECT 1 FROM "instance_tags" WHERE "instance_tags"."instance_id" = "instances"."id");
