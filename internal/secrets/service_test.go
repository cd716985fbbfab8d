package secrets

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/usersecret"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/logging"
)

const value = "sk-live-0123456789abcdef"

type env struct {
	svc          *Service
	owner        *ent.Client
	alice, bob   uuid.UUID
	logs         *bytes.Buffer
	d            *dbtest.Database
	aliceFixture *dbtest.Fixture
}

// as is the context of a unit of work of user id.
func as(id uuid.UUID) context.Context {
	return viewer.NewContext(context.Background(), viewer.User(id))
}

func setup(t *testing.T, box *Box) env {
	t.Helper()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	a := dbtest.Seed(t, owner, "alice@example.com")
	b := dbtest.Seed(t, owner, "bob@example.com")
	logs := &bytes.Buffer{}
	return env{svc: NewService(d.App(t), box, logging.New(logs, slog.LevelDebug)), owner: owner,
		alice: a.User.ID, bob: b.User.ID, logs: logs, d: d, aliceFixture: a}
}

func TestSecretsLifecycle(t *testing.T) {
	t.Parallel()
	e := setup(t, newBox(t))
	ctx := context.Background()
	created, err := e.svc.Create(as(e.alice), "anthropic", "work", value)
	if err != nil {
		t.Fatal(err)
	}
	if created.Last4 != "cdef" || created.EncryptedValue != nil || created.KeyVersion != 2 {
		t.Fatalf("created = %+v", created)
	}
	if _, err := e.svc.Create(as(e.alice), "anthropic", "work", "x"); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	list, err := e.svc.List(as(e.alice), db.Page{Size: 100})
	if err != nil || len(list) != 2 { // the seeded openai/default and this one
		t.Fatalf("list = %d, %v", len(list), err)
	}
	for _, s := range list {
		if s.EncryptedValue != nil || s.Nonce != nil || s.AuthTag != nil || s.UserID != e.alice {
			t.Fatalf("list leaks sealed parts or others' rows: %+v", s)
		}
	}
	got, err := e.svc.DecryptedValue(as(e.alice), "anthropic", "")
	if err != nil || got != value {
		t.Fatalf("decrypt = %q, %v", got, err)
	}
	used := e.owner.UserSecret.GetX(viewer.NewContext(ctx, viewer.Admin()), created.ID)
	if used.LastUsedAt == nil || used.UpdatedAt.Sub(created.UpdatedAt).Abs() > time.Microsecond {
		t.Fatalf("use: last_used_at %v, updated_at moved %v -> %v", used.LastUsedAt, created.UpdatedAt, used.UpdatedAt)
	}
	newName, newValue := "personal", "sk-live-rotated-value-9876"
	upd, err := e.svc.Update(as(e.alice), created.ID, &newName, &newValue)
	if err != nil || upd.Name != newName || upd.Last4 != "9876" {
		t.Fatalf("update: %+v, %v", upd, err)
	}
	if got, _ := e.svc.DecryptedValue(as(e.alice), "anthropic", "personal"); got != newValue {
		t.Fatalf("value after update = %q", got)
	}
	if err := e.svc.Delete(as(e.alice), created.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DecryptedValue(as(e.alice), "anthropic", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if strings.Contains(e.logs.String(), "sk-live") {
		t.Fatal("a value reached the logs")
	}
}

func TestOtherUsersSecretsAreNotFound(t *testing.T) {
	t.Parallel()
	e := setup(t, newBox(t))
	bobs, err := e.svc.Create(as(e.bob), "github", "ci", value)
	if err != nil {
		t.Fatal(err)
	}
	name := "mine now"
	if _, err := e.svc.Update(as(e.alice), bobs.ID, &name, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("alice renames bob's secret: %v", err)
	}
	if err := e.svc.Delete(as(e.alice), bobs.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("alice deletes bob's secret: %v", err)
	}
	if _, err := e.svc.DecryptedValue(as(e.alice), "github", "ci"); !errors.Is(err, ErrNotFound) {
		t.Errorf("alice decrypts bob's secret: %v", err)
	}
	if got, err := e.svc.DecryptedValue(as(e.bob), "github", "ci"); err != nil || got != value {
		t.Errorf("bob's secret after alice's attempts: %q, %v", got, err)
	}
}

func TestCiphertextCopiedToAnotherRowDoesNotOpen(t *testing.T) {
	t.Parallel()
	e := setup(t, newBox(t))
	ctx := context.Background()
	src, _ := e.svc.Create(as(e.alice), "openai", "src", value)
	dst, _ := e.svc.Create(as(e.alice), "custom", "dst", "sk-other-value-000000")
	admin := viewer.NewContext(ctx, viewer.Admin())
	full := e.owner.UserSecret.GetX(admin, src.ID)
	e.owner.UserSecret.UpdateOneID(dst.ID).SetEncryptedValue(full.EncryptedValue).SetNonce(full.Nonce).
		SetAuthTag(full.AuthTag).ExecX(admin)
	_, err := e.svc.DecryptedValue(as(e.alice), "custom", "dst")
	if !errors.Is(err, ErrOpen) || strings.Contains(err.Error(), "sk-") {
		t.Fatalf("copied ciphertext: %v", err)
	}
}

func TestInvalidInputChangesNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, newBox(t))
	ctx := context.Background()
	for _, c := range []struct{ provider, name, value string }{
		{"gemini", "x", value}, {"openai", "", value}, {"openai", "x", ""},
		{"openai", strings.Repeat("n", 101), value}, {"openai", "x", strings.Repeat("v", MaxValueBytes+1)},
	} {
		_, err := e.svc.Create(as(e.alice), c.provider, c.name, c.value)
		if !fault.Is(err, fault.Invalid) {
			t.Errorf("create %q/%q: %v", c.provider, c.name, err)
		}
		if err != nil && c.value != "" && len(c.value) < 100 && strings.Contains(err.Error(), c.value) {
			t.Errorf("error echoes the value: %v", err)
		}
	}
	n, _ := e.owner.UserSecret.Query().Where(usersecret.UserID(e.alice)).Count(viewer.NewContext(ctx, viewer.Admin()))
	if n != 1 {
		t.Fatalf("alice has %d secrets after refused creates, want the seeded 1", n)
	}
}

