// Package connections owns users' OAuth connections to third-party
// providers (GitHub, Google, Slack, Notion and any configured OAuth 2.0
// server): the providers from configuration, the authorization-code flow
// with PKCE and a single-use state bound to the user and the redirect, the
// import of tokens obtained elsewhere, revocation (RFC 7009) on delete, and
// the token endpoint that agent workers call.
//
// Tokens are sealed with internal/secrets' box, each bound to the user, the
// connection and which token it is. The token endpoint refreshes at most
// once per expiry across every caller and instance: the state lives in the
// connection's row, the refresh runs holding its lock, re-reads it after
// taking the lock, and stores the rotated refresh token in the same
// transaction. A terminal answer from the provider marks the connection
// needs_reauth only if the stored refresh token is still the one refused;
// timeouts and 5xx never do. The package does not speak the protocol
// itself: golang.org/x/oauth2 does.
package connections
