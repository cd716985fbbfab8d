package secrets

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jarvis-core/jarvis/ent/auditevent"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
)

// Each change to a secret and each opening is audited with the secret's id,
// provider and name, never its value.
func TestSecretEventsAreAuditedWithoutValues(t *testing.T) {
	t.Parallel()
	e := setup(t, newBox(t))
	ctx := as(e.alice)
	s, err := e.svc.Create(ctx, "openai", "main", value)
	if err != nil {
		t.Fatal(err)
	}
	other := "sk-other-0123456789abcdef"
	if _, err := e.svc.Update(ctx, s.ID, nil, &other); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DecryptedValue(ctx, "openai", "main"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	sys := viewer.NewContext(context.Background(), viewer.Admin())
	events := e.owner.AuditEvent.Query().
		Where(auditevent.UserID(e.alice), auditevent.TypeIn("secret_created", "secret_updated", "secret_opened", "secret_deleted")).
		Order(auditevent.ByID()).AllX(sys)
	var got []string
	for _, ev := range events {
		got = append(got, string(ev.Type))
		if ev.Data["secret_id"] != s.ID.String() || ev.Data["provider"] != "openai" || ev.Data["name"] != "main" {
			t.Errorf("%s: data = %v", ev.Type, ev.Data)
		}
		if d := fmt.Sprint(ev.Data); strings.Contains(d, value) || strings.Contains(d, other) || strings.Contains(d, "cdef") {
			t.Errorf("%s: data holds the value: %s", ev.Type, d)
		}
	}
	if strings.Join(got, " ") != "secret_created secret_updated secret_opened secret_deleted" {
		t.Fatalf("events = %v", got)
	}
}
