package realtime

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// TestValidateWorkerEvent: each worker type's data, field by field, with
// the field a refusal names ("" for accepted).
func TestValidateWorkerEvent(t *testing.T) {
	for _, c := range []struct {
		typ   events.Type
		data  string
		field string
	}{
		{events.AgentToken, `{"text":"a"}`, ""},
		{events.AgentToken, ` {"t\u0065xt" : "a"} `, ""}, // names compare as decoded
		{events.AgentToken, `{"text":"é"}`, ""},
		{events.AgentToken, `{"text":"` + strings.Repeat("é", 16384) + `"}`, ""},
		{events.AgentToken, `{"text":"` + strings.Repeat("é", 16385) + `"}`, "data.text"},
		{events.AgentToken, `{}`, "data.text"},
		{events.AgentToken, ``, "data.text"},
		{events.AgentToken, `{"text":null}`, "data.text"},
		{events.AgentToken, `{"text":""}`, "data.text"},
		{events.AgentToken, `{"text":5}`, "data"},
		{events.AgentToken, `{"text":"a","txt":"b"}`, "data"},
		{events.AgentToken, `{"Text":"a"}`, "data"},
		// Names match exactly: encoding/json took "TEXT" as a second text and
		// kept the last, so a 20,000-character text passed the length check.
		{events.AgentToken, `{"text":"` + strings.Repeat("x", 20000) + `","TEXT":"a"}`, "data"},
		{events.AgentToken, `["text"]`, "data"},
		{events.AgentToken, `{"text":"a"`, "data"},
		{events.AgentToken, `{"text":"bad \x escape"}`, "data"},
		{events.AgentToolCall, `{"tool_call_id":"c1","name":"n","input":{"q":[1,2]}}`, ""},
		{events.AgentToolCall, `{"tool_call_id":"c1","name":"n"}`, ""},
		{events.AgentToolCall, `{"tool_call_id":"c1","name":"n","input":null}`, "data.input"},
		{events.AgentToolCall, `{"tool_call_id":"c1","name":"n","input":[1]}`, "data.input"},
		{events.AgentToolCall, `{"tool_call_id":"c1"}`, "data.name"},
		{events.AgentToolCall, `{"tool_call_id":"` + strings.Repeat("x", 201) + `","name":"n"}`, "data.tool_call_id"},
		{events.AgentToolResult, `{"tool_call_id":"c1","output":"done","is_error":false}`, ""},
		{events.AgentToolResult, `{"tool_call_id":"c1","output":null,"is_error":null}`, ""},
		{events.AgentToolResult, `{"tool_call_id":"c1"}`, "data.output"},
		{events.AgentToolResult, `{"tool_call_id":"c1","output":1,"is_error":"yes"}`, "data"},
		{events.AgentFinal, `{"content":""}`, ""},
		{events.AgentFinal, `{"content":"` + strings.Repeat("x", 65537) + `"}`, "data.content"},
		{events.AgentError, `{"message":"m","code":"c"}`, ""},
		{events.AgentError, `{"message":"m","code":""}`, "data.code"},
		{events.AgentError, `{"code":"x"}`, "data.message"},
		{events.RunStatus, `{"status":"running"}`, "type"},
	} {
		err := validateWorkerEvent(c.typ, json.RawMessage(c.data))
		name := c.data
		if len(name) > 60 {
			name = name[:60] + "…"
		}
		if c.field == "" {
			if err != nil {
				t.Errorf("%s %s: %v", c.typ, name, err)
			}
			continue
		}
		f, ok := fault.As(err)
		if !ok || f.Kind != fault.Invalid || len(f.Fields) == 0 || f.Fields[0].Name != c.field {
			t.Errorf("%s %s: %v, want a refusal of %s", c.typ, name, err, c.field)
		}
	}
}

func TestWorkerTypesFitValidation(t *testing.T) {
	for typ, fields := range workerTypes {
		if len(fields) > maxDataFields {
			t.Errorf("%s has %d data fields; validateWorkerEvent keeps %d", typ, len(fields), maxDataFields)
		}
	}
}
