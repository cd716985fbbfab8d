-- Modify "refresh_tokens" table
ALTER TABLE "refresh_tokens" ADD COLUMN "rotated_at" timestamptz NULL;
-- Modify "user_secrets" table
ALTER TABLE "user_secrets" ADD COLUMN "last4" character varying NULL;
-- Narrow lookup on "refresh_tokens" before identity is known: rows whose "token_hash" equals app.lookup_token_hash, read only.
CREATE POLICY "refresh_tokens_lookup" ON "refresh_tokens" FOR SELECT USING ("token_hash" = decode(NULLIF(current_setting('app.lookup_token_hash', true), ''), 'hex'));
-- Narrow lookup on "users" before identity is known: rows whose "email" equals app.lookup_email, read only.
CREATE POLICY "users_lookup" ON "users" FOR SELECT USING ("email" = NULLIF(current_setting('app.lookup_email', true), ''));
