package runs

import (
	"context"
	"encoding/json"

	"github.com/go-faster/jx"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/ent/apiview"
	"github.com/jarvis-core/jarvis/ent/message"
	"github.com/jarvis-core/jarvis/ent/toolcall"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/runs/pricing"
	"github.com/jarvis-core/jarvis/openapi"
)

// Handler serves the Runs operation group.
type Handler struct{ svc *Service }

// NewHandler returns the runs module's operation-group handler.
func NewHandler(s *Service) *Handler { return &Handler{svc: s} }

var _ openapi.RunsHandler = (*Handler)(nil)

// defaultPageSize is a list's page size when the request names none.
const defaultPageSize = 20

// CreateRun implements openapi.RunsHandler.
func (h *Handler) CreateRun(ctx context.Context, req openapi.OptRunCreate) (*openapi.Run, error) {
	var in RunInput
	if b, ok := req.Get(); ok {
		meta, err := decodeObject("metadata", b.Metadata.Or(nil))
		if err != nil {
			return nil, err
		}
		in = RunInput{Name: b.Name.Or(""), Input: json.RawMessage(b.Input), Metadata: meta, Tags: b.Tags,
			ParentRunID: b.ParentRunID.Or(uuid.Nil), ThreadID: b.ThreadID.Or("")}
	}
	r, err := h.svc.Create(ctx, in)
	if err != nil {
		return nil, err
	}
	return apiview.Run(r), nil
}

// ListRuns implements openapi.RunsHandler.
func (h *Handler) ListRuns(ctx context.Context, p openapi.ListRunsParams) (*openapi.RunPage, error) {
	pg, err := db.NewPage(p.Limit.Or(defaultPageSize), p.Cursor.Or(""))
	if err != nil {
		return nil, err
	}
	rows, err := h.svc.List(ctx, pg, RunFilter{Status: agentrun.Status(p.Status.Or("")), Name: p.Name.Or(""),
		Tag: p.Tag.Or(""), ThreadID: p.ThreadID.Or(""), ParentRunID: p.ParentRunID.Or(uuid.Nil)})
	if err != nil {
		return nil, err
	}
	items, next := apiview.RunItems(rows, pg)
	return &openapi.RunPage{Items: items, NextCursor: next}, nil
}

// GetRun implements openapi.RunsHandler.
func (h *Handler) GetRun(ctx context.Context, p openapi.GetRunParams) (*openapi.Run, error) {
	return runView(h.svc.Get(ctx, p.ID))
}

// StartRun implements openapi.RunsHandler.
func (h *Handler) StartRun(ctx context.Context, p openapi.StartRunParams) (*openapi.Run, error) {
	return runView(h.svc.Start(ctx, p.ID))
}

// CompleteRun implements openapi.RunsHandler.
func (h *Handler) CompleteRun(ctx context.Context, req openapi.OptRunCompletion, p openapi.CompleteRunParams) (*openapi.Run, error) {
	var output json.RawMessage
	if b, ok := req.Get(); ok {
		output = json.RawMessage(b.Output)
	}
	return runView(h.svc.Complete(ctx, p.ID, output))
}

// FailRun implements openapi.RunsHandler.
func (h *Handler) FailRun(ctx context.Context, req *openapi.RunFailure, p openapi.FailRunParams) (*openapi.Run, error) {
	return runView(h.svc.Fail(ctx, p.ID, req.Error))
}

// CancelRun implements openapi.RunsHandler.
func (h *Handler) CancelRun(ctx context.Context, p openapi.CancelRunParams) (*openapi.Run, error) {
	return runView(h.svc.Cancel(ctx, p.ID))
}

// decodeObject turns an API object (raw JSON values) into the map ent
// stores.
func decodeObject(field string, m map[string]jx.Raw) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, raw := range m {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fault.InvalidField(field, "must be a JSON object").Wrap(err)
		}
		out[k] = v
	}
	return out, nil
}

func runView(r *ent.AgentRun, err error) (*openapi.Run, error) {
	if err != nil {
		return nil, err
	}
	return apiview.Run(r), nil
}

// ListRunMessages implements openapi.RunsHandler.
func (h *Handler) ListRunMessages(ctx context.Context, p openapi.ListRunMessagesParams) (*openapi.MessagePage, error) {
	pg, err := db.NewPage(p.Limit.Or(defaultPageSize), p.Cursor.Or(""))
	if err != nil {
		return nil, err
	}
	rows, err := h.svc.ListMessages(ctx, p.ID, pg)
	if err != nil {
		return nil, err
	}
	items, next := apiview.MessageItems(rows, pg)
	return &openapi.MessagePage{Items: items, NextCursor: next}, nil
}

