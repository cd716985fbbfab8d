-- Function jarvis_set_local (internal/pgmigrate/citus.go).
CREATE OR REPLACE FUNCTION "jarvis_set_local"(name text, value text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
-- SET LOCAL name = value for the whitelisted settings of the service
-- (internal/pgmigrate.SetLocalSettings), so that Citus propagates it to the
-- workers of the transaction; a placeholder setting on plain Postgres.
BEGIN
  IF name <> ALL (ARRAY['app.current_user_id', 'app.lookup_email', 'app.lookup_token_hash', 'hnsw.ef_search', 'hnsw.iterative_scan', 'enable_sort', 'enable_bitmapscan', 'enable_seqscan', 'jit', 'plan_cache_mode']) THEN
    RAISE EXCEPTION 'jarvis_set_local: setting % is not allowed', name USING ERRCODE = '42501';
  END IF;
  SET LOCAL citus.propagate_set_commands = 'local';
  EXECUTE 'SET LOCAL ' || name || ' = ' || quote_literal(value);
END
$$;
REVOKE ALL ON FUNCTION "jarvis_set_local"(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION "jarvis_set_local"(text, text) TO "jarvis_app";
