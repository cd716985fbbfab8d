package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/logging"
)

func testConfig() Config {
	c := DefaultConfig()
	c.HistorySize = 100
	return c
}

// A socket on instance A receives, in order and without gaps, what is
// emitted on instance B: run events of the run it subscribed to and the
// user's own events.
func TestEventsEmittedOnOneInstanceReachSocketsOnAnother(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t, 100) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			cl := newCluster(t, e, testConfig())
			a, b := cl.start(), cl.start()
			user, tok, _ := cl.user("ada")
			run := uuid.Must(uuid.NewV7())
			c1, c2 := dial(t, a, tok), dial(t, a, tok) // two tabs
			c1.subscribe(run)
			c2.subscribe(run)
			if ok, err := b.pub.IsUserConnected(context.Background(), user); err != nil || !ok {
				t.Fatalf("IsUserConnected on the other instance = %v, %v", ok, err)
			}
			ctx := context.Background()
			const n = 60
			for i := range n {
				var err error
				if i%10 == 9 {
					err = b.pub.EmitToUser(ctx, user, events.Event{Type: events.RunStatus, RunID: run, Data: json.RawMessage(`{"status":"running"}`)})
				} else {
					err = b.pub.EmitToRun(ctx, user, run, tokenEvent(i))
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []*client{c1, c2} {
				want := c.connected.Seq
				for i := range n {
					m := c.next()
					want++
					if m.Seq != want || m.RunID != run {
						t.Fatalf("message %d: %+v, want seq %d of run %s", i, m, want, run)
					}
					wantType := string(events.AgentToken)
					if i%10 == 9 {
						wantType = string(events.RunStatus)
					}
					if m.Type != wantType || m.TS.IsZero() || len(m.Data) == 0 {
						t.Fatalf("message %d: %+v", i, m)
					}
				}
			}
		})
	}
}

// Run events go only to the sockets subscribed to the run; the user's
// events go to all of them.
func TestRunEventsGoToSubscribedSocketsOnly(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t, 100) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			cl := newCluster(t, e, testConfig())
			a := cl.start()
			user, tok, _ := cl.user("ada")
			run, other := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
			watching, idle := dial(t, a, tok), dial(t, a, tok)
			watching.subscribe(run)
			idle.subscribe(other)
			idle.send(map[string]any{"type": "unsubscribe", "run_id": other, "id": 7})
			if m := idle.expect(typeUnsubscribed); string(m.ID) != "7" {
				t.Fatalf("reply id %s, want 7", m.ID)
			}
			ctx := context.Background()
			must(t, a.pub.EmitToRun(ctx, user, run, tokenEvent(1)))
			must(t, a.pub.EmitToRun(ctx, user, other, tokenEvent(2)))
			must(t, a.pub.EmitToUser(ctx, user, events.Event{Type: events.BudgetWarning, Data: json.RawMessage(`{"spent":"9.50"}`)}))
			if m := watching.next(); m.Type != string(events.AgentToken) || m.RunID != run {
				t.Fatalf("watching socket got %+v", m)
			}
			if m := watching.next(); m.Type != string(events.BudgetWarning) {
				t.Fatalf("watching socket got %+v", m)
			}
			if m := idle.next(); m.Type != string(events.BudgetWarning) || m.RunID != uuid.Nil {
				t.Fatalf("idle socket got %+v, want only the user's event", m)
			}
		})
	}
}

// A user never receives another user's events, whatever run ids it
// subscribes to.
func TestUsersNeverSeeEachOthersEvents(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t, 100) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			cl := newCluster(t, e, testConfig())
			a, b := cl.start(), cl.start()
			victim, vtok, _ := cl.user("victim")
			spy, stok, _ := cl.user("spy")
			run := uuid.Must(uuid.NewV7())
			v := dial(t, a, vtok)
			v.subscribe(run)
			s := dial(t, b, stok)
			s.subscribe(run) // the victim's run id, guessed or leaked
			ctx := context.Background()
			for i := range 5 {
				must(t, a.pub.EmitToRun(ctx, victim, run, tokenEvent(i)))
				must(t, b.pub.EmitToUser(ctx, victim, events.Event{Type: events.RunStatus, RunID: run, Data: json.RawMessage(`{"status":"running"}`)}))
			}
			for range 10 {
				v.next()
			}
			// The spy's own event is the first thing it hears.
			must(t, a.pub.EmitToUser(ctx, spy, events.Event{Type: events.BudgetWarning, Data: json.RawMessage(`{"mine":true}`)}))
			if m := s.next(); m.Type != string(events.BudgetWarning) || string(m.Data) != `{"mine":true}` || m.Seq != 1 {
				t.Fatalf("spy got %+v", m)
			}
			// Nor can it resume into the victim's stream with the victim's epoch.
			s.send(map[string]any{"type": "resume", "epoch": v.connected.Epoch, "seq": 0})
			if m := s.expect(typeResumed); *m.Recovered || m.Missed != 0 {
				t.Fatalf("spy resumed %+v", m)
			}
		})
	}
}

