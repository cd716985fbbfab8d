package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/internal/auth/viewer"
)

// TestRefreshTokensCarryTheirUser: a token (and its successor) names its
// user, so refresh is routed to the user's rows without a lookup over every
// user (one shard on Citus); a prefix naming someone else makes the token
// unknown, not another user's.
func TestRefreshTokensCarryTheirUser(t *testing.T) {
	t.Parallel()
	f := newService(t)
	ctx := context.Background()
	tok, err := f.svc.Register(ctx, "route@example.com", pw, "", Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if owner, ok := tokenOwner(tok.RefreshToken); !ok || owner != tok.UserID {
		t.Fatalf("token owner = %v, %v; want %v", owner, ok, tok.UserID)
	}
	other, err := f.svc.Register(ctx, "other@example.com", pw, "", Meta{})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, _ := strings.Cut(tok.RefreshToken, ".")
	if _, err := f.svc.Refresh(ctx, tokenPrefix(other.UserID)+secret, Meta{}); err != ErrInvalidRefresh {
		t.Fatalf("token with another user's prefix: err = %v, want ErrInvalidRefresh", err)
	}
	next, err := f.svc.Refresh(ctx, tok.RefreshToken, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if owner, ok := tokenOwner(next.RefreshToken); !ok || owner != tok.UserID {
		t.Fatalf("successor owner = %v, %v; want %v", owner, ok, tok.UserID)
	}
}

// TestLegacyRefreshTokensStillWork: a token issued before tokens carried
// their user (a bare secret) is still found, by its hash, and rotated into
// one that carries the user.
func TestLegacyRefreshTokensStillWork(t *testing.T) {
	t.Parallel()
	f := newService(t)
	ctx := context.Background()
	tok, err := f.svc.Register(ctx, "legacy@example.com", pw, "", Meta{})
	if err != nil {
		t.Fatal(err)
	}
	legacy := "bare-legacy-secret-0123456789abcdefghijklmnop"
	c := f.d.OwnerClient(t)
	if err := c.RefreshToken.Create().SetUserID(tok.UserID).SetSessionID(tok.SessionID).
		SetTokenHash(hashToken(legacy)).SetExpiresAt(time.Now().Add(time.Hour)).Exec(viewer.NewContext(ctx, viewer.System())); err != nil {
		t.Fatal(err)
	}
	if _, ok := tokenOwner(legacy); ok {
		t.Fatal("a bare secret parsed as carrying a user")
	}
	next, err := f.svc.Refresh(ctx, legacy, Meta{})
	if err != nil {
		t.Fatalf("legacy refresh: %v", err)
	}
	if owner, ok := tokenOwner(next.RefreshToken); !ok || owner != tok.UserID || next.UserID != tok.UserID {
		t.Fatalf("legacy successor owner = %v, %v; want %v", owner, ok, tok.UserID)
	}
	if _, ok := tokenOwner("!!!." + legacy); ok {
		t.Fatal("a malformed prefix parsed as a user")
	}
}
