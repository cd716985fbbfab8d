package runs

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

func ptr[T any](v T) *T { return &v }

// oneDollar is the m1 usage (testPrices) that costs exactly $1 before its change.
var oneDollar = pricing.Usage{Input: 400_000}

func TestBudgetSoftThresholdAndHardStop(t *testing.T) {
	t.Parallel()
	e := setup(t, withPrices(testPrices(t, time.Now().AddDate(1, 0, 0))))
	ctx := as(e.alice)
	st, err := e.svc.PutBudget(ctx, BudgetInput{LimitUSD: dec("3"), SoftLimitUSD: ptr(dec("1.5")), Hard: true})
	if err != nil {
		t.Fatal(err)
	}
	if !st.SpentUSD.IsZero() || !st.Budget.LimitUsd.Equal(dec("3")) || st.PeriodStart.Day() != 1 {
		t.Fatalf("status = %+v", st)
	}
	run, err := e.svc.Create(ctx, RunInput{})
	if err != nil {
		t.Fatal(err)
	}
	call := LLMCallInput{Provider: "openai", Model: "m1", Usage: oneDollar}
	if _, err := e.svc.RecordLLMCall(ctx, run.ID, call); err != nil { // $1
		t.Fatal(err)
	}
	if w := e.reload(t, run.ID).Warning; w != "" {
		t.Fatalf("warning below the threshold: %q", w)
	}
	if _, err := e.svc.RecordLLMCall(ctx, run.ID, call); err != nil { // $2: over the soft limit
		t.Fatal(err)
	}
	warning := e.reload(t, run.ID).Warning
	if warning != "monthly spend $2.00 reached the warning threshold of $1.50 (budget $3.00)" {
		t.Fatalf("warning = %q", warning)
	}
	if _, err := e.svc.RecordLLMCall(ctx, run.ID, call); err != nil { // $3: the call that reaches the limit is recorded
		t.Fatal(err)
	}
	if w := e.reload(t, run.ID).Warning; w != warning {
		t.Fatalf("warning rewritten: %q", w)
	}
	warnings := 0
	for _, r := range e.rec.Events() {
		if r.Event.Type == events.BudgetWarning {
			warnings++
			var ev budgetWarningEvent
			if err := json.Unmarshal(r.Event.Data, &ev); err != nil {
				t.Fatal(err)
			}
			if r.ToRun || r.UserID != e.alice || ev.RunID != run.ID || !ev.SpentUSD.Equal(dec("2")) || ev.Message != warning {
				t.Fatalf("budget.warning = %+v to run %v", ev, r.ToRun)
			}
		}
	}
	if warnings != 1 {
		t.Fatalf("%d budget.warning events, want 1 per run", warnings)
	}

	// At the limit: no new LLM call, no new run.
	_, err = e.svc.RecordLLMCall(ctx, run.ID, call)
	wantFault(t, err, fault.BudgetExceeded, "$3.00", "$3.00 spent")
	_, err = e.svc.Create(ctx, RunInput{})
	wantFault(t, err, fault.BudgetExceeded, "monthly budget of $3.00 reached")
	if n := e.count(t, "llm_calls"); n != 3 {
		t.Fatalf("%d calls recorded, want 3", n)
	}
	// Bob is not affected by alice's budget.
	if _, err := e.svc.Create(as(e.bob), RunInput{}); err != nil {
		t.Fatal(err)
	}

	// Raising the limit lets work continue; new runs start with the warning.
	if _, err := e.svc.PutBudget(ctx, BudgetInput{LimitUSD: dec("10"), SoftLimitUSD: ptr(dec("2")), Hard: true}); err != nil {
		t.Fatal(err)
	}
	run2, err := e.svc.Create(ctx, RunInput{})
	if err != nil {
		t.Fatal(err)
	}
	if run2.Warning == "" {
		t.Fatal("a run created over the soft limit carries no warning")
	}
	got, err := e.svc.GetBudget(ctx)
	if err != nil || !got.SpentUSD.Equal(dec("3")) || !got.Budget.SoftLimitUsd.Decimal.Equal(dec("2")) {
		t.Fatalf("budget = %+v, %v", got, err)
	}
}

