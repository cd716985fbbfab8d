package runs

import (
	"strings"
	"testing"

	"github.com/jarvis-core/jarvis/ent/auditevent"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// Budget and permission changes are audited with their change; a hard
// budget's refusal is audited although the refused run is not created.
func TestBudgetAndPermissionChangesAreAudited(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	if _, err := e.svc.PutBudget(ctx, BudgetInput{LimitUSD: dec("0"), Hard: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Create(ctx, RunInput{}); err == nil {
		t.Fatal("a run was created past a $0 hard budget")
	} else if f, ok := fault.As(err); !ok || f.Kind != fault.BudgetExceeded {
		t.Fatalf("create: %v", err)
	}
	p, err := e.svc.SetToolPermission(ctx, "shell.exec", Deny)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteToolPermission(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteBudget(ctx); err != nil {
		t.Fatal(err)
	}
	events := e.owner.AuditEvent.Query().Where(auditevent.UserID(e.alice)).Order(auditevent.ByID()).AllX(sys())
	var got []string
	for _, ev := range events {
		got = append(got, string(ev.Type))
	}
	want := "budget_changed budget_refused tool_permission_changed tool_permission_changed budget_changed"
	if strings.Join(got, " ") != want {
		t.Fatalf("events = %v, want %s", got, want)
	}
	if events[2].Data["tool_id"] != "shell.exec" || events[2].Data["effect"] != "deny" || events[3].Data["effect"] != "default" {
		t.Fatalf("permission events = %v, %v", events[2].Data, events[3].Data)
	}
}
