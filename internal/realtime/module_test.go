package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/auth"
	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/logging/logtest"
	"github.com/jarvis-core/jarvis/internal/redisconn"
)

// The module gives the app events.Publisher and the GET /v1/ws route, with
// the in-process broker when Redis is not configured.
func TestModuleProvidesPublisherAndRoute(t *testing.T) {
	var (
		pub    events.Publisher
		routes []api.Route
		broker Broker
	)
	app := fx.New(
		Module,
		config.Module,
		fx.Supply(config.Map(nil), &auth.Service{}, &token.Issuer{}, &redisconn.Conn{}, logging.New(&logtest.Buffer{}, slog.LevelDebug), &db.DB{}),
		fx.Populate(&pub, &broker),
		fx.Invoke(fx.Annotate(func(rs []api.Route) { routes = rs }, fx.ParamTags(`group:"api.routes"`))),
		fx.NopLogger,
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := app.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	if len(routes) != 1 || routes[0].Pattern != "GET /v1/ws" || routes[0].Handler == nil {
		t.Fatalf("routes %+v", routes)
	}
	if _, ok := broker.(*MemoryBroker); !ok {
		t.Fatalf("broker without Redis is %T, want *MemoryBroker", broker)
	}
	user, run := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	if err := pub.EmitToRun(ctx, user, run, events.Event{Type: events.RunStatus, Data: json.RawMessage(`{"status":"running"}`)}); err != nil {
		t.Fatal(err)
	}
	if pos, err := broker.Position(ctx, user); err != nil || pos.Seq != 1 {
		t.Fatalf("after one emit the stream is at %+v (%v)", pos, err)
	}
}
