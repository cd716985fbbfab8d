-- Drop index "agentrun_user_id_status" from table: "agent_runs"
DROP INDEX "agentrun_user_id_status";
-- Modify "agent_runs" table
ALTER TABLE "agent_runs" ADD COLUMN "cached_input_tokens" bigint NOT NULL DEFAULT 0, ADD COLUMN "reasoning_tokens" bigint NOT NULL DEFAULT 0, ADD COLUMN "unpriced_calls" bigint NOT NULL DEFAULT 0, ADD COLUMN "warning" text NULL;
-- Create index "agentrun_user_id_status_id" to table: "agent_runs"
CREATE INDEX "agentrun_user_id_status_id" ON "agent_runs" ("user_id", "status", "id");
-- Drop index "budget_user_id_period" from table: "budgets"
DROP INDEX "budget_user_id_period";
-- Modify "budgets" table
ALTER TABLE "budgets" ALTER COLUMN "period" DROP NOT NULL, ADD COLUMN "soft_limit_usd" numeric(20,10) NULL;
-- Create index "budget_user_id" to table: "budgets"
CREATE UNIQUE INDEX "budget_user_id" ON "budgets" ("user_id");
-- Modify "llm_calls" table
ALTER TABLE "llm_calls" ALTER COLUMN "input_cost" DROP NOT NULL, ALTER COLUMN "cached_input_cost" DROP NOT NULL, ALTER COLUMN "output_cost" DROP NOT NULL, ALTER COLUMN "reasoning_cost" DROP NOT NULL, ALTER COLUMN "total_cost" DROP NOT NULL;
-- Create index "llmcall_user_id_created_at" to table: "llm_calls"
CREATE INDEX "llmcall_user_id_created_at" ON "llm_calls" ("user_id", "created_at");
-- Modify "tool_calls" table
ALTER TABLE "tool_calls" ADD COLUMN "completed_at" timestamptz NULL;
