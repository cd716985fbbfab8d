package spec

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// realtimeRoots are the components that describe GET /v1/ws: what a client
// sends, the events and the replies it receives, and the data of the events
// a worker emits. The AsyncAPI document carries them and every component
// they reference, copied from openapi.json, so the two contracts cannot
// describe the protocol differently.
var realtimeRoots = []string{
	"RealtimeClientMessage", "RealtimeEvent", "RealtimeReply",
	"AgentTokenData", "AgentToolCallData", "AgentToolResultData", "AgentFinalData", "AgentErrorData",
}

const schemaRef = "#/components/schemas/"

// AsyncAPI builds the AsyncAPI 3.0 document of the realtime protocol from
// the generated openapi.json: one channel (/v1/ws), the client's messages
// (send) and the server's events and replies (receive), with the schemas
// copied from openapi.json's components. The output is indented JSON with
// sorted keys, stable from run to run.
func AsyncAPI(openapiJSON []byte) ([]byte, error) {
	var doc struct {
		Info struct {
			Title   string `json:"title"`
			Version string `json:"version"`
		} `json:"info"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		return nil, fmt.Errorf("asyncapi: read openapi.json: %w", err)
	}
	schemas := map[string]any{}
	queue := append([]string(nil), realtimeRoots...)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if _, done := schemas[name]; done {
			continue
		}
		raw, ok := doc.Components.Schemas[name]
		if !ok {
			return nil, fmt.Errorf("asyncapi: openapi.json has no schema %s", name)
		}
		var s any
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("asyncapi: schema %s: %w", name, err)
		}
		schemas[name] = s
		queue = append(queue, refsOf(s)...)
	}
	message := func(name, title, summary, schema string) map[string]any {
		return map[string]any{"name": name, "title": title, "summary": summary,
			"contentType": "application/json", "payload": map[string]any{"$ref": schemaRef + schema}}
	}
	ref := func(path string) map[string]any { return map[string]any{"$ref": path} }
	out := map[string]any{
		"asyncapi": "3.0.0",
		"info": map[string]any{
			"title":   doc.Info.Title + " realtime",
			"version": doc.Info.Version,
			"description": "The WebSocket protocol of GET /v1/ws. Authenticate at the handshake with the subprotocols " +
				"`jarvis.v1` and `bearer.<access token>` (or an Authorization header from servers). Every message is one JSON " +
				"text frame. Generated from openapi.json's components (go tool task generate); docs/realtime.md explains the protocol.",
		},
		"defaultContentType": "application/json",
		"channels": map[string]any{
			"realtime": map[string]any{
				"address":     "/v1/ws",
				"title":       "A user's realtime stream",
				"description": "Every socket of a user receives the user's events and the events of the runs it subscribed to.",
				"messages": map[string]any{
					"clientMessage": ref("#/components/messages/clientMessage"),
					"event":         ref("#/components/messages/event"),
					"reply":         ref("#/components/messages/reply"),
				},
			},
		},
		"operations": map[string]any{
			"sendClientMessage": map[string]any{
				"action": "send", "channel": ref("#/channels/realtime"),
				"summary":  "subscribe, unsubscribe, resume, ping or auth",
				"messages": []any{ref("#/channels/realtime/messages/clientMessage")},
			},
			"receiveEvent": map[string]any{
				"action": "receive", "channel": ref("#/channels/realtime"),
				"summary":  "An event of the user's stream, numbered by seq",
				"messages": []any{ref("#/channels/realtime/messages/event")},
			},
			"receiveReply": map[string]any{
				"action": "receive", "channel": ref("#/channels/realtime"),
				"summary":  "The answer to a client message (carrying its id), or connected on open",
				"messages": []any{ref("#/channels/realtime/messages/reply")},
			},
		},
		"components": map[string]any{
			"messages": map[string]any{
				"clientMessage": message("clientMessage", "Client message", "What a client sends", "RealtimeClientMessage"),
				"event":         message("event", "Event", "An event: agent.*, run.*, budget.warning", "RealtimeEvent"),
				"reply":         message("reply", "Reply", "A message that is not an event", "RealtimeReply"),
			},
			"schemas": schemas,
		},
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("asyncapi: %w", err)
	}
	return append(b, '\n'), nil
}

// refsOf lists the component names a schema references, sorted.
func refsOf(v any) []string {
	set := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" && strings.HasPrefix(s, schemaRef) {
					set[strings.TrimPrefix(s, schemaRef)] = true
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
