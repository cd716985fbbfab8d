package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/openapi"
)

// clientAs is the API client of s with an access token already issued.
func clientAs(t *testing.T, s *apptest.Server, access string) *openapi.Client {
	t.Helper()
	c, b := s.Client(t)
	b.Token = access
	return c
}

func emitToken(ctx context.Context, c *openapi.Client, run uuid.UUID, text string) (*openapi.RealtimeEvent, error) {
	return c.EmitRunEvent(ctx, &openapi.RunEventCreate{Type: openapi.RunEventTypeAgentToken,
		Data: openapi.RunEventCreateData{"text": []byte(`"` + text + `"`)}}, openapi.EmitRunEventParams{ID: run})
}

// The emit path checks the run's owner and state without the database, in
// the owner's stream: across two instances another user's run stays
// NotFound and a run finished on one instance refuses events on the other
// from the moment the finishing request returned, even when the stream
// lost the run's state.
func TestEmitAcrossInstancesRefusesOtherUsersAndFinishedRuns(t *testing.T) {
	t.Parallel()
	a, b, _, rdb, prefix := twoServersOnRedis(t)
	alice, aliceTok := a.SignUp(t, "alice@example.com")
	bob, bobTok := a.SignUp(t, "bob@example.com")
	bobOnB := clientAs(t, b, bobTok.AccessToken)
	aliceOnB := clientAs(t, b, aliceTok.AccessToken)
	ctx := context.Background()

	run := createRun(t, alice) // on A: its run.status records it open
	if _, err := emitToken(ctx, aliceOnB, run, "a"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*openapi.Client{bob, bobOnB} {
		apptest.APIError(t, func() error { _, err := emitToken(ctx, c, run, "x"); return err }(), http.StatusNotFound, openapi.ErrorResponseErrorCodeNOTFOUND)
	}
	if _, err := alice.CancelRun(ctx, openapi.CancelRunParams{ID: run}); err != nil {
		t.Fatal(err)
	}
	apptest.APIError(t, func() error { _, err := emitToken(ctx, aliceOnB, run, "late"); return err }(), http.StatusConflict, openapi.ErrorResponseErrorCodeCONFLICT)

	// The stream loses the run states (expiry, Redis restarted empty): the
	// database says again which runs are finished, and whose.
	open := createRun(t, alice)
	runKey := func(id uuid.UUID) string { return prefix + "{" + aliceTok.UserID.String() + "}.r:" + id.String() }
	if n, err := rdb.Del(ctx, runKey(run), runKey(open)).Result(); err != nil || n != 2 {
		t.Fatalf("drop run states: %d %v", n, err)
	}
	apptest.APIError(t, func() error { _, err := emitToken(ctx, aliceOnB, run, "late"); return err }(), http.StatusConflict, openapi.ErrorResponseErrorCodeCONFLICT)
	apptest.APIError(t, func() error { _, err := emitToken(ctx, bobOnB, open, "x"); return err }(), http.StatusNotFound, openapi.ErrorResponseErrorCodeNOTFOUND)
	if _, err := emitToken(ctx, aliceOnB, open, "b"); err != nil {
		t.Fatal(err)
	}
	if st, err := rdb.Get(ctx, runKey(open)).Result(); err != nil || st != "1" {
		t.Fatalf("the database's answer is recorded for the next events: %q %v", st, err)
	}
}

// Workers stream into a run on one instance while it is cancelled on the
// other: every event accepted comes before the run's final run.status in
// the owner's stream, and every emit that started after the cancel
// returned is refused.
func TestNoEventFollowsTheStatusThatFinishedTheRun(t *testing.T) {
	t.Parallel()
	a, b, _ := twoServers(t)
	alice, tok := a.SignUp(t, "alice@example.com")
	worker := clientAs(t, b, tok.AccessToken)
	run := createRun(t, alice)
	ws := dialWS(t, a, tok.AccessToken)
	connected := readWS(t, ws)
	writeWS(t, ws, map[string]any{"type": "subscribe", "run_id": run})
	if m := readWS(t, ws); m.Type != "subscribed" {
		t.Fatalf("subscribe: %+v", m)
	}
	writeWS(t, ws, map[string]any{"type": "resume", "epoch": connected.Epoch, "seq": connected.Seq}) // go live at once
	if m := readWS(t, ws); m.Type != "resumed" {
		t.Fatalf("resume: %+v", m)
	}
	ctx := context.Background()
	var (
		cancelled atomic.Bool
		accepted  atomic.Int64
		wg        sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				after := cancelled.Load()
				_, err := emitToken(ctx, worker, run, "t")
				if err == nil {
					if after {
						t.Errorf("worker %d: an emit started after the cancel returned was accepted", w)
					}
					accepted.Add(1)
					continue
				}
				var e *openapi.ErrorStatusCode
				if !errors.As(err, &e) || e.StatusCode != http.StatusConflict {
					t.Errorf("worker %d: %v", w, err)
				}
				return
			}
		})
	}
	for accepted.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	if _, err := alice.CancelRun(ctx, openapi.CancelRunParams{ID: run}); err != nil {
		t.Fatal(err)
	}
	cancelled.Store(true)
	wg.Wait()
	tokens := 0
	for {
		m := readWS(t, ws)
		if m.Type == "agent.token" {
			tokens++
			continue
		}
		if m.Type == "run.status" {
			var d struct {
				Status string `json:"status"`
			}
			_ = json.Unmarshal(m.Data, &d)
			if d.Status == "cancelled" {
				break
			}
		}
	}
	if int64(tokens) != accepted.Load() {
		t.Fatalf("%d tokens before the final status, %d accepted", tokens, accepted.Load())
	}
}

