package runs

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/ent/message"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// MaxContentBytes caps one message's content.
const MaxContentBytes = 1 << 20

// MessageInput is a message to append. ToolCallID is required on tool
// messages (the provider's id of the tool call the message answers) and
// refused on the others.
type MessageInput struct {
	Role       message.Role
	Content    string
	ToolCallID string
}

func (in MessageInput) validate() error {
	var errs []error
	if err := message.RoleValidator(in.Role); err != nil {
		errs = append(errs, fault.InvalidField("role", "must be one of user, assistant, system, tool"))
	}
	switch {
	case in.Content == "":
		errs = append(errs, fault.InvalidField("content", "must not be empty"))
	case len(in.Content) > MaxContentBytes:
		errs = append(errs, fault.InvalidField("content", fmt.Sprintf("must be at most %d bytes", MaxContentBytes)))
	case !utf8.ValidString(in.Content):
		errs = append(errs, fault.InvalidField("content", "must be UTF-8 text"))
	}
	switch {
	case in.Role == message.RoleTool && in.ToolCallID == "":
		errs = append(errs, fault.InvalidField("tool_call_id", "a tool message must name the tool call it answers"))
	case in.Role != message.RoleTool && in.ToolCallID != "":
		errs = append(errs, fault.InvalidField("tool_call_id", "only tool messages name a tool call"))
	case len(in.ToolCallID) > 255:
		errs = append(errs, fault.InvalidField("tool_call_id", "must be at most 255 characters"))
	}
	return errors.Join(errs...)
}

// messageEvent is the data of a run.message event.
type messageEvent struct {
	ID         uuid.UUID    `json:"id"`
	RunID      uuid.UUID    `json:"run_id"`
	Role       message.Role `json:"role"`
	Content    string       `json:"content"`
	ToolCallID string       `json:"tool_call_id,omitempty"`
	CreatedAt  time.Time    `json:"created_at"`
}

// AppendMessage adds a message to the viewer's active run.
func (s *Service) AppendMessage(ctx context.Context, runID uuid.UUID, in MessageInput) (*ent.Message, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	out := &outbox{user: uid}
	msg, err := db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.Message, error) {
		if _, err := lockActiveRun(ctx, tx, runID); err != nil {
			return nil, err
		}
		c := tx.Message.Create().SetUserID(uid).SetRunID(runID).SetRole(in.Role).SetContent(in.Content)
		if in.ToolCallID != "" {
			c.SetToolCallID(in.ToolCallID)
		}
		m, err := c.Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("append message: %w", err)
		}
		out.add(events.RunMessage, runID, messageEvent{m.ID, runID, m.Role, m.Content, m.ToolCallID, m.CreatedAt})
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	s.publish(ctx, out)
	return msg, nil
}

// ListMessages returns up to p.Fetch() of a run's messages, newest first.
func (s *Service) ListMessages(ctx context.Context, runID uuid.UUID, p db.Page) ([]*ent.Message, error) {
	if err := checkPage(p); err != nil {
		return nil, err
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) ([]*ent.Message, error) {
		if err := runExists(ctx, tx, runID); err != nil {
			return nil, err
		}
		q := tx.Message.Query().Where(message.RunID(runID)).Order(ent.Desc(message.FieldID)).Limit(p.Fetch())
		if p.Before != uuid.Nil {
			q = q.Where(message.IDLT(p.Before))
		}
		return q.All(ctx)
	})
}

// runExists is NotFound unless runID is one of the viewer's runs, so that
// listing the children of another user's run is 404, not an empty list.
func runExists(ctx context.Context, tx *ent.Tx, runID uuid.UUID) error {
	ok, err := tx.AgentRun.Query().Where(agentrun.ID(runID)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("find run: %w", err)
	}
	if !ok {
		return errRunNotFound
	}
	return nil
}
