package app_test

import (
	"errors"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/joho/godotenv"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/app"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestBadConfigurationOfEveryModuleAtOnce: each module parses its own
// Config, and the app refuses to build with one error naming every bad
// variable of every module, before any module is built, without a value.
func TestBadConfigurationOfEveryModuleAtOnce(t *testing.T) {
	t.Parallel()
	secretish := "hunter2-not-long-enough"
	bad := map[string]string{
		"APP_ENV":                      "staging",
		"SHUTDOWN_TIMEOUT":             "-5s",
		"LOG_LEVEL":                    "verbose",
		"PORT":                         "70000",
		"DATABASE_URL":                 "mysql://u:" + secretish + "@h/db",
		"REDIS_URL":                    "::::",
		"JWT_SECRET":                   secretish,
		"JWT_ACCESS_EXPIRY":            "2h",
		"JWT_REFRESH_EXPIRY":           "1h",
		"SECRETS_MASTER_KEY":           strings.Repeat("zz", 32),
		"SECRETS_OLD_KEYS":             "1:" + strings.Repeat("ab", 32) + ",x:12",
		"REALTIME_SEND_QUEUE_MESSAGES": "0",
	}
	err := app.New(config.Map(bad), discard).Err()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *config.Error", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.Var)
	}
	want := slices.DeleteFunc(slices.Sorted(maps.Keys(bad)), func(k string) bool { return k == "JWT_ACCESS_EXPIRY" })
	if !slices.Equal(got, want) {
		t.Errorf("reported %v, want %v:\n%v", got, want, ce)
	}
	msg := err.Error()
	for k, v := range bad {
		if len(v) > 4 && strings.Contains(msg, v) {
			t.Errorf("the error echoes the value of %s:\n%s", k, msg)
		}
	}
	if strings.Contains(msg, secretish) || strings.Contains(msg, "abab") {
		t.Errorf("the error echoes a secret:\n%s", msg)
	}
}

func TestMissingSecretsAreRequired(t *testing.T) {
	t.Parallel()
	err := app.New(config.Map(nil), discard).Err()
	for _, v := range []string{"DATABASE_URL", "JWT_SECRET", "SECRETS_MASTER_KEY"} {
		if err == nil || !strings.Contains(err.Error(), v+": is required") {
			t.Errorf("missing %s not reported: %v", v, err)
		}
	}
}

// TestEnvExampleDocumentsWhatTheCodeReads holds .env.example to the
// variables the modules' Configs read, both ways: a variable no code acts on
// does not belong there. (The commands' own variables are checked in
// cmd/jarvis.)
func TestEnvExampleDocumentsWhatTheCodeReads(t *testing.T) {
	t.Parallel()
	example, err := godotenv.Read("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	example["JWT_SECRET"] = strings.Repeat("s", 32)
	example["SECRETS_MASTER_KEY"] = strings.Repeat("ab", 32)
	example["DATABASE_URL"] = dbtest.New(t).AppURL // the db module connects while the app is built
	var vars config.Variables
	a := app.New(config.Map(example), discard, fx.Populate(&vars))
	if err := a.Err(); err != nil {
		t.Fatalf(".env.example with secrets filled does not build the app: %v", err)
	}
	for _, v := range vars {
		if _, ok := example[v]; !ok {
			t.Errorf(".env.example lacks %s", v)
		}
	}
	commands := map[string]bool{"MIGRATE_DATABASE_URL": true, "DEV_DATABASE_URL": true}
	for k := range example {
		if !slices.Contains(vars, k) && !commands[k] {
			t.Errorf(".env.example lists %s, which no module reads", k)
		}
	}
}
