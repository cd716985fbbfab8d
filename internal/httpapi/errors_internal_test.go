package httpapi

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/openapi"
)

func TestPanicsBecomeInternalErrors(t *testing.T) {
	var logs bytes.Buffer
	log := logging.New(&logs, slog.LevelInfo)
	h := logging.Middleware(log)(recoverPanics(log)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("database password is hunter2 at /srv/internal/db.go:42")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/me", nil))
	var body openapi.ErrorResponse
	raw, _ := io.ReadAll(rec.Body)
	if err := body.UnmarshalJSON(raw); err != nil || rec.Code != 500 || body.Error.Code != "INTERNAL" {
		t.Fatalf("%d %s", rec.Code, raw)
	}
	if strings.Contains(string(raw), "hunter2") || strings.Contains(string(raw), "db.go") {
		t.Fatalf("the panic reached the client: %s", raw)
	}
	if !strings.Contains(logs.String(), `"msg":"panic"`) {
		t.Fatalf("the panic was not logged: %s", logs.String())
	}
}
