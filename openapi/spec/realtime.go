package spec

import (
	"net/http"

	"github.com/ogen-go/ogen"
)

// MaxRunEventBatch caps the events of one POST /v1/runs/{id}/event-batches.
const MaxRunEventBatch = 100

// The realtime module: agent workers stream a run's events into it over
// HTTP, and clients receive them on GET /v1/ws (a WebSocket, outside the
// OpenAPI operations; docs/realtime.md). The WebSocket's messages are
// declared here too, so that generated clients get their types.
func init() {
	obj := func() *ogen.Schema { return ogen.NewSchema().SetType("object") }
	anyObject := func(desc string) *ogen.Schema {
		sc := obj().SetDescription(desc)
		sc.AdditionalProperties = &ogen.AdditionalProperties{Bool: ptr(true)}
		return sc
	}
	seq := ogen.Int64().SetDescription("Position in the user's event stream: +1 per event")
	Register(Module{
		Group: "Realtime",
		Operations: []Operation{
			{Method: http.MethodPost, Path: "/v1/runs/{id}/events", ID: "emitRunEvent",
				Summary: "Stream an event of a run to its owner's sockets",
				Description: "For agent workers holding the run owner's access token. The event is numbered in " +
					"the owner's stream and delivered to the sockets subscribed to the run (GET /v1/ws); the " +
					"answer is the event as delivered. data must match the type: AgentTokenData, " +
					"AgentToolCallData, AgentToolResultData, AgentFinalData or AgentErrorData.",
				Params: []*ogen.Parameter{IDParam("run")}, Body: "RunEventCreate",
				Status: http.StatusAccepted, Result: "RealtimeEvent", Errors: []int{http.StatusNotFound, http.StatusConflict}},
			{Method: http.MethodPost, Path: "/v1/runs/{id}/event-batches", ID: "emitRunEvents",
				Summary: "Stream several events of a run at once",
				Description: "emitRunEvent for 1 to 100 events in one request, for workers that buffer (token " +
					"fragments): all are accepted, numbered consecutively in the order given and delivered in that " +
					"order, or none is (one bad event refuses the batch, naming it as events[i]).",
				Params: []*ogen.Parameter{IDParam("run")}, Body: "RunEventBatch",
				Status: http.StatusAccepted, Result: "RealtimeEventBatch", Errors: []int{http.StatusNotFound, http.StatusConflict}},
		},
		Schemas: map[string]*ogen.Schema{
			"RunEventType": Enum("agent.token", "agent.tool_call", "agent.tool_result", "agent.final", "agent.error").
				SetDescription("What an agent worker may emit into a run"),
			"RunEventCreate": obj().AddRequiredProperties(
				Ref("RunEventType").ToProperty("type"),
				anyObject("The event's payload, by type: AgentTokenData, AgentToolCallData, AgentToolResultData, AgentFinalData, AgentErrorData").ToProperty("data"),
			),
			"RunEventBatch": obj().AddRequiredProperties(
				Ref("RunEventCreate").AsArray().SetMinItems(ptr(uint64(1))).SetMaxItems(ptr(uint64(MaxRunEventBatch))).ToProperty("events"),
			),
			"RealtimeEventBatch": obj().AddRequiredProperties(
				Ref("RealtimeEvent").AsArray().SetDescription("The events as delivered, in the order given").ToProperty("events"),
			),
			"AgentTokenData": obj().AddRequiredProperties(
				Str(1, 16384).SetDescription("The next piece of the agent's output").ToProperty("text"),
			),
			"AgentToolCallData": obj().AddRequiredProperties(
				Str(1, 200).ToProperty("tool_call_id"),
				Str(1, 200).SetDescription("The tool's name").ToProperty("name"),
			).AddOptionalProperties(anyObject("The tool's arguments").ToProperty("input")),
			"AgentToolResultData": obj().AddRequiredProperties(
				Str(1, 200).ToProperty("tool_call_id"),
				ogen.NewSchema().SetDescription("What the tool returned (any JSON)").ToProperty("output"),
			).AddOptionalProperties(ogen.Bool().SetDescription("The tool failed; output says why").ToProperty("is_error")),
			"AgentFinalData": obj().AddRequiredProperties(
				ogen.String().SetMaxLength(ptr(uint64(65536))).SetDescription("The agent's final answer. The limit is in bytes: " +
					"the data as JSON ({\"content\":\"...\"}) must fit in REALTIME_MAX_EVENT_BYTES (65536 by default), so with the default " +
					"content holds at most 65522 bytes once JSON-escaped (fewer characters when they take several bytes or need escaping)").ToProperty("content"),
			),
			"AgentErrorData": obj().AddRequiredProperties(
				Str(1, 2000).ToProperty("message"),
			).AddOptionalProperties(Str(1, 100).ToProperty("code")),

			"RealtimeEventType": Enum("agent.token", "agent.tool_call", "agent.tool_result", "agent.final",
				"agent.error", "run.status", "run.message", "budget.warning"),
			"RealtimeEvent": obj().SetDescription("An event on GET /v1/ws").AddRequiredProperties(
				Ref("RealtimeEventType").ToProperty("type"),
				seq.ToProperty("seq"),
				ogen.DateTime().ToProperty("ts"),
				anyObject("The event's payload, by type").ToProperty("data"),
			).AddOptionalProperties(ogen.UUID().SetDescription("The run, for run events").ToProperty("run_id")),
			"RealtimeClientMessage": obj().SetDescription("A message a client sends on GET /v1/ws").AddRequiredProperties(
				Enum("subscribe", "unsubscribe", "resume", "ping", "auth").ToProperty("type"),
			).AddOptionalProperties(
				messageID().SetDescription("Echoed in the reply, as sent: a string of 1 to 64 characters or an integer").ToProperty("id"),
				ogen.UUID().SetDescription("subscribe, unsubscribe").ToProperty("run_id"),
				ogen.String().SetDescription("resume: the epoch of the last event seen").ToProperty("epoch"),
				ogen.Int64().SetDescription("resume: the seq of the last event seen").ToProperty("seq"),
				ogen.String().SetDescription("auth: a fresh access token of the same user").ToProperty("token"),
			),
			"RealtimeReply": obj().SetDescription("A message GET /v1/ws sends that is not an event").AddRequiredProperties(
				Enum("connected", "subscribed", "unsubscribed", "resumed", "pong", "authed", "error").ToProperty("type"),
			).AddOptionalProperties(
				messageID().SetDescription("The id of the message answered, as it was sent (a string or an integer)").ToProperty("id"),
				ogen.UUID().SetDescription("subscribed, unsubscribed").ToProperty("run_id"),
				ogen.String().SetDescription("connected, resumed: the stream's epoch").ToProperty("epoch"),
				ogen.Int64().SetDescription("connected, resumed: the stream position the socket started at").ToProperty("seq"),
				ogen.Bool().SetDescription("resumed: every missed event follows; false: reload state").ToProperty("recovered"),
				ogen.Int64().SetDescription("resumed: how many missed events follow").ToProperty("missed"),
				ogen.DateTime().SetDescription("connected, authed: when the access token expires").ToProperty("expires_at"),
				Enum("VALIDATION_ERROR", "TOKEN_EXPIRED", "INTERNAL").SetDescription("error").ToProperty("code"),
				ogen.String().SetDescription("error").ToProperty("message"),
			),
		},
	})
}

func ptr[T any](v T) *T { return &v }

// messageID is a client message's id: a string or an integer, echoed as
// sent (clients number their requests or name them).
func messageID() *ogen.Schema {
	return ogen.NewSchema().SetOneOf([]*ogen.Schema{Str(1, 64), ogen.Int64()})
}
