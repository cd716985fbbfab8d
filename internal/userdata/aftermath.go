package userdata

import (
	"context"
	"log/slog"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/connections"
)

// Realtime ends a user's realtime presence: realtime.Publisher.ForgetUser
// closes the user's sockets on every instance and deletes the user's
// stream and keys in Redis.
type Realtime interface {
	ForgetUser(ctx context.Context, userID uuid.UUID) error
}

// Aftermath is what an erasure ends outside Postgres, around its
// transaction: the grants at OAuth providers (their tokens are opened in
// the transaction, before the rows go, and revoked after the commit), and
// the user's sockets and realtime stream. Both are best effort: the
// account is gone whatever a provider or Redis answers, and a failure is
// logged without any token. A nil field skips its part.
type Aftermath struct {
	Connections *connections.Service
	Realtime    Realtime
	Log         *slog.Logger
}

// Pending is an erasure's aftermath, prepared in its transaction.
type Pending struct {
	a      Aftermath
	user   uuid.UUID
	grants []connections.Grant
}

// Prepare runs in the erasure's transaction, before Erase: it opens the
// tokens that are to be revoked once the erasure commits.
func (a Aftermath) Prepare(ctx context.Context, tx *ent.Tx, uid uuid.UUID) (*Pending, error) {
	p := &Pending{a: a, user: uid}
	if a.Connections != nil {
		g, err := a.Connections.Grants(ctx, tx, uid)
		if err != nil {
			return nil, err
		}
		p.grants = g
	}
	return p, nil
}

// Outcome is what an aftermath did.
type Outcome struct {
	GrantsRevoked, GrantsFailed int
	RealtimeForgotten           bool
}

// Finish runs after the commit: it revokes the grants and ends the user's
// realtime presence. It is not cut short by the caller going away.
func (p *Pending) Finish(ctx context.Context) Outcome {
	ctx = context.WithoutCancel(ctx)
	var o Outcome
	if p.a.Realtime != nil {
		if err := p.a.Realtime.ForgetUser(ctx, p.user); err != nil {
			p.log().WarnContext(ctx, "erasure: the user's realtime stream could not be ended",
				slog.String("user_id", p.user.String()), slog.String("error", err.Error()))
		} else {
			o.RealtimeForgotten = true
		}
	}
	if p.a.Connections != nil && len(p.grants) > 0 {
		o.GrantsRevoked = p.a.Connections.RevokeGrants(ctx, p.grants)
		o.GrantsFailed = len(p.grants) - o.GrantsRevoked
	}
	return o
}

func (p *Pending) log() *slog.Logger {
	if p.a.Log != nil {
		return p.a.Log
	}
	return slog.Default()
}
