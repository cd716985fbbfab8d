package runs

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/ent/llmcall"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

// testPrices is a table whose one model changes price at change.
func testPrices(t *testing.T, change time.Time) *pricing.Table {
	t.Helper()
	tbl, err := pricing.Parse(fmt.Appendf(nil, `{"models": [
		{"provider": "openai", "model": "m1", "prices": [
			{"from": "2020-01-01", "input": "2.50", "cached_input": "1.25", "output": "10", "reasoning": "10"},
			{"from": %q, "input": "1", "cached_input": "0.5", "output": "4", "reasoning": "4"}]},
		{"provider": "anthropic", "model": "m2", "prices": [
			{"from": "2020-01-01", "input": "3", "cached_input": "0.3", "output": "15", "reasoning": "15"}]}]}`,
		change.Format(time.DateOnly)))
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func TestRecordLLMCallCostsEveryUsageType(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)
	call, err := e.svc.RecordLLMCall(ctx, run.ID, LLMCallInput{
		Provider: "OpenAI", Model: "gpt-4o-mini",
		Usage: pricing.Usage{Input: 1200, CachedInput: 800, Output: 350, Reasoning: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	// gpt-4o-mini: 0.15 / 0.075 / 0.60 per million.
	want := map[string]string{"input": "0.00018", "cached_input": "0.00006", "output": "0.00021", "reasoning": "0", "total": "0.00045"}
	got := e.owner.LLMCall.GetX(sys(), call.ID) // as stored
	for name, v := range map[string]decimal.NullDecimal{"input": got.InputCost, "cached_input": got.CachedInputCost,
		"output": got.OutputCost, "reasoning": got.ReasoningCost, "total": got.TotalCost} {
		if !v.Valid || !v.Decimal.Equal(dec(want[name])) {
			t.Errorf("%s cost = %v, want %s", name, v, want[name])
		}
	}
	if got.Provider != "openai" || got.PriceVersion != "2024-07-18" || got.InputTokens != 1200 {
		t.Fatalf("stored = %+v", got)
	}
	r := e.reload(t, run.ID)
	if r.InputTokens != 1200 || r.CachedInputTokens != 800 || r.OutputTokens != 350 || r.TotalTokens != 2350 ||
		!r.TotalCost.Equal(dec("0.00045")) || r.UnpricedCalls != 0 {
		t.Fatalf("run totals = %+v", r)
	}
	// Money leaves as strings.
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"total_cost":"0.00045"`) {
		t.Fatalf("JSON = %s", b)
	}
}

func TestUnknownModelIsRecordedWithoutACost(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)
	if _, err := e.svc.RecordLLMCall(ctx, run.ID, LLMCallInput{Provider: "openai", Model: "gpt-4o", Usage: pricing.Usage{Input: 1000}}); err != nil {
		t.Fatal(err)
	}
	call, err := e.svc.RecordLLMCall(ctx, run.ID, LLMCallInput{Provider: "acme", Model: "brain-9000", Usage: pricing.Usage{Input: 100, Output: 7}})
	if err != nil {
		t.Fatal(err)
	}
	got := e.owner.LLMCall.GetX(sys(), call.ID)
	if got.TotalCost.Valid || got.InputCost.Valid || got.OutputCost.Valid || got.PriceVersion != "" || got.InputTokens != 100 {
		t.Fatalf("unknown model stored as %+v, want tokens and NULL costs", got)
	}
	null, err := e.owner.LLMCall.Query().Where(llmcall.ID(call.ID), llmcall.TotalCostIsNil()).Exist(sys())
	if err != nil || !null {
		t.Fatalf("total_cost is not NULL in the database: %v", err)
	}
	r := e.reload(t, run.ID)
	if r.TotalTokens != 1107 || r.UnpricedCalls != 1 || !r.TotalCost.Equal(dec("0.0025")) {
		t.Fatalf("run totals = tokens %d, unpriced %d, cost %s", r.TotalTokens, r.UnpricedCalls, r.TotalCost)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"level":"WARN"`) || !strings.Contains(logs, "brain-9000") || !strings.Contains(logs, call.ID.String()) {
		t.Fatalf("no warning naming the model and call: %s", logs)
	}
}

// TestPriceChangeAppliesFromItsDate: a call is costed at the price in force
// when it is recorded; a later price change leaves it as it was.
func TestPriceChangeAppliesFromItsDate(t *testing.T) {
	t.Parallel()
	change := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1) // tomorrow, 00:00 UTC
	e := setup(t, withPrices(testPrices(t, change)))
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)
	in := LLMCallInput{Provider: "openai", Model: "m1", Usage: pricing.Usage{Input: 1_000_000, Output: 1_000_000}}

	e.clock.set(change.Add(-time.Microsecond))
	before, err := e.svc.RecordLLMCall(ctx, run.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.set(change)
	after, err := e.svc.RecordLLMCall(ctx, run.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id      any
		cost    decimal.NullDecimal
		want    string
		version string
		gotVer  string
	}{
		{before.ID, e.owner.LLMCall.GetX(sys(), before.ID).TotalCost, "12.5", "2020-01-01", before.PriceVersion},
		{after.ID, e.owner.LLMCall.GetX(sys(), after.ID).TotalCost, "5", change.Format(time.DateOnly), after.PriceVersion},
	} {
		if !c.cost.Decimal.Equal(dec(c.want)) || c.gotVer != c.version {
			t.Errorf("call %v cost %v at price %s, want %s at %s", c.id, c.cost, c.gotVer, c.want, c.version)
		}
	}
	if r := e.reload(t, run.ID); !r.TotalCost.Equal(dec("17.5")) {
		t.Fatalf("run total = %s, want 17.5", r.TotalCost)
	}
}

// TestRunTotalsEqualTheSumOfCallsUnderConcurrency records 100 calls from
// 20 goroutines on one run: the run's totals equal the sum of its calls.
func TestRunTotalsEqualTheSumOfCallsUnderConcurrency(t *testing.T) {
	t.Parallel()
	e := setup(t, withPrices(testPrices(t, time.Now().AddDate(1, 0, 0))))
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)
	const workers, perWorker = 20, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				n := int64(w*perWorker + i + 1)
				in := LLMCallInput{Provider: "openai", Model: "m1",
					Usage: pricing.Usage{Input: 1000 + n, CachedInput: 3 * n, Output: 17 * n, Reasoning: n % 7}}
				switch n % 3 {
				case 1:
					in.Model, in.Provider = "m2", "anthropic"
				case 2:
					in.Model = "not-priced"
				}
				if _, err := e.svc.RecordLLMCall(ctx, run.ID, in); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// What the run should hold, computed here from the inputs and prices.
	var wantTokens [4]int64
	wantCost, unpriced := decimal.Zero, int64(0)
	prices := testPrices(t, time.Now().AddDate(1, 0, 0))
	for n := int64(1); n <= workers*perWorker; n++ {
		u := pricing.Usage{Input: 1000 + n, CachedInput: 3 * n, Output: 17 * n, Reasoning: n % 7}
		wantTokens[0] += u.Input
		wantTokens[1] += u.CachedInput
		wantTokens[2] += u.Output
		wantTokens[3] += u.Reasoning
		provider, model := "openai", "m1"
		switch n % 3 {
		case 1:
			provider, model = "anthropic", "m2"
		case 2:
			unpriced++
			continue
		}
		p, _ := prices.Lookup(provider, model, time.Now())
		wantCost = wantCost.Add(p.Cost(u).Total)
	}
	r := e.reload(t, run.ID)
	got := [4]int64{r.InputTokens, r.CachedInputTokens, r.OutputTokens, r.ReasoningTokens}
	if got != wantTokens || r.TotalTokens != wantTokens[0]+wantTokens[1]+wantTokens[2]+wantTokens[3] {
		t.Fatalf("run tokens %v (total %d), want %v", got, r.TotalTokens, wantTokens)
	}
	if !r.TotalCost.Equal(wantCost) || r.UnpricedCalls != unpriced {
		t.Fatalf("run cost %s with %d unpriced, want %s with %d", r.TotalCost, r.UnpricedCalls, wantCost, unpriced)
	}
	// And the database's own sum of the calls agrees, to the last digit.
	rows, err := e.owner.QueryContext(sys(), `SELECT count(*), sum(total_cost), sum(input_tokens + cached_input_tokens + output_tokens + reasoning_tokens)
		FROM llm_calls WHERE run_id = $1`, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var (
		calls, tokens int64
		sum           decimal.Decimal
	)
	if !rows.Next() {
		t.Fatal("no sum")
	}
	if err := rows.Scan(&calls, &sum, &tokens); err != nil {
		t.Fatal(err)
	}
	if calls != workers*perWorker || !sum.Equal(r.TotalCost) || tokens != r.TotalTokens {
		t.Fatalf("calls %d summing to %s and %d tokens; run says %s and %d", calls, sum, tokens, r.TotalCost, r.TotalTokens)
	}
	if r.TotalCost.StringFixed(2) != wantCost.StringFixed(2) || r.TotalCost.IsZero() {
		t.Fatalf("to the cent: %s vs %s", r.TotalCost.StringFixed(2), wantCost.StringFixed(2))
	}
}

func TestLLMCallValidation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)
	cases := map[string]struct {
		in     LLMCallInput
		fields string
	}{
		"no provider":     {LLMCallInput{Model: "m"}, "provider"},
		"no model":        {LLMCallInput{Provider: "p", Model: "  "}, "model"},
		"negative tokens": {LLMCallInput{Provider: "p", Model: "m", Usage: pricing.Usage{Output: -1}}, "output_tokens"},
		"absurd tokens":   {LLMCallInput{Provider: "p", Model: "m", Usage: pricing.Usage{Reasoning: 1 << 41}}, "reasoning_tokens"},
		"long names":      {LLMCallInput{Provider: strings.Repeat("p", 65), Model: strings.Repeat("m", 129)}, "provider,model"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.svc.RecordLLMCall(ctx, run.ID, c.in)
			var names []string
			for _, f := range fault.Fields(err) {
				names = append(names, f.Name)
			}
			if strings.Join(names, ",") != c.fields {
				t.Fatalf("fields %v, want %s (%v)", names, c.fields, err)
			}
		})
	}
	if e.count(t, "llm_calls") != 0 || e.reload(t, run.ID).TotalTokens != 0 {
		t.Fatal("refused calls changed something")
	}
}

