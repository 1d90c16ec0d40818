package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const project = "github.com/marketplace/orders/"

// imports lists each project package with the project packages it imports,
// tests included, paths relative to the module.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f",
		`{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], project)
		deps[pkg] = []string{}
		for _, imp := range fields[1:] {
			if rel, ok := strings.CutPrefix(imp, project); ok && rel != pkg && !slices.Contains(deps[pkg], rel) {
				deps[pkg] = append(deps[pkg], rel)
			}
		}
	}
	return deps
}

// TestImportRules keeps the data path's shape (docs/ARCHITECTURE.md): imports
// point inward to the domain, adapters never import each other or the whole
// config, and tooling and test helpers stay apart.
func TestImportRules(t *testing.T) {
	adapters := []string{"modules/postgres", "modules/kafka", "modules/web"}
	allowed := map[string][]string{
		"modules/order":    {"modules/order/fake"}, // its tests generate orders
		"modules/cache":    {"modules/order"},
		"modules/postgres": {"modules/order", "modules/order/fake", "modules/postgres/pgtest", "modules/certtest", "modules/logtest", "migrations"},
		"modules/kafka":    {"modules/order", "modules/order/fake", "modules/kafka/kafkatest", "modules/logtest"},
		"modules/web":      {"modules/order", "modules/cache", "views", "modules/order/fake"},
		"modules/logging":  {},
		"modules/config":   {},
		"views":            {},
	}
	deps := imports(t)
	for pkg, want := range allowed {
		got, ok := deps[pkg]
		if !ok {
			t.Errorf("package %s not found by go list", pkg)
			continue
		}
		for _, d := range got {
			if !slices.Contains(want, d) {
				t.Errorf("%s imports %s; it may import only %v", pkg, d, want)
			}
		}
	}
	for pkg, got := range deps {
		for _, d := range got {
			switch {
			case d == "app" || strings.HasPrefix(d, "app/"):
				t.Errorf("%s imports app: only app knows every module", pkg)
			case strings.HasPrefix(pkg, "deploy/") && strings.HasPrefix(d, "modules/") && !strings.HasSuffix(d, "test"):
				t.Errorf("tooling %s imports the service module %s", pkg, d)
			case strings.HasSuffix(pkg, "test") && strings.HasPrefix(pkg, "modules/") && strings.HasPrefix(d, "deploy/"):
				t.Errorf("test helper %s imports tooling %s", pkg, d)
			case slices.Contains(adapters, pkg) && slices.Contains(adapters, d):
				t.Errorf("adapter %s imports adapter %s: app wires them", pkg, d)
			}
		}
	}
}
