package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/privacy/rule"
	"github.com/jarvis-core/jarvis/ent/usersecret"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/fault"
)

var (
	// ErrNotFound: no such secret for this user (another user's secret included).
	ErrNotFound = fault.NotFoundf("secret not found")
	// ErrConflict: the user already has a secret of this provider and name.
	ErrConflict = fault.Conflictf("a secret with this provider and name already exists")
	// ErrAmbiguous: several secrets of the provider and no name to choose.
	ErrAmbiguous = fault.InvalidField("name", "several secrets for this provider: name one")
)

// MaxValueBytes caps a secret value (API keys and OAuth tokens are far smaller).
const MaxValueBytes = 8 << 10

// listFields are the columns listing reads: never the sealed value.
var listFields = []string{
	usersecret.FieldID, usersecret.FieldCreatedAt, usersecret.FieldUpdatedAt, usersecret.FieldUserID,
	usersecret.FieldProvider, usersecret.FieldName, usersecret.FieldLast4, usersecret.FieldKeyVersion,
	usersecret.FieldLastUsedAt,
}

// Service stores users' secrets sealed and opens them only for server-side use.
type Service struct {
	db  *db.DB
	box *Box
	log *slog.Logger
}

// NewService returns the secrets service.
func NewService(d *db.DB, box *Box, log *slog.Logger) *Service {
	return &Service{db: d, box: box, log: log}
}

func validName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fault.InvalidField("name", "must not be empty")
	case utf8.RuneCountInString(name) > 100:
		return fault.InvalidField("name", "must be at most 100 characters")
	}
	return nil
}

func validValue(v string) error {
	switch {
	case v == "":
		return fault.InvalidField("value", "must not be empty")
	case len(v) > MaxValueBytes:
		return fault.InvalidField("value", fmt.Sprintf("must be at most %d bytes", MaxValueBytes))
	case !utf8.ValidString(v):
		return fault.InvalidField("value", "must be text")
	}
	return nil
}

func validProvider(p string) error {
	if err := usersecret.ProviderValidator(usersecret.Provider(p)); err != nil {
		return fault.InvalidField("provider", "must be one of openai, anthropic, composio, github, custom")
	}
	return nil
}

// last4 is the hint shown in lists; short values get none, so the hint never
// reveals a meaningful share of the value.
func last4(v string) string {
	if utf8.RuneCountInString(v) <= 12 {
		return ""
	}
	r := []rune(v)
	return string(r[len(r)-4:])
}

// List returns a page of the viewer's secrets without values, newest first,
// in one round trip to Postgres (db.ReadOne: one statement).
func (s *Service) List(ctx context.Context, p db.Page) ([]*ent.UserSecret, error) {
	return db.ReadOne(ctx, s.db, func(ctx context.Context, tx *ent.Tx) ([]*ent.UserSecret, error) {
		q := tx.UserSecret.Query().Select(listFields...).Order(ent.Desc(usersecret.FieldID)).Limit(p.Fetch())
		if p.Before != uuid.Nil {
			q = q.Where(usersecret.IDLT(p.Before))
		}
		return q.All(ctx)
	})
}

// Get returns one of the viewer's secrets, without its value, in one round
// trip (db.ReadOne).
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*ent.UserSecret, error) {
	sec, err := db.ReadOne(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.UserSecret, error) {
		return tx.UserSecret.Query().Where(usersecret.ID(id)).Select(listFields...).Only(ctx)
	})
	if fault.Is(err, fault.NotFound) {
		return nil, ErrNotFound
	}
	return sec, err
}

// Create seals value for the viewer.
func (s *Service) Create(ctx context.Context, provider, name, value string) (*ent.UserSecret, error) {
	userID, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(validProvider(provider), validName(name), validValue(value)); err != nil {
		return nil, err
	}
	id := uuid.Must(uuid.NewV7())
	sealed, err := s.box.Seal([]byte(value), Binding(userID, id))
	if err != nil {
		return nil, fmt.Errorf("seal secret: %w", err)
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.UserSecret, error) {
		created, err := tx.UserSecret.Create().SetID(id).SetUserID(userID).
			SetProvider(usersecret.Provider(provider)).SetName(strings.TrimSpace(name)).
			SetEncryptedValue(sealed.Ciphertext).SetNonce(sealed.Nonce).SetAuthTag(sealed.Tag).
			SetKeyVersion(sealed.KeyVersion).SetLast4(last4(value)).Save(ctx)
		if ent.IsConstraintError(err) {
			return nil, ErrConflict.Wrap(err)
		}
		if err != nil {
			return nil, fmt.Errorf("store secret: %w", err)
		}
		if err := audit.Record(ctx, tx, audit.Event{Type: audit.SecretCreated, Data: secretData(created)}); err != nil {
			return nil, err
		}
		return withoutValue(created), nil
	})
}

