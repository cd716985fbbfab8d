// Package viewer carries who is acting in a context: one user, or the system
// itself (background jobs, migrations), or an operator running admin scripts.
// Ent privacy rules and the database's row-level security read it; nothing else
// decides visibility.
package viewer

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// Role says what kind of actor a Viewer is.
type Role uint8

const (
	// RoleUser sees and changes only its own rows.
	RoleUser Role = iota + 1
	// RoleSystem is the service acting on its own behalf (key rotation, cleanup jobs).
	RoleSystem
	// RoleAdmin is an operator's script (cmd/jarvis admin ...).
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleUser:
		return "user"
	case RoleSystem:
		return "system"
	case RoleAdmin:
		return "admin"
	default:
		return fmt.Sprintf("role(%d)", r)
	}
}

// Viewer is the actor of a request or job.
type Viewer struct {
	Role   Role
	UserID uuid.UUID // set for RoleUser only
	// SessionID is the session of the access token a request came with:
	// the unit of work checks it is live in the same transaction (db.Run).
	// Zero for work that is not a request (tests, jobs, sign-in itself).
	SessionID uuid.UUID
}

// User is the viewer for one user, outside any session.
func User(id uuid.UUID) Viewer { return Viewer{Role: RoleUser, UserID: id} }

// Session is the viewer of a request authenticated by an access token of
// session sessionID: one value carries both, so they cannot disagree.
func Session(userID, sessionID uuid.UUID) Viewer {
	return Viewer{Role: RoleUser, UserID: userID, SessionID: sessionID}
}

// System is the viewer for the service's own work across users.
func System() Viewer { return Viewer{Role: RoleSystem} }

// Admin is the viewer for operators' scripts.
func Admin() Viewer { return Viewer{Role: RoleAdmin} }

// Privileged reports whether the viewer may see every user's rows.
func (v Viewer) Privileged() bool { return v.Role == RoleSystem || v.Role == RoleAdmin }

// Valid reports whether the viewer names an actor at all: a user viewer
// without a user id is a programming error and is treated as no viewer.
func (v Viewer) Valid() bool {
	switch v.Role {
	case RoleUser:
		return v.UserID != uuid.Nil
	case RoleSystem, RoleAdmin:
		return true
	default:
		return false
	}
}

type ctxKey struct{}

// NewContext returns ctx carrying v.
func NewContext(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, v)
}

// FromContext returns the viewer in ctx, if any valid one is there.
func FromContext(ctx context.Context) (Viewer, bool) {
	v, ok := ctx.Value(ctxKey{}).(Viewer)
	if !ok || !v.Valid() {
		return Viewer{}, false
	}
	return v, true
}
