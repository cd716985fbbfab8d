-- Drop index "budget_user_id_id" from table: "budgets"
DROP INDEX "budget_user_id_id";
-- Create index "budget_user_id_id" to table: "budgets"
CREATE UNIQUE INDEX "budget_user_id_id" ON "budgets" ("user_id", "id");
-- Drop index "kgentity_user_id_id" from table: "kg_entities"
DROP INDEX "kgentity_user_id_id";
-- Create index "kgentity_user_id_id" to table: "kg_entities"
CREATE UNIQUE INDEX "kgentity_user_id_id" ON "kg_entities" ("user_id", "id");
-- Drop index "memory_user_id_id" from table: "memories"
DROP INDEX "memory_user_id_id";
-- Create index "memory_user_id_id" to table: "memories"
CREATE UNIQUE INDEX "memory_user_id_id" ON "memories" ("user_id", "id");
-- Drop index "toolpermission_user_id_id" from table: "tool_permissions"
DROP INDEX "toolpermission_user_id_id";
-- Create index "toolpermission_user_id_id" to table: "tool_permissions"
CREATE UNIQUE INDEX "toolpermission_user_id_id" ON "tool_permissions" ("user_id", "id");
-- Drop index "usersecret_user_id_id" from table: "user_secrets"
DROP INDEX "usersecret_user_id_id";
-- Create index "usersecret_user_id_id" to table: "user_secrets"
CREATE UNIQUE INDEX "usersecret_user_id_id" ON "user_secrets" ("user_id", "id");
-- Drop index "kgrelation_user_id_id" from table: "kg_relations"
DROP INDEX "kgrelation_user_id_id";
-- Modify "kg_relations" table
ALTER TABLE "kg_relations" ADD CONSTRAINT "kg_relations_source_id_same_owner" FOREIGN KEY ("source_id", "user_id") REFERENCES "kg_entities" ("id", "user_id") ON UPDATE NO ACTION ON DELETE NO ACTION, ADD CONSTRAINT "kg_relations_target_id_same_owner" FOREIGN KEY ("target_id", "user_id") REFERENCES "kg_entities" ("id", "user_id") ON UPDATE NO ACTION ON DELETE NO ACTION;
-- Create index "kgrelation_user_id_id" to table: "kg_relations"
CREATE UNIQUE INDEX "kgrelation_user_id_id" ON "kg_relations" ("user_id", "id");
-- Drop index "agentrun_user_id_id" from table: "agent_runs"
DROP INDEX "agentrun_user_id_id";
-- Create index "agentrun_user_id_id" to table: "agent_runs"
CREATE UNIQUE INDEX "agentrun_user_id_id" ON "agent_runs" ("user_id", "id");
-- Drop index "llmcall_user_id_id" from table: "llm_calls"
DROP INDEX "llmcall_user_id_id";
-- Modify "llm_calls" table
ALTER TABLE "llm_calls" ADD CONSTRAINT "llm_calls_run_id_same_owner" FOREIGN KEY ("run_id", "user_id") REFERENCES "agent_runs" ("id", "user_id") ON UPDATE NO ACTION ON DELETE NO ACTION;
-- Create index "llmcall_user_id_id" to table: "llm_calls"
CREATE UNIQUE INDEX "llmcall_user_id_id" ON "llm_calls" ("user_id", "id");
-- Drop index "message_user_id_id" from table: "messages"
DROP INDEX "message_user_id_id";
-- Modify "messages" table
ALTER TABLE "messages" ADD CONSTRAINT "messages_run_id_same_owner" FOREIGN KEY ("run_id", "user_id") REFERENCES "agent_runs" ("id", "user_id") ON UPDATE NO ACTION ON DELETE NO ACTION;
-- Create index "message_user_id_id" to table: "messages"
CREATE UNIQUE INDEX "message_user_id_id" ON "messages" ("user_id", "id");
-- Drop index "session_user_id_id" from table: "sessions"
DROP INDEX "session_user_id_id";
-- Create index "session_user_id_id" to table: "sessions"
CREATE UNIQUE INDEX "session_user_id_id" ON "sessions" ("user_id", "id");
-- Drop index "refreshtoken_user_id_id" from table: "refresh_tokens"
DROP INDEX "refreshtoken_user_id_id";
-- Modify "refresh_tokens" table
ALTER TABLE "refresh_tokens" ADD CONSTRAINT "refresh_tokens_session_id_same_owner" FOREIGN KEY ("session_id", "user_id") REFERENCES "sessions" ("id", "user_id") ON UPDATE NO ACTION ON DELETE NO ACTION;
-- Create index "refreshtoken_user_id_id" to table: "refresh_tokens"
CREATE UNIQUE INDEX "refreshtoken_user_id_id" ON "refresh_tokens" ("user_id", "id");
-- Drop index "toolcall_user_id_id" from table: "tool_calls"
DROP INDEX "toolcall_user_id_id";
-- Modify "tool_calls" table
ALTER TABLE "tool_calls" ADD CONSTRAINT "tool_calls_run_id_same_owner" FOREIGN KEY ("run_id", "user_id") REFERENCES "agent_runs" ("id", "user_id") ON UPDATE NO ACTION ON DELETE NO ACTION;
-- Create index "toolcall_user_id_id" to table: "tool_calls"
CREATE UNIQUE INDEX "toolcall_user_id_id" ON "tool_calls" ("user_id", "id");
