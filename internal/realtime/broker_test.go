package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/events"
)

// recorder is a Handler keeping what it is delivered, per user.
type recorder struct {
	mu   sync.Mutex
	got  map[uuid.UUID][]Publication
	cond *sync.Cond
}

func newRecorder() *recorder {
	r := &recorder{got: map[uuid.UUID][]Publication{}}
	r.cond = sync.NewCond(&r.mu)
	return r
}

func (r *recorder) Deliver(user uuid.UUID, _ string, p Publication) {
	r.mu.Lock()
	r.got[user] = append(r.got[user], p)
	r.mu.Unlock()
	r.cond.Broadcast()
}

// wait returns user's deliveries once there are n of them (or fails).
func (r *recorder) wait(t *testing.T, user uuid.UUID, n int) []Publication {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.got[user]) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d publications, want %d", len(r.got[user]), n)
		}
		r.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		r.mu.Lock()
	}
	return append([]Publication(nil), r.got[user]...)
}

func envelope(i int) Envelope {
	return Envelope{Type: events.AgentToken, RunID: uuid.Must(uuid.NewV7()), ToRun: true, Time: time.Now(), Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
}

func TestBrokerNumbersAtomicallyAcrossInstances(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t, 1000) {
		t.Run(e.name, func(t *testing.T) {
			a, b := e.node(t), e.node(t)
			ctx := context.Background()
			user := uuid.Must(uuid.NewV7())
			rec := newRecorder()
			l, err := a.Listen(ctx, rec)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close() })
			if err := l.Subscribe(ctx, user); err != nil {
				t.Fatal(err)
			}
			start, err := a.Position(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			if start.Seq != 0 || start.Epoch == "" {
				t.Fatalf("new stream at %+v, want seq 0 and an epoch", start)
			}
			// 4 publishers on two instances at once: every seq handed out once.
			const per = 50
			var wg sync.WaitGroup
			seqs := make(chan uint64, 4*per)
			for i := range 4 {
				node := []Broker{a, b}[i%2]
				wg.Go(func() {
					for j := range per {
						pos, err := node.Publish(ctx, user, envelope(i*per+j))
						if err != nil {
							t.Error(err)
							return
						}
						if pos.Epoch != start.Epoch {
							t.Errorf("epoch %s, want %s", pos.Epoch, start.Epoch)
						}
						seqs <- pos.Seq
					}
				})
			}
			wg.Wait()
			close(seqs)
			seen := map[uint64]bool{}
			for s := range seqs {
				if seen[s] || s < 1 || s > 4*per {
					t.Fatalf("seq %d handed out twice or out of range", s)
				}
				seen[s] = true
			}
			// The listener gets them in seq order, without gaps.
			got := rec.wait(t, user, 4*per)
			for i, p := range got {
				if p.Seq != uint64(i+1) {
					t.Fatalf("delivery %d has seq %d", i, p.Seq)
				}
			}
			hist, pos, err := b.History(ctx, user, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != 4*per || pos.Seq != 4*per || pos.Epoch != start.Epoch {
				t.Fatalf("history has %d at %+v", len(hist), pos)
			}
			for i, p := range hist {
				if p.Seq != uint64(i+1) || string(p.Data) != string(got[i].Data) || p.RunID != got[i].RunID || !p.ToRun || p.Type != events.AgentToken {
					t.Fatalf("history[%d] = %+v, delivered %+v", i, p, got[i])
				}
			}
		})
	}
}

func TestBrokerTrimsHistoryAndChangesEpochWhenLost(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t, 5) {
		t.Run(e.name, func(t *testing.T) {
			b := e.node(t)
			ctx := context.Background()
			user := uuid.Must(uuid.NewV7())
			for i := range 8 {
				if _, err := b.Publish(ctx, user, envelope(i)); err != nil {
					t.Fatal(err)
				}
			}
			hist, pos, err := b.History(ctx, user, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != 5 || hist[0].Seq != 4 || pos.Seq != 8 {
				t.Fatalf("history after trim: %d entries from %d, top %d; want 5 from 4, top 8", len(hist), hist[0].Seq, pos.Seq)
			}
			if hist, _, _ := b.History(ctx, user, 6); len(hist) != 2 || hist[0].Seq != 7 {
				t.Fatalf("history since 6: %+v", hist)
			}
			e.lose(t)
			after, err := b.Position(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			if after.Epoch == pos.Epoch || after.Seq != 0 {
				t.Fatalf("after losing the stream: %+v, before %+v; want a new epoch from seq 0", after, pos)
			}
			again, err := b.Position(ctx, user)
			if err != nil || again != after {
				t.Fatalf("position not stable: %+v then %+v (%v)", after, again, err)
			}
		})
	}
}

func TestBrokerPresenceAndUnsubscribe(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t, 100) {
		t.Run(e.name, func(t *testing.T) {
			a, b := e.node(t), e.node(t)
			ctx := context.Background()
			user, other := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
			rec := newRecorder()
			l, err := a.Listen(ctx, rec)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close() })
			if err := l.Subscribe(ctx, user); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				user uuid.UUID
				want bool
			}{{user, true}, {other, false}} {
				if got, err := b.Present(ctx, c.user); err != nil || got != c.want {
					t.Fatalf("Present = %v, %v; want %v", got, err, c.want)
				}
			}
			if _, err := b.Publish(ctx, other, envelope(0)); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Publish(ctx, user, envelope(1)); err != nil {
				t.Fatal(err)
			}
			rec.wait(t, user, 1)
			if err := l.Unsubscribe(ctx, user); err != nil {
				t.Fatal(err)
			}
			if got, err := b.Present(ctx, user); err != nil || got {
				t.Fatalf("Present after unsubscribe = %v, %v", got, err)
			}
			if _, err := b.Publish(ctx, user, envelope(2)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if n := len(rec.got[user]); n != 1 {
				t.Fatalf("%d deliveries after unsubscribe, want 1", n)
			}
			if n := len(rec.got[other]); n != 0 {
				t.Fatalf("delivered %d publications of a user nobody subscribed to", n)
			}
		})
	}
}
