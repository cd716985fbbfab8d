-- Modify "kg_relations" table
ALTER TABLE "kg_relations" DROP CONSTRAINT "kg_relations_kg_entities_outgoing";
-- Modify "kg_relations" table
ALTER TABLE "kg_relations" DROP CONSTRAINT "kg_relations_kg_entities_incoming";
-- Modify "llm_calls" table
ALTER TABLE "llm_calls" DROP CONSTRAINT "llm_calls_agent_runs_llm_calls";
-- Modify "messages" table
ALTER TABLE "messages" DROP CONSTRAINT "messages_agent_runs_messages";
-- Modify "refresh_tokens" table
ALTER TABLE "refresh_tokens" DROP CONSTRAINT "refresh_tokens_sessions_refresh_tokens";
-- Modify "tool_calls" table
ALTER TABLE "tool_calls" DROP CONSTRAINT "tool_calls_agent_runs_tool_calls";
-- Modify "user_secrets" table
ALTER TABLE "user_secrets" DROP CONSTRAINT "user_secrets_pkey", ADD PRIMARY KEY ("user_id", "id");
-- Modify "tool_permissions" table
ALTER TABLE "tool_permissions" DROP CONSTRAINT "tool_permissions_pkey", ADD PRIMARY KEY ("user_id", "id");
-- Modify "memories" table
ALTER TABLE "memories" DROP CONSTRAINT "memories_pkey", ADD PRIMARY KEY ("user_id", "id");
-- Modify "budgets" table
ALTER TABLE "budgets" DROP CONSTRAINT "budgets_pkey", ADD PRIMARY KEY ("user_id", "id");
-- Modify "kg_entities" table
ALTER TABLE "kg_entities" DROP CONSTRAINT "kg_entities_pkey", ADD PRIMARY KEY ("user_id", "id");
-- Modify "kg_relations" table
ALTER TABLE "kg_relations" DROP CONSTRAINT "kg_relations_target_id_same_owner", ADD CONSTRAINT "kg_relations_target_id_same_owner" FOREIGN KEY ("target_id", "user_id") REFERENCES "kg_entities" ("id", "user_id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "kg_relations" table
ALTER TABLE "kg_relations" DROP CONSTRAINT "kg_relations_pkey", ADD PRIMARY KEY ("user_id", "id");
-- Modify "kg_relations" table
ALTER TABLE "kg_relations" DROP CONSTRAINT "kg_relations_source_id_same_owner", ADD CONSTRAINT "kg_relations_source_id_same_owner" FOREIGN KEY ("source_id", "user_id") REFERENCES "kg_entities" ("id", "user_id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "agent_runs" table
ALTER TABLE "agent_runs" DROP CONSTRAINT "agent_runs_pkey", ADD PRIMARY KEY ("user_id", "id");
-- Modify "llm_calls" table
ALTER TABLE "llm_calls" DROP CONSTRAINT "llm_calls_pkey", ADD PRIMARY KEY ("user_id", "id");
-- Modify "llm_calls" table
ALTER TABLE "llm_calls" DROP CONSTRAINT "llm_calls_run_id_same_owner", ADD CONSTRAINT "llm_calls_run_id_same_owner" FOREIGN KEY ("run_id", "user_id") REFERENCES "agent_runs" ("id", "user_id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "messages" table
ALTER TABLE "messages" DROP CONSTRAINT "messages_pkey", ADD PRIMARY KEY ("user_id", "id");
-- Modify "messages" table
ALTER TABLE "messages" DROP CONSTRAINT "messages_run_id_same_owner", ADD CONSTRAINT "messages_run_id_same_owner" FOREIGN KEY ("run_id", "user_id") REFERENCES "agent_runs" ("id", "user_id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "sessions" table
ALTER TABLE "sessions" DROP CONSTRAINT "sessions_pkey", ADD PRIMARY KEY ("user_id", "id");
-- Modify "refresh_tokens" table
ALTER TABLE "refresh_tokens" DROP CONSTRAINT "refresh_tokens_pkey", ADD PRIMARY KEY ("user_id", "id");
-- Modify "refresh_tokens" table
ALTER TABLE "refresh_tokens" DROP CONSTRAINT "refresh_tokens_session_id_same_owner", ADD CONSTRAINT "refresh_tokens_session_id_same_owner" FOREIGN KEY ("session_id", "user_id") REFERENCES "sessions" ("id", "user_id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Drop index "refresh_tokens_token_hash_key" from table: "refresh_tokens"
DROP INDEX "refresh_tokens_token_hash_key";
-- Create index "refreshtoken_user_id_token_hash" to table: "refresh_tokens"
CREATE UNIQUE INDEX "refreshtoken_user_id_token_hash" ON "refresh_tokens" ("user_id", "token_hash");
-- Modify "tool_calls" table
ALTER TABLE "tool_calls" DROP CONSTRAINT "tool_calls_pkey", ADD PRIMARY KEY ("user_id", "id");
-- Modify "tool_calls" table
ALTER TABLE "tool_calls" DROP CONSTRAINT "tool_calls_run_id_same_owner", ADD CONSTRAINT "tool_calls_run_id_same_owner" FOREIGN KEY ("run_id", "user_id") REFERENCES "agent_runs" ("id", "user_id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Drop index "users_email_key" from table: "users"
DROP INDEX "users_email_key";
-- Create index "user_email" to table: "users"
CREATE INDEX "user_email" ON "users" ("email");
-- Create "user_emails" table
CREATE TABLE "user_emails" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "email" character varying NOT NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "user_emails_users_emails" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "user_emails_email_normalized" CHECK ((email)::text = lower(btrim((email)::text))));
-- Create index "user_emails_email_key" to table: "user_emails"
CREATE UNIQUE INDEX "user_emails_email_key" ON "user_emails" ("email");
-- Create index "useremail_user_id_id" to table: "user_emails"
CREATE UNIQUE INDEX "useremail_user_id_id" ON "user_emails" ("user_id", "id");
-- Row-level security on "user_emails": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "user_emails" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "user_emails" FORCE ROW LEVEL SECURITY;
CREATE POLICY "user_emails_owner" ON "user_emails" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Narrow lookup on "user_emails" before identity is known: rows whose "email" equals app.lookup_email, read only.
CREATE POLICY "user_emails_lookup" ON "user_emails" FOR SELECT USING ("email" = NULLIF(current_setting('app.lookup_email', true), ''));
-- Function jarvis_set_local (internal/pgmigrate/citus.go).
CREATE OR REPLACE FUNCTION "jarvis_set_local"(name text, value text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
-- SET LOCAL name = value for the whitelisted settings of the service
-- (internal/pgmigrate.SetLocalSettings), so that Citus propagates it to the
-- workers of the transaction; a placeholder setting on plain Postgres.
BEGIN
  IF name <> ALL (ARRAY['app.current_user_id', 'app.lookup_email', 'app.lookup_token_hash', 'hnsw.ef_search', 'hnsw.iterative_scan', 'enable_sort', 'jit', 'plan_cache_mode']) THEN
    RAISE EXCEPTION 'jarvis_set_local: setting % is not allowed', name USING ERRCODE = '42501';
  END IF;
  SET LOCAL citus.propagate_set_commands = 'local';
  EXECUTE 'SET LOCAL ' || name || ' = ' || quote_literal(value);
END
$$;
REVOKE ALL ON FUNCTION "jarvis_set_local"(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION "jarvis_set_local"(text, text) TO "jarvis_app";
-- Function jarvis_identify (internal/pgmigrate/citus.go).
CREATE OR REPLACE FUNCTION "jarvis_identify"(uid uuid, sid uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
-- Sets the transaction's acting user (app.current_user_id, transaction-local,
-- through jarvis_set_local so it reaches Citus workers too) and, for a
-- request's session, checks in the same statement that the session is live
-- and its user active, raising JV401 otherwise. The check names the user,
-- so on Citus it runs on that user's shard.
BEGIN
  PERFORM public.jarvis_set_local('app.current_user_id', uid::text);
  IF sid IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM public.sessions s JOIN public.users u ON u.id = s.user_id
    WHERE s.user_id = uid AND s.id = sid AND u.id = uid AND s.revoked_at IS NULL AND u.status = 'active'
  ) THEN
    RAISE EXCEPTION 'session is no longer valid' USING ERRCODE = 'JV401';
  END IF;
END
$$;
REVOKE ALL ON FUNCTION "jarvis_identify"(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION "jarvis_identify"(uuid, uuid) TO "jarvis_app";
-- Function jarvis_distribute (internal/pgmigrate/citus.go).
CREATE OR REPLACE FUNCTION "jarvis_distribute"(tbl regclass, col text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
-- On a database with the citus extension: distributes tbl by col,
-- co-located with users (col NULL: a reference table, copied to every node;
-- its keys to distributed tables are dropped, which Citus cannot keep). A
-- table already distributed is left as it is. On plain Postgres: nothing.
DECLARE
  fk record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = tbl) THEN
    RETURN;
  END IF;
  -- DDL on tables this transaction has created or changed must not go
  -- over several connections.
  SET LOCAL citus.multi_shard_modify_mode = 'sequential';
  IF col IS NULL THEN
    FOR fk IN SELECT conname FROM pg_catalog.pg_constraint WHERE conrelid = tbl AND contype = 'f' LOOP
      EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', tbl, fk.conname);
    END LOOP;
    PERFORM create_reference_table(tbl);
  ELSIF tbl = 'public.users'::regclass THEN
    PERFORM create_distributed_table(tbl, col);
  ELSE
    PERFORM create_distributed_table(tbl, col, colocate_with => 'users');
  END IF;
END
$$;
REVOKE ALL ON FUNCTION "jarvis_distribute"(regclass, text) FROM PUBLIC;
-- Citus: distribute per-user tables by user, co-located with users; reference tables everywhere (a no-op on plain Postgres).
SELECT jarvis_distribute('users', 'id');
SELECT jarvis_distribute('agent_runs', 'user_id');
SELECT jarvis_distribute('budgets', 'user_id');
SELECT jarvis_distribute('kg_entities', 'user_id');
SELECT jarvis_distribute('kg_relations', 'user_id');
SELECT jarvis_distribute('llm_calls', 'user_id');
SELECT jarvis_distribute('memories', 'user_id');
SELECT jarvis_distribute('messages', 'user_id');
SELECT jarvis_distribute('sessions', 'user_id');
SELECT jarvis_distribute('refresh_tokens', 'user_id');
SELECT jarvis_distribute('tool_calls', 'user_id');
SELECT jarvis_distribute('tool_permissions', 'user_id');
SELECT jarvis_distribute('user_secrets', 'user_id');
SELECT jarvis_distribute('user_emails', NULL);
