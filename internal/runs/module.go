package runs

import (
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

// Module provides the runs *Service, configured from the environment
// (RUNS_MAX_ACTIVE, RUNS_RETRY_AFTER, TOOLS_DEFAULT_POLICY) with the
// embedded price table, and the Runs operations' handler to the HTTP layer.
// Its events go to the events.Publisher the realtime module provides;
// without one they are dropped.
var Module = fx.Module("runs",
	config.Provide[Config](),
	fx.Provide(pricing.Default, fx.Private),
	fx.Provide(fx.Annotate(NewService, fx.ParamTags(``, ``, ``, `optional:"true"`, ``))),
	api.Handler(NewHandler),
	fx.Invoke(fx.Annotate(instrument, fx.ParamTags(``, `optional:"true"`))),
)

// instrument measures s on the service's meter provider (telemetry's),
// when there is one.
func instrument(s *Service, mp metric.MeterProvider) error {
	if mp == nil {
		return nil
	}
	return s.Instrument(mp)
}
