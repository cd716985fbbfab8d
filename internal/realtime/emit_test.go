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
