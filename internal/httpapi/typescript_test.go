package httpapi_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestTypeScriptClientEndToEnd type-checks the generated TypeScript client
// with tsc and runs its end-to-end test against the real server on a fresh
// database: register, login, refresh, secrets CRUD, logout.
func TestTypeScriptClientEndToEnd(t *testing.T) {
	dir, err := filepath.Abs("../../openapi/typescript")
	if err != nil {
		t.Fatal(err)
	}
	run := func(env []string, name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal("the TypeScript client's tools are not installed: `go tool task ts-deps` (the test task runs it)")
	}
	run(nil, "npx", "tsc", "-p", ".")
	s := newServer(t)
	run([]string{"JARVIS_URL=" + s.URL}, "node", "--test", "dist/e2e.test.js", "dist/connections.e2e.test.js")
}
