package rule

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/ent/kgentity"
	"github.com/jarvis-core/jarvis/ent/session"
)

// ErrCrossOwner is returned when a row would reference a parent row of another
// user (a message on someone else's run, a relation to someone else's entity).
// Foreign keys cannot see it: Postgres checks them without row-level security.
var ErrCrossOwner = errors.New("referenced row belongs to another user")

// clientMutation is implemented by every generated mutation.
type clientMutation interface {
	ent.Mutation
	Client() *ent.Client
}

// parentCheck counts how many of ids exist and belong to owner.
type parentCheck func(ctx context.Context, c *ent.Client, owner uuid.UUID, ids []uuid.UUID) (int, error)

// sameOwner returns a hook that refuses creating a row whose parents (the
// given fields) are not all owned by the row's own user. It runs for every
// viewer, the system included; parent fields are immutable, so creates are
// the only place a parent is named.
func sameOwner(check parentCheck, fields ...string) ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if !m.Op().Is(ent.OpCreate) {
				return next.Mutate(ctx, m)
			}
			cm, ok := m.(clientMutation)
			if !ok {
				return nil, fmt.Errorf("%s: mutation %T has no client", m.Type(), m)
			}
			owner, ok := ownerOf(m)
			if !ok {
				// Required-field validation reports the missing owner.
				return next.Mutate(ctx, m)
			}
			ids := make([]uuid.UUID, 0, len(fields))
			for _, f := range fields {
				v, ok := m.Field(f)
				if !ok {
					continue
				}
				if id, ok := v.(uuid.UUID); ok && !containsID(ids, id) {
					ids = append(ids, id)
				}
			}
			if len(ids) == 0 {
				return next.Mutate(ctx, m)
			}
			n, err := check(ctx, cm.Client(), owner, ids)
			if err != nil {
				return nil, fmt.Errorf("%s: check parent owner: %w", m.Type(), err)
			}
			if n != len(ids) {
				return nil, fmt.Errorf("%s: %w", m.Type(), ErrCrossOwner)
			}
			return next.Mutate(ctx, m)
		})
	}
}

func containsID(ids []uuid.UUID, id uuid.UUID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// RunOfSameOwner guards messages, tool calls and LLM calls: their run must be the owner's.
func RunOfSameOwner() ent.Hook {
	return sameOwner(func(ctx context.Context, c *ent.Client, owner uuid.UUID, ids []uuid.UUID) (int, error) {
		return c.AgentRun.Query().Where(agentrun.IDIn(ids...), agentrun.UserID(owner)).Count(ctx)
	}, "run_id")
}

// SessionOfSameOwner guards refresh tokens: their session must be the owner's.
func SessionOfSameOwner() ent.Hook {
	return sameOwner(func(ctx context.Context, c *ent.Client, owner uuid.UUID, ids []uuid.UUID) (int, error) {
		return c.Session.Query().Where(session.IDIn(ids...), session.UserID(owner)).Count(ctx)
	}, "session_id")
}

// EntitiesOfSameOwner guards knowledge-graph relations: both ends must be the owner's.
func EntitiesOfSameOwner() ent.Hook {
	return sameOwner(func(ctx context.Context, c *ent.Client, owner uuid.UUID, ids []uuid.UUID) (int, error) {
		return c.KGEntity.Query().Where(kgentity.IDIn(ids...), kgentity.UserID(owner)).Count(ctx)
	}, "source_id", "target_id")
}