// Update renames a secret and/or replaces its value; nil leaves a part as is.
func (s *Service) Update(ctx context.Context, id uuid.UUID, name, value *string) (*ent.UserSecret, error) {
	userID, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	if name == nil && value == nil {
		return nil, fault.InvalidField("body", "give a name, a value or both")
	}
	var errs []error
	if name != nil {
		errs = append(errs, validName(*name))
	}
	if value != nil {
		errs = append(errs, validValue(*value))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.UserSecret, error) {
		// Update().Where(id), not UpdateOneID, whose re-read by id alone
		// goes to every shard on Citus; the viewer's filter names the user.
		upd := tx.UserSecret.Update().Where(usersecret.ID(id))
		if name != nil {
			upd.SetName(strings.TrimSpace(*name))
		}
		if value != nil {
			sealed, err := s.box.Seal([]byte(*value), Binding(userID, id))
			if err != nil {
				return nil, fmt.Errorf("seal secret: %w", err)
			}
			upd.SetEncryptedValue(sealed.Ciphertext).SetNonce(sealed.Nonce).SetAuthTag(sealed.Tag).
				SetKeyVersion(sealed.KeyVersion).SetLast4(last4(*value))
		}
		n, err := upd.Save(ctx)
		var updated *ent.UserSecret
		if err == nil && n == 0 {
			err = &ent.NotFoundError{}
		}
		if err == nil {
			updated, err = tx.UserSecret.Query().Where(usersecret.ID(id)).Only(ctx)
		}
		switch {
		case ent.IsNotFound(err):
			return nil, ErrNotFound.Wrap(err)
		case ent.IsConstraintError(err):
			return nil, ErrConflict.Wrap(err)
		case err != nil:
			return nil, fmt.Errorf("update secret: %w", err)
		}
		data := secretData(updated)
		data["replaced"] = value != nil
		data["renamed"] = name != nil
		if err := audit.Record(ctx, tx, audit.Event{Type: audit.SecretUpdated, Data: data}); err != nil {
			return nil, err
		}
		return withoutValue(updated), nil
	})
}

// secretData is what the audit log says about a secret: which one, never
// its value.
func secretData(sec *ent.UserSecret) map[string]any {
	return map[string]any{"secret_id": sec.ID.String(), "provider": string(sec.Provider), "name": sec.Name}
}

// Delete removes one of the viewer's secrets.
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	return s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		sec, err := tx.UserSecret.Query().Where(usersecret.ID(id)).Select(listFields...).Only(ctx)
		if ent.IsNotFound(err) {
			return ErrNotFound.Wrap(err)
		}
		if err != nil {
			return err
		}
		err = tx.UserSecret.DeleteOneID(id).Exec(ctx)
		if ent.IsNotFound(err) {
			return ErrNotFound.Wrap(err)
		}
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Type: audit.SecretDeleted, Data: secretData(sec)})
	})
}

// DecryptedValue opens the viewer's secret for provider (and name, when the
// user has several) for server-side use by agent workers, and records when it
// was last used. The value must never be logged or returned over the API.
func (s *Service) DecryptedValue(ctx context.Context, provider, name string) (string, error) {
	userID, err := db.UserID(ctx)
	if err != nil {
		return "", err
	}
	var plain []byte
	err = s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		q := tx.UserSecret.Query().Where(usersecret.ProviderEQ(usersecret.Provider(provider)))
		if name != "" {
			q = q.Where(usersecret.Name(name))
		}
		rows, err := q.Limit(2).All(ctx)
		if err != nil {
			return fmt.Errorf("find secret: %w", err)
		}
		switch len(rows) {
		case 0:
			return ErrNotFound
		case 2:
			return ErrAmbiguous
		}
		sec := rows[0]
		plain, err = s.box.Open(Sealed{sec.EncryptedValue, sec.Nonce, sec.AuthTag, sec.KeyVersion}, Binding(userID, sec.ID))
		if err != nil {
			s.log.ErrorContext(ctx, "secret does not decrypt", slog.String("secret_id", sec.ID.String()),
				slog.Int("key_version", sec.KeyVersion), slog.Any("error", err))
			return fmt.Errorf("open secret %s: %w", sec.ID, err)
		}
		// Plain SQL so that use stamps last_used_at without moving updated_at,
		// which records changes to the secret itself.
		if _, err := tx.ExecContext(ctx, "UPDATE user_secrets SET last_used_at = $1 WHERE id = $2", time.Now(), sec.ID); err != nil {
			return fmt.Errorf("record use: %w", err)
		}
		return audit.Record(ctx, tx, audit.Event{Type: audit.SecretOpened, Data: secretData(sec)})
	})
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

