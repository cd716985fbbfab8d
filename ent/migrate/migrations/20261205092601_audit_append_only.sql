-- Hand-written (issue 20): the audit log is append-only for the service.
-- Its role may insert and read its own user's events (row-level security,
-- audit_events_owner) and never change or remove one; only the owner role
-- (admin commands: retention) deletes events.
REVOKE UPDATE, DELETE, TRUNCATE ON TABLE "audit_events" FROM "jarvis_app";
