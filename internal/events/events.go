// Package events is the contract between the modules that emit what happens
// in a run (runs, agent workers over the API) and the realtime module that
// delivers it to the user's sockets. Emitters depend on Publisher only; the
// realtime module provides it (Redis fan-out across instances, or in
// process on a single node).
package events

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/google/uuid"
)

// Type is an event's type on the wire.
type Type string

// The event types of the realtime protocol (design.md).
const (
	AgentToken      Type = "agent.token"
	AgentToolCall   Type = "agent.tool_call"
	AgentToolResult Type = "agent.tool_result"
	AgentFinal      Type = "agent.final"
	AgentError      Type = "agent.error"
	RunStatus       Type = "run.status"
	RunMessage      Type = "run.message"
	BudgetWarning   Type = "budget.warning"
	// ConnectionNeedsReauth: an OAuth connection stopped working; the user must connect again.
	ConnectionNeedsReauth Type = "connection.needs_reauth"
)

// Event is one thing that happened. RunID is zero for user-level events.
type Event struct {
	Type  Type
	RunID uuid.UUID
	Data  json.RawMessage // a JSON object
}

// Publisher delivers events to a user's live connections. Emit after the
// transaction that made the change has committed, so nobody hears of a
// change that was rolled back.
type Publisher interface {
	// EmitToUser delivers e to every connection of the user.
	EmitToUser(ctx context.Context, userID uuid.UUID, e Event) error
	// EmitToRun delivers e, which belongs to run runID, to the user's
	// connections subscribed to that run (and records it in the user's stream).
	EmitToRun(ctx context.Context, userID, runID uuid.UUID, e Event) error
}

// Recorded is an event a Recorder received.
type Recorded struct {
	UserID uuid.UUID
	ToRun  bool
	Event  Event
}

// Recorder is an in-process Publisher that keeps what it is given, for tests
// that assert what a module emitted.
type Recorder struct {
	mu     sync.Mutex
	events []Recorded
}

// EmitToUser implements Publisher.
func (r *Recorder) EmitToUser(_ context.Context, userID uuid.UUID, e Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, Recorded{UserID: userID, Event: e})
	return nil
}

// EmitToRun implements Publisher.
func (r *Recorder) EmitToRun(_ context.Context, userID, runID uuid.UUID, e Event) error {
	e.RunID = runID
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, Recorded{UserID: userID, ToRun: true, Event: e})
	return nil
}

// Events returns a copy of what was recorded, in order.
func (r *Recorder) Events() []Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Recorded(nil), r.events...)
}
