package fault_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/internal/fault"
)

func TestKindsSurviveWrapping(t *testing.T) {
	cause := errors.New("pq: duplicate key")
	err := fmt.Errorf("store secret: %w", fault.Conflictf("already exists").Wrap(cause))
	if !fault.Is(err, fault.Conflict) || fault.KindOf(err) != fault.Conflict {
		t.Fatalf("kind lost: %v", fault.KindOf(err))
	}
	if !errors.Is(err, cause) {
		t.Fatal("the cause is not reachable")
	}
	if fault.Is(errors.New("plain"), fault.NotFound) || fault.KindOf(nil) != 0 {
		t.Fatal("an unclassified error has a kind")
	}
}

func TestSentinelsMatchTheirCopies(t *testing.T) {
	exists := fault.Conflictf("email taken").WithCode("EMAIL_EXISTS")
	wrapped := exists.Wrap(errors.New("cause"))
	if !errors.Is(wrapped, exists) {
		t.Fatal("a wrapped copy does not match its sentinel")
	}
	if errors.Is(fault.Conflictf("other"), exists) || errors.Is(fault.Conflictf("email taken"), exists) {
		t.Fatal("a different conflict matches the sentinel")
	}
}

func TestFieldsListEveryJoinedInput(t *testing.T) {
	err := errors.Join(fault.InvalidField("name", "must not be empty"), nil,
		fmt.Errorf("wrapped: %w", fault.InvalidField("value", "too long")), errors.New("not a field"))
	got := fault.Fields(err)
	if len(got) != 2 || got[0].Name != "name" || got[1].Name != "value" {
		t.Fatalf("fields = %+v", got)
	}
	if !fault.Is(err, fault.Invalid) {
		t.Fatal("a joined error of invalid fields is not Invalid")
	}
}

func TestRetryAfter(t *testing.T) {
	e, ok := fault.As(fmt.Errorf("x: %w", fault.RateLimitedf(1500*time.Millisecond, "slow down")))
	if !ok || e.RetryAfter != 1500*time.Millisecond || e.Kind != fault.RateLimited {
		t.Fatalf("%+v", e)
	}
}