func TestListLLMCalls(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)
	other := e.runIn(t, e.alice, agentrun.StatusRunning)
	for range 3 {
		if _, err := e.svc.RecordLLMCall(ctx, run.ID, LLMCallInput{Provider: "openai", Model: "gpt-5", Usage: pricing.Usage{Input: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.RecordLLMCall(ctx, other.ID, LLMCallInput{Provider: "openai", Model: "gpt-5", Usage: pricing.Usage{Input: 1}}); err != nil {
		t.Fatal(err)
	}
	list, err := e.svc.ListLLMCalls(ctx, run.ID, pageOf(2))
	if err != nil || len(list) != 3 || list[0].ID.String() < list[1].ID.String() {
		t.Fatalf("list = %d, %v", len(list), err)
	}
	for _, c := range list {
		if c.RunID != run.ID {
			t.Fatalf("call of run %s listed under %s", c.RunID, run.ID)
		}
	}
	// Recording a call emits nothing by itself (no protocol event for it).
	for _, r := range e.rec.Events() {
		if r.Event.Type != events.RunStatus {
			t.Fatalf("unexpected event %s", r.Event.Type)
		}
	}
}

// TestCallsRacingTheEndOfARun records calls while the run completes: each
// call lands before the end (and counts) or is refused, never a deadlock,
// and the totals still equal the calls.
func TestCallsRacingTheEndOfARun(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)
	in := LLMCallInput{Provider: "openai", Model: "gpt-5", Usage: pricing.Usage{Input: 100, Output: 10}}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, lost int
	)
	for range 10 {
		wg.Go(func() {
			for range 10 {
				_, err := e.svc.RecordLLMCall(ctx, run.ID, in)
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case fault.Is(err, fault.Conflict):
					lost++
				default:
					t.Error(err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		time.Sleep(20 * time.Millisecond)
		if _, err := e.svc.Complete(ctx, run.ID, nil); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	r := e.reload(t, run.ID)
	calls := e.count(t, "llm_calls")
	if r.Status != agentrun.StatusCompleted || calls != ok || ok+lost != 100 || r.TotalTokens != int64(ok)*110 {
		t.Fatalf("status %s, %d calls stored, %d accepted, %d refused, %d tokens", r.Status, calls, ok, lost, r.TotalTokens)
	}
}