// A client that reconnects (to a restarted instance) with its last seq
// gets exactly what it missed, recovered: true, and nothing twice.
func TestResumeAcrossInstanceRestartRecoversEverything(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t, 100) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			cl := newCluster(t, e, testConfig())
			a, b := cl.start(), cl.start()
			user, tok, _ := cl.user("ada")
			run := uuid.Must(uuid.NewV7())
			c := dial(t, a, tok)
			c.subscribe(run)
			ctx := context.Background()
			for i := range 3 {
				must(t, b.pub.EmitToRun(ctx, user, run, tokenEvent(i)))
			}
			var last msg
			for range 3 {
				last = c.next()
			}
			a.stop(t) // the instance goes away; its sockets close with 1001
			if code := c.closedWith(5 * time.Second); code != websocket.StatusGoingAway {
				t.Fatalf("close code %d, want 1001", code)
			}
			for i := 3; i < 8; i++ {
				must(t, b.pub.EmitToRun(ctx, user, run, tokenEvent(i)))
			}
			must(t, b.pub.EmitToRun(ctx, user, uuid.Must(uuid.NewV7()), tokenEvent(99))) // another run's: not for this socket
			a2 := cl.start()
			c2 := dial(t, a2, tok)
			c2.subscribe(run)
			c2.send(map[string]any{"type": "resume", "epoch": c.connected.Epoch, "seq": last.Seq, "id": "r1"})
			m := c2.expect(typeResumed)
			if m.Recovered == nil || !*m.Recovered || m.Missed != 5 || m.Epoch != c.connected.Epoch || string(m.ID) != `"r1"` {
				t.Fatalf("resumed %+v, want recovered with 5 missed", m)
			}
			for i := 3; i < 8; i++ {
				ev := c2.next()
				if ev.Seq != last.Seq+uint64(i-2) || string(ev.Data) != fmt.Sprintf(`{"text":"t%d"}`, i) {
					t.Fatalf("missed event %d: %+v", i, ev)
				}
			}
			// Live again, from the next seq on; nothing repeated.
			must(t, b.pub.EmitToRun(ctx, user, run, tokenEvent(100)))
			if ev := c2.next(); ev.Seq != c2.connected.Seq+1 || string(ev.Data) != `{"text":"t100"}` {
				t.Fatalf("live event after resume: %+v (connected at %d)", ev, c2.connected.Seq)
			}
			c2.send(map[string]any{"type": "resume", "epoch": c.connected.Epoch, "seq": last.Seq})
			c2.expect(typeError) // once per socket
		})
	}
}

