package runs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/ent/message"
	"github.com/jarvis-core/jarvis/ent/toolcall"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

func TestMessages(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)
	inputs := []MessageInput{
		{Role: message.RoleSystem, Content: "be brief"},
		{Role: message.RoleUser, Content: "weather in Oslo?"},
		{Role: message.RoleAssistant, Content: "calling the weather tool"},
		{Role: message.RoleTool, Content: `{"temp": -3}`, ToolCallID: "call_abc"},
	}
	var ids []uuid.UUID
	for _, in := range inputs {
		m, err := e.svc.AppendMessage(ctx, run.ID, in)
		if err != nil {
			t.Fatal(err)
		}
		if m.RunID != run.ID || m.UserID != e.alice || m.Role != in.Role || m.Content != in.Content || m.ToolCallID != in.ToolCallID {
			t.Fatalf("appended %+v from %+v", m, in)
		}
		ids = append(ids, m.ID)
	}
	list, err := e.svc.ListMessages(ctx, run.ID, pageOf(3))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 || list[0].ID != ids[3] || list[3].ID != ids[0] {
		t.Fatalf("list = %d messages, newest first expected", len(list))
	}
	older, err := e.svc.ListMessages(ctx, run.ID, pageAfter(3, ids[1]))
	if err != nil || len(older) != 1 || older[0].ID != ids[0] {
		t.Fatalf("older page = %v, %v", older, err)
	}
	var got []string
	for _, r := range e.rec.Events() {
		if r.Event.Type == events.RunMessage && r.ToRun && r.Event.RunID == run.ID && r.UserID == e.alice {
			var m messageEvent
			if err := json.Unmarshal(r.Event.Data, &m); err != nil {
				t.Fatal(err)
			}
			got = append(got, m.Content)
		}
	}
	if len(got) != 4 || got[3] != `{"temp": -3}` {
		t.Fatalf("run.message events = %q", got)
	}
}

func TestMessageValidation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusPending)
	cases := map[string]struct {
		in     MessageInput
		fields []string
	}{
		"unknown role":                 {MessageInput{Role: "robot", Content: "x"}, []string{"role"}},
		"empty content":                {MessageInput{Role: message.RoleUser}, []string{"content"}},
		"tool message without call id": {MessageInput{Role: message.RoleTool, Content: "x"}, []string{"tool_call_id"}},
		"user message with call id":    {MessageInput{Role: message.RoleUser, Content: "x", ToolCallID: "c"}, []string{"tool_call_id"}},
		"too long":                     {MessageInput{Role: message.RoleUser, Content: strings.Repeat("x", MaxContentBytes+1)}, []string{"content"}},
		"not text":                     {MessageInput{Role: message.RoleUser, Content: "\xff"}, []string{"content"}},
		"everything wrong":             {MessageInput{Role: "robot", ToolCallID: "c"}, []string{"role", "content", "tool_call_id"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.svc.AppendMessage(ctx, run.ID, c.in)
			var names []string
			for _, f := range fault.Fields(err) {
				names = append(names, f.Name)
			}
			if strings.Join(names, ",") != strings.Join(c.fields, ",") {
				t.Fatalf("fields = %v, want %v (%v)", names, c.fields, err)
			}
		})
	}
	if n := e.count(t, "messages"); n != 0 {
		t.Fatalf("%d messages written by refused appends", n)
	}
}

