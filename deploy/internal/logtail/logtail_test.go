package logtail

import (
	"fmt"
	"strings"
	"testing"
)

func TestKeepsTheLastLinesOnly(t *testing.T) {
	b := New(64)
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(b, "line %d\n", i)
	}
	got := b.String()
	if !strings.HasSuffix(got, "line 50") || strings.Contains(got, "line 1\n") {
		t.Fatalf("String() = %q, want the end of the output", got)
	}
	if len(b.buf) > 64 {
		t.Fatalf("kept %d bytes, want at most 64", len(b.buf))
	}
	b.Reset()
	if b.String() != "" {
		t.Fatalf("after Reset: %q", b.String())
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		give string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb", 5, "a\nb"},
		{"", 3, ""},
	}
	for _, tt := range tests {
		if got := LastLines([]byte(tt.give), tt.n); got != tt.want {
			t.Errorf("LastLines(%q, %d) = %q, want %q", tt.give, tt.n, got, tt.want)
		}
	}
}