// AppendRunMessage implements openapi.RunsHandler.
func (h *Handler) AppendRunMessage(ctx context.Context, req *openapi.MessageCreate, p openapi.AppendRunMessageParams) (*openapi.Message, error) {
	m, err := h.svc.AppendMessage(ctx, p.ID, MessageInput{
		Role: message.Role(req.Role), Content: req.Content, ToolCallID: req.ToolCallID.Or(""),
	})
	if err != nil {
		return nil, err
	}
	return apiview.Message(m), nil
}

// ListRunToolCalls implements openapi.RunsHandler.
func (h *Handler) ListRunToolCalls(ctx context.Context, p openapi.ListRunToolCallsParams) (*openapi.ToolCallPage, error) {
	pg, err := db.NewPage(p.Limit.Or(defaultPageSize), p.Cursor.Or(""))
	if err != nil {
		return nil, err
	}
	rows, err := h.svc.ListToolCalls(ctx, p.ID, pg)
	if err != nil {
		return nil, err
	}
	items, next := apiview.ToolCallItems(rows, pg)
	return &openapi.ToolCallPage{Items: items, NextCursor: next}, nil
}

// StartToolCall implements openapi.RunsHandler.
func (h *Handler) StartToolCall(ctx context.Context, req *openapi.ToolCallStart, p openapi.StartToolCallParams) (*openapi.ToolCall, error) {
	input, err := decodeObject("input", req.Input.Or(nil))
	if err != nil {
		return nil, err
	}
	tc, err := h.svc.StartToolCall(ctx, p.ID, req.ToolID, input)
	if err != nil {
		return nil, err
	}
	return apiview.ToolCall(tc), nil
}

// CompleteToolCall implements openapi.RunsHandler.
func (h *Handler) CompleteToolCall(ctx context.Context, req *openapi.ToolCallCompletion, p openapi.CompleteToolCallParams) (*openapi.ToolCall, error) {
	tc, err := h.svc.CompleteToolCall(ctx, p.ID, ToolOutcome{
		Status: toolcall.Status(req.Status), Output: json.RawMessage(req.Output), Error: req.Error.Or(""),
	})
	if err != nil {
		return nil, err
	}
	return apiview.ToolCall(tc), nil
}

