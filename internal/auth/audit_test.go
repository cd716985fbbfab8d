package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent/auditevent"
	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
)

// Every sign-in event lands in the audit log with the client, and none
// carries the password or a token.
func TestAuthEventsAreAudited(t *testing.T) {
	t.Parallel()
	f := newService(t)
	ctx := api.WithClient(context.Background(), api.Client{IP: "198.51.100.4", UserAgent: "ua/1"})
	tok, err := f.svc.Register(ctx, "ada@example.com", pw, "", Meta{})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.svc.Login(ctx, "ada@example.com", pw+"!", Meta{})
	_, _ = f.svc.Login(ctx, "nobody@example.com", pw, Meta{})
	login, err := f.svc.Login(ctx, "ada@example.com", pw, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RevokeSession(as(ctx, tok), login.SessionID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Logout(as(ctx, tok), false); err != nil {
		t.Fatal(err)
	}

	owner := f.d.OwnerClient(t)
	sys := viewer.NewContext(context.Background(), viewer.Admin())
	events := owner.AuditEvent.Query().Order(auditevent.ByID()).AllX(sys)
	var got []string
	for _, e := range events {
		got = append(got, string(e.Type))
		want := tok.UserID
		if e.Type == audit.LoginFailed && e.Data["why"] == "unknown_account" {
			want = uuid.Nil
		}
		if e.UserID != want || e.IP != "198.51.100.4" || e.UserAgent != "ua/1" {
			t.Errorf("%s: user %s ip %q ua %q", e.Type, e.UserID, e.IP, e.UserAgent)
		}
		for k, v := range e.Data {
			if s, ok := v.(string); ok && (strings.Contains(s, pw) || s == tok.RefreshToken || s == tok.AccessToken) {
				t.Errorf("%s: %s holds a credential", e.Type, k)
			}
		}
	}
	want := "user_registered login_failed login_failed login_succeeded session_revoked logout"
	if strings.Join(got, " ") != want {
		t.Fatalf("events = %v, want %s", got, want)
	}
}

// A rotated refresh token presented past the grace window is recorded as
// refresh_token_reused with the session it revoked (in the revocation's
// transaction: the event and the revoked session go together); a repeat
// within the grace window is no reuse and records nothing.
func TestRefreshTokenReuseIsAudited(t *testing.T) {
	t.Parallel()
	f := newService(t)
	ctx := context.Background()
	first, err := f.svc.Register(ctx, "ada@example.com", pw, "", Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(ctx, first.RefreshToken, Meta{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(ctx, first.RefreshToken, Meta{}); err != nil {
		t.Fatalf("repeat within grace: %v", err)
	}
	owner := f.d.OwnerClient(t)
	sys := viewer.NewContext(context.Background(), viewer.Admin())
	reused := owner.AuditEvent.Query().Where(auditevent.TypeEQ(audit.RefreshTokenReused))
	if n := reused.Clone().CountX(sys); n != 0 {
		t.Fatalf("%d reuse events within the grace window", n)
	}
	*f.clock = f.clock.Add(GraceWindow + time.Second)
	if _, err := f.svc.Refresh(ctx, first.RefreshToken, Meta{}); err == nil {
		t.Fatal("reuse accepted")
	}
	ev := reused.Clone().OnlyX(sys)
	if ev.UserID != first.UserID || ev.Data["session_id"] != first.SessionID.String() {
		t.Fatalf("reuse event %+v", ev)
	}
	if s := owner.Session.GetX(sys, first.SessionID); s.RevokedAt == nil {
		t.Fatal("the event without the revocation")
	}
	for _, v := range ev.Data {
		if s, ok := v.(string); ok && strings.Contains(s, first.RefreshToken) {
			t.Fatal("the event holds the token")
		}
	}
}
