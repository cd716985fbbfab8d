package connections_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/auditevent"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/connections"
	"github.com/jarvis-core/jarvis/internal/connections/oauthtest"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// Every change of a connection is in the user's audit log, committed with
// it, naming the connection and never a token: the flow, an import, a
// re-import, a refused refresh and the needs_reauth it causes, an
// unreachable provider, a revocation that could not reach the provider,
// and the revocation and deletion that did.
func TestConnectionEventsAreAudited(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	p := oauthtest.New()
	t.Cleanup(p.Close)
	owner := d.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	sys := viewer.NewContext(context.Background(), viewer.Admin())
	owner.AuditEvent.Delete().ExecX(sys) // the seed's own events
	const redirect = "https://app.example/connected"
	cfg := acmeConfig(p)
	cfg.RedirectURLs = []string{redirect}
	svc := connections.NewService(d.App(t), testBox(t), cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := viewer.NewContext(context.Background(), viewer.User(alice.User.ID))

	type want struct {
		typ  auditevent.Type
		conn string
		data map[string]any
	}
	var wants []want
	check := func(step string) {
		t.Helper()
		evs := owner.AuditEvent.Query().Order(ent.Asc(auditevent.FieldID)).AllX(sys)
		if len(evs) != len(wants) {
			var got []string
			for _, e := range evs {
				got = append(got, string(e.Type))
			}
			t.Fatalf("%s: events %v, want %d", step, got, len(wants))
		}
		for i, w := range wants {
			e := evs[i]
			if e.Type != w.typ || e.UserID != alice.User.ID || e.Data["connection_id"] != w.conn || e.Data["provider"] != "acme" {
				t.Fatalf("%s: event %d = %s %v, want %s about %s", step, i, e.Type, e.Data, w.typ, w.conn)
			}
			for k, v := range w.data {
				if e.Data[k] != v {
					t.Fatalf("%s: event %s: %s = %v, want %v", step, e.Type, k, e.Data[k], v)
				}
			}
			b, _ := json.Marshal(e)
			for _, tok := range append(p.Issued(), oauthtest.ClientSecret) {
				if strings.Contains(string(b), tok) {
					t.Fatalf("%s: event %s holds a token or secret", step, e.Type)
				}
			}
		}
	}

	// The authorization-code flow.
	a, err := svc.Start(ctx, "acme", redirect, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, state, err := p.Authorize(a.URL + "&login_hint=alice-at-acme")
	if err != nil {
		t.Fatal(err)
	}
	flow, err := svc.Complete(ctx, state, code, redirect, "")
	if err != nil {
		t.Fatal(err)
	}
	wants = append(wants, want{"connection_created", flow.ID.String(), map[string]any{"account": "alice-at-acme", "replaced": false}})
	check("flow")

	// An import, then the same account again: its tokens replaced.
	access, refresh := p.Grant("alice")
	imp, err := svc.Import(ctx, "acme", "alice", connections.Tokens{Access: access, Refresh: refresh, Expiry: time.Now().Add(-time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	wants = append(wants, want{"connection_imported", imp.ID.String(), map[string]any{"replaced": false}})
	access, refresh = p.Grant("alice")
	if _, err := svc.Import(ctx, "acme", "alice", connections.Tokens{Access: access, Refresh: refresh, Expiry: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	wants = append(wants, want{"connection_imported", imp.ID.String(), map[string]any{"replaced": true}})
	check("import")

	// The provider is down: the refresh fails, nothing changes, the failure
	// is recorded on its own.
	p.SetDown(true)
	if _, err := svc.Token(ctx, imp.ID); !fault.Is(err, fault.Unavailable) {
		t.Fatalf("provider down: %v", err)
	}
	p.SetDown(false)
	wants = append(wants, want{"connection_refresh_failed", imp.ID.String(), map[string]any{"outcome": "unavailable"}})
	check("provider down")

	// The grant was revoked at the provider: refused, needs_reauth, both
	// with the status change.
	p.Revoke(refresh)
	if _, err := svc.Token(ctx, imp.ID); !fault.Is(err, fault.Conflict) {
		t.Fatalf("refused refresh: %v", err)
	}
	wants = append(wants,
		want{"connection_refresh_failed", imp.ID.String(), map[string]any{"outcome": "refused"}},
		want{"connection_needs_reauth", imp.ID.String(), map[string]any{"cause": "refresh_refused"}})
	check("refused")

	// Deleting while the revocation endpoint is down marks it revoked;
	// deleting again revokes at the provider and forgets it.
	p.SetDown(true)
	if err := svc.Delete(ctx, flow.ID); !fault.Is(err, fault.Unavailable) {
		t.Fatalf("delete, provider down: %v", err)
	}
	wants = append(wants, want{"connection_revoked", flow.ID.String(), map[string]any{"at_provider": false}})
	check("revoke unreachable")
	p.SetDown(false)
	if err := svc.Delete(ctx, flow.ID); err != nil {
		t.Fatal(err)
	}
	wants = append(wants,
		want{"connection_revoked", flow.ID.String(), map[string]any{"at_provider": true}},
		want{"connection_deleted", flow.ID.String(), nil})
	check("delete")

	// A refused change records nothing: another user's connection.
	bob := dbtest.Seed(t, owner, "bob@example.com")
	owner.AuditEvent.Delete().Where(auditevent.UserID(bob.User.ID)).ExecX(sys)
	bctx := viewer.NewContext(context.Background(), viewer.User(bob.User.ID))
	if err := svc.Delete(bctx, imp.ID); !fault.Is(err, fault.NotFound) {
		t.Fatalf("bob deletes alice's connection: %v", err)
	}
	check("refused delete")
}