// withoutValue drops the sealed parts from a row returned to callers.
func withoutValue(s *ent.UserSecret) *ent.UserSecret {
	c := *s
	c.EncryptedValue, c.Nonce, c.AuthTag = nil, nil, nil
	return &c
}

// RotateKeys re-seals every secret not under the box's current key, in
// batches of batch rows, each batch in its own transaction, so the service
// keeps running meanwhile. c must see every user's rows (the owner role,
// as admin scripts use). A row changed concurrently (a user replacing the
// value) is left to that change. It returns how many rows it re-sealed.
func RotateKeys(ctx context.Context, c *ent.Client, box *Box, batch int, log *slog.Logger) (int, error) {
	ctx = rule.Bypass(ctx, "key rotation re-seals every user's secrets, as the owner role")
	if batch < 1 {
		batch = 100
	}
	total := 0
	after := uuid.Nil
	for {
		n, last, err := rotateBatch(ctx, c, box, after, batch)
		total += n
		if err != nil {
			return total, err
		}
		if last == uuid.Nil {
			return total, nil
		}
		after = last
		log.InfoContext(ctx, "secrets re-sealed", slog.Int("so_far", total), slog.Int("key_version", box.CurrentVersion()))
	}
}

func rotateBatch(ctx context.Context, c *ent.Client, box *Box, after uuid.UUID, batch int) (int, uuid.UUID, error) {
	tx, err := c.Tx(ctx)
	if err != nil {
		return 0, uuid.Nil, fmt.Errorf("begin: %w", err)
	}
	rows, err := tx.UserSecret.Query().
		Where(usersecret.IDGT(after), usersecret.KeyVersionNEQ(box.CurrentVersion())).
		Order(ent.Asc(usersecret.FieldID)).Limit(batch).ForUpdate().All(ctx)
	if err != nil {
		return 0, uuid.Nil, errors.Join(fmt.Errorf("read batch: %w", err), tx.Rollback())
	}
	n := 0
	perUser := map[uuid.UUID]int{}
	for _, r := range rows {
		s, changed, err := box.Reseal(Sealed{r.EncryptedValue, r.Nonce, r.AuthTag, r.KeyVersion}, Binding(r.UserID, r.ID))
		if err != nil {
			return n, uuid.Nil, errors.Join(fmt.Errorf("re-seal secret %s: %w", r.ID, err), tx.Rollback())
		}
		if !changed {
			continue
		}
		if err := tx.UserSecret.UpdateOne(r).SetEncryptedValue(s.Ciphertext).SetNonce(s.Nonce).
			SetAuthTag(s.Tag).SetKeyVersion(s.KeyVersion).Exec(ctx); err != nil {
			return n, uuid.Nil, errors.Join(fmt.Errorf("store secret %s: %w", r.ID, err), tx.Rollback())
		}
		n++
		perUser[r.UserID]++
	}
	// Each user's log says an operator re-sealed their secrets, with the
	// batch it happened in (the operator and reason from ctx).
	for uid, k := range perUser {
		if err := audit.Record(ctx, tx, audit.Event{Type: audit.AdminAction, User: uid, Data: map[string]any{
			"action": "rotate_key", "table": usersecret.Table, "rows": k, "key_version": box.CurrentVersion()}}); err != nil {
			return 0, uuid.Nil, errors.Join(err, tx.Rollback())
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, uuid.Nil, fmt.Errorf("commit batch: %w", err)
	}
	if len(rows) < batch {
		return n, uuid.Nil, nil
	}
	return n, rows[len(rows)-1].ID, nil
}
