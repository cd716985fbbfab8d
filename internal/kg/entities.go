// Package kg owns a user's knowledge graph: entities (people, projects,
// things) unique by (type, name) per user, typed directed relations between
// the user's own entities, similarity search over entity embeddings, and
// multi-hop traversal by one recursive query.
//
// Entity types and names, relation types and properties are redacted (internal/pii)
// before they are stored or embedded, like memories. Two different
// addresses in a name both become "[EMAIL]", so they upsert into one
// entity: names are meant to be names.
package kg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/pgvector/pgvector-go"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/kgentity"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/embed"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/pii"
	"github.com/jarvis-core/jarvis/internal/vecsearch"
)

// Limits, as the schema has them.
const (
	MaxTypeLen         = 100
	MaxNameLen         = 500
	MaxPropertiesBytes = 16 << 10
)

// Service manages the viewer's knowledge graph.
type Service struct {
	db  *db.DB
	emb embed.Embedder
	red *pii.Redactor
	log *slog.Logger
	// sizes are the users whose searches skip the row count (vecsearch.Sizes).
	sizes *vecsearch.Sizes
}

// NewService returns the knowledge-graph service.
func NewService(d *db.DB, emb embed.Embedder, red *pii.Redactor, log *slog.Logger) *Service {
	return &Service{db: d, emb: emb, red: red, log: log, sizes: vecsearch.NewSizes()}
}

// Vector is a client's own embedding and its model.
type Vector = vecsearch.Vector

// EntityInput is an entity to create or upsert. Without Embedding the
// service embeds "type: name".
type EntityInput struct {
	Type       string
	Name       string
	Properties map[string]any
	Embedding  *Vector
}

// EntityUpdate changes an entity; nil leaves a part as it is. A new type or
// name is re-embedded unless Embedding comes with it.
type EntityUpdate struct {
	Type       *string
	Name       *string
	Properties *map[string]any
	Embedding  *Vector
}

// entityFields are what lists and searches return: not the embedding.
var entityFields = []string{
	kgentity.FieldID, kgentity.FieldCreatedAt, kgentity.FieldUpdatedAt, kgentity.FieldUserID, kgentity.FieldType,
	kgentity.FieldName, kgentity.FieldProperties, kgentity.FieldEmbeddingModel, kgentity.FieldRedactions,
}

func checkLabel(field, v string, maxLen int) error {
	switch {
	case strings.TrimSpace(v) == "":
		return fault.InvalidField(field, "must not be empty")
	case utf8.RuneCountInString(v) > maxLen:
		return fault.InvalidField(field, fmt.Sprintf("must be at most %d characters", maxLen))
	case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
		return fault.InvalidField(field, "must be UTF-8 text without NUL characters")
	}
	return nil
}

func checkProperties(field string, p map[string]any) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fault.InvalidField(field, "must be a JSON object")
	}
	if len(b) > MaxPropertiesBytes {
		return fault.InvalidField(field, fmt.Sprintf("must be at most %d bytes as JSON", MaxPropertiesBytes))
	}
	return nil
}

// redactLabel is a type filter as types are stored: redacted, so a filter
// finds what it names (and carries no raw value further).
func (s *Service) redactLabel(t string) string {
	out, _ := s.red.Redact(strings.TrimSpace(t))
	return out
}

// redactLabels is redactLabel over a list.
func (s *Service) redactLabels(ts []string) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = s.redactLabel(t)
	}
	return out
}

// entityText is what an entity's embedding is computed from.
func entityText(typ, name string) string { return typ + ": " + name }

// EntityText is what an entity's embedding is computed from, for the
// operator's re-embedding (internal/admin), which must embed the same text.
func EntityText(typ, name string) string { return entityText(typ, name) }

// preparedEntity is an entity ready to store: redacted, embedded.
type preparedEntity struct {
	typ, name  string
	properties map[string]any
	counts     pii.Counts // what redaction replaced in type, name and properties
	vector     *pgvector.Vector
	model      *string
}

