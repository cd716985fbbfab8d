package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/internal/config"
)

// sample is a module's Config as modules write them.
type sample struct {
	URL     string        `env:"SAMPLE_URL,notEmpty"`
	Token   []byte        `env:"SAMPLE_TOKEN,notEmpty"`
	Expiry  time.Duration `env:"SAMPLE_EXPIRY" envDefault:"7d"`
	Workers int           `env:"SAMPLE_WORKERS" envDefault:"4"`
	Env     config.Env    `env:"APP_ENV" envDefault:"development"`
}

func (s sample) Validate() error {
	var errs []error
	if len(s.Token) < 8 {
		errs = append(errs, config.Invalid("SAMPLE_TOKEN", "must be at least 8 bytes"))
	}
	if s.Workers < 1 {
		errs = append(errs, config.Invalid("SAMPLE_WORKERS", "must be positive"))
	}
	errs = append(errs, config.CheckURL("SAMPLE_URL", s.URL, "postgres"))
	return errors.Join(errs...)
}

func TestLoadDefaultsAndTypes(t *testing.T) {
	c, err := config.Load[sample](config.Map(map[string]string{
		"SAMPLE_URL": "postgres://h/db", "SAMPLE_TOKEN": "a,b,c,d,e", "SAMPLE_WORKERS": "",
	}))
	if err != nil {
		t.Fatal(err)
	}
	// []byte is the raw value (caarlos0/env alone would split it on commas).
	if string(c.Token) != "a,b,c,d,e" || c.Expiry != 7*24*time.Hour || c.Workers != 4 || c.Env != config.Development {
		t.Fatalf("config = %+v", c)
	}
}

func TestLoadListsEveryBadVariableWithoutValues(t *testing.T) {
	secretish := "hunter2"
	bad := map[string]string{
		"SAMPLE_URL":     "mysql://u:" + secretish + "@h/db",
		"SAMPLE_TOKEN":   secretish,
		"SAMPLE_EXPIRY":  "soon-" + secretish,
		"SAMPLE_WORKERS": "many-" + secretish,
		"APP_ENV":        "staging-" + secretish,
	}
	_, err := config.Load[sample](config.Map(bad))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *config.Error", err)
	}
	want := []config.Problem{
		{Var: "APP_ENV", Reason: "must be one of development, test, production"},
		{Var: "SAMPLE_EXPIRY", Reason: "must be a positive duration such as 15m, 12h or 7d"},
		{Var: "SAMPLE_TOKEN", Reason: "must be at least 8 bytes"},
		{Var: "SAMPLE_URL", Reason: "scheme must be one of postgres"},
		// Parsed by caarlos0/env, whose message quotes the value: replaced.
		{Var: "SAMPLE_WORKERS", Reason: "must be an integer"},
	}
	if len(ce.Problems) != len(want) {
		t.Fatalf("problems = %v, want %v", ce.Problems, want)
	}
	for i := range want {
		if ce.Problems[i] != want[i] {
			t.Errorf("problem %d = %v, want %v", i, ce.Problems[i], want[i])
		}
	}
	if strings.Contains(err.Error(), secretish) {
		t.Errorf("the error echoes a value:\n%v", err)
	}
}

func TestLoadRequires(t *testing.T) {
	_, err := config.Load[sample](config.Map(map[string]string{"SAMPLE_TOKEN": ""}))
	for _, v := range []string{"SAMPLE_URL", "SAMPLE_TOKEN"} {
		if err == nil || !strings.Contains(err.Error(), v+": is required") {
			t.Errorf("missing %s not reported: %v", v, err)
		}
	}
	// A variable that failed to parse is not judged again by Validate.
	if n := strings.Count(err.Error(), "SAMPLE_TOKEN"); n != 1 {
		t.Errorf("SAMPLE_TOKEN reported %d times:\n%v", n, err)
	}
}

type nested struct {
	Inner struct {
		X string `env:"X"`
	} `env:"INNER"`
}

func TestLoadRefusesNestedConfig(t *testing.T) {
	if _, err := config.Load[nested](config.Map(nil)); err == nil {
		t.Fatal("a nested Config was accepted: its parse errors could not name the variable")
	}
}

type pointerValidate struct {
	A string `env:"A"`
}

func (*pointerValidate) Validate() error { return config.Invalid("A", "is never right") }

func TestValidateOnPointerReceiver(t *testing.T) {
	if _, err := config.Load[pointerValidate](config.Map(nil)); err == nil {
		t.Fatal("a Validate method with a pointer receiver was not run")
	}
}

type badValidate struct {
	A string `env:"A"`
}

func (badValidate) Validate() error { return errors.New("A is 'hunter2'") }

func TestValidateMustReturnProblems(t *testing.T) {
	_, err := config.Load[badValidate](config.Map(nil))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v: a Validate error that is not a Problem must fail without being printed", err)
	}
}

func TestJoinMergesAndDeduplicates(t *testing.T) {
	a := &config.Error{Problems: []config.Problem{{Var: "B", Reason: "x"}, {Var: "APP_ENV", Reason: "y"}}}
	b := &config.Error{Problems: []config.Problem{{Var: "APP_ENV", Reason: "y"}, {Var: "A", Reason: "z"}}}
	err := config.Join(a, nil, b)
	var ce *config.Error
	if !errors.As(err, &ce) || len(ce.Problems) != 3 || ce.Problems[0].Var != "A" || ce.Problems[1].Var != "APP_ENV" {
		t.Fatalf("joined = %v", err)
	}
	if config.Join(nil, nil) != nil {
		t.Fatal("Join of nothing is not nil")
	}
}

func TestSourceLayers(t *testing.T) {
	src := config.Map(map[string]string{"A": "env"}).
		WithDefaults(map[string]string{"A": "file", "B": "file"}).
		With("C", "")
	for k, want := range map[string]string{"A": "env", "B": "file", "C": ""} {
		if v, ok := src.Lookup(k); !ok || v != want {
			t.Errorf("%s = %q, %v; want %q", k, v, ok, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 168 * time.Hour, "15m": 15 * time.Minute, "1h30m": 90 * time.Minute} {
		if got, err := config.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"d", "-1d", "7days", ""} {
		if _, err := config.ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}
