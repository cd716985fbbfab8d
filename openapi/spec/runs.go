package spec

import (
	"net/http"

	"github.com/ogen-go/ogen"
)

// The runs module's operations beyond CRUD: a run's lifecycle (its status
// moves only through these), its messages, tool calls and LLM calls (nested
// under the run), tool permissions by tool, the budget and usage.
func ptrUint(n uint64) *uint64 { return &n }

func init() {
	nf, conflict := http.StatusNotFound, http.StatusConflict
	run := IDParam("run")
	money := func(desc string) *ogen.Schema {
		return ogen.String().SetFormat("decimal").SetPattern(`^[0-9]+(\.[0-9]+)?$`).SetDescription(desc)
	}
	// An amount the client sends is a plain string held to the pattern, so
	// the server enforces it (a decimal format would let "1e3" or "1."
	// through the decoder); numeric(20,10) holds 10 digits on each side.
	moneyIn := func(desc string) *ogen.Schema {
		return ogen.String().SetPattern(`^[0-9]{1,10}(\.[0-9]{1,10})?$`).SetDescription(desc + ": digits, optionally a point and 1 to 10 more (\"12.50\"); no exponent, sign or trailing point")
	}
	tokens := func(name string) *ogen.Property {
		zero := int64(0)
		return ogen.Int64().SetMinimum(&zero).SetDescription("Default 0").ToProperty(name)
	}
	transition := func(verb, id, summary string, errors ...int) Operation {
		return Operation{Method: http.MethodPost, Path: "/v1/runs/{id}/" + verb, ID: id, Summary: summary,
			Params: []*ogen.Parameter{run}, Result: "Run", Errors: append([]int{nf, conflict}, errors...)}
	}
	complete := transition("complete", "completeRun", "Move a running run to completed, with its final output")
	complete.Body, complete.BodyOptional = "RunCompletion", true
	fail := transition("fail", "failRun", "Fail a pending or running run, saying why")
	fail.Body = "RunFailure"
	status := ogen.NewParameter().SetName("status").SetIn("query").SetDescription("Only runs in this status").
		SetSchema(Ref("RunStatus"))
	filter := func(name, desc string, schema *ogen.Schema) *ogen.Parameter {
		return ogen.NewParameter().SetName(name).SetIn("query").SetDescription(desc).SetSchema(schema)
	}
	runFilters := []*ogen.Parameter{
		status,
		filter("name", "Only runs of this agent name", Str(1, 255)),
		filter("tag", "Only runs carrying this tag", Str(1, 64)),
		filter("thread_id", "Only runs of this thread", Str(1, 255)),
		filter("parent_run_id", "Only the direct children of this run", ogen.UUID()),
	}
	when := func(name, desc string) *ogen.Parameter {
		return ogen.NewParameter().SetName(name).SetIn("query").SetRequired(true).SetDescription(desc).
			SetSchema(ogen.DateTime())
	}
	Register(Module{
		Group: "Runs",
		Operations: []Operation{
			{Method: http.MethodPost, Path: "/v1/runs", ID: "createRun",
				Summary: "Create a pending run, with what it is about",
				Description: "The body is optional: name, input, metadata, tags, parent_run_id (a run of the same user, for sub-agents) and thread_id. " +
					"Refused with 429 when the user already has the maximum of pending or running runs, and with 402 when the month's spend reached a hard budget.",
				Body: "RunCreate", BodyOptional: true, Status: http.StatusCreated, Result: "Run", Errors: []int{http.StatusPaymentRequired}},
			{Method: http.MethodGet, Path: "/v1/runs", ID: "listRuns", Summary: "List runs, newest first",
				Params: append(PageParams(), runFilters...), Result: "RunPage", Errors: []int{http.StatusBadRequest}},
			transition("start", "startRun", "Move a pending run to running"),
			complete,
			fail,
			transition("cancel", "cancelRun", "Cancel a pending or running run"),

			{Method: http.MethodGet, Path: "/v1/runs/{id}/messages", ID: "listRunMessages",
				Summary: "List a run's messages, newest first", Params: append([]*ogen.Parameter{run}, PageParams()...),
				Result: "MessagePage", Errors: []int{http.StatusBadRequest, nf}},
			{Method: http.MethodPost, Path: "/v1/runs/{id}/messages", ID: "appendRunMessage",
				Summary: "Append a message to a pending or running run", Params: []*ogen.Parameter{run},
				Body: "MessageCreate", Status: http.StatusCreated, Result: "Message", Errors: []int{nf, conflict}},

			{Method: http.MethodGet, Path: "/v1/runs/{id}/tool-calls", ID: "listRunToolCalls",
				Summary: "List a run's tool calls, newest first", Params: append([]*ogen.Parameter{run}, PageParams()...),
				Result: "ToolCallPage", Errors: []int{http.StatusBadRequest, nf}},
			{Method: http.MethodPost, Path: "/v1/runs/{id}/tool-calls", ID: "startToolCall",
				Summary:     "Start a tool call (pending) on a pending or running run",
				Description: "Refused with 403 when the user denies the tool (or, for a tool without a permission, the default policy does); nothing is written then.",
				Params:      []*ogen.Parameter{run}, Body: "ToolCallStart", Status: http.StatusCreated, Result: "ToolCall",
				Errors: []int{http.StatusForbidden, nf, conflict}},
			{Method: http.MethodPost, Path: "/v1/tool-calls/{id}/complete", ID: "completeToolCall",
				Summary:     "End a pending tool call with its output or its error",
				Description: "duration_ms is measured by the server from the start to this request.",
				Params:      []*ogen.Parameter{IDParam("tool call")}, Body: "ToolCallCompletion", Result: "ToolCall",
				Errors: []int{nf, conflict}},

			{Method: http.MethodGet, Path: "/v1/runs/{id}/llm-calls", ID: "listRunLLMCalls",
				Summary: "List a run's LLM calls, newest first", Params: append([]*ogen.Parameter{run}, PageParams()...),
				Result: "LLMCallPage", Errors: []int{http.StatusBadRequest, nf}},
			{Method: http.MethodPost, Path: "/v1/runs/{id}/llm-calls", ID: "recordLLMCall",
				Summary: "Record an LLM call of a run, costed from the dated model price table",
				Description: "The run's token and cost totals change in the same transaction. Provider and model names are normalized " +
					"(Unicode NFKC, dashes to '-', invisible characters removed, lower case) and stored so. A model missing from the price table " +
					"is recorded with its tokens and no cost (the cost fields are absent), except under a hard budget: then it is refused " +
					"with 402 UNPRICED_MODEL unless the operator allows unpriced models (RUNS_ALLOW_UNPRICED_MODELS). " +
					"Refused with 402 BUDGET_EXCEEDED when the month's spend reached a hard budget.",
				Params: []*ogen.Parameter{run}, Body: "LLMCallCreate", Status: http.StatusCreated, Result: "LLMCall",
				Errors: []int{http.StatusPaymentRequired, nf, conflict}},

			{Method: http.MethodPut, Path: "/v1/tool-permissions", ID: "setToolPermission",
				Summary: "Allow or deny a tool, replacing the tool's current permission",
				Body:    "ToolPermissionSet", Result: "ToolPermission"},

			{Method: http.MethodGet, Path: "/v1/budget", ID: "getBudget",
				Summary: "Read the monthly budget and this month's spend", Result: "Budget", Errors: []int{nf}},
			{Method: http.MethodPut, Path: "/v1/budget", ID: "putBudget",
				Summary: "Set the monthly budget", Body: "BudgetSet", Result: "Budget"},
			{Method: http.MethodDelete, Path: "/v1/budget", ID: "deleteBudget",
				Summary: "Remove the budget: spending is no longer limited", Status: http.StatusNoContent, Errors: []int{nf}},

			{Method: http.MethodGet, Path: "/v1/usage", ID: "getUsage",
				Summary: "Tokens and cost of LLM calls in [from, to), by UTC day or by model",
				Params: []*ogen.Parameter{
					when("from", "Start of the period (inclusive)"),
					when("to", "End of the period (exclusive); at most 366 days after from"),
					ogen.NewParameter().SetName("group_by").SetIn("query").SetRequired(true).SetSchema(Enum("day", "model")),
				},
				Result: "UsageReport", Errors: []int{http.StatusBadRequest}},
		},
		Schemas: map[string]*ogen.Schema{
			"RunPage":      PageOf("Run"),
			"MessagePage":  PageOf("Message"),
			"ToolCallPage": PageOf("ToolCall"),
			"LLMCallPage":  PageOf("LLMCall"),
			"RunCreate": ogen.NewSchema().SetType("object").AddOptionalProperties(
				Str(1, 255).SetDescription("The agent's name").ToProperty("name"),
				ogen.NewSchema().SetDescription("The run's input: any JSON value, at most 1 MiB as JSON").ToProperty("input"),
				freeObject("Your own data, at most 16 KiB as JSON").ToProperty("metadata"),
				Str(1, 64).AsArray().SetMaxItems(ptrUint(32)).SetUniqueItems(true).
					SetDescription("Labels to filter runs by; at most 32").ToProperty("tags"),
				ogen.UUID().SetDescription("The run that started this one (a sub-agent); a run of the same user").ToProperty("parent_run_id"),
				Str(1, 255).SetDescription("The conversation the run belongs to").ToProperty("thread_id")),
			"RunCompletion": ogen.NewSchema().SetType("object").AddOptionalProperties(
				ogen.NewSchema().SetDescription("The run's final output: any JSON value, at most 1 MiB as JSON").ToProperty("output")),
			"RunFailure": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Str(1, 16384).SetDescription("Why the run failed").ToProperty("error")),
			"MessageCreate": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Ref("MessageRole").ToProperty("role"),
				Str(1, 1<<20).ToProperty("content"),
			).AddOptionalProperties(
				Str(1, 255).SetDescription("Required on tool messages: the tool call the message answers").ToProperty("tool_call_id")),
			"ToolCallStart": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Str(1, 255).ToProperty("tool_id"),
			).AddOptionalProperties(
				(&ogen.Schema{Type: "object", AdditionalProperties: &ogen.AdditionalProperties{Bool: new(true)}}).
					SetDescription("The tool's arguments").ToProperty("input")),
			"ToolCallCompletion": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Enum("success", "error").ToProperty("status"),
			).AddOptionalProperties(
				ogen.NewSchema().SetDescription("Any JSON value: required on success").ToProperty("output"),
				Str(1, 16384).SetDescription("Required on error").ToProperty("error")),
			"LLMCallCreate": ogen.NewSchema().SetType("object").SetDescription(
				"Tokens by usage type, disjoint: input excludes cached input, output excludes reasoning.").
				AddRequiredProperties(Str(1, 64).ToProperty("provider"), Str(1, 128).ToProperty("model")).
				AddOptionalProperties(tokens("input_tokens"), tokens("cached_input_tokens"),
					tokens("output_tokens"), tokens("reasoning_tokens")),
			"ToolPermissionSet": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Str(1, 255).ToProperty("tool_id"), Ref("ToolPermissionEffect").ToProperty("effect")),
			"BudgetSet": ogen.NewSchema().SetType("object").AddRequiredProperties(
				moneyIn("Monthly limit in USD").ToProperty("limit_usd"),
			).AddOptionalProperties(
				moneyIn("Warning threshold in USD, at most limit_usd").ToProperty("soft_limit_usd"),
				ogen.Bool().SetDescription("Refuse new runs and LLM calls at the limit (default true); false only warns").ToProperty("hard")),
			"Budget": ogen.NewSchema().SetType("object").AddRequiredProperties(
				money("Monthly limit in USD").ToProperty("limit_usd"),
				ogen.Bool().ToProperty("hard"),
				money("Cost of this month's priced LLM calls").ToProperty("spent_usd"),
				ogen.DateTime().SetDescription("Start of the month (UTC)").ToProperty("period_start"),
				ogen.DateTime().SetDescription("End of the month (UTC), exclusive").ToProperty("period_end"),
				ogen.DateTime().ToProperty("updated_at"),
			).AddOptionalProperties(money("Warning threshold in USD").ToProperty("soft_limit_usd")),
			"UsageReport": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Enum("day", "model").ToProperty("group_by"),
				ogen.DateTime().ToProperty("from"),
				ogen.DateTime().ToProperty("to"),
				Ref("UsageRow").AsArray().ToProperty("rows"),
			),
			"UsageRow": ogen.NewSchema().SetType("object").AddRequiredProperties(
				ogen.Int64().ToProperty("calls"),
				ogen.Int64().SetDescription("Calls of models without a price: tokens counted, no cost").ToProperty("unpriced_calls"),
				ogen.Int64().ToProperty("input_tokens"),
				ogen.Int64().ToProperty("cached_input_tokens"),
				ogen.Int64().ToProperty("output_tokens"),
				ogen.Int64().ToProperty("reasoning_tokens"),
				ogen.Int64().ToProperty("total_tokens"),
				money("Cost of the priced calls in USD").ToProperty("cost_usd"),
			).AddOptionalProperties(
				ogen.String().SetFormat("date").SetDescription("The UTC day (group_by=day)").ToProperty("day"),
				ogen.String().SetDescription("group_by=model").ToProperty("provider"),
				ogen.String().SetDescription("group_by=model").ToProperty("model"),
			),
		},
	})
}
