-- Hand-written (issue 18): the active-runs gauge (internal/runs) counts the
-- unfinished runs of every user. The service role sees only the acting
-- user's rows (row-level security), so jarvis_active_runs() is the one
-- narrow way: SECURITY DEFINER, it runs as the owner role (BYPASSRLS) and
-- returns two counts, never a row, an id or a user. The search path is
-- pinned so a caller's objects cannot stand in for ours. It reads the
-- partial index agentrun_status (unfinished runs only), not the table.
-- On Citus the count reaches every shard: the only query of the service
-- that fans out, once per cache period of the gauge. The Citus suite makes
-- the service role's multi-shard queries errors
-- (citus.multi_task_query_log_level), so the function turns that off around
-- its count and back afterwards (a function-level SET of a citus.* setting
-- is refused on plain Postgres to a role that is not a superuser, and a SET
-- LOCAL in the body would outlive the call).
CREATE FUNCTION "jarvis_active_runs"(OUT pending bigint, OUT running bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  prev text;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
    prev := current_setting('citus.multi_task_query_log_level', true);
    PERFORM set_config('citus.multi_task_query_log_level', 'off', true);
  END IF;
  SELECT count(*) FILTER (WHERE r.status = 'pending'), count(*) FILTER (WHERE r.status = 'running')
    INTO pending, running
    FROM public.agent_runs r
    WHERE r.status IN ('pending', 'running');
  IF prev IS NOT NULL THEN
    PERFORM set_config('citus.multi_task_query_log_level', prev, true);
  END IF;
END
$$;
REVOKE ALL ON FUNCTION "jarvis_active_runs"() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION "jarvis_active_runs"() TO "jarvis_app";
