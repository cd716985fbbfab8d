package admin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/auditevent"
	"github.com/jarvis-core/jarvis/ent/budget"
	"github.com/jarvis-core/jarvis/internal/admin"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/runs"
	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

func money(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// The budget commands act through the runs service: its validation refuses
// what PUT /v1/budget refuses (and nothing changes), and a change records
// budget_changed naming the operator and the reason.
func TestBudgetCommandsGoThroughTheRunsService(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	bob := dbtest.Seed(t, owner, "bob@example.com")
	sys := viewer.NewContext(context.Background(), viewer.Admin())
	owner.AuditEvent.Delete().ExecX(sys)
	prices, err := pricing.Default()
	if err != nil {
		t.Fatal(err)
	}
	rc := runs.Config{MaxActive: 10, RetryAfter: time.Second, DefaultToolPolicy: "allow"}
	svc, err := runs.NewService(d.AppWithURL(t, d.OwnerURL), rc, prices, nil, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	ops := admin.Ops{Client: owner, Runs: svc}
	op := admin.Operator{Name: "carol", Reason: "ticket 12"}
	ctx := context.Background()

	st, err := ops.ShowBudget(ctx, admin.Operator{Name: "carol"}, "alice@example.com")
	if err != nil || !st.Budget.LimitUsd.Equal(money("20")) || !st.SpentUSD.Equal(money("0.0000015")) {
		t.Fatalf("show: %+v, %v", st, err)
	}
	soft := money("60")
	for name, in := range map[string]runs.BudgetInput{
		"negative":       {LimitUSD: money("-1")},
		"soft over hard": {LimitUSD: money("50"), SoftLimitUSD: &soft},
		"11 decimals":    {LimitUSD: money("1.00000000001")},
	} {
		if _, err := ops.SetBudget(ctx, op, "alice@example.com", in); !fault.Is(err, fault.Invalid) {
			t.Errorf("%s: %v, want the service's validation error", name, err)
		}
	}
	if _, err := ops.SetBudget(ctx, admin.Operator{Name: "carol"}, "alice@example.com", runs.BudgetInput{LimitUSD: money("5")}); err == nil ||
		!strings.Contains(err.Error(), "--reason") {
		t.Fatalf("set without a reason: %v", err)
	}
	if n := owner.AuditEvent.Query().CountX(sys); n != 0 {
		t.Fatalf("%d events after refused changes", n)
	}
	if b := owner.Budget.Query().Where(budget.UserID(alice.User.ID)).OnlyX(sys); !b.LimitUsd.Equal(money("20")) {
		t.Fatalf("a refused change changed the budget: %s", b.LimitUsd)
	}

	soft = money("40.5")
	st, err = ops.SetBudget(ctx, op, alice.User.ID.String(), runs.BudgetInput{LimitUSD: money("50.25"), SoftLimitUSD: &soft})
	if err != nil || !st.Budget.LimitUsd.Equal(money("50.25")) || st.Budget.Hard || !st.Budget.SoftLimitUsd.Decimal.Equal(soft) {
		t.Fatalf("set: %+v, %v", st, err)
	}
	if b := owner.Budget.Query().Where(budget.UserID(bob.User.ID)).OnlyX(sys); !b.LimitUsd.Equal(money("20")) {
		t.Fatal("bob's budget changed")
	}
	if err := ops.ClearBudget(ctx, op, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.ShowBudget(ctx, op, "alice@example.com"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("show after clear: %v", err)
	}
	if _, err := ops.ShowBudget(ctx, op, "nobody@example.com"); err == nil {
		t.Fatal("showed the budget of an account that does not exist")
	}
	evs := owner.AuditEvent.Query().Order(ent.Asc(auditevent.FieldID)).AllX(sys)
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
	for _, e := range evs {
		if e.Type != auditevent.TypeBudgetChanged || e.UserID != alice.User.ID || e.Actor != "operator:carol" || e.Reason != "ticket 12" {
			t.Fatalf("event %+v", e)
		}
	}
	if evs[0].Data["limit_usd"] != "50.25" || evs[1].Data["removed"] != true {
		t.Fatalf("event data %v, %v", evs[0].Data, evs[1].Data)
	}
}

// usage top ranks the month's spend across users with exact amounts;
// prices unpriced lists the models of calls that cost nothing.
func TestUsageTopAndUnpricedModels(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	sys := viewer.NewContext(context.Background(), viewer.System())
	alice := dbtest.Seed(t, owner, "alice@example.com") // each seed: gpt-4o-mini for 0.0000015
	bob := dbtest.Seed(t, owner, "bob@example.com")
	carol := dbtest.Seed(t, owner, "carol@example.com")
	now := time.Now().UTC()
	lastMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).Add(-time.Hour)
	call := func(f *dbtest.Fixture, provider, model, cost string, at time.Time) {
		t.Helper()
		c := owner.LLMCall.Create().SetUserID(f.User.ID).SetRunID(f.Run.ID).SetProvider(provider).SetModel(model).
			SetInputTokens(100).SetOutputTokens(20).SetCreatedAt(at)
		if cost != "" {
			c.SetTotalCost(decimal.NewNullDecimal(money(cost)))
		}
		c.SaveX(sys)
	}
	call(alice, "openai", "gpt-4o", "1.25", now)
	call(bob, "anthropic", "claude-sonnet-4", "3.5", now)
	call(bob, "anthropic", "claude-sonnet-4", "100", lastMonth) // another month
	call(carol, "custom", "mystery-1", "", now)
	call(carol, "custom", "mystery-1", "", lastMonth)
	call(alice, "openai", "gpt-4o", "", now) // before its price: none recorded

	ops := admin.Ops{Client: owner}
	op := admin.Operator{Name: "carol"}
	ctx := context.Background()
	top, err := ops.TopSpenders(ctx, op, now, admin.SpendByUser, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 2 || top[0].UserID != bob.User.ID || top[0].CostUSD.String() != "3.5000015" || top[0].Calls != 2 ||
		top[1].UserID != alice.User.ID || top[1].CostUSD.String() != "1.2500015" || top[1].UnpricedCalls != 1 || top[1].Email != "alice@example.com" {
		t.Fatalf("top by user: %+v", top)
	}
	if top[1].TotalTokens != 10+120+120 {
		t.Fatalf("alice's tokens: %d", top[1].TotalTokens)
	}
	byModel, err := ops.TopSpenders(ctx, op, now, admin.SpendByModel, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range byModel {
		got = append(got, r.Email+" "+r.Model+" "+r.CostUSD.String()+" of "+r.UserCostUSD.String())
	}
	want := "bob@example.com claude-sonnet-4 3.5 of 3.5000015|bob@example.com gpt-4o-mini 0.0000015 of 3.5000015|" +
		"alice@example.com gpt-4o 1.25 of 1.2500015|alice@example.com gpt-4o-mini 0.0000015 of 1.2500015"
	if strings.Join(got, "|") != want {
		t.Fatalf("top by model:\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
	last, err := ops.TopSpenders(ctx, op, lastMonth, admin.SpendByUser, 10)
	if err != nil || len(last) != 2 || last[0].CostUSD.String() != "100" {
		t.Fatalf("last month: %+v %v", last, err)
	}
	for _, bad := range []struct {
		by    string
		limit int
	}{{"day", 5}, {admin.SpendByUser, 0}, {admin.SpendByUser, admin.MaxTop + 1}} {
		if _, err := ops.TopSpenders(ctx, op, now, bad.by, bad.limit); err == nil {
			t.Errorf("--by %s --limit %d accepted", bad.by, bad.limit)
		}
	}

	un, err := ops.UnpricedModels(ctx, op, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(un) != 2 || un[0].Model != "mystery-1" || un[0].Calls != 2 || un[0].Users != 1 || un[0].PricedNow ||
		!un[0].FirstSeen.Equal(lastMonth.Truncate(time.Microsecond)) || un[1].Model != "gpt-4o" || !un[1].PricedNow || un[1].Calls != 1 {
		t.Fatalf("unpriced: %+v", un)
	}
}
