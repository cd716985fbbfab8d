package kg

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/kgentity"
	"github.com/jarvis-core/jarvis/ent/kgrelation"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/pii"
)

func isUnique(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "23505"
}

// RelationInput is a typed edge from Source to Target, both the viewer's.
type RelationInput struct {
	SourceID, TargetID uuid.UUID
	Type               string
	Properties         map[string]any
}

// Direction of relations relative to an entity.
type Direction string

const (
	Out  Direction = "out"  // the entity is the source
	In   Direction = "in"   // the entity is the target
	Both Direction = "both" // either
)

func (d Direction) check(field string) error {
	switch d {
	case Out, In, Both:
		return nil
	}
	return fault.InvalidField(field, "must be in, out or both")
}

// MaxTypes bounds a relation-type filter.
const MaxTypes = 20

func checkTypes(types []string) error {
	if len(types) > MaxTypes {
		return fault.InvalidField("types", fmt.Sprintf("at most %d relation types", MaxTypes))
	}
	for _, t := range types {
		if err := checkLabel("types", t, MaxTypeLen); err != nil {
			return err
		}
	}
	return nil
}

// CreateRelation links two of the viewer's entities. Another user's entity
// is NotFound (the model's hook refuses it, and the database's same-owner
// foreign keys would too); a repeat of (source, target, type) is a Conflict.
func (s *Service) CreateRelation(ctx context.Context, in RelationInput) (*ent.KGRelation, error) {
	userID, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	if in.Properties == nil {
		in.Properties = map[string]any{}
	}
	var errs []error
	if in.SourceID == uuid.Nil {
		errs = append(errs, fault.InvalidField("source_id", "required"))
	}
	if in.TargetID == uuid.Nil {
		errs = append(errs, fault.InvalidField("target_id", "required"))
	}
	if err := checkLabel("type", in.Type, MaxTypeLen); err != nil {
		errs = append(errs, err)
	}
	if err := checkProperties("properties", in.Properties); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Relations keep no redaction counts: their type and properties are
	// annotations of an edge, redacted all the same.
	props := s.red.RedactJSON(in.Properties, pii.Counts{}).(map[string]any)
	in.Type = s.redactLabel(in.Type)
	if err := checkLabel("type", in.Type, MaxTypeLen); err != nil {
		return nil, err
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.KGRelation, error) {
		r, err := tx.KGRelation.Create().SetUserID(userID).SetSourceID(in.SourceID).SetTargetID(in.TargetID).
			SetType(in.Type).SetProperties(props).Save(ctx)
		if isUnique(err) {
			return nil, fault.Conflictf("this relation already exists").Wrap(err)
		}
		if err != nil {
			return nil, fmt.Errorf("store relation: %w", err)
		}
		return r, nil
	})
}

// GetRelation returns one of the viewer's relations.
func (s *Service) GetRelation(ctx context.Context, id uuid.UUID) (*ent.KGRelation, error) {
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.KGRelation, error) {
		return tx.KGRelation.Get(ctx, id)
	})
}

// DeleteRelation removes one of the viewer's relations.
func (s *Service) DeleteRelation(ctx context.Context, id uuid.UUID) error {
	return s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		return tx.KGRelation.DeleteOneID(id).Exec(ctx)
	})
}

// RelationFilter selects the relations of one entity.
type RelationFilter struct {
	Direction Direction // default both
	Types     []string  // any type when empty
}

// ListRelations returns a page of the relations of one of the viewer's
// entities, newest first; page.Fetch() rows at most.
func (s *Service) ListRelations(ctx context.Context, entityID uuid.UUID, f RelationFilter, page db.Page) ([]*ent.KGRelation, error) {
	if f.Direction == "" {
		f.Direction = Both
	}
	if err := f.Direction.check("direction"); err != nil {
		return nil, err
	}
	if err := checkTypes(f.Types); err != nil {
		return nil, err
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) ([]*ent.KGRelation, error) {
		// The entity must be the viewer's: another's answers 404, not [].
		if ok, err := tx.KGEntity.Query().Where(kgentity.ID(entityID)).Exist(ctx); err != nil {
			return nil, err
		} else if !ok {
			return nil, fault.NotFoundf("kg entity not found")
		}
		q := tx.KGRelation.Query().Order(ent.Desc(kgrelation.FieldID)).Limit(page.Fetch())
		switch f.Direction {
		case Out:
			q = q.Where(kgrelation.SourceID(entityID))
		case In:
			q = q.Where(kgrelation.TargetID(entityID))
		default:
			q = q.Where(kgrelation.Or(kgrelation.SourceID(entityID), kgrelation.TargetID(entityID)))
		}
		if len(f.Types) > 0 {
			q = q.Where(kgrelation.TypeIn(s.redactLabels(f.Types)...))
		}
		if page.Before != uuid.Nil {
			q = q.Where(kgrelation.IDLT(page.Before))
		}
		return q.All(ctx)
	})
}