func (s *Service) prepare(ctx context.Context, in EntityInput, embedNow bool) (preparedEntity, error) {
	if in.Properties == nil {
		in.Properties = map[string]any{}
	}
	var errs []error
	if err := checkLabel("type", in.Type, MaxTypeLen); err != nil {
		errs = append(errs, err)
	}
	if err := checkLabel("name", in.Name, MaxNameLen); err != nil {
		errs = append(errs, err)
	}
	if err := checkProperties("properties", in.Properties); err != nil {
		errs = append(errs, err)
	}
	if in.Embedding != nil {
		if err := in.Embedding.Check("embedding"); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return preparedEntity{}, errors.Join(errs...)
	}
	// The type is text like the name: it is stored, embedded and shown.
	counts := pii.Counts{}
	p := preparedEntity{
		typ:        s.red.RedactJSON(strings.TrimSpace(in.Type), counts).(string),
		name:       s.red.RedactJSON(strings.TrimSpace(in.Name), counts).(string),
		properties: s.red.RedactJSON(in.Properties, counts).(map[string]any),
	}
	p.counts = counts
	// A placeholder can be longer than what it replaced.
	if err := errors.Join(checkLabel("type", p.typ, MaxTypeLen), checkLabel("name", p.name, MaxNameLen)); err != nil {
		return preparedEntity{}, err
	}
	switch {
	case in.Embedding != nil:
		v := pgvector.NewVector(in.Embedding.Values)
		p.vector, p.model = &v, &in.Embedding.Model
	case embedNow:
		vecs, err := s.emb.Embed(ctx, []string{entityText(p.typ, p.name)})
		if err != nil {
			return preparedEntity{}, fmt.Errorf("embed entity: %w", err)
		}
		v, m := pgvector.NewVector(vecs[0]), s.emb.Model()
		p.vector, p.model = &v, &m
	}
	return p, nil
}

// CreateEntity stores a new entity; an existing (type, name) is a Conflict
// (UpsertEntity merges instead).
func (s *Service) CreateEntity(ctx context.Context, in EntityInput) (*ent.KGEntity, error) {
	userID, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.prepare(ctx, in, true)
	if err != nil {
		return nil, err
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.KGEntity, error) {
		e, err := tx.KGEntity.Create().SetUserID(userID).SetType(p.typ).SetName(p.name).SetProperties(p.properties).
			SetRedactions(p.counts.Object()).SetNillableEmbedding(p.vector).SetNillableEmbeddingModel(p.model).Save(ctx)
		if ent.IsConstraintError(err) {
			return nil, fault.Conflictf("an entity of type %q named %q already exists", p.typ, p.name).Wrap(err)
		}
		if err != nil {
			return nil, fmt.Errorf("store entity: %w", err)
		}
		return e, nil
	})
}

