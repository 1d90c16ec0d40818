package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// screen plays what was written to a terminal (text, \r, \n and "erase to
// the end of the line") and returns the lines a person sees, the cursor's
// last.
func screen(out string) []string {
	var lines []string
	var cur []rune
	col := 0
	for i := 0; i < len(out); {
		switch {
		case strings.HasPrefix(out[i:], "\x1b[K"):
			cur = cur[:col]
			i += 3
		case out[i] == '\r':
			col = 0
			i++
		case out[i] == '\n':
			lines = append(lines, string(cur))
			cur, col = nil, 0
			i++
		default:
			r, n := utf8.DecodeRuneInString(out[i:])
			if col < len(cur) {
				cur[col] = r
			} else {
				cur = append(cur, r)
			}
			col++
			i += n
		}
	}
	return append(lines, string(cur))
}

func liveConsole(w io.Writer, width int) *console {
	return &console{w: w, width: func() int { return width }}
}

// The issue: under task dev the producer printed a line a second and the
// URLs scrolled away within 25 s. Now its progress is one line at the
// bottom, and only what else happens scrolls.
func TestConsoleKeepsTheURLsOnScreen(t *testing.T) {
	var out bytes.Buffer
	con := liveConsole(&out, 60)
	block := urlBlock("http://localhost:9090", "b563feb7b2b84b6test", time.Second, true)
	con.println(block)
	progress := con.statusOf("[producer] ")
	service := con.scrolling("[service] ")
	for n := 1; n <= 100; n++ {
		// Written in pieces, as a pipe may deliver it.
		line := fmt.Sprintf("sent %d, acked %d, failed 0, 1/s, try order_uid uid-%d\n", n, n, n)
		_, _ = io.WriteString(progress, line[:7])
		_, _ = io.WriteString(progress, line[7:])
		if n == 50 {
			_, _ = io.WriteString(service, "level=INFO msg=\"joined consumer group\"\n")
		}
	}

	got := screen(out.String())
	want := append(strings.Split(block, "\n"), `[service] level=INFO msg="joined consumer group"`,
		"[producer] sent 100, acked 100, failed 0, 1/s, try order_u…")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, line := range got {
		if utf8.RuneCountInString(line) >= 60 && strings.HasPrefix(line, "[producer]") {
			t.Errorf("the status line %q would wrap on a 60-column terminal", line)
		}
	}

	// Once the producer stops, its last line (the summary) stays.
	_, _ = io.WriteString(progress, "done in 1m40s: sent 100, acked 100, failed 0, 1/s\n")
	con.endStatus()
	con.println("[dev] stopped")
	got = screen(out.String())
	if tail := got[len(got)-3:]; tail[0] != "[producer] done in 1m40s: sent 100, acked 100, failed 0, 1/s" || tail[1] != "[dev] stopped" || tail[2] != "" {
		t.Errorf("after the producer stopped, the screen ends with %q", tail)
	}
}

// The block says what the producer's line means, "try order_uid" included.
func TestURLBlockSaysWhatTryOrderUIDMeans(t *testing.T) {
	block := urlBlock("http://localhost:9090", "b563feb7b2b84b6test", time.Second, true)
	for _, want := range []string{
		"Search page:     http://localhost:9090/",
		"Page of it:      http://localhost:9090/orders/b563feb7b2b84b6test",
		"\"try order_uid X\":\n  X is the newest order the broker took",
		"open http://localhost:9090/orders/X\n  or search for X",
		"is the last line, rewritten in place",
	} {
		if !strings.Contains(block, want) {
			t.Errorf("URL block does not say %q:\n%s", want, block)
		}
	}
}

// In a pipe or a file nothing is rewritten: the producer's lines are kept,
// not printed, and the reminder quotes the last.
func TestConsoleNotATerminal(t *testing.T) {
	var out bytes.Buffer
	con := newConsole(&out)
	if con.live() {
		t.Fatal("a buffer is taken for a terminal")
	}
	progress := con.statusOf("[producer] ")
	for n := 1; n <= 10; n++ {
		fmt.Fprintf(progress, "sent %d\n", n)
	}
	con.println("[service] started")
	if out.String() != "[service] started\n" {
		t.Errorf("printed %q, want the service's line alone", out.String())
	}
	if got := con.lastStatus(); got != "[producer] sent 10" {
		t.Errorf("last status %q", got)
	}
	con.endStatus()
	if !strings.HasSuffix(out.String(), "[producer] sent 10\n") || strings.Contains(out.String(), "\r") {
		t.Errorf("after endStatus: %q", out.String())
	}
}