// TestHardBudgetHoldsUnderParallelCalls: 20 calls of $1 in parallel against
// a $3 hard limit; checked one after another, exactly three are recorded
// (the third reaches the limit) and the rest are refused.
func TestHardBudgetHoldsUnderParallelCalls(t *testing.T) {
	t.Parallel()
	e := setup(t, withPrices(testPrices(t, time.Now().AddDate(1, 0, 0))))
	ctx := as(e.alice)
	if _, err := e.svc.PutBudget(ctx, BudgetInput{LimitUSD: dec("3"), Hard: true}); err != nil {
		t.Fatal(err)
	}
	run, err := e.svc.Create(ctx, RunInput{})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		recorded, denied int
	)
	for range 20 {
		wg.Go(func() {
			_, err := e.svc.RecordLLMCall(ctx, run.ID, LLMCallInput{Provider: "openai", Model: "m1", Usage: oneDollar})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				recorded++
			case fault.Is(err, fault.BudgetExceeded):
				denied++
			default:
				t.Errorf("call: %v", err)
			}
		})
	}
	wg.Wait()
	if recorded != 3 || denied != 17 {
		t.Fatalf("recorded %d, denied %d; want 3 and 17", recorded, denied)
	}
	if total := e.reload(t, run.ID).TotalCost; !total.Equal(dec("3")) {
		t.Fatalf("run total %s, want 3", total)
	}
}

func TestSoftBudgetOnlyWarns(t *testing.T) {
	t.Parallel()
	e := setup(t, withPrices(testPrices(t, time.Now().AddDate(1, 0, 0))))
	ctx := as(e.alice)
	if _, err := e.svc.PutBudget(ctx, BudgetInput{LimitUSD: dec("1"), Hard: false}); err != nil {
		t.Fatal(err)
	}
	run, err := e.svc.Create(ctx, RunInput{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := e.svc.RecordLLMCall(ctx, run.ID, LLMCallInput{Provider: "openai", Model: "m1", Usage: oneDollar}); err != nil {
			t.Fatalf("a soft budget refused: %v", err)
		}
	}
	if w := e.reload(t, run.ID).Warning; w != "monthly spend $1.00 is over the budget of $1.00" {
		t.Fatalf("warning = %q", w)
	}
}

func TestBudgetCountsOnlyThisMonth(t *testing.T) {
	t.Parallel()
	e := setup(t, withPrices(testPrices(t, time.Now().AddDate(1, 0, 0))))
	ctx := as(e.alice)
	// March 15th; a $5 call on the last microsecond of February.
	e.clock.set(time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC))
	old := e.runIn(t, e.alice, agentrun.StatusRunning)
	if _, err := e.owner.LLMCall.Create().SetUserID(e.alice).SetRunID(old.ID).SetProvider("openai").SetModel("m1").
		SetTotalCost(decimal.NewNullDecimal(dec("5"))).SetCreatedAt(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(-time.Microsecond)).
		Save(sys()); err != nil {
		t.Fatal(err)
	}
	// and $0.50 on its first microsecond of March.
	if _, err := e.owner.LLMCall.Create().SetUserID(e.alice).SetRunID(old.ID).SetProvider("openai").SetModel("m1").
		SetTotalCost(decimal.NewNullDecimal(dec("0.5"))).SetCreatedAt(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)).
		Save(sys()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PutBudget(ctx, BudgetInput{LimitUSD: dec("1"), Hard: true}); err != nil {
		t.Fatal(err)
	}
	st, err := e.svc.GetBudget(ctx)
	if err != nil || !st.SpentUSD.Equal(dec("0.5")) || !st.PeriodStart.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) ||
		!st.PeriodEnd.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("status = %+v, %v", st, err)
	}
	if _, err := e.svc.Create(ctx, RunInput{}); err != nil {
		t.Fatalf("last month's spend counted: %v", err)
	}
}

