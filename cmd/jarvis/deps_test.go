package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The server binary must not link ent's code generator: its packages'
// initialisation (templates, go/types, x/tools) ran on every start and held
// megabytes. ent/schema is linked (ent/runtime runs its hooks and
// policies), so it reaches the API through openapi/annotation, never entoas
// or openapi/spec.
func TestBinaryDoesNotLinkTheCodeGenerator(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for dep := range strings.Lines(string(out)) {
		dep = strings.TrimSpace(dep)
		for _, banned := range []string{"entgo.io/ent/entc", "entgo.io/contrib/entoas", "github.com/jarvis-core/jarvis/openapi/spec", "golang.org/x/tools/go/packages"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("cmd/jarvis links %s", dep)
			}
		}
	}
}
