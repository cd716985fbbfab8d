package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/events"
)

func event(t events.Type, run uuid.UUID) Envelope {
	return Envelope{Type: t, RunID: run, ToRun: true, Time: time.Now(), Data: json.RawMessage(`{"text":"x"}`)}
}

func seqs(pubs []Publication) []uint64 {
	out := make([]uint64, len(pubs))
	for i, p := range pubs {
		out[i] = p.Seq
	}
	return out
}

func sameSeqs(got []Publication, want ...uint64) bool {
	s := seqs(got)
	if len(s) != len(want) {
		return false
	}
	for i := range s {
		if s[i] != want[i] {
			return false
		}
	}
	return true
}

// Token fragments live in a short history of their own: a resume within
// their window recovers everything; past the cap or the window they are
// gone while the long-lived kinds remain, and the holes they leave are
// what makes a resume say recovered: false.
func TestRetentionByKind(t *testing.T) {
	t.Parallel()
	ret := Retention{Size: 100, TTL: time.Hour, ShortTypes: map[events.Type]bool{events.AgentToken: true}, ShortSize: 5, ShortTTL: time.Second}
	for _, e := range retainingEngines(t, ret) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			b, ctx, user, run := e.node(t), context.Background(), uuid.New(), uuid.New()
			publish := func(typ events.Type) {
				t.Helper()
				if _, err := b.Publish(ctx, user, event(typ, run)); err != nil {
					t.Fatal(err)
				}
			}
			publish(events.RunStatus) // 1
			for range 3 {
				publish(events.AgentToken) // 2..4
			}
			publish(events.AgentFinal) // 5
			pubs, pos, err := b.History(ctx, user, 0)
			if err != nil || pos.Seq != 5 || !sameSeqs(pubs, 1, 2, 3, 4, 5) || !Contiguous(pubs, 0, 5) {
				t.Fatalf("within the window: %v %+v %v", seqs(pubs), pos, err)
			}
			for range 4 {
				publish(events.AgentToken) // 6..9: the short cap (5) trims 2 and 3
			}
			pubs, _, err = b.History(ctx, user, 0)
			if err != nil || !sameSeqs(pubs, 1, 4, 5, 6, 7, 8, 9) {
				t.Fatalf("past the short cap: %v %v", seqs(pubs), err)
			}
			if Contiguous(pubs, 0, 9) || !Contiguous(pubs[1:], 3, 9) {
				t.Fatal("a resume from before the trimmed tokens must be incomplete, one after them complete")
			}
			time.Sleep(ret.ShortTTL + 200*time.Millisecond)
			pubs, pos, err = b.History(ctx, user, 0)
			if err != nil || pos.Seq != 9 || !sameSeqs(pubs, 1, 5) {
				t.Fatalf("past the short window: %v %+v %v", seqs(pubs), pos, err)
			}
			if pubs[0].Type != events.RunStatus || pubs[1].Type != events.AgentFinal {
				t.Fatalf("long-lived kinds kept: %+v", pubs)
			}
			if pubs, _, _ = b.History(ctx, user, 5); Contiguous(pubs, 5, 9) {
				t.Fatal("expired tokens must make the resume incomplete")
			}
		})
	}
}

// A run's state lives in its owner's stream: recorded by its status
// events, checked atomically with the publish of a worker's event, shared
// by every instance, lost (unknown, never open) with the stream.
func TestRunStateGuardsPublishes(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t, 100) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			a, b, ctx := e.node(t), e.node(t), context.Background()
			user, other, run := uuid.New(), uuid.New(), uuid.New()
			try := func(br Broker, u uuid.UUID, typ events.Type, op RunOp, want error) {
				t.Helper()
				before, _ := br.Position(ctx, u)
				pos, err := br.PublishRun(ctx, u, op, event(typ, run))
				if !errors.Is(err, want) {
					t.Fatalf("op %d: %v, want %v", op, err, want)
				}
				if want != nil && pos.Seq != 0 {
					t.Fatalf("refused publish numbered %d", pos.Seq)
				}
				after, _ := br.Position(ctx, u)
				if published := after.Seq == before.Seq+1; published != (want == nil) {
					t.Fatalf("op %d: seq %d → %d", op, before.Seq, after.Seq)
				}
			}
			try(a, user, events.AgentToken, RunIfOpen, ErrRunUnknown)
			try(a, user, events.AgentToken, RunLearnOpen, nil)
			try(b, user, events.AgentToken, RunIfOpen, nil)
			try(b, other, events.AgentToken, RunIfOpen, ErrRunUnknown) // another user's stream does not know it
			try(a, user, events.RunStatus, RunMarkClosed, nil)
			try(b, user, events.AgentToken, RunIfOpen, ErrRunClosed)
			try(b, user, events.AgentToken, RunLearnOpen, ErrRunClosed) // a database read from before the close
			try(a, user, events.RunStatus, RunMarkOpen, nil)            // a late status does not reopen it
			try(b, user, events.AgentToken, RunIfOpen, ErrRunClosed)
			e.lose(t)
			try(b, user, events.AgentToken, RunIfOpen, ErrRunUnknown)
		})
	}
}

