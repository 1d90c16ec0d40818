package views

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestEveryPhraseHasRussian reads the templates for the phrases they pass to
// T and checks each has a Russian form, so a new label cannot ship in
// English alone.
func TestEveryPhraseHasRussian(t *testing.T) {
	files, err := filepath.Glob("*.templ")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	phrase := regexp.MustCompile(`T\([^,()]+, "([^"]+)"\)`)
	found := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range phrase.FindAllSubmatch(src, -1) {
			found++
			if _, ok := ru[string(m[1])]; !ok {
				t.Errorf("%s: no Russian for %q", f, m[1])
			}
		}
	}
	if found < 40 {
		t.Errorf("found only %d phrases: the pattern no longer matches the templates", found)
	}
}
