-- Modify "agent_runs" table
ALTER TABLE "agent_runs" ADD COLUMN "name" character varying NULL, ADD COLUMN "input" jsonb NULL, ADD COLUMN "output" jsonb NULL, ADD COLUMN "metadata" jsonb NOT NULL DEFAULT '{}', ADD COLUMN "tags" jsonb NOT NULL DEFAULT '[]', ADD COLUMN "thread_id" character varying NULL, ADD COLUMN "parent_run_id" uuid NULL;
-- Create index "agentrun_user_id_name_id" to table: "agent_runs"
CREATE INDEX "agentrun_user_id_name_id" ON "agent_runs" ("user_id", "name", "id");
-- Create index "agentrun_user_id_parent_run_id_id" to table: "agent_runs"
CREATE INDEX "agentrun_user_id_parent_run_id_id" ON "agent_runs" ("user_id", "parent_run_id", "id");
-- Create index "agentrun_user_id_thread_id_id" to table: "agent_runs"
CREATE INDEX "agentrun_user_id_thread_id_id" ON "agent_runs" ("user_id", "thread_id", "id");
-- Modify "agent_runs" table
ALTER TABLE "agent_runs" ADD CONSTRAINT "agent_runs_parent_run_id_same_owner" FOREIGN KEY ("parent_run_id", "user_id") REFERENCES "agent_runs" ("id", "user_id") ON UPDATE NO ACTION ON DELETE CASCADE;
