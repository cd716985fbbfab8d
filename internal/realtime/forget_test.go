package realtime

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/events"
)

// ForgetUser leaves nothing of the user in the memory broker (the Redis
// broker's keys are checked by internal/userdata's erasure test), and
// another user's stream as it was.
func TestForgetUserDropsTheStream(t *testing.T) {
	t.Parallel()
	b := NewMemoryBroker(10, time.Hour)
	t.Cleanup(b.Close)
	p := NewPublisher(Config{MaxEventBytes: 1 << 10}, b)
	ctx := context.Background()
	alice, bob := uuid.New(), uuid.New()
	for _, u := range []uuid.UUID{alice, bob} {
		if err := p.EmitToUser(ctx, u, events.Event{Type: events.BudgetWarning, Data: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := b.Position(ctx, alice)
	if err := p.ForgetUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	pubs, pos, err := b.History(ctx, alice, 0)
	if err != nil || len(pubs) != 0 || pos.Seq != 0 || pos.Epoch == before.Epoch {
		t.Fatalf("after ForgetUser: %d publications at %+v (was %+v), %v", len(pubs), pos, before, err)
	}
	if pubs, _, _ := b.History(ctx, bob, 0); len(pubs) != 1 {
		t.Fatalf("bob's history: %d publications, want 1", len(pubs))
	}
}
