package auth

import (
	"context"
	"strings"
	"testing"

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