func TestRotateKeysReSealsEverySecret(t *testing.T) {
	t.Parallel()
	v1, _ := NewBox(1, key(1), nil)
	e := setup(t, v1)
	ctx := context.Background()
	for i, u := range []uuid.UUID{e.alice, e.bob, e.alice} {
		if _, err := e.svc.Create(as(u), "custom", "k"+string(rune('a'+i)), value+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	// The seeded rows were sealed by no box at all: rotation refuses them.
	admin := viewer.NewContext(ctx, viewer.Admin())
	e.owner.UserSecret.Delete().Where(usersecret.Name("default")).ExecX(admin)

	v2 := newBox(t) // current 2, still opens 1
	n, err := RotateKeys(ctx, e.owner, v2, 2, e.svc.log)
	if err != nil || n != 3 {
		t.Fatalf("rotate: %d, %v", n, err)
	}
	if left := e.owner.UserSecret.Query().Where(usersecret.KeyVersionNEQ(2)).CountX(admin); left != 0 {
		t.Fatalf("%d secrets left on the old key", left)
	}
	onlyV2, _ := NewBox(2, key(2), nil)
	after := NewService(e.svc.db, onlyV2, e.svc.log)
	if got, err := after.DecryptedValue(as(e.bob), "custom", "kb"); err != nil || got != value+"b" {
		t.Fatalf("open with the new key only: %q, %v", got, err)
	}
	if n, err := RotateKeys(ctx, e.owner, v2, 2, e.svc.log); err != nil || n != 0 {
		t.Fatalf("second rotation: %d, %v; want nothing to do", n, err)
	}
}