func TestContiguous(t *testing.T) {
	t.Parallel()
	p := func(s ...uint64) []Publication {
		out := make([]Publication, len(s))
		for i := range s {
			out[i].Seq = s[i]
		}
		return out
	}
	for _, c := range []struct {
		pubs        []Publication
		since, upTo uint64
		want        bool
	}{
		{p(), 3, 3, true},
		{p(), 3, 4, false},
		{p(4, 5), 3, 5, true},
		{p(4, 5, 6), 3, 5, true}, // past upTo does not matter
		{p(5), 3, 5, false},
		{p(4, 6), 3, 6, false},
		{p(4), 3, 5, false},
	} {
		if got := Contiguous(c.pubs, c.since, c.upTo); got != c.want {
			t.Errorf("Contiguous(%v, %d, %d) = %v", seqs(c.pubs), c.since, c.upTo, got)
		}
	}
}

// Over real sockets: a client back within the token window recovers every
// event it missed, tokens included, in order; one back after the window is
// told recovered: false, since the tokens it missed are gone.
func TestResumeWithinAndPastTheTokenWindow(t *testing.T) {
	t.Parallel()
	ret := Retention{Size: 100, TTL: time.Hour, ShortTypes: map[events.Type]bool{events.AgentToken: true}, ShortSize: 50, ShortTTL: time.Second}
	for _, e := range retainingEngines(t, ret) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			cl := newCluster(t, e, testConfig())
			a, b := cl.start(), cl.start()
			user, tok, _ := cl.user("ada")
			run := uuid.Must(uuid.NewV7())
			ctx := context.Background()
			status := func(s string) events.Event {
				return events.Event{Type: events.RunStatus, Data: json.RawMessage(`{"status":"` + s + `"}`)}
			}
			c := dial(t, a, tok)
			c.subscribe(run)
			must(t, b.pub.EmitToRun(ctx, user, run, status("running")))
			seen := c.next()
			_ = c.ws.CloseNow()

			for i := range 3 {
				must(t, b.pub.EmitToRun(ctx, user, run, tokenEvent(i)))
			}
			must(t, b.pub.EmitToRun(ctx, user, run, events.Event{Type: events.AgentFinal, Data: json.RawMessage(`{"content":"t0t1t2"}`)}))
			c2 := dial(t, a, tok)
			c2.subscribe(run)
			c2.send(map[string]any{"type": "resume", "epoch": c.connected.Epoch, "seq": seen.Seq})
			if m := c2.expect(typeResumed); m.Recovered == nil || !*m.Recovered || m.Missed != 4 {
				t.Fatalf("resume within the window: %+v", m)
			}
			var last msg
			for i := range 4 {
				last = c2.next()
				if last.Seq != seen.Seq+uint64(i)+1 {
					t.Fatalf("missed event %d: %+v", i, last)
				}
			}
			if last.Type != string(events.AgentFinal) {
				t.Fatalf("last missed event %+v", last)
			}
			_ = c2.ws.CloseNow()

			for i := range 2 {
				must(t, b.pub.EmitToRun(ctx, user, run, tokenEvent(10+i)))
			}
			must(t, b.pub.EmitToRun(ctx, user, run, status("completed")))
			time.Sleep(ret.ShortTTL + 200*time.Millisecond)
			c3 := dial(t, a, tok)
			c3.subscribe(run)
			c3.send(map[string]any{"type": "resume", "epoch": c.connected.Epoch, "seq": last.Seq})
			if m := c3.expect(typeResumed); m.Recovered == nil || *m.Recovered || m.Missed != 0 || m.Seq != last.Seq+3 {
				t.Fatalf("resume past the window: %+v", m)
			}
		})
	}
}

// The retention settings are checked at start-up, each bad one named.
func TestRetentionConfig(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := cfg.Retention()
	if !r.short(events.AgentToken) || r.short(events.RunStatus) || r.short(events.AgentFinal) || r.ShortSize != 100 || r.Size != 16 {
		t.Fatalf("default retention %+v", r)
	}
	cfg.ShortHistoryTypes = []string{"agent.token", "agent.tokens"}
	cfg.ShortHistorySize = 0
	cfg.ShortHistoryTTL = 48 * time.Hour
	err := cfg.Validate()
	for _, name := range []string{"REALTIME_SHORT_HISTORY_TYPES", "REALTIME_SHORT_HISTORY_SIZE", "REALTIME_SHORT_HISTORY_TTL"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s not named in %v", name, err)
		}
	}
}

// Several events of one run go out in one step: consecutive seqs, in order,
// or none when the run is not open.
func TestPublishRunBatch(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t, 100) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			b, ctx, user, run := e.node(t), context.Background(), uuid.New(), uuid.New()
			batch := []Envelope{event(events.AgentToken, run), event(events.AgentToolCall, run), event(events.AgentToken, run)}
			if _, err := b.PublishRun(ctx, user, RunIfOpen, batch...); !errors.Is(err, ErrRunUnknown) {
				t.Fatalf("unknown run: %v", err)
			}
			pos, err := b.PublishRun(ctx, user, RunLearnOpen, batch...)
			if err != nil || pos.Seq != 3 {
				t.Fatalf("batch: %+v %v", pos, err)
			}
			pubs, _, err := b.History(ctx, user, 0)
			if err != nil || !sameSeqs(pubs, 1, 2, 3) || pubs[1].Type != events.AgentToolCall {
				t.Fatalf("history %v %v", seqs(pubs), err)
			}
			if _, err := b.PublishRun(ctx, user, RunIfOpen, event(events.AgentToken, run), event(events.AgentToken, uuid.New())); err == nil {
				t.Fatal("events of two runs in one batch")
			}
		})
	}
}
