package logging

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/google/uuid"
)

// CorrelationHeader is the request and response header carrying the id that
// ties a request's log lines (and a client's report) together.
const CorrelationHeader = "X-Correlation-ID"

// validCorrelationID accepts the ids clients and proxies commonly send (UUIDs,
// trace ids, ULIDs) and nothing that could forge a log line or a header.
var validCorrelationID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$`)

type correlationKey struct{}

// CorrelationID returns the id of the request in ctx, or "".
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

// WithCorrelationID returns ctx carrying id and a child of base logging it.
func WithCorrelationID(ctx context.Context, base *slog.Logger, id string) context.Context {
	ctx = context.WithValue(ctx, correlationKey{}, id)
	return With(ctx, base, slog.String("correlation_id", id))
}

// Middleware takes a valid incoming X-Correlation-ID or makes a new one,
// echoes it in the response, puts a child logger carrying it in the request
// context and logs one line per request.
func Middleware(base *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(CorrelationHeader)
			if !validCorrelationID.MatchString(id) {
				id = uuid.Must(uuid.NewV7()).String()
			}
			w.Header().Set(CorrelationHeader, id)
			ctx := WithCorrelationID(r.Context(), base, id)
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			start := time.Now()
			next.ServeHTTP(rec, r.WithContext(ctx))
			level := slog.LevelInfo
			attrs := []slog.Attr{
				slog.String("correlation_id", id),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", rec.status),
				slog.Int64("bytes", rec.bytes),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			}
			switch {
			case r.Context().Err() != nil:
				// The client went away (disconnect, timeout): whatever status
				// was written reached nobody, and nothing failed on our side.
				attrs = append(attrs, slog.Bool("client_gone", true))
			case rec.status == http.StatusServiceUnavailable:
				// A deliberate refusal under load (with Retry-After), not a
				// fault: worth a warning, not a page.
				level = slog.LevelWarn
			case rec.status >= 500:
				level = slog.LevelError
			}
			// The query string is left out: it is where clients put tokens by mistake.
			logRequest(ctx, base, level, attrs)
		})
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (flush, hijack for WebSocket).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequest writes the request line through base's handler, as
// base.With(correlation_id).LogAttrs would (correlation_id is attrs' first),
// without the child logger and without the caller's program counter, which
// slog.Logger looks up for every line and the handler never prints (no
// AddSource).
func logRequest(ctx context.Context, base *slog.Logger, level slog.Level, attrs []slog.Attr) {
	h := base.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	rec := slog.NewRecord(time.Now(), level, "http request", 0)
	rec.AddAttrs(attrs...)
	_ = h.Handle(ctx, rec) // as slog.Logger does: a log line that cannot be written has nowhere to go
}