// A resume the history cannot satisfy says recovered: false with the
// current epoch: after trimming past the cap, and after the stream was lost.
func TestResumeSaysWhenItIsIncomplete(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t, 5) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.HistorySize = 5
			cl := newCluster(t, e, cfg)
			a := cl.start()
			user, tok, _ := cl.user("ada")
			ctx := context.Background()
			c := dial(t, a, tok)
			must(t, a.pub.EmitToUser(ctx, user, tokenEvent(0)))
			seen := c.next()
			_ = c.ws.CloseNow()

			// 10 more while away: the first of them is trimmed (cap 5).
			for i := 1; i <= 10; i++ {
				must(t, a.pub.EmitToUser(ctx, user, tokenEvent(i)))
			}
			c2 := dial(t, a, tok)
			c2.send(map[string]any{"type": "resume", "epoch": c.connected.Epoch, "seq": seen.Seq})
			if m := c2.expect(typeResumed); m.Recovered == nil || *m.Recovered || m.Missed != 0 || m.Epoch != c.connected.Epoch || m.Seq != seen.Seq+10 {
				t.Fatalf("resume after trim: %+v", m)
			}

			// Nothing missed within the cap: complete.
			c3 := dial(t, a, tok)
			c3.send(map[string]any{"type": "resume", "epoch": c.connected.Epoch, "seq": seen.Seq + 7})
			if m := c3.expect(typeResumed); !*m.Recovered || m.Missed != 3 {
				t.Fatalf("resume within the cap: %+v", m)
			}
			for i := 8; i <= 10; i++ {
				if ev := c3.next(); string(ev.Data) != fmt.Sprintf(`{"text":"t%d"}`, i) {
					t.Fatalf("missed event: %+v", ev)
				}
			}
			_ = c2.ws.CloseNow()
			_ = c3.ws.CloseNow()
			waitFor(t, func() bool { return a.hub.Connected() == 0 })

			// The stream is lost (Redis restarted empty): a new epoch.
			e.lose(t)
			c4 := dial(t, a, tok)
			if c4.connected.Epoch == c.connected.Epoch || c4.connected.Seq != 0 {
				t.Fatalf("after loss connected at %+v", c4.connected)
			}
			c4.send(map[string]any{"type": "resume", "epoch": c.connected.Epoch, "seq": seen.Seq + 10})
			if m := c4.expect(typeResumed); *m.Recovered || m.Epoch != c4.connected.Epoch {
				t.Fatalf("resume after loss: %+v", m)
			}
		})
	}
}