// UpsertEntity creates the entity of (type, name), or merges into the
// existing one: its properties take the new keys (a JSON object merge, so
// facts accumulate), its embedding the client's new one, or the service's
// unless the existing vector is of another model (then it stays). created
// says which.
// One INSERT ... ON CONFLICT makes concurrent upserts of one name safe.
func (s *Service) UpsertEntity(ctx context.Context, in EntityInput) (_ *ent.KGEntity, created bool, _ error) {
	userID, err := db.UserID(ctx)
	if err != nil {
		return nil, false, err
	}
	p, err := s.prepare(ctx, in, true)
	if err != nil {
		return nil, false, err
	}
	props, _ := json.Marshal(p.properties)
	reds, _ := json.Marshal(p.counts.Object())
	e, err := db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.KGEntity, error) {
		rows, err := tx.QueryContext(ctx, `
INSERT INTO kg_entities AS e (id, created_at, updated_at, user_id, type, name, properties, redactions, embedding, embedding_model)
VALUES ($1, $11, $11, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8)
ON CONFLICT (user_id, type, name) DO UPDATE SET
	-- The time is a parameter, not now(): Citus accepts only immutable
	-- functions in DO UPDATE SET on a distributed table.
	updated_at = $11,
	properties = e.properties || EXCLUDED.properties,
	redactions = EXCLUDED.redactions,
	-- Without the client's vector, an entity the client embedded with
	-- another model keeps its vector: its label, hence its text, is the
	-- same, and the service's vector would change its model silently.
	embedding = CASE WHEN $10 OR e.embedding_model IS NULL OR e.embedding_model = EXCLUDED.embedding_model
		THEN EXCLUDED.embedding ELSE e.embedding END,
	embedding_model = CASE WHEN $10 OR e.embedding_model IS NULL OR e.embedding_model = EXCLUDED.embedding_model
		THEN EXCLUDED.embedding_model ELSE e.embedding_model END
-- Merged properties stay within the same cap as one request's: repeated
-- upserts with new keys must not grow a row without bound.
WHERE octet_length((e.properties || EXCLUDED.properties)::text) <= $9
RETURNING id, xmax = 0`,
			uuid.Must(uuid.NewV7()), userID, p.typ, p.name, string(props), string(reds), p.vector, p.model, MaxPropertiesBytes, in.Embedding != nil, time.Now())
		if err != nil {
			return nil, fmt.Errorf("upsert entity: %w", err)
		}
		var (
			id    uuid.UUID
			found bool
		)
		func() {
			defer rows.Close()
			if rows.Next() {
				found = true
				err = rows.Scan(&id, &created)
			}
			if err == nil {
				err = rows.Err()
			}
		}()
		if err != nil {
			return nil, fmt.Errorf("upsert entity: %w", err)
		}
		if !found { // the WHERE above refused the merge
			return nil, fault.InvalidField("properties", fmt.Sprintf("merged with the entity's own they would pass %d bytes", MaxPropertiesBytes))
		}
		e, err := tx.KGEntity.Query().Where(kgentity.ID(id)).Only(ctx)
		if err != nil || created {
			return e, err
		}
		// Merged: redactions describe the merged row, so the properties
		// kept from before add their placeholders (the row is locked by
		// the upsert until the transaction ends).
		counts := pii.Counts{}
		counts.Add(p.counts)
		for k, v := range e.Properties {
			if _, replaced := p.properties[k]; !replaced {
				pii.Placeholders(k, counts)
				pii.Placeholders(v, counts)
			}
		}
		// Update().Where(id): UpdateOneID's re-read by id alone fans out on Citus.
		if _, err := tx.KGEntity.Update().Where(kgentity.ID(id)).SetRedactions(counts.Object()).Save(ctx); err != nil {
			return nil, fmt.Errorf("upsert entity redactions: %w", err)
		}
		e.Redactions = counts.Object()
		return e, nil
	})
	return e, created, err
}

// GetEntity returns one of the viewer's entities with its embedding.
func (s *Service) GetEntity(ctx context.Context, id uuid.UUID) (*ent.KGEntity, error) {
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.KGEntity, error) {
		return tx.KGEntity.Get(ctx, id)
	})
}

// ListEntities returns a page of the viewer's entities, newest first,
// optionally of one type; page.Fetch() rows at most.
func (s *Service) ListEntities(ctx context.Context, typ string, page db.Page) ([]*ent.KGEntity, error) {
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) ([]*ent.KGEntity, error) {
		q := tx.KGEntity.Query().Select(entityFields...).Order(ent.Desc(kgentity.FieldID)).Limit(page.Fetch())
		if page.Before != uuid.Nil {
			q = q.Where(kgentity.IDLT(page.Before))
		}
		if typ != "" {
			q = q.Where(kgentity.Type(s.redactLabel(typ)))
		}
		return q.All(ctx)
	})
}

