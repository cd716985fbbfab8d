-- jarvis_identify(user, session) starts every unit of work of a user
-- (internal/db): it sets the transaction's acting user (app.current_user_id,
-- transaction-local) and, for a request's session, checks in the same
-- statement that the session is live and its user active, raising JV401
-- otherwise. One statement, so it rides in the pipeline with BEGIN and the
-- work's first query; raising, so that query never runs for a dead session.
-- SECURITY INVOKER: the check reads sessions under row-level security, as
-- the user it has just set.
CREATE FUNCTION "jarvis_identify"("uid" uuid, "sid" uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
BEGIN
  PERFORM pg_catalog.set_config('app.current_user_id', uid::text, true);
  IF sid IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM public.sessions s JOIN public.users u ON u.id = s.user_id
    WHERE s.id = sid AND s.user_id = uid AND s.revoked_at IS NULL AND u.status = 'active'
  ) THEN
    RAISE EXCEPTION 'session is no longer valid' USING ERRCODE = 'JV401';
  END IF;
END
$$;
REVOKE ALL ON FUNCTION "jarvis_identify"(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION "jarvis_identify"(uuid, uuid) TO "jarvis_app";
