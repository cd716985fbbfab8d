-- Data backfill, written by hand (not planned by `jarvis migrate diff`):
-- every existing account gets its row in user_emails, the global e-mail
-- index that login now reads first (see ent/schema/user_email.go). Users
-- created from now on get theirs at registration, in the same transaction.
-- Row-level security does not apply: migrations run as the owner role,
-- which has BYPASSRLS.
INSERT INTO "user_emails" ("id", "created_at", "updated_at", "email", "user_id")
SELECT gen_random_uuid(), u.created_at, now(), u.email, u.id
FROM "users" u
WHERE NOT EXISTS (SELECT 1 FROM "user_emails" e WHERE e.user_id = u.id);