// UpdateEntity changes an entity; a new (type, name) that another entity
// has is a Conflict.
func (s *Service) UpdateEntity(ctx context.Context, id uuid.UUID, in EntityUpdate) (*ent.KGEntity, error) {
	if _, err := db.UserID(ctx); err != nil {
		return nil, err
	}
	// embedding_model alone, naming the service's model: the service embeds.
	reembed := false
	if in.Embedding != nil && in.Embedding.Values == nil && in.Embedding.Model == s.emb.Model() {
		in.Embedding, reembed = nil, true
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.KGEntity, error) {
		cur, err := tx.KGEntity.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		next := EntityInput{Type: cur.Type, Name: cur.Name, Properties: cur.Properties, Embedding: in.Embedding}
		if in.Type != nil {
			next.Type = *in.Type
		}
		if in.Name != nil {
			next.Name = *in.Name
		}
		if in.Properties != nil {
			next.Properties = *in.Properties
		}
		relabel := next.Type != cur.Type || next.Name != cur.Name
		// A new label of an entity the client embedded with another model
		// needs the client's new vector: the service's would change the
		// entity's model behind its owner's back.
		if relabel && in.Embedding == nil && !reembed && cur.EmbeddingModel != nil && *cur.EmbeddingModel != s.emb.Model() {
			return nil, fault.InvalidField("embedding", fmt.Sprintf(
				"this entity's vector came from model %q, not the service's %q: send the new type and name's embedding of model %q with them (or embedding_model %q alone to have the service embed it)",
				*cur.EmbeddingModel, s.emb.Model(), *cur.EmbeddingModel, s.emb.Model()))
		}
		// Embedding inside the transaction holds the row's lock for the
		// provider's round trip; updates of one entity are rare and the
		// alternative (embed, then re-check the name) races with upserts.
		p, err := s.prepare(ctx, next, relabel || reembed || cur.Embedding == nil)
		if err != nil {
			return nil, err
		}
		// redactions describe what is stored: the new parts' counts (the
		// kept parts, already redacted, count nothing in prepare), and the
		// placeholders of the parts kept.
		counts := pii.Counts{}
		counts.Add(p.counts)
		if in.Type == nil {
			pii.Placeholders(cur.Type, counts)
		}
		if in.Name == nil {
			pii.Placeholders(cur.Name, counts)
		}
		if in.Properties == nil {
			pii.Placeholders(cur.Properties, counts)
		}
		// Update().Where(id), not UpdateOneID, whose re-read by id alone
		// goes to every shard on Citus; the viewer's filter names the user.
		u := tx.KGEntity.Update().Where(kgentity.ID(id)).SetType(p.typ).SetName(p.name).SetProperties(p.properties).SetRedactions(counts.Object())
		if p.vector != nil {
			u.SetEmbedding(*p.vector).SetEmbeddingModel(*p.model)
		}
		n, err := u.Save(ctx)
		if err == nil && n == 0 {
			return nil, fault.NotFoundf("kg entity not found")
		}
		var e *ent.KGEntity
		if err == nil {
			e, err = tx.KGEntity.Query().Where(kgentity.ID(id)).Only(ctx)
		}
		if ent.IsConstraintError(err) {
			return nil, fault.Conflictf("an entity of type %q named %q already exists", p.typ, p.name).Wrap(err)
		}
		if err != nil {
			return nil, fmt.Errorf("update entity: %w", err)
		}
		return e, nil
	})
}

// DeleteEntity removes an entity and its relations.
func (s *Service) DeleteEntity(ctx context.Context, id uuid.UUID) error {
	return s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		return tx.KGEntity.DeleteOneID(id).Exec(ctx)
	})
}

// Search defaults and bounds, as for memories.
const (
	DefaultThreshold = 0.7
	DefaultLimit     = 10
	MaxLimit         = 100
)

// EntitySearch finds entities by meaning: Query text (embedded) or Vector.
type EntitySearch struct {
	Query     string
	Vector    *Vector
	Type      string   // only entities of this type
	Threshold *float64 // minimum cosine similarity; default 0.7
	Limit     int      // 1..100; 0 means 10
}

// EntityHit is a found entity and its cosine similarity to the query.
type EntityHit struct {
	Entity     *ent.KGEntity
	Similarity float64
}