// GetToolCall implements openapi.RunsHandler.
func (h *Handler) GetToolCall(ctx context.Context, p openapi.GetToolCallParams) (*openapi.ToolCall, error) {
	tc, err := h.svc.GetToolCall(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return apiview.ToolCall(tc), nil
}

// ListRunLLMCalls implements openapi.RunsHandler.
func (h *Handler) ListRunLLMCalls(ctx context.Context, p openapi.ListRunLLMCallsParams) (*openapi.LLMCallPage, error) {
	pg, err := db.NewPage(p.Limit.Or(defaultPageSize), p.Cursor.Or(""))
	if err != nil {
		return nil, err
	}
	rows, err := h.svc.ListLLMCalls(ctx, p.ID, pg)
	if err != nil {
		return nil, err
	}
	items, next := apiview.LLMCallItems(rows, pg)
	return &openapi.LLMCallPage{Items: items, NextCursor: next}, nil
}

// GetLLMCall implements openapi.RunsHandler.
func (h *Handler) GetLLMCall(ctx context.Context, p openapi.GetLLMCallParams) (*openapi.LLMCall, error) {
	c, err := h.svc.GetLLMCall(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return apiview.LLMCall(c), nil
}

// RecordLLMCall implements openapi.RunsHandler.
func (h *Handler) RecordLLMCall(ctx context.Context, req *openapi.LLMCallCreate, p openapi.RecordLLMCallParams) (*openapi.LLMCall, error) {
	c, err := h.svc.RecordLLMCall(ctx, p.ID, LLMCallInput{Provider: req.Provider, Model: req.Model, Usage: pricing.Usage{
		Input: req.InputTokens.Or(0), CachedInput: req.CachedInputTokens.Or(0),
		Output: req.OutputTokens.Or(0), Reasoning: req.ReasoningTokens.Or(0),
	}})
	if err != nil {
		return nil, err
	}
	return apiview.LLMCall(c), nil
}

// ListToolPermissions implements openapi.RunsHandler.
func (h *Handler) ListToolPermissions(ctx context.Context, p openapi.ListToolPermissionsParams) (*openapi.ToolPermissionPage, error) {
	pg, err := db.NewPage(p.Limit.Or(defaultPageSize), p.Cursor.Or(""))
	if err != nil {
		return nil, err
	}
	rows, err := h.svc.ListToolPermissions(ctx, pg)
	if err != nil {
		return nil, err
	}
	return apiview.ToolPermissionPage(rows, pg), nil
}

// SetToolPermission implements openapi.RunsHandler.
func (h *Handler) SetToolPermission(ctx context.Context, req *openapi.ToolPermissionSet) (*openapi.ToolPermission, error) {
	tp, err := h.svc.SetToolPermission(ctx, req.ToolID, ToolPolicy(req.Effect))
	if err != nil {
		return nil, err
	}
	return apiview.ToolPermission(tp), nil
}

// DeleteToolPermission implements openapi.RunsHandler.
func (h *Handler) DeleteToolPermission(ctx context.Context, p openapi.DeleteToolPermissionParams) error {
	return h.svc.DeleteToolPermission(ctx, p.ID)
}

// GetBudget implements openapi.RunsHandler.
func (h *Handler) GetBudget(ctx context.Context) (*openapi.Budget, error) {
	return budgetView(h.svc.GetBudget(ctx))
}

// PutBudget implements openapi.RunsHandler.
func (h *Handler) PutBudget(ctx context.Context, req *openapi.BudgetSet) (*openapi.Budget, error) {
	// The decoder held both amounts to the spec's pattern (plain digits, an
	// optional point with 1 to 10 more): what parses here is what was sent.
	limit, err := decimal.NewFromString(req.LimitUsd)
	if err != nil {
		return nil, fault.InvalidField("limit_usd", "must be an amount like 12.50").Wrap(err)
	}
	in := BudgetInput{LimitUSD: limit, Hard: req.Hard.Or(true)}
	if v, ok := req.SoftLimitUsd.Get(); ok {
		soft, err := decimal.NewFromString(v)
		if err != nil {
			return nil, fault.InvalidField("soft_limit_usd", "must be an amount like 10.00").Wrap(err)
		}
		in.SoftLimitUSD = &soft
	}
	return budgetView(h.svc.PutBudget(ctx, in))
}

// DeleteBudget implements openapi.RunsHandler.
func (h *Handler) DeleteBudget(ctx context.Context) error { return h.svc.DeleteBudget(ctx) }

func budgetView(st *BudgetStatus, err error) (*openapi.Budget, error) {
	if err != nil {
		return nil, err
	}
	b := st.Budget
	v := &openapi.Budget{LimitUsd: b.LimitUsd, Hard: b.Hard, SpentUsd: st.SpentUSD,
		PeriodStart: st.PeriodStart, PeriodEnd: st.PeriodEnd, UpdatedAt: b.UpdatedAt}
	if b.SoftLimitUsd.Valid {
		v.SoftLimitUsd = openapi.NewOptStringDecimal(b.SoftLimitUsd.Decimal)
	}
	return v, nil
}

// GetUsage implements openapi.RunsHandler.
func (h *Handler) GetUsage(ctx context.Context, p openapi.GetUsageParams) (*openapi.UsageReport, error) {
	rows, err := h.svc.Usage(ctx, p.From, p.To, GroupBy(p.GroupBy))
	if err != nil {
		return nil, err
	}
	out := &openapi.UsageReport{GroupBy: openapi.UsageReportGroupBy(p.GroupBy), From: p.From, To: p.To,
		Rows: make([]openapi.UsageRow, 0, len(rows))}
	for _, r := range rows {
		v := openapi.UsageRow{Calls: r.Calls, UnpricedCalls: r.UnpricedCalls, InputTokens: r.InputTokens,
			CachedInputTokens: r.CachedInputTokens, OutputTokens: r.OutputTokens, ReasoningTokens: r.ReasoningTokens,
			TotalTokens: r.TotalTokens, CostUsd: r.CostUSD}
		if p.GroupBy == openapi.GetUsageGroupByDay {
			v.Day = openapi.NewOptDate(r.Day)
		} else {
			v.Provider, v.Model = openapi.NewOptString(r.Provider), openapi.NewOptString(r.Model)
		}
		out.Rows = append(out.Rows, v)
	}
	return out, nil
}