// TestFinishedRunIsImmutable: nothing is added to or changed in a run
// once it is completed, failed or cancelled.
func TestFinishedRunIsImmutable(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	for _, status := range []agentrun.Status{agentrun.StatusCompleted, agentrun.StatusFailed, agentrun.StatusCancelled} {
		t.Run(string(status), func(t *testing.T) {
			run := e.runIn(t, e.alice, agentrun.StatusRunning)
			tc, err := e.svc.StartToolCall(ctx, run.ID, "search", map[string]any{"q": "go"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.owner.AgentRun.UpdateOneID(run.ID).SetStatus(status).Save(sys()); err != nil {
				t.Fatal(err)
			}
			before := e.reload(t, run.ID)
			_, err = e.svc.AppendMessage(ctx, run.ID, MessageInput{Role: message.RoleUser, Content: "hi"})
			wantFault(t, err, fault.Conflict, string(status))
			_, err = e.svc.StartToolCall(ctx, run.ID, "search", nil)
			wantFault(t, err, fault.Conflict, string(status))
			_, err = e.svc.CompleteToolCall(ctx, tc.ID, ToolOutcome{Status: toolcall.StatusSuccess, Output: json.RawMessage(`1`)})
			wantFault(t, err, fault.Conflict, string(status))
			_, err = e.svc.RecordLLMCall(ctx, run.ID, LLMCallInput{Provider: "openai", Model: "gpt-4o-mini", Usage: pricing.Usage{Input: 10}})
			wantFault(t, err, fault.Conflict, string(status))
			after := e.reload(t, run.ID)
			if !after.UpdatedAt.Equal(before.UpdatedAt) || after.TotalTokens != 0 {
				t.Fatalf("finished run changed: %+v", after)
			}
			if got, err := e.svc.GetToolCall(ctx, tc.ID); err != nil || got.Status != toolcall.StatusPending {
				t.Fatalf("tool call of a finished run changed: %+v, %v", got, err)
			}
		})
	}
	if n := e.count(t, "messages") + e.count(t, "llm_calls"); n != 0 {
		t.Fatalf("%d rows added to finished runs", n)
	}
	if n := e.count(t, "tool_calls"); n != 3 {
		t.Fatalf("%d tool calls, want the 3 started while running", n)
	}
}

func TestToolCallLifecycle(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)
	tc, err := e.svc.StartToolCall(ctx, run.ID, "web.search", map[string]any{"q": "pgvector"})
	if err != nil {
		t.Fatal(err)
	}
	if tc.Status != toolcall.StatusPending || tc.DurationMs != nil || tc.Input["q"] != "pgvector" {
		t.Fatalf("started = %+v", tc)
	}
	e.clock.advance(1500 * time.Millisecond)
	done, err := e.svc.CompleteToolCall(ctx, tc.ID, ToolOutcome{Status: toolcall.StatusSuccess, Output: json.RawMessage(`{"hits": 3}`)})
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != toolcall.StatusSuccess || done.DurationMs == nil || *done.DurationMs != 1500 ||
		string(done.Output) != `{"hits": 3}` || done.CompletedAt == nil {
		t.Fatalf("completed = %+v (duration %v)", done, done.DurationMs)
	}
	_, err = e.svc.CompleteToolCall(ctx, tc.ID, ToolOutcome{Status: toolcall.StatusError, Error: "late"})
	wantFault(t, err, fault.Conflict, "already ended with success")

	failing, err := e.svc.StartToolCall(ctx, run.ID, "shell", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.advance(20 * time.Millisecond)
	failed, err := e.svc.CompleteToolCall(ctx, failing.ID, ToolOutcome{Status: toolcall.StatusError, Error: "exit status 1"})
	if err != nil || failed.Status != toolcall.StatusError || failed.Error != "exit status 1" || *failed.DurationMs != 20 || failed.Output != nil {
		t.Fatalf("failed = %+v, %v", failed, err)
	}

	list, err := e.svc.ListToolCalls(ctx, run.ID, pageOf(10))
	if err != nil || len(list) != 2 || list[0].ID != failing.ID {
		t.Fatalf("list = %v, %v", list, err)
	}
	var types []events.Type
	for _, r := range e.rec.Events() {
		if r.Event.RunID == run.ID {
			types = append(types, r.Event.Type)
		}
	}
	want := []events.Type{events.AgentToolCall, events.AgentToolResult, events.AgentToolCall, events.AgentToolResult}
	if len(types) != len(want) {
		t.Fatalf("events = %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("events = %v, want %v", types, want)
		}
	}
}

func TestToolCallValidation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)
	for name, id := range map[string]string{"empty": " ", "long": strings.Repeat("t", 256), "control": "a\nb"} {
		if _, err := e.svc.StartToolCall(ctx, run.ID, id, nil); len(fault.Fields(err)) != 1 || fault.Fields(err)[0].Name != "tool_id" {
			t.Errorf("tool id %s: %v", name, err)
		}
	}
	if _, err := e.svc.StartToolCall(ctx, run.ID, "x", map[string]any{"f": func() {}}); !fault.Is(err, fault.Invalid) {
		t.Errorf("unencodable input: %v", err)
	}
	tc, err := e.svc.StartToolCall(ctx, run.ID, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]ToolOutcome{
		"no status":            {Output: json.RawMessage(`1`)},
		"success without data": {Status: toolcall.StatusSuccess},
		"success not JSON":     {Status: toolcall.StatusSuccess, Output: json.RawMessage(`{`)},
		"success with error":   {Status: toolcall.StatusSuccess, Output: json.RawMessage(`1`), Error: "x"},
		"error without text":   {Status: toolcall.StatusError, Error: " "},
		"error with output":    {Status: toolcall.StatusError, Error: "x", Output: json.RawMessage(`1`)},
		"back to pending":      {Status: toolcall.StatusPending},
	}
	for name, o := range outcomes {
		if _, err := e.svc.CompleteToolCall(ctx, tc.ID, o); !fault.Is(err, fault.Invalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got, _ := e.svc.GetToolCall(ctx, tc.ID); got.Status != toolcall.StatusPending {
		t.Fatalf("refused completions changed the call: %+v", got)
	}
}

func TestConcurrentToolCallCompletionsOneWins(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)
	tc, err := e.svc.StartToolCall(ctx, run.ID, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := e.svc.CompleteToolCall(ctx, tc.ID, ToolOutcome{Status: toolcall.StatusSuccess, Output: json.RawMessage(strings.Repeat("1", i+1))})
			errs <- err
		}()
	}
	wins := 0
	for range n {
		if err := <-errs; err == nil {
			wins++
		} else if !fault.Is(err, fault.Conflict) {
			t.Fatal(err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d completions won", wins)
	}
}

func TestToolPermissions(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)

	// Unlisted tools follow the default (allow).
	if _, err := e.svc.StartToolCall(ctx, run.ID, "calculator", nil); err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.SetToolPermission(ctx, "shell", Deny)
	if err != nil || p.ToolID != "shell" || string(p.Effect) != "deny" || p.UserID != e.alice {
		t.Fatalf("set = %+v, %v", p, err)
	}
	before := e.count(t, "tool_calls")
	_, err = e.svc.StartToolCall(ctx, run.ID, "shell", map[string]any{"cmd": "rm -rf /"})
	wantFault(t, err, fault.Forbidden, `"shell"`)
	if after := e.count(t, "tool_calls"); after != before {
		t.Fatalf("a denied tool call wrote %d rows", after-before)
	}
	if ok, err := e.svc.ToolAllowed(ctx, "shell"); ok || err != nil {
		t.Fatalf("ToolAllowed(shell) = %v, %v", ok, err)
	}
	// Variants of a denied id are the same tool, or refused; never allowed.
	for _, variant := range []string{"Shell", " SHELL ", "ｓｈｅｌｌ", "shell\u200b", "shel\u0441", "she\u0301ll"} {
		_, err := e.svc.StartToolCall(ctx, run.ID, variant, nil)
		if !fault.Is(err, fault.Forbidden) && !fault.Is(err, fault.Invalid) {
			t.Errorf("tool %q after denying shell: %v", variant, err)
		}
	}
	if after := e.count(t, "tool_calls"); after != before {
		t.Fatalf("variants of a denied tool wrote %d rows", after-before)
	}
	// Bob's choices are his own.
	if _, err := e.svc.StartToolCall(as(e.bob), e.runIn(t, e.bob, agentrun.StatusRunning).ID, "shell", nil); err != nil {
		t.Fatalf("alice's deny applied to bob: %v", err)
	}

	// Setting again replaces; it does not add a row.
	p2, err := e.svc.SetToolPermission(ctx, "shell", Allow)
	if err != nil || p2.ID != p.ID || string(p2.Effect) != "allow" {
		t.Fatalf("replace = %+v, %v", p2, err)
	}
	if _, err := e.svc.StartToolCall(ctx, run.ID, "shell", nil); err != nil {
		t.Fatalf("allowed again: %v", err)
	}
	if _, err := e.svc.SetToolPermission(ctx, "shell", "maybe"); len(fault.Fields(err)) != 1 {
		t.Fatalf("bad effect: %v", err)
	}
	list, err := e.svc.ListToolPermissions(ctx, pageOf(10))
	if err != nil || len(list) != 1 {
		t.Fatalf("list = %v, %v", list, err)
	}
	if err := e.svc.DeleteToolPermission(as(e.bob), p.ID); !fault.Is(err, fault.NotFound) {
		t.Fatalf("bob deleting alice's permission: %v", err)
	}
	if err := e.svc.DeleteToolPermission(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteToolPermission(ctx, p.ID); !fault.Is(err, fault.NotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestDefaultToolPolicyDeny(t *testing.T) {
	t.Parallel()
	e := setup(t, withConfig(func(c *Config) { c.DefaultToolPolicy = Deny }))
	ctx := as(e.alice)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)
	_, err := e.svc.StartToolCall(ctx, run.ID, "calculator", nil)
	wantFault(t, err, fault.Forbidden, `"calculator"`)
	if _, err := e.svc.SetToolPermission(ctx, "calculator", Allow); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.StartToolCall(ctx, run.ID, "calculator", nil); err != nil {
		t.Fatalf("explicitly allowed: %v", err)
	}
}

// TestAnotherUsersRunIsNotFound: every operation on another user's run,
// or on its children, answers NotFound and changes nothing.
func TestAnotherUsersRunIsNotFound(t *testing.T) {
	t.Parallel()
	e := setup(t)
	bobRun := e.runIn(t, e.bob, agentrun.StatusRunning)
	bobCall, err := e.svc.StartToolCall(as(e.bob), bobRun.ID, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := as(e.alice)
	ops := map[string]func() error{
		"get":      func() error { _, err := e.svc.Get(ctx, bobRun.ID); return err },
		"start":    func() error { _, err := e.svc.Start(ctx, bobRun.ID); return err },
		"complete": func() error { _, err := e.svc.Complete(ctx, bobRun.ID, nil); return err },
		"fail":     func() error { _, err := e.svc.Fail(ctx, bobRun.ID, "x"); return err },
		"cancel":   func() error { _, err := e.svc.Cancel(ctx, bobRun.ID); return err },
		"append message": func() error {
			_, err := e.svc.AppendMessage(ctx, bobRun.ID, MessageInput{Role: "user", Content: "x"})
			return err
		},
		"list messages":   func() error { _, err := e.svc.ListMessages(ctx, bobRun.ID, pageOf(10)); return err },
		"start tool call": func() error { _, err := e.svc.StartToolCall(ctx, bobRun.ID, "x", nil); return err },
		"complete tool call": func() error {
			_, err := e.svc.CompleteToolCall(ctx, bobCall.ID, ToolOutcome{Status: toolcall.StatusError, Error: "x"})
			return err
		},
		"get tool call":   func() error { _, err := e.svc.GetToolCall(ctx, bobCall.ID); return err },
		"list tool calls": func() error { _, err := e.svc.ListToolCalls(ctx, bobRun.ID, pageOf(10)); return err },
		"record llm call": func() error {
			_, err := e.svc.RecordLLMCall(ctx, bobRun.ID, LLMCallInput{Provider: "openai", Model: "gpt-4o", Usage: pricing.Usage{Input: 1}})
			return err
		},
		"list llm calls": func() error { _, err := e.svc.ListLLMCalls(ctx, bobRun.ID, pageOf(10)); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			if err := op(); !fault.Is(err, fault.NotFound) {
				t.Fatalf("%v, want NotFound", err)
			}
		})
	}
	after := e.reload(t, bobRun.ID)
	if after.Status != agentrun.StatusRunning || after.TotalTokens != 0 {
		t.Fatalf("bob's run changed: %+v", after)
	}
	if n := e.count(t, "messages") + e.count(t, "llm_calls") + e.count(t, "tool_calls"); n != 1 {
		t.Fatalf("%d child rows, want bob's one tool call", n)
	}
	if got, _ := e.svc.GetToolCall(as(e.bob), bobCall.ID); got.Status != toolcall.StatusPending {
		t.Fatalf("bob's tool call changed: %+v", got)
	}
}
