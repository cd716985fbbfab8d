package runs

import (
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

// Module provides the runs *Service, configured from the environment
// (RUNS_MAX_ACTIVE, RUNS_RETRY_AFTER, TOOLS_DEFAULT_POLICY) with the
// embedded price table. Its events go to the events.Publisher the realtime
// module provides; without one they are dropped.
var Module = fx.Module("runs",
	fx.Provide(
		ConfigFromEnv,
		fx.Private,
	),
	fx.Provide(
		pricing.Default,
		fx.Annotate(NewService, fx.ParamTags(``, ``, ``, `optional:"true"`, ``)),
	),
)