// EntityResult is a search's answer: the hits, and how many of the user's
// entities were not searched because another model embedded them.
type EntityResult struct {
	Hits        []EntityHit
	OtherModels int
}

// SearchEntities returns the viewer's entities nearest to the query, best
// first, among those embedded with the query's model.
func (s *Service) SearchEntities(ctx context.Context, in EntitySearch) (EntityResult, error) {
	userID, err := db.UserID(ctx)
	if err != nil {
		return EntityResult{}, err
	}
	threshold, limit := DefaultThreshold, in.Limit
	var errs []error
	if in.Threshold != nil {
		threshold = *in.Threshold
		if threshold < -1 || threshold > 1 || threshold != threshold {
			errs = append(errs, fault.InvalidField("threshold", "must be a cosine similarity between -1 and 1"))
		}
	}
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		errs = append(errs, fault.InvalidField("limit", fmt.Sprintf("must be between 1 and %d", MaxLimit)))
	}
	text := strings.TrimSpace(in.Query)
	switch {
	case text == "" && in.Vector == nil:
		errs = append(errs, fault.InvalidField("query", "give query text or a vector"))
	case text != "" && in.Vector != nil:
		errs = append(errs, fault.InvalidField("vector", "give query text or a vector, not both"))
	case len(text) > 4<<10:
		errs = append(errs, fault.InvalidField("query", "must be at most 4096 bytes"))
	case in.Vector != nil:
		if err := in.Vector.Check("vector"); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return EntityResult{}, errors.Join(errs...)
	}
	var vec pgvector.Vector
	model := ""
	if in.Vector != nil {
		vec, model = pgvector.NewVector(in.Vector.Values), in.Vector.Model
	} else {
		text, _ = s.red.Redact(text)
		vecs, err := s.emb.Embed(ctx, []string{text})
		if err != nil {
			return EntityResult{}, fmt.Errorf("embed query: %w", err)
		}
		vec, model = pgvector.NewVector(vecs[0]), s.emb.Model()
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (EntityResult, error) {
		return s.nearestEntities(ctx, tx, userID, vec, model, s.redactLabel(in.Type), limit, threshold)
	})
}

// nearestEntities searches the user's entities of model: the search
// statement, then the rows with COMMIT (see memory's search).
func (s *Service) nearestEntities(ctx context.Context, tx *ent.Tx, userID uuid.UUID, vec pgvector.Vector, model, typ string, limit int, threshold float64) (EntityResult, error) {
	req := vecsearch.Request{UserID: userID, Vector: vec, Model: model, K: limit, MaxDistance: 1 - threshold,
		CountOtherModels: true, Sizes: s.sizes}
	if typ != "" {
		req.Where = append(req.Where, vecsearch.Cond{SQL: "type = $?", Arg: typ})
	}
	res, err := vecsearch.Nearest(ctx, tx, vecsearch.KGEntities, req)
	if err != nil {
		return EntityResult{}, err
	}
	near := res.Hits
	if len(near) == 0 {
		return EntityResult{Hits: []EntityHit{}, OtherModels: res.OtherModels}, nil
	}
	ids := make([]uuid.UUID, len(near))
	for i, h := range near {
		ids[i] = h.ID
	}
	if err := db.CommitWithNext(ctx); err != nil {
		return EntityResult{}, err
	}
	rows, err := tx.KGEntity.Query().Where(kgentity.IDIn(ids...)).Select(entityFields...).All(ctx)
	if err != nil {
		return EntityResult{}, fmt.Errorf("load entities: %w", err)
	}
	byID := make(map[uuid.UUID]*ent.KGEntity, len(rows))
	for _, e := range rows {
		byID[e.ID] = e
	}
	hits := make([]EntityHit, 0, len(near))
	for _, h := range near {
		if e, ok := byID[h.ID]; ok {
			hits = append(hits, EntityHit{Entity: e, Similarity: 1 - h.Distance})
		}
	}
	return EntityResult{Hits: hits, OtherModels: res.OtherModels}, nil
}
