-- Create index "agentrun_status" to table: "agent_runs"
CREATE INDEX "agentrun_status" ON "agent_runs" ("status") WHERE ((status)::text = ANY (ARRAY[('pending'::character varying)::text, ('running'::character varying)::text]));
