-- Create "oauth_connections" table
CREATE TABLE "oauth_connections" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "provider" character varying NOT NULL, "account" character varying NOT NULL, "scopes" jsonb NOT NULL, "access_token" bytea NOT NULL, "refresh_token" bytea NULL, "token_type" character varying NOT NULL DEFAULT 'Bearer', "key_version" bigint NOT NULL, "token_version" bigint NOT NULL DEFAULT 1, "expires_at" timestamptz NULL, "status" character varying NOT NULL DEFAULT 'active', "last_refreshed_at" timestamptz NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("user_id", "id"), CONSTRAINT "oauth_connections_users_oauth_connections" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "oauthconnection_user_id_id" to table: "oauth_connections"
CREATE UNIQUE INDEX "oauthconnection_user_id_id" ON "oauth_connections" ("user_id", "id");
-- Create index "oauthconnection_user_id_provider_account" to table: "oauth_connections"
CREATE UNIQUE INDEX "oauthconnection_user_id_provider_account" ON "oauth_connections" ("user_id", "provider", "account");
-- Create "oauth_states" table
CREATE TABLE "oauth_states" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "provider" character varying NOT NULL, "state_hash" bytea NOT NULL, "verifier" bytea NOT NULL, "key_version" bigint NOT NULL, "redirect_uri" character varying NOT NULL, "scopes" jsonb NOT NULL, "expires_at" timestamptz NOT NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("user_id", "id"), CONSTRAINT "oauth_states_users_oauth_states" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "oauthstate_user_id_id" to table: "oauth_states"
CREATE UNIQUE INDEX "oauthstate_user_id_id" ON "oauth_states" ("user_id", "id");
-- Create index "oauthstate_user_id_state_hash" to table: "oauth_states"
CREATE UNIQUE INDEX "oauthstate_user_id_state_hash" ON "oauth_states" ("user_id", "state_hash");
-- Row-level security on "oauth_connections": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "oauth_connections" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "oauth_connections" FORCE ROW LEVEL SECURITY;
CREATE POLICY "oauth_connections_owner" ON "oauth_connections" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Row-level security on "oauth_states": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "oauth_states" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "oauth_states" FORCE ROW LEVEL SECURITY;
CREATE POLICY "oauth_states_owner" ON "oauth_states" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Citus: distribute per-user tables by user, co-located with users; reference tables everywhere (a no-op on plain Postgres).
SELECT jarvis_distribute('oauth_connections', 'user_id');
SELECT jarvis_distribute('oauth_states', 'user_id');
