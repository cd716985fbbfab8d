// Package config is the shared mechanism by which modules read their
// settings; it holds no module's settings itself.
//
// A package that needs settings owns a small Config struct with
// caarlos0/env tags, and provides it in its own fx.Module with Provide:
//
//	type Config struct {
//		URL string `env:"DATABASE_URL,notEmpty"`
//	}
//
//	func (c Config) Validate() error { // optional: what tags cannot say
//		return config.CheckURL("DATABASE_URL", c.URL, "postgres", "postgresql")
//	}
//
//	var Module = fx.Module("db", config.Provide[Config](), fx.Provide(New))
//
// Every Config is parsed from one Source (the process environment, plus the
// .env file in dev; a map in tests). Before any module gets its Config, the
// Config of every module is parsed and the app refuses to start with one
// *Error naming every bad variable and why. No message ever contains a value:
// any variable may be a secret.
//
// Beyond caarlos0/env's own parsers, Load reads time.Duration as a positive
// Go duration or whole days ("7d") and []byte as the value's raw bytes.
package config

import (
	"encoding"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Source is the set of variables configuration is read from.
type Source struct{ vars map[string]string }

// Environ is the process environment.
func Environ() Source { return Source{env.ToMap(os.Environ())} }

// Map is a fixed set of variables (tests, or a composed dev environment).
func Map(vars map[string]string) Source {
	m := make(map[string]string, len(vars))
	for k, v := range vars {
		m[k] = v
	}
	return Source{m}
}

// WithDefaults returns s over defaults: a variable s has wins.
func (s Source) WithDefaults(defaults map[string]string) Source {
	out := Map(defaults)
	for k, v := range s.vars {
		out.vars[k] = v
	}
	return out
}

// With returns s with name set to value, whatever s had.
func (s Source) With(name, value string) Source {
	out := Map(s.vars)
	out.vars[name] = value
	return out
}

// Lookup returns a variable's value and whether it is set.
func (s Source) Lookup(name string) (string, bool) {
	v, ok := s.vars[name]
	return v, ok
}

// Problem is one bad variable: its name and why, never its value.
type Problem struct {
	Var    string
	Reason string
}

func (p *Problem) Error() string { return p.Var + ": " + p.Reason }

// Invalid reports a bad variable from a Config's Validate method. The reason
// must not contain the value.
func Invalid(name, reason string) error { return &Problem{Var: name, Reason: reason} }

// Reason is what an UnmarshalText method of a configuration type returns
// when it refuses a value: why, without the value (the variable's name is
// added by Load). Errors of any other type are replaced by a generic reason,
// since parsers of other libraries echo the value.
type Reason string

func (r Reason) Error() string { return string(r) }

// Error lists every bad variable, sorted by name.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Var, p.Reason)
	}
	return b.String()
}

// Join merges the *Error of several Loads into one, so a command that reads
// several modules' configurations reports every bad variable at once. Errors
// that are not *Error are joined as they are.
func Join(errs ...error) error {
	var problems []Problem
	var others []error
	for _, err := range errs {
		var ce *Error
		switch {
		case err == nil:
		case errors.As(err, &ce):
			problems = append(problems, ce.Problems...)
		default:
			others = append(others, err)
		}
	}
	if len(problems) > 0 {
		slices.SortStableFunc(problems, func(a, b Problem) int { return strings.Compare(a.Var, b.Var) })
		// Two modules reading the same variable report it once.
		others = append(others, &Error{Problems: slices.Compact(problems)})
	}
	if len(others) == 1 {
		return others[0]
	}
	return errors.Join(others...)
}

// Validator is a Config with checks its tags cannot express (ranges,
// relations between variables, URL schemes). Validate returns Invalid
// problems, joined with errors.Join.
type Validator interface{ Validate() error }

