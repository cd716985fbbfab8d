-- Hand-written (issue 20): a user erasing their own account (DELETE /v1/me)
-- runs as the service role, which may not delete audit events (they are
-- append-only for it). jarvis_erase_audit_events(uid) is the one narrow way:
-- it deletes the events of uid only when uid is the transaction's acting
-- user (app.current_user_id) and the account is already gone from the
-- database, so it serves erasure and nothing else (never the nil user's
-- events, the failed logins of unknown accounts). It keeps the erasure's
-- tombstone (account_erased). On Citus the service role calls it in a
-- transaction after the erasure's: a placement modified by one role cannot
-- be queried by another in the same transaction. SECURITY DEFINER: it runs
-- as the owner role; the search path is pinned so a caller's objects cannot
-- stand in for ours.
CREATE FUNCTION "jarvis_erase_audit_events"(uid uuid) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  n bigint;
BEGIN
  IF uid IS NULL OR uid = '00000000-0000-0000-0000-000000000000'::uuid
     OR uid IS DISTINCT FROM NULLIF(current_setting('app.current_user_id', true), '')::uuid THEN
    RAISE EXCEPTION 'jarvis_erase_audit_events: not the acting user' USING ERRCODE = '42501';
  END IF;
  IF EXISTS (SELECT 1 FROM public.users WHERE id = uid) THEN
    RAISE EXCEPTION 'jarvis_erase_audit_events: the account still exists' USING ERRCODE = '42501';
  END IF;
  DELETE FROM public.audit_events WHERE user_id = uid AND type <> 'account_erased';
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
REVOKE ALL ON FUNCTION "jarvis_erase_audit_events"(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION "jarvis_erase_audit_events"(uuid) TO "jarvis_app";
