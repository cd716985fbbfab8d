package runs

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/ent/message"
	"github.com/jarvis-core/jarvis/ent/toolcall"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/logging/logtest"
	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

// TestEventsOfARun follows one run from creation to completion and checks
// what was emitted, to whom, in order.
func TestEventsOfARun(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	run, err := e.svc.Create(ctx, RunInput{})
	if err != nil {
		t.Fatal(err)
	}
	steps := []func() error{
		func() error { _, err := e.svc.Start(ctx, run.ID); return err },
		func() error {
			_, err := e.svc.AppendMessage(ctx, run.ID, MessageInput{Role: message.RoleUser, Content: "hi"})
			return err
		},
		func() error {
			tc, err := e.svc.StartToolCall(ctx, run.ID, "search", map[string]any{"q": "x"})
			if err != nil {
				return err
			}
			_, err = e.svc.CompleteToolCall(ctx, tc.ID, ToolOutcome{Status: toolcall.StatusSuccess, Output: json.RawMessage(`"ok"`)})
			return err
		},
		func() error { _, err := e.svc.Complete(ctx, run.ID, nil); return err },
		// Refused: nothing is emitted for work that did not happen.
		func() error {
			if _, err := e.svc.Cancel(ctx, run.ID); !fault.Is(err, fault.Conflict) {
				return errors.New("cancel of a completed run was not refused")
			}
			if _, err := e.svc.AppendMessage(ctx, run.ID, MessageInput{Role: message.RoleUser, Content: "late"}); !fault.Is(err, fault.Conflict) {
				return errors.New("append to a completed run was not refused")
			}
			return nil
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	type seen struct {
		typ    events.Type
		status string
	}
	var got []seen
	for _, r := range e.rec.Events() {
		if r.UserID != e.alice || !r.ToRun || r.Event.RunID != run.ID {
			t.Fatalf("event %s to user %s, run %s (to run: %v)", r.Event.Type, r.UserID, r.Event.RunID, r.ToRun)
		}
		s := seen{typ: r.Event.Type}
		if r.Event.Type == events.RunStatus {
			var ev statusEvent
			if err := json.Unmarshal(r.Event.Data, &ev); err != nil {
				t.Fatal(err)
			}
			s.status = string(ev.PreviousStatus) + ">" + string(ev.Status)
		}
		got = append(got, s)
	}
	want := []seen{
		{events.RunStatus, ">pending"},
		{events.RunStatus, "pending>running"},
		{events.RunMessage, ""},
		{events.AgentToolCall, ""},
		{events.AgentToolResult, ""},
		{events.RunStatus, "running>completed"},
	}
	if len(got) != len(want) {
		t.Fatalf("events = %v\nwant     %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events = %v\nwant     %v", got, want)
		}
	}
}

// failingPublisher refuses every event.
type failingPublisher struct{}

func (failingPublisher) EmitToUser(context.Context, uuid.UUID, events.Event) error {
	return errors.New("hub down")
}

func (failingPublisher) EmitToRun(context.Context, uuid.UUID, uuid.UUID, events.Event) error {
	return errors.New("hub down")
}

// TestEventDeliveryIsBestEffort: a publisher failure is logged, and the
// committed change still succeeds; without a publisher, nothing breaks.
func TestEventDeliveryIsBestEffort(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	alice := newUser(t, owner, "alice@example.com")
	prices, err := pricing.Default()
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	app := d.App(t)
	for name, pub := range map[string]events.Publisher{"failing": failingPublisher{}, "none": nil} {
		svc, err := NewService(app, DefaultConfig(), prices, pub, logging.New(logs, slog.LevelDebug))
		if err != nil {
			t.Fatal(err)
		}
		run, err := svc.Create(as(alice), RunInput{})
		if err != nil {
			t.Fatalf("%s publisher: %v", name, err)
		}
		if _, err := svc.Start(as(alice), run.ID); err != nil {
			t.Fatalf("%s publisher: %v", name, err)
		}
	}
	if !strings.Contains(logs.String(), "event not delivered") || !strings.Contains(logs.String(), "hub down") {
		t.Fatalf("failure not logged: %s", logs.String())
	}
	if n, _ := owner.AgentRun.Query().Where(agentrun.StatusEQ(agentrun.StatusRunning)).Count(sys()); n != 2 {
		t.Fatalf("%d running runs, want 2", n)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load[Config](config.Map(map[string]string{"RUNS_MAX_ACTIVE": "3", "TOOLS_DEFAULT_POLICY": "deny"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxActive != 3 || cfg.DefaultToolPolicy != Deny || cfg.RetryAfter != 30*time.Second {
		t.Fatalf("cfg = %+v", cfg)
	}
	_, err = config.Load[Config](config.Map(map[string]string{"RUNS_MAX_ACTIVE": "0", "TOOLS_DEFAULT_POLICY": "maybe"}))
	if err == nil || !strings.Contains(err.Error(), "TOOLS_DEFAULT_POLICY") || !strings.Contains(err.Error(), "RUNS_MAX_ACTIVE") ||
		strings.Contains(err.Error(), "maybe") {
		t.Fatalf("bad values: %v", err)
	}
	if def, err := config.Load[Config](config.Map(nil)); err != nil || def != DefaultConfig() {
		t.Fatalf("defaults = %+v, %v; want DefaultConfig", def, err)
	}
}

func TestLargePayloadsAreSlimmedNotDropped(t *testing.T) {
	t.Parallel()
	small := []byte(`{"id":"a","content":"hi"}`)
	if got := slim(small); string(got) != string(small) {
		t.Fatalf("a small payload changed: %s", got)
	}
	big, _ := json.Marshal(map[string]any{"id": "a", "role": "tool", "content": strings.Repeat("x", 100<<10)})
	var got map[string]any
	if err := json.Unmarshal(slim(big), &got); err != nil {
		t.Fatal(err)
	}
	if got["id"] != "a" || got["role"] != "tool" || got["truncated"] != true || got["content"] != nil {
		t.Fatalf("slimmed payload = %v", got)
	}
	if len(slim(big)) > maxEventData {
		t.Fatal("a slimmed payload is still over the cap")
	}
}