// Load parses T, a flat struct of `env:"NAME"` fields, from src, then runs
// its Validate method if it has one. On error it returns the zero T and an
// *Error with every problem (a variable that failed to parse is not checked
// again by Validate).
func Load[T any](src Source) (T, error) {
	var zero, c T
	keys, err := fieldKeys(reflect.TypeFor[T]())
	if err != nil {
		return zero, err
	}
	var problems []Problem
	bad := map[string]bool{}
	if err := env.ParseWithOptions(&c, env.Options{Environment: src.vars, FuncMap: parsers}); err != nil {
		var agg env.AggregateError
		if !errors.As(err, &agg) {
			return zero, fmt.Errorf("config %T: %w", c, err)
		}
		for _, e := range agg.Errors {
			p, err := problem(e, keys)
			if err != nil {
				return zero, fmt.Errorf("config %T: %w", c, err)
			}
			problems = append(problems, p)
			bad[p.Var] = true
		}
	}
	// &c: a Validate method on either receiver counts.
	if v, ok := any(&c).(Validator); ok {
		for _, e := range leaves(v.Validate()) {
			var p *Problem
			if !errors.As(e, &p) {
				// Not printed: it may hold a value.
				return zero, fmt.Errorf("config %T: Validate returned an error that is not a config.Problem (use config.Invalid)", c)
			}
			if !bad[p.Var] {
				problems = append(problems, *p)
			}
		}
	}
	if len(problems) > 0 {
		return zero, Join(&Error{Problems: problems})
	}
	return c, nil
}

// Vars lists the variables T reads, in field order.
func Vars[T any]() []string {
	var out []string
	for f := range reflect.TypeFor[T]().Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// fieldKeys maps field names to variable names (caarlos0/env's ParseError
// names the field, not the variable).
func fieldKeys(t reflect.Type) (map[string]string, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: %v is not a struct", t)
	}
	keys := map[string]string{}
	for f := range t.Fields() {
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[url.URL]() &&
			!reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
			return nil, fmt.Errorf("config: %v.%s: a Config is a flat struct", t, f.Name)
		}
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
			keys[f.Name] = name
		}
	}
	return keys, nil
}

// problem turns one of caarlos0/env's errors into a Problem without the value.
func problem(err error, keys map[string]string) (Problem, error) {
	var (
		notSet env.VarIsNotSetError
		empty  env.EmptyVarError
		parse  env.ParseError
		file   env.LoadFileContentError
	)
	switch {
	case errors.As(err, &file): // its message holds the value (a path)
		return Problem{Var: file.Key, Reason: "names a file that cannot be read"}, nil
	case errors.As(err, &notSet):
		return Problem{Var: notSet.Key, Reason: "is required"}, nil
	case errors.As(err, &empty):
		return Problem{Var: empty.Key, Reason: "is required"}, nil
	case errors.As(err, &parse):
		key, ok := keys[parse.Name]
		if !ok {
			return Problem{}, fmt.Errorf("field %s failed to parse and names no variable", parse.Name)
		}
		var r Reason
		if errors.As(parse.Err, &r) {
			return Problem{Var: key, Reason: string(r)}, nil
		}
		return Problem{Var: key, Reason: genericReason(parse.Type)}, nil
	default:
		// A mistake in a Config's tags or types, not in the environment:
		// caarlos0/env's messages for these name fields and tags, never values.
		return Problem{}, err
	}
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func genericReason(t reflect.Type) string {
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "is not a valid " + t.String()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "must be an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "must be a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "must be a number"
	case reflect.Bool:
		return "must be true or false"
	default:
		return "is not a valid " + t.String()
	}
}

// leaves flattens errors.Join trees.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

var parsers = map[reflect.Type]env.ParserFunc{
	reflect.TypeFor[time.Duration](): func(v string) (any, error) {
		d, err := ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, Reason("must be a positive duration such as 15m, 12h or 7d")
		}
		return d, nil
	},
	// caarlos0/env would read []byte as a comma-separated list of numbers.
	reflect.TypeFor[[]byte](): func(v string) (any, error) { return []byte(v), nil },
}

// ParseDuration is time.ParseDuration plus whole days ("7d"), the unit people
// write for refresh-token lifetimes.
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// CheckURL checks that v, when set, is an absolute URL with a host and one of
// schemes; for Validate methods. Whether it is required is the tag's
// business (`notEmpty`).
func CheckURL(name, v string, schemes ...string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return Invalid(name, "must be a URL like "+schemes[0]+"://host:port/...")
	}
	if !slices.Contains(schemes, u.Scheme) {
		return Invalid(name, "scheme must be one of "+strings.Join(schemes, ", "))
	}
	return nil
}

// Env is the deployment kind (APP_ENV).
type Env string

const (
	Development Env = "development"
	Test        Env = "test"
	Production  Env = "production"
)

// UnmarshalText accepts development, test or production.
func (e *Env) UnmarshalText(b []byte) error {
	switch v := Env(b); v {
	case Development, Test, Production:
		*e = v
		return nil
	}
	return Reason("must be one of development, test, production")
}