func TestBudgetValidationAndDelete(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	if _, err := e.svc.GetBudget(ctx); !fault.Is(err, fault.NotFound) {
		t.Fatalf("no budget: %v", err)
	}
	bad := map[string]struct {
		in    BudgetInput
		field string
	}{
		"negative limit":   {BudgetInput{LimitUSD: dec("-1")}, "limit_usd"},
		"huge limit":       {BudgetInput{LimitUSD: dec("1e12")}, "limit_usd"},
		"too precise":      {BudgetInput{LimitUSD: dec("0.00000000001")}, "limit_usd"},
		"soft above limit": {BudgetInput{LimitUSD: dec("1"), SoftLimitUSD: ptr(dec("2"))}, "soft_limit_usd"},
		"soft zero":        {BudgetInput{LimitUSD: dec("1"), SoftLimitUSD: ptr(dec("0"))}, "soft_limit_usd"},
	}
	for name, c := range bad {
		if _, err := e.svc.PutBudget(ctx, c.in); len(fault.Fields(err)) != 1 || fault.Fields(err)[0].Name != c.field {
			t.Errorf("%s: %v", name, err)
		}
	}
	if e.count(t, "budgets") != 0 {
		t.Fatal("a refused budget was stored")
	}
	// A zero hard limit stops all spending.
	if _, err := e.svc.PutBudget(ctx, BudgetInput{LimitUSD: dec("0"), Hard: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Create(ctx, RunInput{}); !fault.Is(err, fault.BudgetExceeded) {
		t.Fatalf("zero budget: %v", err)
	}
	if err := e.svc.DeleteBudget(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteBudget(ctx); !fault.Is(err, fault.NotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := e.svc.Create(ctx, RunInput{}); err != nil {
		t.Fatalf("after delete: %v", err)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	e := setup(t, withPrices(testPrices(t, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))))
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)
	day1 := time.Date(2026, 5, 1, 23, 59, 0, 0, time.UTC)
	day2 := day1.Add(2 * time.Minute) // May 2nd
	record := func(at time.Time, provider, model string, u pricing.Usage) {
		t.Helper()
		e.clock.set(at)
		if _, err := e.svc.RecordLLMCall(ctx, run.ID, LLMCallInput{Provider: provider, Model: model, Usage: u}); err != nil {
			t.Fatal(err)
		}
	}
	record(day1, "openai", "m1", pricing.Usage{Input: 1_000_000})                    // $2.50
	record(day1, "anthropic", "m2", pricing.Usage{Output: 100_000, CachedInput: 10}) // $1.500003
	record(day2, "openai", "m1", pricing.Usage{Reasoning: 1000})                     // $0.01
	record(day2, "acme", "x", pricing.Usage{Input: 5})                               // unpriced
	// Outside the period, and bob's: not counted.
	record(day2.AddDate(0, 0, 5), "openai", "m1", pricing.Usage{Input: 7})
	e.clock.set(day1)
	if _, err := e.svc.RecordLLMCall(as(e.bob), e.runIn(t, e.bob, agentrun.StatusRunning).ID,
		LLMCallInput{Provider: "openai", Model: "m1", Usage: pricing.Usage{Input: 9}}); err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 3, 0, 0, 0, 0, time.UTC)

	byDay, err := e.svc.Usage(ctx, from, to, ByDay)
	if err != nil {
		t.Fatal(err)
	}
	wantDays := []UsageRow{
		{Day: from, Calls: 2, InputTokens: 1_000_000, CachedInputTokens: 10, OutputTokens: 100_000, TotalTokens: 1_100_010, CostUSD: dec("4.000003")},
		{Day: from.AddDate(0, 0, 1), Calls: 2, UnpricedCalls: 1, InputTokens: 5, ReasoningTokens: 1000, TotalTokens: 1005, CostUSD: dec("0.01")},
	}
	checkRows(t, byDay, wantDays)

	byModel, err := e.svc.Usage(ctx, from, to, ByModel)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, byModel, []UsageRow{
		{Provider: "acme", Model: "x", Calls: 1, UnpricedCalls: 1, InputTokens: 5, TotalTokens: 5, CostUSD: dec("0")},
		{Provider: "anthropic", Model: "m2", Calls: 1, CachedInputTokens: 10, OutputTokens: 100_000, TotalTokens: 100_010, CostUSD: dec("1.500003")},
		{Provider: "openai", Model: "m1", Calls: 2, InputTokens: 1_000_000, ReasoningTokens: 1000, TotalTokens: 1_001_000, CostUSD: dec("2.51")},
	})

	empty, err := e.svc.Usage(ctx, from.AddDate(-1, 0, 0), from.AddDate(0, -6, 0), ByDay)
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty period = %v, %v", empty, err)
	}
	for name, c := range map[string]struct {
		from, to time.Time
		by       GroupBy
		field    string
	}{
		"bad group":   {from, to, "week", "group_by"},
		"backwards":   {to, from, ByDay, "to"},
		"no from":     {time.Time{}, to, ByDay, "from"},
		"over a year": {from, from.AddDate(1, 0, 2), ByDay, "to"},
	} {
		if _, err := e.svc.Usage(ctx, c.from, c.to, c.by); len(fault.Fields(err)) != 1 || fault.Fields(err)[0].Name != c.field {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func checkRows(t *testing.T, got, want []UsageRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.CostUSD.Equal(w.CostUSD) {
			t.Errorf("row %d cost %s, want %s", i, g.CostUSD, w.CostUSD)
		}
		g.CostUSD, w.CostUSD = decimal.Zero, decimal.Zero
		if !g.Day.Equal(w.Day) {
			t.Errorf("row %d day %v, want %v", i, g.Day, w.Day)
		}
		g.Day, w.Day = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("row %d = %+v, want %+v", i, g, w)
		}
	}
}
