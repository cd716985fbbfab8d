package kg

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/kgentity"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// Traversal bounds.
const (
	MaxDepth            = 5
	DefaultNeighborsMax = 100
	MaxNeighbors        = 1000
	// maxWalkRows caps the paths the recursive query enumerates. It walks
	// paths, not nodes (SQL has no shared visited set), so a dense graph
	// has exponentially many paths by depth 5; the walk is breadth first,
	// so the cap cuts the deepest level and the answer says it was cut.
	maxWalkRows = 20000
)

// NeighborQuery asks for the entities reachable from one entity.
type NeighborQuery struct {
	Depth     int       // 1..5; 0 means 1
	Types     []string  // relation types to follow; any when empty
	Direction Direction // default both
	Limit     int       // 1..1000; 0 means 100
}

// Neighbor is a reachable entity, its distance in hops and one shortest
// path to it: the entities from the start (included) to it (included) and
// the relations between them.
type Neighbor struct {
	Entity    *ent.KGEntity
	Distance  int
	Path      []uuid.UUID
	Relations []uuid.UUID
}

// Neighbors is a traversal's answer. Truncated reports that the walk hit
// its bound of paths, so entities at the deepest distance may be missing.
type Neighbors struct {
	Items     []Neighbor
	Truncated bool
}

// walkSQL is the traversal: one recursive query. Each step follows the
// relations of the allowed types and directions out of the path's last
// entity, never to an entity already on the path (cycles stop), to at most
// $3 hops. Postgres evaluates a recursive CTE level by level, so the first
// rows of an entity are at its shortest distance and the LIMIT keeps the
// shallow levels whole. DISTINCT ON keeps one shortest path per entity.
const walkSQL = `
WITH RECURSIVE walk(entity_id, depth, path, relations) AS (
	SELECT $2::uuid, 0, ARRAY[$2::uuid], ARRAY[]::uuid[]
	UNION ALL
	SELECT step.next, w.depth + 1, w.path || step.next, w.relations || step.rel
	FROM walk w
	CROSS JOIN LATERAL (
		SELECT r.target_id AS next, r.id AS rel FROM kg_relations r
		WHERE $5 AND r.user_id = $1 AND r.source_id = w.entity_id AND (cardinality($4::text[]) = 0 OR r.type = ANY($4::text[]))
		UNION ALL
		SELECT r.source_id, r.id FROM kg_relations r
		WHERE $6 AND r.user_id = $1 AND r.target_id = w.entity_id AND (cardinality($4::text[]) = 0 OR r.type = ANY($4::text[]))
	) step
	WHERE w.depth < $3 AND step.next <> ALL (w.path)
), bounded AS (
	SELECT * FROM walk LIMIT $7
)
SELECT DISTINCT ON (entity_id) entity_id, depth, array_to_string(path, ','), array_to_string(relations, ','),
	(SELECT count(*) FROM bounded) >= $7
FROM bounded WHERE depth > 0
ORDER BY entity_id, depth, path`

// Neighbors returns the entities reachable from id within q.Depth hops,
// nearest first.
func (s *Service) Neighbors(ctx context.Context, id uuid.UUID, q NeighborQuery) (Neighbors, error) {
	userID, err := db.UserID(ctx)
	if err != nil {
		return Neighbors{}, err
	}
	if q.Depth == 0 {
		q.Depth = 1
	}
	if q.Limit == 0 {
		q.Limit = DefaultNeighborsMax
	}
	if q.Direction == "" {
		q.Direction = Both
	}
	var errs []error
	if q.Depth < 1 || q.Depth > MaxDepth {
		errs = append(errs, fault.InvalidField("depth", fmt.Sprintf("must be between 1 and %d", MaxDepth)))
	}
	if q.Limit < 1 || q.Limit > MaxNeighbors {
		errs = append(errs, fault.InvalidField("limit", fmt.Sprintf("must be between 1 and %d", MaxNeighbors)))
	}
	if err := q.Direction.check("direction"); err != nil {
		errs = append(errs, err)
	}
	if err := checkTypes(q.Types); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Neighbors{}, errors.Join(errs...)
	}
	types := s.redactLabels(q.Types) // as stored
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (Neighbors, error) {
		if ok, err := tx.KGEntity.Query().Where(kgentity.ID(id)).Exist(ctx); err != nil {
			return Neighbors{}, err
		} else if !ok {
			return Neighbors{}, fault.NotFoundf("kg entity not found")
		}
		rows, err := tx.QueryContext(ctx, walkSQL, userID, id, q.Depth, types,
			q.Direction != In, q.Direction != Out, maxWalkRows)
		if err != nil {
			return Neighbors{}, fmt.Errorf("traverse: %w", err)
		}
		var out Neighbors
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				var (
					n         Neighbor
					path, rel string
					truncated bool
					eid       uuid.UUID
				)
				if err := rows.Scan(&eid, &n.Distance, &path, &rel, &truncated); err != nil {
					return err
				}
				out.Truncated = truncated
				if n.Path, err = parseIDs(path); err != nil {
					return err
				}
				if n.Relations, err = parseIDs(rel); err != nil {
					return err
				}
				n.Entity = &ent.KGEntity{ID: eid}
				out.Items = append(out.Items, n)
			}
			return rows.Err()
		}()
		if err != nil {
			return Neighbors{}, fmt.Errorf("traverse: %w", err)
		}
		sort.Slice(out.Items, func(i, j int) bool {
			a, b := out.Items[i], out.Items[j]
			if a.Distance != b.Distance {
				return a.Distance < b.Distance
			}
			return a.Entity.ID.String() < b.Entity.ID.String()
		})
		if len(out.Items) > q.Limit {
			out.Items, out.Truncated = out.Items[:q.Limit], true
		}
		ids := make([]uuid.UUID, len(out.Items))
		for i, n := range out.Items {
			ids[i] = n.Entity.ID
		}
		ents, err := tx.KGEntity.Query().Where(kgentity.IDIn(ids...)).Select(entityFields...).All(ctx)
		if err != nil {
			return Neighbors{}, fmt.Errorf("load neighbours: %w", err)
		}
		byID := make(map[uuid.UUID]*ent.KGEntity, len(ents))
		for _, e := range ents {
			byID[e.ID] = e
		}
		// An entity deleted by a concurrent transaction between the two
		// statements (read committed) is left out rather than returned empty.
		kept := out.Items[:0]
		for _, n := range out.Items {
			if e, ok := byID[n.Entity.ID]; ok {
				n.Entity = e
				kept = append(kept, n)
			}
		}
		out.Items = kept
		if out.Items == nil {
			out.Items = []Neighbor{}
		}
		return out, nil
	})
}

// parseIDs reads a comma-joined id list (arrays travel as text: the
// database/sql path has no uuid[] scanner).
func parseIDs(joined string) ([]uuid.UUID, error) {
	if joined == "" {
		return []uuid.UUID{}, nil
	}
	s := strings.Split(joined, ",")
	out := make([]uuid.UUID, len(s))
	for i, x := range s {
		id, err := uuid.Parse(x)
		if err != nil {
			return nil, fmt.Errorf("parse id %q: %w", x, err)
		}
		out[i] = id
	}
	return out, nil
}
