package runs

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/toolpermission"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/fault"
)

var errPermissionNotFound = fault.NotFoundf("tool permission not found")

// toolPolicy is whether the viewer may use toolID: its permission, or the
// configured default for tools it has none for.
func (s *Service) toolPolicy(ctx context.Context, tx *ent.Tx, toolID string) (ToolPolicy, error) {
	p, err := tx.ToolPermission.Query().Where(toolpermission.ToolID(toolID)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return s.cfg.DefaultToolPolicy, nil
	case err != nil:
		return "", fmt.Errorf("read tool permission: %w", err)
	}
	return ToolPolicy(p.Effect), nil
}

// ToolAllowed reports whether the viewer may use toolID now.
func (s *Service) ToolAllowed(ctx context.Context, toolID string) (bool, error) {
	toolID, err := canonicalToolID(toolID)
	if err != nil {
		return false, err
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (bool, error) {
		p, err := s.toolPolicy(ctx, tx, toolID)
		return p == Allow, err
	})
}

// ListToolPermissions returns up to p.Fetch() of the viewer's tool
// permissions, newest first.
func (s *Service) ListToolPermissions(ctx context.Context, p db.Page) ([]*ent.ToolPermission, error) {
	if err := checkPage(p); err != nil {
		return nil, err
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) ([]*ent.ToolPermission, error) {
		q := tx.ToolPermission.Query().Order(ent.Desc(toolpermission.FieldID)).Limit(p.Fetch())
		if p.Before != uuid.Nil {
			q = q.Where(toolpermission.IDLT(p.Before))
		}
		return q.All(ctx)
	})
}

// SetToolPermission allows or denies toolID for the viewer, replacing any
// earlier choice for it.
func (s *Service) SetToolPermission(ctx context.Context, toolID string, effect ToolPolicy) (*ent.ToolPermission, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	toolID, err = canonicalToolID(toolID)
	if err != nil {
		return nil, err
	}
	if effect != Allow && effect != Deny {
		return nil, fault.InvalidField("effect", "must be allow or deny")
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.ToolPermission, error) {
		err := tx.ToolPermission.Create().SetUserID(uid).SetToolID(toolID).SetEffect(toolpermission.Effect(effect)).
			OnConflictColumns(toolpermission.FieldUserID, toolpermission.FieldToolID).
			UpdateEffect().UpdateUpdatedAt().
			Exec(ctx)
		if err != nil {
			return nil, fmt.Errorf("store tool permission: %w", err)
		}
		if err := audit.Record(ctx, tx, audit.Event{Type: audit.ToolPermissionChanged,
			Data: map[string]any{"tool_id": toolID, "effect": string(effect)}}); err != nil {
			return nil, err
		}
		return tx.ToolPermission.Query().Where(toolpermission.ToolID(toolID)).Only(ctx)
	})
}

// DeleteToolPermission removes one of the viewer's tool permissions: the
// default policy then applies to its tool.
func (s *Service) DeleteToolPermission(ctx context.Context, id uuid.UUID) error {
	return s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		p, err := tx.ToolPermission.Get(ctx, id)
		if ent.IsNotFound(err) {
			return errPermissionNotFound.Wrap(err)
		}
		if err != nil {
			return fmt.Errorf("find tool permission: %w", err)
		}
		err = tx.ToolPermission.DeleteOneID(id).Exec(ctx)
		if ent.IsNotFound(err) {
			return errPermissionNotFound.Wrap(err)
		}
		if err != nil {
			return fmt.Errorf("delete tool permission: %w", err)
		}
		return audit.Record(ctx, tx, audit.Event{Type: audit.ToolPermissionChanged,
			Data: map[string]any{"tool_id": p.ToolID, "effect": "default"}})
	})
}