// A socket whose stream is recreated while it is open is told to resume.
func TestOpenSocketIsToldWhenItsStreamIsLost(t *testing.T) {
	t.Parallel()
	e := redisEngine(t, Retention{Size: 100, TTL: time.Hour}) // the in-process stream cannot vanish under an open socket
	cl := newCluster(t, e, testConfig())
	a, b := cl.start(), cl.start()
	user, tok, _ := cl.user("ada")
	c := dial(t, a, tok)
	must(t, b.pub.EmitToUser(context.Background(), user, tokenEvent(1)))
	c.next()
	e.lose(t)
	must(t, b.pub.EmitToUser(context.Background(), user, tokenEvent(2)))
	if code := c.closedWith(5 * time.Second); code != CloseResync {
		t.Fatalf("close code %d, want %d", code, CloseResync)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// When an instance's pub/sub connection to Redis drops, what was published
// meanwhile reaches its sockets from the history once it is back: in order,
// nothing lost, nothing twice.
func TestPubSubReconnectCatchesUpFromHistory(t *testing.T) {
	t.Parallel()
	e := redisEngine(t, Retention{Size: 1000, TTL: time.Hour})
	cl := newCluster(t, e, testConfig())
	rdb := newRedisClient(t)
	name := "rt-test-" + uuid.NewString()[:8]
	opts := *rdb.Options()
	opts.ClientName = name
	ownClient := redisClientFrom(t, &opts)
	prefix := e.node(t).(*RedisBroker).prefix
	a := cl.startOn(NewRedisBroker(ownClient, prefix, Retention{Size: 1000, TTL: time.Hour}, logging.New(cl.logs, slog.LevelDebug)))
	b := cl.start()
	user, tok, _ := cl.user("ada")
	c := dial(t, a, tok)
	ctx := context.Background()
	must(t, b.pub.EmitToUser(ctx, user, tokenEvent(0)))
	first := c.next()

	// Kill the pub/sub connection of instance A, and publish at once, while
	// it reconnects.
	clients, err := rdb.ClientList(ctx).Result()
	must(t, err)
	killed := 0
	for line := range strings.SplitSeq(clients, "\n") {
		if strings.Contains(line, "name="+name+" ") && strings.Contains(line, "sub=1") {
			id := strings.TrimPrefix(strings.Fields(line)[0], "id=")
			must(t, rdb.Do(ctx, "CLIENT", "KILL", "ID", id).Err())
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d pub/sub connections, want 1", killed)
	}
	const n = 20
	for i := 1; i <= n; i++ {
		must(t, b.pub.EmitToUser(ctx, user, tokenEvent(i)))
	}
	for i := 1; i <= n; i++ {
		m, err := c.read(15 * time.Second)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if m.Seq != first.Seq+uint64(i) {
			t.Fatalf("event %d has seq %d, want %d", i, m.Seq, first.Seq+uint64(i))
		}
	}
	t.Logf("caught up from history: %v", strings.Contains(cl.logs.String(), "catching up from history"))
}

func redisClientFrom(t *testing.T, opts *redis.Options) *redis.Client {
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A reconnecting client subscribes and resumes after "connected": a run
// event emitted in between is not lost. Resume sends the missed events,
// then those emitted since the socket opened, in seq order, filtered by
// the subscriptions, and none twice.
func TestEventsBetweenConnectAndResumeAreDeliveredInOrder(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t, 100) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			cl := newCluster(t, e, testConfig())
			a, b := cl.start(), cl.start()
			user, tok, _ := cl.user("ada")
			run, other := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
			ctx := context.Background()

			c := dial(t, a, tok)
			must(t, b.pub.EmitToUser(ctx, user, tokenEvent(0)))
			seen := c.next()
			_ = c.ws.CloseNow()
			must(t, b.pub.EmitToRun(ctx, user, run, tokenEvent(1))) // missed while away

			// A probe socket, live at once (it resumes from its start), shows
			// when the instance has delivered what follows to every socket.
			probe := dial(t, a, tok)
			probe.send(map[string]any{"type": "resume", "epoch": probe.connected.Epoch, "seq": probe.connected.Seq})
			if m := probe.expect(typeResumed); !*m.Recovered || m.Missed != 0 {
				t.Fatalf("probe resumed %+v", m)
			}

			c2 := dial(t, a, tok)
			must(t, b.pub.EmitToRun(ctx, user, run, tokenEvent(2)))   // before c2 subscribes
			must(t, b.pub.EmitToRun(ctx, user, other, tokenEvent(3))) // a run c2 never watches
			must(t, b.pub.EmitToUser(ctx, user, tokenEvent(4)))
			if m := probe.next(); string(m.Data) != `{"text":"t4"}` {
				t.Fatalf("probe got %+v, want t4", m)
			}
			c2.subscribe(run)
			c2.send(map[string]any{"type": "resume", "epoch": c.connected.Epoch, "seq": seen.Seq})
			if m := c2.expect(typeResumed); m.Recovered == nil || !*m.Recovered || m.Missed != 1 || m.Seq != c2.connected.Seq {
				t.Fatalf("resumed %+v, want recovered with 1 missed", m)
			}
			for _, want := range []struct {
				seq  uint64
				text string
			}{{seen.Seq + 1, "t1"}, {seen.Seq + 2, "t2"}, {seen.Seq + 4, "t4"}} {
				if ev := c2.next(); ev.Seq != want.seq || string(ev.Data) != `{"text":"`+want.text+`"}` {
					t.Fatalf("got %+v, want %s at seq %d", ev, want.text, want.seq)
				}
			}
			must(t, b.pub.EmitToRun(ctx, user, run, tokenEvent(5)))
			if ev := c2.next(); ev.Seq != seen.Seq+5 || string(ev.Data) != `{"text":"t5"}` {
				t.Fatalf("live event after resume: %+v", ev)
			}
		})
	}
}

// A socket that does not resume gets its events once the grace ends; a
// resume after that cannot be complete and says so.
func TestSocketWithoutResumeGoesLiveAfterGrace(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t, 100) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.ResumeGrace = 100 * time.Millisecond
			cl := newCluster(t, e, cfg)
			a := cl.start()
			user, tok, _ := cl.user("ada")
			run := uuid.Must(uuid.NewV7())
			c := dial(t, a, tok)
			c.subscribe(run)
			must(t, a.pub.EmitToRun(context.Background(), user, run, tokenEvent(1)))
			if ev := c.next(); ev.Seq != c.connected.Seq+1 {
				t.Fatalf("got %+v", ev)
			}
			c.send(map[string]any{"type": "resume", "epoch": c.connected.Epoch, "seq": c.connected.Seq})
			if m := c.expect(typeResumed); m.Recovered == nil || *m.Recovered || m.Missed != 0 {
				t.Fatalf("late resume %+v, want recovered: false", m)
			}
		})
	}
}

