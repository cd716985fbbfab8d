package userdata

import (
	"context"
	"io"
	"log/slog"

	"github.com/jarvis-core/jarvis/openapi"
)

// Handler serves the Account operation group.
type Handler struct {
	svc *Service
}

// NewHandler returns the user-data module's operation-group handler.
func NewHandler(s *Service) *Handler { return &Handler{svc: s} }

var _ openapi.AccountHandler = (*Handler)(nil)

// ExportMe implements openapi.AccountHandler. The export is written into a
// pipe that ogen copies to the response as it comes, so nothing is built
// in memory. Until the snapshot is taken an error is the answer (401 for a
// dead session); after it, an error cuts the stream short and the missing
// end line tells the client.
func (h *Handler) ExportMe(ctx context.Context, p openapi.ExportMeParams) (openapi.ExportMeOK, error) {
	pr, pw := io.Pipe()
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		err := h.svc.Export(ctx, pw, Options{Embeddings: p.Embeddings.Or(false)}, func() { close(started) })
		done <- err
		if err != nil {
			select {
			case <-started:
				h.svc.log.WarnContext(ctx, "export cut short", slog.String("error", err.Error()))
			default:
			}
		}
		_ = pw.CloseWithError(err)
	}()
	select {
	case <-started:
	case err := <-done:
		select {
		case <-started: // done after it started: an export that finished at once
		default:
			return openapi.ExportMeOK{}, err
		}
	}
	// The request's context ends when its handler returns: a client gone
	// mid-export stops the writer (and so the transaction) too.
	context.AfterFunc(ctx, func() { _ = pr.CloseWithError(ctx.Err()) })
	return openapi.ExportMeOK{Data: pr}, nil
}

// DeleteMe implements openapi.AccountHandler.
func (h *Handler) DeleteMe(ctx context.Context, req *openapi.DeleteAccountRequest) error {
	_, _, err := h.svc.DeleteAccount(ctx, req.Password)
	return err
}
