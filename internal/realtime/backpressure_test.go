package realtime

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// smallSendBuffers makes the instance's socket send buffers small, so that a
// client that stops reading fills them after a few kilobytes instead of
// the megabytes loopback allows.
func smallSendBuffers(srv *httptest.Server) {
	srv.Listener = smallBufListener{srv.Listener}
}

type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// stalledDial opens a socket with a tiny receive buffer, for a client that
// then stops reading.
func stalledDial(t *testing.T, url, tok string) *websocket.Conn {
	t.Helper()
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws
}

// One client that stops reading is closed as a slow consumer (4008); the
// 100 others on the same instance, same user and same events, get every
// event in order.
func TestStalledReaderIsClosedAndOthersAreUnaffected(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t, 1000) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			// A long write timeout: the queue bound, not a timed-out write,
			// is what must catch the stalled reader.
			cfg.SendQueueMessages, cfg.SendQueueBytes, cfg.WriteTimeout = 64, 128<<10, time.Minute
			// The sockets go live at once, so that the send queue, not the
			// bound on what a new socket holds, catches the stalled one.
			cfg.ResumeGrace = 10 * time.Millisecond
			cfg.MaxSocketsPerUser = 200
			cl := newCluster(t, e, cfg)
			a := cl.start(smallSendBuffers)
			user, tok, _ := cl.user("ada")
			run := uuid.Must(uuid.NewV7())

			stalled := stalledDial(t, a.url, tok)
			// Once the server gave up on it, the stalled client reads again,
			// as a slow but live one would, and finds the stated reason after
			// what was already on its way.
			stalledCode := make(chan websocket.StatusCode, 1)
			go func() {
				for a.hub.SlowConsumersClosed() == 0 {
					time.Sleep(5 * time.Millisecond)
				}
				for {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					_, _, err := stalled.Read(ctx)
					cancel()
					if err != nil {
						stalledCode <- websocket.CloseStatus(err)
						return
					}
				}
			}()
			const live, n = 100, 150
			clients := make([]*client, live)
			for i := range clients {
				clients[i] = dial(t, a, tok)
				clients[i].subscribe(run)
			}
			var (
				wg       sync.WaitGroup
				received atomic.Int64
			)
			errs := make(chan string, live)
			for _, c := range clients {
				wg.Go(func() {
					want := c.connected.Seq
					for range n {
						m, err := c.read(20 * time.Second)
						if err != nil {
							errs <- err.Error()
							return
						}
						if want++; m.Seq != want {
							errs <- "out of order"
							return
						}
						received.Add(1)
					}
				})
			}
			// Rounds of 10 events, each read by every live client before the
			// next: the live clients keep up, the stalled one falls behind.
			pad := strings.Repeat("x", 2000)
			for i := range n {
				data, _ := json.Marshal(map[string]any{"i": i, "pad": pad})
				must(t, a.pub.EmitToUser(context.Background(), user, events.Event{Type: events.AgentToken, Data: data}))
				if i%10 == 9 {
					want := int64(live * (i + 1))
					deadline := time.Now().Add(20 * time.Second)
					for received.Load() < want && time.Now().Before(deadline) && len(errs) == 0 {
						time.Sleep(time.Millisecond)
					}
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("a live client: %s", err)
			}
			if got := a.hub.SlowConsumersClosed(); got != 1 {
				t.Fatalf("%d slow consumers closed, want 1", got)
			}
			select {
			case code := <-stalledCode:
				if code != CloseSlowConsumer {
					t.Fatalf("stalled client: close code %d, want %d", code, CloseSlowConsumer)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("stalled client never closed")
			}
			if got := a.hub.Connected(); got != live {
				t.Fatalf("%d sockets open, want the %d live ones", got, live)
			}
		})
	}
}

// Shutdown sends what is queued, then closes with 1001.
func TestShutdownDrainsThenClosesGoingAway(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, memoryEngine(t, Retention{Size: 1000, TTL: time.Hour}), testConfig())
	a := cl.start()
	user, tok, _ := cl.user("ada")
	c := dial(t, a, tok)
	// Live first: events a new socket still holds (before its resume or
	// grace) are not sent at shutdown; the client resumes them elsewhere.
	c.send(map[string]any{"type": "resume", "epoch": c.connected.Epoch, "seq": c.connected.Seq})
	c.expect(typeResumed)
	const n = 200
	for i := range n {
		must(t, a.pub.EmitToUser(context.Background(), user, tokenEvent(i)))
	}
	a.stop(t)
	for i := range n {
		m, err := c.read(5 * time.Second)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", i, n, err)
		}
		if m.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, m.Seq)
		}
	}
	if code := c.closedWith(5 * time.Second); code != websocket.StatusGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
	// A new socket on a stopped hub is turned away.
	ws, _, err := dialRaw(t, strings.Replace(a.url, "ws://", "ws://", 1), http.Header{"Authorization": {"Bearer " + tok}})
	if err == nil {
		ws.CloseNow()
		t.Fatal("a stopped instance accepted a socket")
	}
}