func tokenBatch(texts ...string) *openapi.RunEventBatch {
	b := &openapi.RunEventBatch{}
	for _, t := range texts {
		b.Events = append(b.Events, openapi.RunEventCreate{Type: openapi.RunEventTypeAgentToken, Data: openapi.RunEventCreateData{"text": []byte(`"` + t + `"`)}})
	}
	return b
}

// A batch is published whole, with consecutive seqs in the order given, to
// the sockets on the other instance, under the same checks as one event;
// a bad event refuses the whole batch, named by its index.
func TestEmitBatchAcrossInstances(t *testing.T) {
	t.Parallel()
	a, b, _ := twoServers(t)
	alice, tok := a.SignUp(t, "alice@example.com")
	_, bobTok := a.SignUp(t, "bob@example.com")
	worker, bobOnB := clientAs(t, b, tok.AccessToken), clientAs(t, b, bobTok.AccessToken)
	run := createRun(t, alice)
	ws := dialWS(t, a, tok.AccessToken)
	connected := readWS(t, ws)
	writeWS(t, ws, map[string]any{"type": "subscribe", "run_id": run})
	writeWS(t, ws, map[string]any{"type": "resume", "epoch": connected.Epoch, "seq": connected.Seq})
	for _, want := range []string{"subscribed", "resumed"} {
		if m := readWS(t, ws); m.Type != want {
			t.Fatalf("got %+v, want %s", m, want)
		}
	}
	ctx := context.Background()
	bad := tokenBatch("a", "b", "")
	_, err := worker.EmitRunEvents(ctx, bad, openapi.EmitRunEventsParams{ID: run})
	e := apptest.APIError(t, err, http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR)
	if len(e.Details) != 1 || e.Details[0].Field.Value != "events[2].data.text" {
		t.Fatalf("details %+v", e.Details)
	}
	_, err = bobOnB.EmitRunEvents(ctx, tokenBatch("x"), openapi.EmitRunEventsParams{ID: run})
	apptest.APIError(t, err, http.StatusNotFound, openapi.ErrorResponseErrorCodeNOTFOUND)

	got, err := worker.EmitRunEvents(ctx, tokenBatch("He", "ll", "o"), openapi.EmitRunEventsParams{ID: run})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 3 {
		t.Fatalf("answer %+v", got)
	}
	for i, want := range []string{"He", "ll", "o"} {
		ev := got.Events[i]
		// Nothing of the refused batches was published: the first seq follows the socket's start.
		if ev.Seq != connected.Seq+int64(i)+1 || string(ev.Data["text"]) != `"`+want+`"` || ev.RunID.Value != run {
			t.Fatalf("answer %d: %+v", i, ev)
		}
		if m := readWS(t, ws); m.Type != "agent.token" || m.Seq != ev.Seq || string(m.Data) != `{"text":"`+want+`"}` {
			t.Fatalf("socket got %+v, want %+v", m, ev)
		}
	}
	if _, err := alice.CancelRun(ctx, openapi.CancelRunParams{ID: run}); err != nil {
		t.Fatal(err)
	}
	_, err = worker.EmitRunEvents(ctx, tokenBatch("late"), openapi.EmitRunEventsParams{ID: run})
	apptest.APIError(t, err, http.StatusConflict, openapi.ErrorResponseErrorCodeCONFLICT)
	// The contract caps a batch at 100 events.
	many := make([]string, 101)
	for i := range many {
		many[i] = "t"
	}
	resp := b.Do(t, http.MethodPost, "/v1/runs/"+run.String()+"/event-batches", tok.AccessToken, mustJSON(t, tokenBatch(many...)))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("101 events: %d", resp.StatusCode)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
