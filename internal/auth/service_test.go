package auth

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent/refreshtoken"
	"github.com/jarvis-core/jarvis/ent/session"
	"github.com/jarvis-core/jarvis/internal/auth/password"
	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/logging/logtest"
)

const pw = "correct horse battery staple"

type fixture struct {
	svc   *Service
	d     *dbtest.Database
	clock *time.Time
	logs  *logtest.Buffer
}

// newService runs the service on the service role (RLS applies) with a
// cheap hasher and a clock the test moves.
func newService(t *testing.T) fixture {
	t.Helper()
	d := dbtest.New(t)
	h, err := password.New(password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(strings.Repeat("s", 32))
	iss, err := token.NewIssuer(secret, "jarvis-core", "jarvis-api", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	svc := NewService(d.App(t), h, iss, secret, 7*24*time.Hour, logging.New(logs, slog.LevelDebug))
	now := time.Now()
	svc.now = func() time.Time { return now }
	return fixture{svc: svc, d: d, clock: &now, logs: logs}
}

// as is the context of a request made with t's access token.
func as(ctx context.Context, t Tokens) context.Context {
	return viewer.NewContext(ctx, viewer.Session(t.UserID, t.SessionID))
}

func TestRegisterLoginAndDuplicates(t *testing.T) {
	t.Parallel()
	f := newService(t)
	ctx := context.Background()
	tok, err := f.svc.Register(ctx, "  Ada@Example.com ", pw, "", Meta{UserAgent: "test", IP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.UserID == uuid.Nil {
		t.Fatalf("tokens = %+v", tok)
	}
	if _, err := f.svc.Register(ctx, "ADA@example.com", pw, "", Meta{}); !errors.Is(err, ErrEmailExists) {
		t.Fatalf("duplicate email: %v", err)
	}
	if _, err := f.svc.Register(ctx, "bob@example.com", "short", "", Meta{}); len(fault.Fields(err)) != 1 || fault.Fields(err)[0].Name != "password" {
		t.Fatalf("weak password: %v", err)
	}
	login, err := f.svc.Login(ctx, "ada@EXAMPLE.com", pw, Meta{})
	if err != nil || login.UserID != tok.UserID || login.SessionID == tok.SessionID {
		t.Fatalf("login: %+v, %v", login, err)
	}
	for _, c := range []struct{ email, pw string }{{"ada@example.com", pw + "!"}, {"nobody@example.com", pw}} {
		if _, err := f.svc.Login(ctx, c.email, c.pw, Meta{}); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("login %s: %v", c.email, err)
		}
	}
	sessions, err := f.svc.Sessions(as(ctx, tok), db.Page{Size: 10})
	if err != nil || len(sessions) != 2 {
		t.Fatalf("sessions = %d, %v", len(sessions), err)
	}
}

func TestRefreshRotatesWithGraceAndDetectsReuse(t *testing.T) {
	t.Parallel()
	f := newService(t)
	ctx := context.Background()
	first, err := f.svc.Register(ctx, "ada@example.com", pw, "", Meta{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.svc.Refresh(ctx, first.RefreshToken, Meta{})
	if err != nil || second.RefreshToken == first.RefreshToken || second.SessionID != first.SessionID {
		t.Fatalf("refresh: %+v, %v", second, err)
	}
	// A second tab presents the same token a moment later: same successor.
	*f.clock = f.clock.Add(5 * time.Second)
	again, err := f.svc.Refresh(ctx, first.RefreshToken, Meta{})
	if err != nil || again.RefreshToken != second.RefreshToken {
		t.Fatalf("repeat within grace: %v (same successor: %v)", err, again.RefreshToken == second.RefreshToken)
	}
	third, err := f.svc.Refresh(ctx, second.RefreshToken, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	// Past the grace window the old token is reuse: the whole session goes.
	*f.clock = f.clock.Add(GraceWindow + time.Second)
	if _, err := f.svc.Refresh(ctx, first.RefreshToken, Meta{}); !errors.Is(err, ErrInvalidRefresh) {
		t.Fatalf("reuse: %v", err)
	}
	if _, err := f.svc.Refresh(ctx, third.RefreshToken, Meta{}); !errors.Is(err, ErrInvalidRefresh) {
		t.Fatalf("the newest token after reuse: %v, want the session revoked", err)
	}
	if _, err := f.svc.Authenticate(ctx, third.AccessToken); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("access token of the revoked session: %v", err)
	}
	out := f.logs.String()
	if !strings.Contains(out, "refresh_token_reuse") {
		t.Errorf("reuse not logged as a security event:\n%s", out)
	}
	for _, secret := range []string{first.RefreshToken, second.RefreshToken, third.RefreshToken, third.AccessToken} {
		if strings.Contains(out, secret) {
			t.Fatal("a token reached the logs")
		}
	}
}

// TestGraceNeverHandsOutASpentSuccessor: tab A refreshes twice in quick
// succession; tab B's late repeat of the first token gets no token that is
// already rotated, and the session survives for tab A.
func TestReplayOfATokenWhoseSuccessorRotatedIsReuse(t *testing.T) {
	t.Parallel()
	f := newService(t)
	ctx := context.Background()
	first, _ := f.svc.Register(ctx, "ada@example.com", pw, "", Meta{})
	second, err := f.svc.Refresh(ctx, first.RefreshToken, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	third, err := f.svc.Refresh(ctx, second.RefreshToken, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	// Still inside the grace window, but the first token's successor has
	// rotated on: only the token just rotated may be repeated, so this is
	// a replay (a thief's copy), and the session ends.
	if _, err := f.svc.Refresh(ctx, first.RefreshToken, Meta{}); !errors.Is(err, ErrInvalidRefresh) {
		t.Fatalf("replay of the first token: %v", err)
	}
	if !strings.Contains(f.logs.String(), "refresh_token_reuse") {
		t.Fatalf("replay not logged as refresh_token_reuse:\n%s", f.logs.String())
	}
	if _, err := f.svc.Refresh(ctx, third.RefreshToken, Meta{}); !errors.Is(err, ErrInvalidRefresh) {
		t.Fatalf("session survived a replay: current token still refreshes (%v)", err)
	}
}

func TestConcurrentRefreshesShareOneSuccessor(t *testing.T) {
	t.Parallel()
	f := newService(t)
	ctx := context.Background()
	first, err := f.svc.Register(ctx, "ada@example.com", pw, "", Meta{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results = map[string]int{}
		errs    []error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := f.svc.Refresh(ctx, first.RefreshToken, Meta{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			results[tok.RefreshToken]++
		}()
	}
	wg.Wait()
	if len(errs) > 0 || len(results) != 1 {
		t.Fatalf("%d parallel refreshes: %d distinct successors, errors %v", n, len(results), errs)
	}
	owner := f.d.OwnerClient(t)
	sys := viewer.NewContext(ctx, viewer.System())
	live, err := owner.RefreshToken.Query().Where(refreshtoken.SessionID(first.SessionID),
		refreshtoken.RotatedAtIsNil(), refreshtoken.RevokedAtIsNil()).Count(sys)
	if err != nil || live != 1 {
		t.Fatalf("live tokens in the session = %d, %v; want exactly 1", live, err)
	}
}

func TestLogoutAndRevocation(t *testing.T) {
	t.Parallel()
	f := newService(t)
	ctx := context.Background()
	a, _ := f.svc.Register(ctx, "ada@example.com", pw, "", Meta{})
	b, _ := f.svc.Login(ctx, "ada@example.com", pw, Meta{})
	other, _ := f.svc.Register(ctx, "bob@example.com", pw, "", Meta{})

	if err := f.svc.Logout(as(ctx, a), false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(ctx, a.RefreshToken, Meta{}); !errors.Is(err, ErrInvalidRefresh) {
		t.Fatalf("refresh after logout: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, b.AccessToken); err != nil {
		t.Fatalf("the other session after logout of one: %v", err)
	}
	// Bob's session is not Ada's to end: not found.
	if err := f.svc.RevokeSession(as(ctx, a), other.SessionID); err == nil {
		t.Fatal("ada revoked bob's session")
	}
	if _, err := f.svc.Authenticate(ctx, other.AccessToken); err != nil {
		t.Fatalf("bob after ada's attempt: %v", err)
	}
	if err := f.svc.Logout(as(ctx, b), true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, b.AccessToken); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("after logout all: %v", err)
	}
}

func TestDisabledAndDeletedUsersAreRefused(t *testing.T) {
	t.Parallel()
	f := newService(t)
	ctx := context.Background()
	a, _ := f.svc.Register(ctx, "ada@example.com", pw, "", Meta{})
	b, _ := f.svc.Register(ctx, "bob@example.com", pw, "", Meta{})
	owner := f.d.OwnerClient(t)
	sys := viewer.NewContext(ctx, viewer.Admin())
	if err := owner.User.UpdateOneID(a.UserID).SetStatus("disabled").Exec(sys); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, a.AccessToken); !fault.Is(err, fault.Unauthorized) {
		t.Errorf("disabled user's access token: %v", err)
	}
	if _, err := f.svc.Login(ctx, "ada@example.com", pw, Meta{}); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("disabled user's login: %v", err)
	}
	if _, err := f.svc.Refresh(ctx, a.RefreshToken, Meta{}); !errors.Is(err, ErrInvalidRefresh) {
		t.Errorf("disabled user's refresh: %v", err)
	}
	if err := owner.User.DeleteOneID(b.UserID).Exec(sys); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, b.AccessToken); !fault.Is(err, fault.Unauthorized) {
		t.Errorf("deleted user's access token: %v", err)
	}
	if n, _ := owner.Session.Query().Where(session.UserID(b.UserID)).Count(sys); n != 0 {
		t.Errorf("deleted user still has %d sessions", n)
	}
}

func TestRefreshRefusesGarbageAndExpired(t *testing.T) {
	t.Parallel()
	f := newService(t)
	ctx := context.Background()
	for _, raw := range []string{"", "nope", strings.Repeat("x", 1000)} {
		if _, err := f.svc.Refresh(ctx, raw, Meta{}); !errors.Is(err, ErrInvalidRefresh) {
			t.Errorf("refresh %q: %v", raw, err)
		}
	}
	a, _ := f.svc.Register(ctx, "ada@example.com", pw, "", Meta{})
	*f.clock = f.clock.Add(8 * 24 * time.Hour)
	if _, err := f.svc.Refresh(ctx, a.RefreshToken, Meta{}); !errors.Is(err, ErrInvalidRefresh) {
		t.Errorf("expired refresh token: %v", err)
	}
}

// A token the rate limiter already verified (token.NewContext) is taken
// from the context, not verified a second time: the claims recorded there
// are what the viewer gets, even for a string the issuer would refuse.
func TestVerifyReusesClaimsVerifiedEarlierInTheRequest(t *testing.T) {
	t.Parallel()
	f := newService(t)
	c := token.Claims{UserID: uuid.New(), SessionID: uuid.New(), ID: "j"}
	ctx := token.NewContext(context.Background(), "already-verified", c)
	ctx, err := f.svc.Verify(ctx, "already-verified")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := viewer.FromContext(ctx); v != viewer.Session(c.UserID, c.SessionID) {
		t.Fatalf("viewer = %+v, want the recorded claims' session", v)
	}
	// Another token in the same request is verified on its own.
	if _, err := f.svc.Verify(ctx, "not-a-jwt"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Verify(not-a-jwt) = %v, want unauthorized", err)
	}
}
