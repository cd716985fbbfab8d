package audit

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/auditevent"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// Service reads the viewer's own audit log, under RLS.
type Service struct{ db *db.DB }

// NewService returns the audit log's reader.
func NewService(d *db.DB) *Service { return &Service{db: d} }

// Filter narrows a list: a type and a time range [Since, Until); zero
// values do not filter.
type Filter struct {
	Type         Type
	Since, Until time.Time
}

// Validate refuses a range that ends before it starts.
func (f Filter) Validate() error {
	if f.Type != "" {
		if err := auditevent.TypeValidator(f.Type); err != nil {
			return fault.InvalidField("type", "not an audit event type")
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return fault.InvalidField("until", "must be after since")
	}
	return nil
}

// List returns a page of the viewer's events, newest first.
func (s *Service) List(ctx context.Context, p db.Page, f Filter) ([]*ent.AuditEvent, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) ([]*ent.AuditEvent, error) {
		// The privacy filter adds the viewer's user_id; keyset on id.
		q := tx.AuditEvent.Query().Order(ent.Desc(auditevent.FieldID)).Limit(p.Fetch())
		if p.Before != uuid.Nil {
			q = q.Where(auditevent.IDLT(p.Before))
		}
		if f.Type != "" {
			q = q.Where(auditevent.TypeEQ(f.Type))
		}
		if !f.Since.IsZero() {
			q = q.Where(auditevent.CreatedAtGTE(f.Since))
		}
		if !f.Until.IsZero() {
			q = q.Where(auditevent.CreatedAtLT(f.Until))
		}
		return q.All(ctx)
	})
}

// Get returns one of the viewer's events; another user's is not found.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*ent.AuditEvent, error) {
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.AuditEvent, error) {
		return tx.AuditEvent.Get(ctx, id)
	})
}

// Prune deletes, across every user, the events older than before: the
// retention job of `jarvis admin audit prune`, on the owner role's client
// (the service role may not delete audit events). It fans out on Citus.
func Prune(ctx context.Context, client *ent.Client, before time.Time) (int, error) {
	return client.AuditEvent.Delete().Where(auditevent.CreatedAtLT(before)).Exec(ctx)
}
