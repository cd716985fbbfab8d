package runs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-faster/jx"
	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/openapi"
)

// TestRunsOverHTTP drives the Runs operations through the generated client
// against the real service: what a worker and a user see on the wire.
func TestRunsOverHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, tok := s.SignUp(t, "worker@example.com")
	ctx := context.Background()

	run, err := c.CreateRun(ctx, openapi.OptRunCreate{})
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != openapi.RunStatusPending || run.StartedAt.Set || run.TotalCost.String() != "0" {
		t.Fatalf("created = %+v", run)
	}
	run, err = c.StartRun(ctx, openapi.StartRunParams{ID: run.ID})
	if err != nil || run.Status != openapi.RunStatusRunning || !run.StartedAt.Set {
		t.Fatalf("started = %+v, %v", run, err)
	}
	_, err = c.StartRun(ctx, openapi.StartRunParams{ID: run.ID})
	e := apptest.APIError(t, err, http.StatusConflict, openapi.ErrorResponseErrorCodeCONFLICT)
	if !strings.Contains(e.Message, "from running to running") {
		t.Fatalf("conflict message %q", e.Message)
	}

	msg, err := c.AppendRunMessage(ctx, &openapi.MessageCreate{Role: openapi.MessageRoleTool, Content: "42", ToolCallID: openapi.NewOptString("call_1")},
		openapi.AppendRunMessageParams{ID: run.ID})
	if err != nil || msg.ToolCallID.Or("") != "call_1" || msg.RunID != run.ID {
		t.Fatalf("message = %+v, %v", msg, err)
	}
	_, err = c.AppendRunMessage(ctx, &openapi.MessageCreate{Role: openapi.MessageRoleTool, Content: "42"}, openapi.AppendRunMessageParams{ID: run.ID})
	e = apptest.APIError(t, err, http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR)
	if len(e.Details) != 1 || e.Details[0].Field.Or("") != "tool_call_id" {
		t.Fatalf("details = %+v", e.Details)
	}

	// Tool calls: permissions first.
	if _, err := c.SetToolPermission(ctx, &openapi.ToolPermissionSet{ToolID: "shell", Effect: openapi.ToolPermissionEffectDeny}); err != nil {
		t.Fatal(err)
	}
	_, err = c.StartToolCall(ctx, &openapi.ToolCallStart{ToolID: "shell"}, openapi.StartToolCallParams{ID: run.ID})
	e = apptest.APIError(t, err, http.StatusForbidden, openapi.ErrorResponseErrorCodeFORBIDDEN)
	if !strings.Contains(e.Message, `"shell"`) {
		t.Fatalf("forbidden message %q", e.Message)
	}
	tc, err := c.StartToolCall(ctx, &openapi.ToolCallStart{ToolID: "search",
		Input: openapi.NewOptToolCallStartInput(openapi.ToolCallStartInput{"q": jx.Raw(`"go"`)})}, openapi.StartToolCallParams{ID: run.ID})
	if err != nil || tc.Status != openapi.ToolCallStatusPending || string(tc.Input["q"]) != `"go"` {
		t.Fatalf("tool call = %+v, %v", tc, err)
	}
	tc, err = c.CompleteToolCall(ctx, &openapi.ToolCallCompletion{Status: openapi.ToolCallCompletionStatusSuccess, Output: jx.Raw(`{"hits":[1,2]}`)},
		openapi.CompleteToolCallParams{ID: tc.ID})
	if err != nil || tc.Status != openapi.ToolCallStatusSuccess || compact(t, tc.Output) != `{"hits":[1,2]}` || !tc.DurationMs.Set {
		t.Fatalf("completed = %+v, %v", tc, err)
	}

	// LLM calls: exact decimal strings on the wire; an unknown model has no cost.
	call, err := c.RecordLLMCall(ctx, &openapi.LLMCallCreate{Provider: "openai", Model: "gpt-4o-mini",
		InputTokens: openapi.NewOptInt64(1200), CachedInputTokens: openapi.NewOptInt64(800), OutputTokens: openapi.NewOptInt64(350)},
		openapi.RecordLLMCallParams{ID: run.ID})
	if err != nil || call.TotalCost.Or(decimal.Zero).String() != "0.00045" || call.PriceVersion.Or("") != "2024-07-18" {
		t.Fatalf("call = %+v, %v", call, err)
	}
	unknown, err := c.RecordLLMCall(ctx, &openapi.LLMCallCreate{Provider: "acme", Model: "x-1", InputTokens: openapi.NewOptInt64(5)},
		openapi.RecordLLMCallParams{ID: run.ID})
	if err != nil || unknown.TotalCost.Set || unknown.InputTokens != 5 {
		t.Fatalf("unknown model = %+v, %v", unknown, err)
	}
	raw := s.Do(t, http.MethodGet, "/v1/runs/"+run.ID.String(), tok.AccessToken, "")
	body, _ := io.ReadAll(raw.Body)
	raw.Body.Close()
	if !strings.Contains(string(body), `"total_cost":"0.00045"`) || !strings.Contains(string(body), `"unpriced_calls":1`) {
		t.Fatalf("run JSON = %s", body)
	}
	calls, err := c.ListRunLLMCalls(ctx, openapi.ListRunLLMCallsParams{ID: run.ID, Limit: openapi.NewOptInt(1)})
	if err != nil || len(calls.Items) != 1 || calls.Items[0].ID != unknown.ID || !calls.NextCursor.Set {
		t.Fatalf("page = %+v, %v", calls, err)
	}
	calls, err = c.ListRunLLMCalls(ctx, openapi.ListRunLLMCallsParams{ID: run.ID, Limit: openapi.NewOptInt(1), Cursor: calls.NextCursor})
	if err != nil || len(calls.Items) != 1 || calls.Items[0].ID != call.ID || calls.NextCursor.Set {
		t.Fatalf("page 2 = %+v, %v", calls, err)
	}

	// Usage, summed in SQL.
	now := time.Now().UTC()
	usage, err := c.GetUsage(ctx, openapi.GetUsageParams{From: now.Add(-time.Hour), To: now.Add(time.Hour), GroupBy: openapi.GetUsageGroupByModel})
	if err != nil || len(usage.Rows) != 2 {
		t.Fatalf("usage = %+v, %v", usage, err)
	}
	if r := usage.Rows[1]; r.Model.Or("") != "gpt-4o-mini" || r.CostUsd.String() != "0.00045" || r.TotalTokens != 2350 {
		t.Fatalf("gpt-4o-mini row = %+v", r)
	}
	_, err = c.GetUsage(ctx, openapi.GetUsageParams{From: now, To: now.Add(-time.Hour), GroupBy: openapi.GetUsageGroupByDay})
	apptest.APIError(t, err, http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR)

	// Budget: at the hard stop, 402 saying the limit and the spend.
	if _, err := c.GetBudget(ctx); err == nil {
		t.Fatal("a budget before any was set")
	}
	b, err := c.PutBudget(ctx, &openapi.BudgetSet{LimitUsd: "0.0004"})
	if err != nil || !b.Hard || b.SpentUsd.String() != "0.00045" {
		t.Fatalf("budget = %+v, %v", b, err)
	}
	_, err = c.CreateRun(ctx, openapi.OptRunCreate{})
	e = apptest.APIError(t, err, http.StatusPaymentRequired, openapi.ErrorResponseErrorCodeBUDGETEXCEEDED)
	if !strings.Contains(e.Message, "$0.0004") || !strings.Contains(e.Message, "$0.00045 spent") {
		t.Fatalf("budget message %q", e.Message)
	}
	if err := c.DeleteBudget(ctx); err != nil {
		t.Fatal(err)
	}

	run, err = c.CompleteRun(ctx, openapi.OptRunCompletion{}, openapi.CompleteRunParams{ID: run.ID})
	if err != nil || run.Status != openapi.RunStatusCompleted || !run.CompletedAt.Set {
		t.Fatalf("completed run = %+v, %v", run, err)
	}
	_, err = c.AppendRunMessage(ctx, &openapi.MessageCreate{Role: openapi.MessageRoleUser, Content: "late"}, openapi.AppendRunMessageParams{ID: run.ID})
	apptest.APIError(t, err, http.StatusConflict, openapi.ErrorResponseErrorCodeCONFLICT)

	list, err := c.ListRuns(ctx, openapi.ListRunsParams{Status: openapi.NewOptRunStatus(openapi.RunStatusCompleted)})
	if err != nil || len(list.Items) != 1 || list.Items[0].ID != run.ID {
		t.Fatalf("completed runs = %+v, %v", list, err)
	}
	// Without a status filter every run is listed, whatever its status
	// (the column's default must not leak into the filter).
	if _, err := c.CreateRun(ctx, openapi.OptRunCreate{}); err != nil {
		t.Fatal(err)
	}
	resp := s.Do(t, http.MethodGet, "/v1/runs", tok.AccessToken, "")
	var all struct{ Items []struct{ Status string } }
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("list all: %d %v", resp.StatusCode, err)
	}
	statuses := map[string]int{}
	for _, r := range all.Items {
		statuses[r.Status]++
	}
	if statuses["completed"] == 0 || statuses["pending"] == 0 {
		t.Fatalf("runs listed without a filter: %v, want completed and pending ones", statuses)
	}
}

// TestActiveRunLimitOverHTTP: the 11th active run is 429 with Retry-After.
func TestActiveRunLimitOverHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, tok := s.SignUp(t, "busy@example.com")
	for range 10 {
		if _, err := c.CreateRun(context.Background(), openapi.OptRunCreate{}); err != nil {
			t.Fatal(err)
		}
	}
	resp := s.Do(t, http.MethodPost, "/v1/runs", tok.AccessToken, "")
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "30" ||
		!strings.Contains(string(body), `"code":"RATE_LIMITED"`) {
		t.Fatalf("11th run: %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

// compact is JSON without insignificant space (jsonb stores it normalized).
func compact(t *testing.T, raw []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