// Bad client messages get an error reply; the socket stays usable.
func TestBadClientMessagesGetErrorsAndTheSocketStays(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxSubscriptions = 2
	cl := newCluster(t, memoryEngine(t, Retention{Size: 10, TTL: time.Hour}), cfg)
	a := cl.start()
	_, tok, _ := cl.user("ada")
	c := dial(t, a, tok)
	for _, raw := range []string{
		`not json`,
		`{"type":"dance"}`,
		`{"type":"subscribe","run_id":"not-a-uuid"}`,
		`{"type":"subscribe"}`,
		`{"type":"resume","seq":3}`,
		`{"type":"resume","epoch":"e"}`,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		must(t, c.ws.Write(ctx, websocket.MessageText, []byte(raw)))
		cancel()
		if m := c.expect(typeError); m.Code != "VALIDATION_ERROR" || m.Message == "" {
			t.Fatalf("%s: %+v", raw, m)
		}
	}
	c.subscribe(uuid.Must(uuid.NewV7()))
	c.subscribe(uuid.Must(uuid.NewV7()))
	c.send(map[string]any{"type": "subscribe", "run_id": uuid.Must(uuid.NewV7())})
	if m := c.expect(typeError); !strings.Contains(m.Message, "at most 2") {
		t.Fatalf("third subscription: %+v", m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	must(t, c.ws.Write(ctx, websocket.MessageBinary, []byte{1, 2}))
	c.expect(typeError)
	c.send(map[string]any{"type": "ping", "id": "p"})
	if m := c.expect(typePong); string(m.ID) != `"p"` {
		t.Fatalf("pong %+v", m)
	}
	// Over the read limit: the connection is closed as too big.
	must(t, c.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping","pad":"`+strings.Repeat("x", readLimit)+`"}`)))
	if code := c.closedWith(3 * time.Second); code != websocket.StatusMessageTooBig {
		t.Fatalf("close code %d, want 1009", code)
	}
}

// What emitters give the Publisher is checked before anything is published.
func TestPublisherValidatesEvents(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxEventBytes = 64
	b := NewMemoryBroker(Retention{Size: 10, TTL: time.Hour})
	t.Cleanup(b.Close)
	p := NewPublisher(cfg, b)
	ctx := context.Background()
	user, run := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	for _, c := range []struct {
		name string
		run  uuid.UUID
		e    events.Event
		kind fault.Kind
	}{
		{"unknown type", run, events.Event{Type: "agent.dance", Data: json.RawMessage(`{}`)}, fault.Invalid},
		{"array data", run, events.Event{Type: events.AgentToken, Data: json.RawMessage(`[1]`)}, fault.Invalid},
		{"not json", run, events.Event{Type: events.AgentToken, Data: json.RawMessage(`{"a":`)}, fault.Invalid},
		{"too large", run, events.Event{Type: events.AgentToken, Data: json.RawMessage(`{"text":"` + strings.Repeat("x", 64) + `"}`)}, fault.TooLarge},
		{"no run", uuid.Nil, events.Event{Type: events.AgentToken}, fault.Invalid},
	} {
		if err := p.EmitToRun(ctx, user, c.run, c.e); fault.KindOf(err) != c.kind {
			t.Errorf("%s: %v, want %v", c.name, err, c.kind)
		}
	}
	if pos, _ := b.Position(ctx, user); pos.Seq != 0 {
		t.Fatalf("refused events were published: %+v", pos)
	}
	must(t, p.EmitToRun(ctx, user, run, events.Event{Type: events.AgentFinal}))
	must(t, p.EmitToRun(ctx, user, run, events.Event{Type: events.AgentToken, Data: json.RawMessage(" {\n \"text\" : \"hi\" } ")}))
	hist, _, err := b.History(ctx, user, 0)
	must(t, err)
	if len(hist) != 2 || string(hist[0].Data) != `{}` || string(hist[1].Data) != `{"text":"hi"}` || !hist[1].ToRun || hist[1].RunID != run {
		t.Fatalf("history %+v", hist)
	}
}

// A peer that stops answering pings is dropped, and the user is then no
// longer connected anywhere.
func TestPingsDropDeadPeers(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t, 10) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.PingInterval, cfg.PongTimeout = 100*time.Millisecond, 300*time.Millisecond
			cl := newCluster(t, e, cfg)
			a, b := cl.start(), cl.start()
			user, tok, _ := cl.user("ada")
			// A client that never reads answers no ping (pongs are sent by
			// the reading side), like a peer gone without closing.
			ws, _, err := dialRaw(t, a.url, http.Header{"Authorization": {"Bearer " + tok}})
			if err != nil {
				t.Fatal(err)
			}
			defer ws.CloseNow()
			waitFor(t, func() bool { return a.hub.Connected() == 1 })
			if ok, err := b.pub.IsUserConnected(context.Background(), user); err != nil || !ok {
				t.Fatalf("IsUserConnected = %v, %v while the socket is open", ok, err)
			}
			waitFor(t, func() bool { return a.hub.Connected() == 0 })
			waitFor(t, func() bool {
				ok, err := b.pub.IsUserConnected(context.Background(), user)
				return err == nil && !ok
			})
		})
	}
}
