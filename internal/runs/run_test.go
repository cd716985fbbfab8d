package runs

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
)

var allStatuses = []agentrun.Status{
	agentrun.StatusPending, agentrun.StatusRunning, agentrun.StatusCompleted,
	agentrun.StatusFailed, agentrun.StatusCancelled,
}

// TestStateMachine tries every transition from every status through the
// service, against the state machine written out here by hand.
func TestStateMachine(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const (
		P = agentrun.StatusPending
		R = agentrun.StatusRunning
		C = agentrun.StatusCompleted
		F = agentrun.StatusFailed
		X = agentrun.StatusCancelled
	)
	allowed := map[[2]agentrun.Status]bool{
		{P, R}: true, {P, F}: true, {P, X}: true,
		{R, C}: true, {R, F}: true, {R, X}: true,
	}
	ctx := as(e.alice)
	moves := map[agentrun.Status]func(uuid.UUID) (any, error){
		R: func(id uuid.UUID) (any, error) { return e.svc.Start(ctx, id) },
		C: func(id uuid.UUID) (any, error) { return e.svc.Complete(ctx, id, nil) },
		F: func(id uuid.UUID) (any, error) { return e.svc.Fail(ctx, id, "tool crashed") },
		X: func(id uuid.UUID) (any, error) { return e.svc.Cancel(ctx, id) },
	}
	for _, from := range allStatuses {
		for _, to := range allStatuses {
			ok := allowed[[2]agentrun.Status{from, to}]
			if CanMove(from, to) != ok {
				t.Errorf("CanMove(%s, %s) = %v, want %v", from, to, !ok, ok)
			}
			move, exists := moves[to]
			if !exists {
				continue // nothing moves a run back to pending
			}
			t.Run(string(from)+"_to_"+string(to), func(t *testing.T) {
				run := e.reload(t, e.runIn(t, e.alice, from).ID)
				e.clock.advance(time.Second)
				_, err := move(run.ID)
				got := e.reload(t, run.ID)
				if !ok {
					wantFault(t, err, fault.Conflict, "from "+string(from), "to "+string(to))
					if got.Status != from || !got.UpdatedAt.Equal(run.UpdatedAt) || got.StartedAt != nil || got.CompletedAt != nil {
						t.Fatalf("a refused transition changed the run: %+v", got)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				now := e.clock.now()
				if got.Status != to {
					t.Fatalf("status = %s, want %s", got.Status, to)
				}
				if wantStarted := to == R; (got.StartedAt != nil) != wantStarted || (wantStarted && !got.StartedAt.Equal(now)) {
					t.Fatalf("started_at = %v, want set to %v: %v", got.StartedAt, now, wantStarted)
				}
				if wantDone := Finished(to); (got.CompletedAt != nil) != wantDone || (wantDone && !got.CompletedAt.Equal(now)) {
					t.Fatalf("completed_at = %v, want set: %v", got.CompletedAt, wantDone)
				}
				if (to == F) != (got.Error == "tool crashed") {
					t.Fatalf("error = %q", got.Error)
				}
			})
		}
	}
}

func TestFailNeedsAReason(t *testing.T) {
	t.Parallel()
	e := setup(t)
	run := e.runIn(t, e.alice, agentrun.StatusRunning)
	_, err := e.svc.Fail(as(e.alice), run.ID, "  ")
	if f := fault.Fields(err); len(f) != 1 || f[0].Name != "error" {
		t.Fatalf("fields = %v (%v)", f, err)
	}
	if e.reload(t, run.ID).Status != agentrun.StatusRunning {
		t.Fatal("a refused fail changed the run")
	}
}

// TestConcurrentTransitionsOneWins fires competing transitions of one run
// at once: exactly one wins, the others are Conflict.
func TestConcurrentTransitionsOneWins(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	for round := range 5 {
		run := e.runIn(t, e.alice, agentrun.StatusRunning)
		ops := []func() error{
			func() error { _, err := e.svc.Complete(ctx, run.ID, nil); return err },
			func() error { _, err := e.svc.Fail(ctx, run.ID, "boom"); return err },
			func() error { _, err := e.svc.Cancel(ctx, run.ID); return err },
		}
		const n = 12
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = ops[i%len(ops)]()
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !fault.Is(err, fault.Conflict):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d transitions won, want exactly 1", round, wins)
		}
		statusEvents := 0
		for _, r := range e.rec.Events() {
			if r.Event.RunID == run.ID && r.Event.Type == events.RunStatus {
				statusEvents++
			}
		}
		if statusEvents != 1 {
			t.Fatalf("round %d: %d run.status events, want 1 (losers emit nothing)", round, statusEvents)
		}
	}
}

// TestMaxActiveRuns creates 50 runs at once with a limit of 10.
func TestMaxActiveRuns(t *testing.T) {
	t.Parallel()
	e := setup(t, withConfig(func(c *Config) { c.MaxActive = 10; c.RetryAfter = 7 * time.Second }))
	ctx := as(e.alice)
	// Finished runs and other users' runs do not count.
	e.runIn(t, e.alice, agentrun.StatusCompleted)
	e.runIn(t, e.alice, agentrun.StatusCancelled)
	for range 10 {
		e.runIn(t, e.bob, agentrun.StatusRunning)
	}
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = e.svc.Create(ctx, RunInput{})
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for _, err := range errs {
		if err == nil {
			created++
			continue
		}
		f := wantFault(t, err, fault.RateLimited, "at most 10 runs")
		if f.RetryAfter != 7*time.Second {
			t.Fatalf("retry after %s, want 7s", f.RetryAfter)
		}
	}
	active, err := e.owner.AgentRun.Query().Where(agentrun.UserID(e.alice), agentrun.StatusIn(activeStatuses...)).Count(sys())
	if err != nil {
		t.Fatal(err)
	}
	if created != 10 || active != 10 {
		t.Fatalf("created %d, %d active in the database; want 10 and 10", created, active)
	}
	// Finishing one frees a place.
	list, err := e.svc.List(ctx, pageOf(1), RunFilter{Status: agentrun.StatusPending})
	if err != nil || len(list) == 0 {
		t.Fatal(list, err)
	}
	if _, err := e.svc.Cancel(ctx, list[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Create(ctx, RunInput{}); err != nil {
		t.Fatalf("create after a cancel: %v", err)
	}
	if _, err := e.svc.Create(ctx, RunInput{}); !fault.Is(err, fault.RateLimited) {
		t.Fatalf("11th active run: %v", err)
	}
}

func TestCreateGetListRuns(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := as(e.alice)
	var ids []uuid.UUID
	for range 3 {
		r, err := e.svc.Create(ctx, RunInput{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != agentrun.StatusPending || r.UserID != e.alice || r.StartedAt != nil || !r.TotalCost.IsZero() {
			t.Fatalf("new run = %+v", r)
		}
		ids = append(ids, r.ID)
	}
	if _, err := e.svc.Start(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	bobs := e.runIn(t, e.bob, agentrun.StatusPending)

	got, err := e.svc.Get(ctx, ids[0])
	if err != nil || got.ID != ids[0] {
		t.Fatal(got, err)
	}
	if _, err := e.svc.Get(ctx, bobs.ID); !fault.Is(err, fault.NotFound) {
		t.Fatalf("another user's run: %v", err)
	}

	// Newest first, pages of 2, by keyset.
	page1, err := e.svc.List(ctx, pageOf(2), RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page1) != 3 || page1[0].ID != ids[2] || page1[1].ID != ids[1] {
		t.Fatalf("page 1 = %v (fetches size+1)", runIDs(page1))
	}
	page2, err := e.svc.List(ctx, pageAfter(2, page1[1].ID), RunFilter{})
	if err != nil || len(page2) != 1 || page2[0].ID != ids[0] {
		t.Fatalf("page 2 = %v, %v", runIDs(page2), err)
	}
	running, err := e.svc.List(ctx, pageOf(10), RunFilter{Status: agentrun.StatusRunning})
	if err != nil || len(running) != 1 || running[0].ID != ids[1] {
		t.Fatalf("running = %v, %v", runIDs(running), err)
	}
	if _, err := e.svc.List(ctx, pageOf(10), RunFilter{Status: "sleeping"}); len(fault.Fields(err)) != 1 {
		t.Fatalf("bad status filter: %v", err)
	}
	if _, err := e.svc.List(ctx, pageOf(0), RunFilter{}); len(fault.Fields(err)) != 1 {
		t.Fatalf("bad page size: %v", err)
	}
}

func TestNoUserNoWork(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if _, err := e.svc.Create(sys(), RunInput{}); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("system viewer creating a run: %v", err)
	}
	if _, err := e.svc.Get(t.Context(), uuid.New()); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("no viewer: %v", err)
	}
}

func runIDs(xs []*ent.AgentRun) []uuid.UUID {
	out := make([]uuid.UUID, len(xs))
	for i, x := range xs {
		out[i] = x.ID
	}
	return out
}
