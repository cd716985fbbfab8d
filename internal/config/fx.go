package config

import (
	"slices"

	"go.uber.org/fx"
)

// Module checks every Config given with Provide before any module gets
// one: the app then fails to start with one *Error naming every bad
// variable of every module. The app needs a Source supplied beside it.
var Module = fx.Module("config",
	fx.Provide(check),
	fx.Invoke(func(checked) {}), // even when no constructor asks for a Config
)

// parsed is one Config's outcome, gathered by check.
type parsed struct {
	vars []string
	err  error
}

// Variables are the names read by every Config given with Provide, sorted:
// what .env.example must document.
type Variables []string

// checked proves every Config parsed; each Config's constructor waits for it.
type checked struct{}

type parsedIn struct {
	fx.In
	All []parsed `group:"config"`
}

func check(in parsedIn) (checked, Variables, error) {
	errs := make([]error, len(in.All))
	var vars Variables
	for i, p := range in.All {
		errs[i] = p.err
		vars = append(vars, p.vars...)
	}
	slices.Sort(vars)
	return checked{}, slices.Compact(vars), Join(errs...)
}

// Provide gives the app T, parsed by Load from the supplied Source, and
// registers it with Module's check. A module puts it in its own fx.Module.
func Provide[T any]() fx.Option {
	return fx.Provide(
		fx.Annotate(func(src Source) parsed {
			_, err := Load[T](src)
			return parsed{vars: Vars[T](), err: err}
		}, fx.ResultTags(`group:"config"`)),
		func(src Source, _ checked) (T, error) { return Load[T](src) },
	)
}
