-- Create "audit_events" table
CREATE TABLE "audit_events" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "user_id" uuid NOT NULL, "type" character varying NOT NULL, "actor" character varying NOT NULL, "ip" character varying NULL, "user_agent" character varying NULL, "correlation_id" character varying NULL, "trace_id" character varying NULL, "reason" character varying NULL, "data" jsonb NOT NULL, PRIMARY KEY ("user_id", "id"));
-- Create index "auditevent_created_at" to table: "audit_events"
CREATE INDEX "auditevent_created_at" ON "audit_events" ("created_at");
-- Create index "auditevent_user_id_id" to table: "audit_events"
CREATE UNIQUE INDEX "auditevent_user_id_id" ON "audit_events" ("user_id", "id");
-- Create index "auditevent_user_id_type_id" to table: "audit_events"
CREATE INDEX "auditevent_user_id_type_id" ON "audit_events" ("user_id", "type", "id");
-- Row-level security on "audit_events": a session sees and writes only the rows of app.current_user_id.
ALTER TABLE "audit_events" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "audit_events" FORCE ROW LEVEL SECURITY;
CREATE POLICY "audit_events_owner" ON "audit_events" USING ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid) WITH CHECK ("user_id" = NULLIF(current_setting('app.current_user_id', true), '')::uuid);
-- Citus: distribute per-user tables by user, co-located with users; reference tables everywhere (a no-op on plain Postgres).
SELECT jarvis_distribute('audit_events', 'user_id');