// One user's sockets on an instance are capped; the one past the cap is
// closed at once with 4029, and a slot frees when a socket closes.
func TestSocketsPerUserAreCapped(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxSocketsPerUser = 3
	cl := newCluster(t, memoryEngine(t, Retention{Size: 100, TTL: time.Hour}), cfg)
	a := cl.start()
	_, tok, _ := cl.user("ada")
	_, otherTok, _ := cl.user("bob")
	open := []*client{dial(t, a, tok), dial(t, a, tok), dial(t, a, tok)}
	ws, _, err := dialRaw(t, a.url, http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	extra := &client{t: t, ws: ws}
	if code := extra.closedWith(5 * time.Second); code != CloseTooManySockets {
		t.Fatalf("close code %d, want %d", code, CloseTooManySockets)
	}
	dial(t, a, otherTok) // another user's cap is their own
	_ = open[0].ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, func() bool { return a.hub.Connected() == 3 })
	dial(t, a, tok)
}

// gatedHistory is a real broker whose History for one user waits for gate:
// a slow Redis round trip, on demand.
type gatedHistory struct {
	Broker
	user    uuid.UUID
	entered chan struct{} // signalled when a History of user starts waiting
	gate    chan struct{}
}

func (g gatedHistory) History(ctx context.Context, user uuid.UUID, since uint64) ([]Publication, Position, error) {
	if user == g.user {
		select {
		case g.entered <- struct{}{}:
		default:
		}
		select {
		case <-g.gate:
		case <-ctx.Done():
			return nil, Position{}, ctx.Err()
		}
	}
	return g.Broker.History(ctx, user, since)
}

// A catch-up from the history after a pub/sub reconnect runs off the
// delivery goroutine: while one user's history is slow to come, the other
// users of the instance get their events, and the first one then gets all
// of its own in order.
func TestSlowCatchUpDoesNotHoldUpOtherUsers(t *testing.T) {
	t.Parallel()
	e := redisEngine(t, Retention{Size: 1000, TTL: time.Hour})
	cl := newCluster(t, e, testConfig())
	rdb := newRedisClient(t)
	name := "rt-test-" + uuid.NewString()[:8]
	opts := *rdb.Options()
	opts.ClientName = name
	prefix := e.node(t).(*RedisBroker).prefix
	ada, adaTok, _ := cl.user("ada")
	bob, bobTok, _ := cl.user("bob")
	entered, gate := make(chan struct{}, 1), make(chan struct{})
	a := cl.startOn(gatedHistory{NewRedisBroker(redisClientFrom(t, &opts), prefix, Retention{Size: 1000, TTL: time.Hour}, logging.New(cl.logs, slog.LevelDebug)), ada, entered, gate})
	b := cl.start()
	ctx := context.Background()
	live := func(c *client) *client {
		c.send(map[string]any{"type": "resume", "epoch": c.connected.Epoch, "seq": c.connected.Seq})
		c.expect(typeResumed)
		return c
	}
	ca, cb := live(dial(t, a, adaTok)), live(dial(t, a, bobTok))

	clients, err := rdb.ClientList(ctx).Result()
	must(t, err)
	killed := 0
	for line := range strings.SplitSeq(clients, "\n") {
		if strings.Contains(line, "name="+name+" ") && !strings.Contains(line, " sub=0 ") {
			must(t, rdb.Do(ctx, "CLIENT", "KILL", "ID", strings.TrimPrefix(strings.Fields(line)[0], "id=")).Err())
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d pub/sub connections, want 1:\n%s", killed, clients)
	}
	// Once resubscribed, the instance catches up its users from their
	// histories; ada's hangs (for less than its 5 s timeout).
	must(t, b.pub.EmitToUser(ctx, ada, tokenEvent(1)))
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no catch-up of ada's stream after the pub/sub reconnect")
	}
	must(t, b.pub.EmitToUser(ctx, bob, tokenEvent(1)))
	m, err := cb.read(3 * time.Second)
	if err != nil {
		t.Fatalf("bob got nothing while ada's catch-up hung: %v", err)
	}
	if m.Seq != cb.connected.Seq+1 {
		t.Fatalf("bob's event has seq %d, want %d", m.Seq, cb.connected.Seq+1)
	}
	close(gate)
	if m := ca.next(); m.Seq != ca.connected.Seq+1 || string(m.Data) != `{"text":"t1"}` {
		t.Fatalf("ada's event after the catch-up: %+v", m)
	}
}
