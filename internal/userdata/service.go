// Package userdata is what the service holds about one user, as a whole:
// the export of all of it (GET /v1/me/export) and its erasure (DELETE
// /v1/me, and `jarvis admin users erase` through the same Erase), with the
// aftermath of an erasure outside Postgres (sockets, the realtime stream in
// Redis, grants at OAuth providers). It reads and deletes generically over
// the model's owned tables, so a table added later is covered.
package userdata

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/auth/password"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// ErrWrongPassword refuses an account deletion whose password does not
// match; nothing was changed.
var ErrWrongPassword = fault.Forbiddenf("the password is not correct: the account was not deleted")

// Service exports and erases the viewer's data.
type Service struct {
	db        *db.DB
	hasher    *password.Hasher
	aftermath Aftermath
	log       *slog.Logger
}

// NewService returns the user-data service.
func NewService(d *db.DB, h *password.Hasher, a Aftermath, log *slog.Logger) *Service {
	if a.Log == nil {
		a.Log = log
	}
	return &Service{db: d, hasher: h, aftermath: a, log: log}
}

// recordExport audits an export in its own unit of work, before the
// snapshot is taken (a read-only transaction records nothing).
func (s *Service) recordExport(ctx context.Context, opts Options) error {
	return s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		return audit.Record(ctx, tx, audit.Event{Type: audit.DataExported,
			Data: map[string]any{"with_vectors": opts.Embeddings, "format_version": FormatVersion}})
	})
}

// DeleteAccount erases the viewer's account after checking pw, its
// password, again: a stolen access token alone cannot delete an account.
// A wrong password is ErrWrongPassword and changes nothing.
func (s *Service) DeleteAccount(ctx context.Context, pw string) (map[string]int, Outcome, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, Outcome{}, err
	}
	u, err := db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.User, error) {
		return tx.User.Get(ctx, uid)
	})
	if err != nil {
		return nil, Outcome{}, err
	}
	if _, err := s.hasher.Verify(ctx, pw, u.PasswordHash); err != nil {
		if errors.Is(err, password.ErrMismatch) || errors.Is(err, password.ErrMalformed) {
			return nil, Outcome{}, ErrWrongPassword
		}
		return nil, Outcome{}, err
	}
	var (
		counts  map[string]int
		pending *Pending
	)
	err = s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		var err error
		if pending, err = s.aftermath.Prepare(ctx, tx, uid); err != nil {
			return err
		}
		counts, err = Erase(ctx, tx, uid, "")
		return err
	})
	if err != nil {
		return nil, Outcome{}, err
	}
	// The audit events go in a transaction of their own (EraseAuditEvents
	// says why); the account is gone, so a failure here cannot be retried
	// by the user: it is logged for the operator (`jarvis admin audit
	// prune` removes what is past retention) and answered as an error.
	// The account and its sessions are gone: the unit is identified as the
	// erased user with no viewer (a viewer's session check would refuse it).
	if err := s.db.RunUnowned(ctx, uid, "erasure's audit events, after the account's", func(ctx context.Context, tx *ent.Tx) error {
		return EraseAuditEvents(ctx, tx, uid)
	}); err != nil {
		pending.Finish(ctx)
		return nil, Outcome{}, fmt.Errorf("account erased, its audit events not: %w", err)
	}
	return counts, pending.Finish(ctx), nil
}
