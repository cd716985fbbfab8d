package telemetry

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/auth/password"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/realtime"
	"github.com/jarvis-core/jarvis/internal/redisconn"
	"github.com/jarvis-core/jarvis/internal/vecsearch"
)

// Module provides the providers (trace.TracerProvider, metric.MeterProvider,
// *Telemetry), the pgx statement tracer, the HTTP edge middleware and the
// metrics listener, and instruments the unit of work, the Postgres pool
// and Redis. Log lines get trace ids app-wide (the decorator sits at the
// root, where the logger is supplied).
var Module = fx.Options(
	fx.Decorate(TraceLogs),
	// At the root, like TraceLogs: the hub and the publisher take the
	// broker in the realtime module's scope.
	fx.Decorate(observeBroker),
	fx.Module("telemetry",
		config.Provide[Config](),
		fx.Provide(
			provide,
			func(t *Telemetry) trace.TracerProvider { return t.TracerProvider },
			func(t *Telemetry) metric.MeterProvider { return t.MeterProvider },
			func(t *Telemetry) pgx.QueryTracer { return pgxTracerFor(t) },
			newMetricsServer,
		),
		api.Edge(func(t *Telemetry, p routesIn) (api.Middleware, error) {
			e, err := newEdge(t, p.Routes)
			if err != nil {
				return api.Middleware{}, err
			}
			return api.Middleware{Name: "telemetry", Wrap: e.wrap}, nil
		}),
		fx.Provide(fx.Annotate(embedTransport, fx.ResultTags(`name:"embed.transport"`))),
		fx.Invoke(instrument, func(*MetricsServer) {}),
	),
)

type routesIn struct {
	fx.In
	Routes []api.Route `group:"api.routes"`
}

type provideIn struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	// Options come from tests (an in-memory exporter).
	Options Options `optional:"true"`
	Log     *slog.Logger
}

func provide(p provideIn) (*Telemetry, error) {
	opts := p.Options
	if opts.Log == nil {
		opts.Log = p.Log
	}
	t, err := New(context.Background(), p.Config, opts)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.StopHook(t.Shutdown))
	return t, nil
}

func newMetricsServer(lc fx.Lifecycle, t *Telemetry, cfg Config, log *slog.Logger) *MetricsServer {
	s := &MetricsServer{}
	if !t.metrics {
		return s
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			started, err := startMetrics(ctx, cfg.metricsListenAddr(), t.registry, log)
			if err != nil {
				return err
			}
			*s = *started
			return nil
		},
		OnStop: s.stopHook,
	})
	return s
}

func (s *MetricsServer) stopHook(ctx context.Context) error { return s.stop(ctx) }

// instrument attaches what the other layers offer seams for.
func instrument(t *Telemetry, d *db.DB, rc *redisconn.Conn, hub *realtime.Hub, pw *password.Hasher) error {
	if !t.tracing && !t.metrics {
		return nil
	}
	u, err := newUnitObserver(t)
	if err != nil {
		return err
	}
	d.Observe(u)
	if t.metrics {
		if err := observePool(t, d.Pool); err != nil {
			return err
		}
		if err := observeHub(t, hub); err != nil {
			return err
		}
		if err := observePasswordGate(t, pw); err != nil {
			return err
		}
		if err := vecsearch.Measure(t.MeterProvider); err != nil {
			return err
		}
	}
	if rc.Enabled() {
		if err := instrumentRedis(t, rc.Client); err != nil {
			return err
		}
	}
	return nil
}
