-- pgvector: embedding columns and HNSW indexes need the "vector" type.
CREATE EXTENSION IF NOT EXISTS vector;
-- The service's role: no login, no superuser, no BYPASSRLS; DATABASE_URL's login role is a member.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'jarvis_app') THEN
    CREATE ROLE "jarvis_app" NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- created concurrently by another database's migration
END
$$;
GRANT USAGE ON SCHEMA public TO "jarvis_app";
-- Tables and sequences this owner creates from now on are usable by the service.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "jarvis_app";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO "jarvis_app";
-- Create "users" table
CREATE TABLE "users" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "email" character varying NOT NULL, "password_hash" character varying NOT NULL, "display_name" character varying NULL, "status" character varying NOT NULL DEFAULT 'active', "last_login_at" timestamptz NULL, PRIMARY KEY ("id"), CONSTRAINT "users_email_normalized" CHECK ((email)::text = lower(btrim((email)::text))));
-- Create index "users_email_key" to table: "users"
CREATE UNIQUE INDEX "users_email_key" ON "users" ("email");
-- Create "agent_runs" table
CREATE TABLE "agent_runs" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "status" character varying NOT NULL DEFAULT 'pending', "input_tokens" bigint NOT NULL DEFAULT 0, "output_tokens" bigint NOT NULL DEFAULT 0, "total_tokens" bigint NOT NULL DEFAULT 0, "total_cost" numeric(20,10) NOT NULL, "error" text NULL, "started_at" timestamptz NULL, "completed_at" timestamptz NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "agent_runs_users_runs" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "agentrun_user_id_id" to table: "agent_runs"
CREATE INDEX "agentrun_user_id_id" ON "agent_runs" ("user_id", "id");
-- Create index "agentrun_user_id_status" to table: "agent_runs"
CREATE INDEX "agentrun_user_id_status" ON "agent_runs" ("user_id", "status");
-- Create "budgets" table
CREATE TABLE "budgets" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "period" character varying NOT NULL, "limit_usd" numeric(20,10) NOT NULL, "hard" boolean NOT NULL DEFAULT true, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "budgets_users_budgets" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "budget_user_id_id" to table: "budgets"
CREATE INDEX "budget_user_id_id" ON "budgets" ("user_id", "id");
-- Create index "budget_user_id_period" to table: "budgets"
CREATE UNIQUE INDEX "budget_user_id_period" ON "budgets" ("user_id", "period");
-- Create "kg_entities" table
CREATE TABLE "kg_entities" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "type" character varying NOT NULL, "name" character varying NOT NULL, "properties" jsonb NOT NULL, "embedding" vector(1536) NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "kg_entities_users_kg_entities" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "kgentity_embedding" to table: "kg_entities"
CREATE INDEX "kgentity_embedding" ON "kg_entities" USING hnsw ("embedding" vector_cosine_ops);
-- Create index "kgentity_user_id_id" to table: "kg_entities"
CREATE INDEX "kgentity_user_id_id" ON "kg_entities" ("user_id", "id");
-- Create index "kgentity_user_id_type_name" to table: "kg_entities"
CREATE UNIQUE INDEX "kgentity_user_id_type_name" ON "kg_entities" ("user_id", "type", "name");
-- Create "kg_relations" table
CREATE TABLE "kg_relations" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "type" character varying NOT NULL, "properties" jsonb NOT NULL, "source_id" uuid NOT NULL, "target_id" uuid NOT NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "kg_relations_kg_entities_incoming" FOREIGN KEY ("target_id") REFERENCES "kg_entities" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "kg_relations_kg_entities_outgoing" FOREIGN KEY ("source_id") REFERENCES "kg_entities" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "kg_relations_users_kg_relations" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "kgrelation_user_id_id" to table: "kg_relations"
CREATE INDEX "kgrelation_user_id_id" ON "kg_relations" ("user_id", "id");
-- Create index "kgrelation_user_id_source_id_target_id_type" to table: "kg_relations"
CREATE UNIQUE INDEX "kgrelation_user_id_source_id_target_id_type" ON "kg_relations" ("user_id", "source_id", "target_id", "type");
-- Create index "kgrelation_user_id_target_id" to table: "kg_relations"
CREATE INDEX "kgrelation_user_id_target_id" ON "kg_relations" ("user_id", "target_id");
-- Create "llm_calls" table
CREATE TABLE "llm_calls" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "provider" character varying NOT NULL, "model" character varying NOT NULL, "input_tokens" bigint NOT NULL DEFAULT 0, "cached_input_tokens" bigint NOT NULL DEFAULT 0, "output_tokens" bigint NOT NULL DEFAULT 0, "reasoning_tokens" bigint NOT NULL DEFAULT 0, "input_cost" numeric(20,10) NOT NULL, "cached_input_cost" numeric(20,10) NOT NULL, "output_cost" numeric(20,10) NOT NULL, "reasoning_cost" numeric(20,10) NOT NULL, "total_cost" numeric(20,10) NOT NULL, "price_version" character varying NULL, "run_id" uuid NOT NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "llm_calls_agent_runs_llm_calls" FOREIGN KEY ("run_id") REFERENCES "agent_runs" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "llm_calls_users_llm_calls" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "llmcall_user_id_id" to table: "llm_calls"
CREATE INDEX "llmcall_user_id_id" ON "llm_calls" ("user_id", "id");
-- Create index "llmcall_user_id_run_id_id" to table: "llm_calls"
CREATE INDEX "llmcall_user_id_run_id_id" ON "llm_calls" ("user_id", "run_id", "id");
-- Create "memories" table
CREATE TABLE "memories" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "content" text NOT NULL, "embedding" vector(1536) NOT NULL, "embedding_model" character varying NOT NULL, "metadata" jsonb NOT NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "memories_users_memories" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "memory_embedding" to table: "memories"
CREATE INDEX "memory_embedding" ON "memories" USING hnsw ("embedding" vector_cosine_ops);
-- Create index "memory_user_id_id" to table: "memories"
CREATE INDEX "memory_user_id_id" ON "memories" ("user_id", "id");
-- Create "messages" table
CREATE TABLE "messages" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "role" character varying NOT NULL, "content" text NOT NULL, "tool_call_id" character varying NULL, "run_id" uuid NOT NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "messages_agent_runs_messages" FOREIGN KEY ("run_id") REFERENCES "agent_runs" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "messages_users_messages" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "message_user_id_id" to table: "messages"
CREATE INDEX "message_user_id_id" ON "messages" ("user_id", "id");
-- Create index "message_user_id_run_id_id" to table: "messages"
CREATE INDEX "message_user_id_run_id_id" ON "messages" ("user_id", "run_id", "id");
-- Create "sessions" table
CREATE TABLE "sessions" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "user_agent" character varying NULL, "ip" character varying NULL, "last_used_at" timestamptz NULL, "revoked_at" timestamptz NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "sessions_users_sessions" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "session_user_id_id" to table: "sessions"
CREATE INDEX "session_user_id_id" ON "sessions" ("user_id", "id");
-- Create index "session_user_id_revoked_at" to table: "sessions"
CREATE INDEX "session_user_id_revoked_at" ON "sessions" ("user_id", "revoked_at");
-- Create "refresh_tokens" table
CREATE TABLE "refresh_tokens" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "token_hash" bytea NOT NULL, "expires_at" timestamptz NOT NULL, "revoked_at" timestamptz NULL, "replaced_by" uuid NULL, "session_id" uuid NOT NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "refresh_tokens_sessions_refresh_tokens" FOREIGN KEY ("session_id") REFERENCES "sessions" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "refresh_tokens_users_refresh_tokens" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "refresh_tokens_token_hash_key" to table: "refresh_tokens"
CREATE UNIQUE INDEX "refresh_tokens_token_hash_key" ON "refresh_tokens" ("token_hash");
-- Create index "refreshtoken_user_id_id" to table: "refresh_tokens"
CREATE INDEX "refreshtoken_user_id_id" ON "refresh_tokens" ("user_id", "id");
-- Create index "refreshtoken_user_id_session_id" to table: "refresh_tokens"
CREATE INDEX "refreshtoken_user_id_session_id" ON "refresh_tokens" ("user_id", "session_id");
-- Create "tool_calls" table
CREATE TABLE "tool_calls" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "tool_id" character varying NOT NULL, "input" jsonb NOT NULL, "output" jsonb NULL, "status" character varying NOT NULL DEFAULT 'pending', "error" text NULL, "duration_ms" bigint NULL, "run_id" uuid NOT NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "tool_calls_agent_runs_tool_calls" FOREIGN KEY ("run_id") REFERENCES "agent_runs" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "tool_calls_users_tool_calls" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "toolcall_user_id_id" to table: "tool_calls"
CREATE INDEX "toolcall_user_id_id" ON "tool_calls" ("user_id", "id");
-- Create index "toolcall_user_id_run_id_id" to table: "tool_calls"
CREATE INDEX "toolcall_user_id_run_id_id" ON "tool_calls" ("user_id", "run_id", "id");
-- Create "tool_permissions" table
CREATE TABLE "tool_permissions" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "tool_id" character varying NOT NULL, "effect" character varying NOT NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "tool_permissions_users_tool_permissions" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "toolpermission_user_id_id" to table: "tool_permissions"
CREATE INDEX "toolpermission_user_id_id" ON "tool_permissions" ("user_id", "id");
-- Create index "toolpermission_user_id_tool_id" to table: "tool_permissions"
CREATE UNIQUE INDEX "toolpermission_user_id_tool_id" ON "tool_permissions" ("user_id", "tool_id");
-- Create "user_secrets" table
CREATE TABLE "user_secrets" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "provider" character varying NOT NULL, "name" character varying NOT NULL, "encrypted_value" bytea NOT NULL, "nonce" bytea NOT NULL, "auth_tag" bytea NOT NULL, "key_version" bigint NOT NULL, "last_used_at" timestamptz NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "user_secrets_users_secrets" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "usersecret_user_id_id" to table: "user_secrets"
CREATE INDEX "usersecret_user_id_id" ON "user_secrets" ("user_id", "id");
-- Create index "usersecret_user_id_provider_name" to table: "user_secrets"
CREATE UNIQUE INDEX "usersecret_user_id_provider_name" ON "user_secrets" ("user_id", "provider", "name");
-- Row-level security on "agent_runs": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "agent_runs" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "agent_runs" FORCE ROW LEVEL SECURITY;
CREATE POLICY "agent_runs_owner" ON "agent_runs" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Row-level security on "budgets": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "budgets" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "budgets" FORCE ROW LEVEL SECURITY;
CREATE POLICY "budgets_owner" ON "budgets" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Row-level security on "kg_entities": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "kg_entities" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "kg_entities" FORCE ROW LEVEL SECURITY;
CREATE POLICY "kg_entities_owner" ON "kg_entities" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Row-level security on "kg_relations": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "kg_relations" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "kg_relations" FORCE ROW LEVEL SECURITY;
CREATE POLICY "kg_relations_owner" ON "kg_relations" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Row-level security on "llm_calls": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "llm_calls" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "llm_calls" FORCE ROW LEVEL SECURITY;
CREATE POLICY "llm_calls_owner" ON "llm_calls" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Row-level security on "memories": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "memories" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "memories" FORCE ROW LEVEL SECURITY;
CREATE POLICY "memories_owner" ON "memories" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Row-level security on "messages": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "messages" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "messages" FORCE ROW LEVEL SECURITY;
CREATE POLICY "messages_owner" ON "messages" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Row-level security on "refresh_tokens": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "refresh_tokens" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "refresh_tokens" FORCE ROW LEVEL SECURITY;
CREATE POLICY "refresh_tokens_owner" ON "refresh_tokens" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Row-level security on "sessions": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "sessions" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "sessions" FORCE ROW LEVEL SECURITY;
CREATE POLICY "sessions_owner" ON "sessions" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Row-level security on "tool_calls": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "tool_calls" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "tool_calls" FORCE ROW LEVEL SECURITY;
CREATE POLICY "tool_calls_owner" ON "tool_calls" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Row-level security on "tool_permissions": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "tool_permissions" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "tool_permissions" FORCE ROW LEVEL SECURITY;
CREATE POLICY "tool_permissions_owner" ON "tool_permissions" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Row-level security on "user_secrets": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "user_secrets" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "user_secrets" FORCE ROW LEVEL SECURITY;
CREATE POLICY "user_secrets_owner" ON "user_secrets" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Row-level security on "users": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "users" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "users" FORCE ROW LEVEL SECURITY;
CREATE POLICY "users_owner" ON "users" USING ("id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
