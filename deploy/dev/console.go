package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// console is dev's terminal. Lines from the children and from dev scroll as
// usual; the producer's progress is one status line instead of a line a
// second, so the URLs printed at the start stay on screen. On a terminal the
// status line sits at the bottom, rewritten in place (as the producer does
// on its own terminal); elsewhere (a pipe, a file) it is only kept, for the
// reminder to quote.
type console struct {
	mu     sync.Mutex
	w      io.Writer
	width  func() int // the terminal's columns; nil when w is no terminal
	status string
}

func newConsole(w io.Writer) *console {
	c := &console{w: w}
	if f, ok := w.(*os.File); ok && termWidth(f) > 0 {
		c.width = func() int { return termWidth(f) }
	}
	return c
}

func (c *console) live() bool { return c.width != nil }

// println writes text (one line or several) above the status line.
func (c *console) println(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live() && c.status != "" {
		fmt.Fprint(c.w, "\r\x1b[K")
	}
	fmt.Fprintln(c.w, text)
	if c.live() && c.status != "" {
		fmt.Fprint(c.w, c.fit(c.status))
	}
}

// setStatus replaces the status line.
func (c *console) setStatus(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status = line
	if c.live() {
		fmt.Fprint(c.w, "\r\x1b[K"+c.fit(line))
	}
}

// lastStatus is the status line, "" when there is none.
func (c *console) lastStatus() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// endStatus leaves the last status line behind as an ordinary line (the
// producer's summary, once it stopped) and ends the status line.
func (c *console) endStatus() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status == "" {
		return
	}
	if c.live() {
		fmt.Fprint(c.w, "\r\x1b[K"+c.status+"\n")
	} else {
		fmt.Fprintln(c.w, c.status)
	}
	c.status = ""
}

// fit cuts line to one column less than the terminal's width: a line that
// wraps could no longer be rewritten in place.
func (c *console) fit(line string) string {
	n := c.width() - 1
	runes := []rune(line)
	if n < 1 || len(runes) <= n {
		return line
	}
	return string(runes[:n-1]) + "…"
}

// lines is a writer that hands each whole line written to it to fn, without
// its newline.
type lines struct {
	mu  sync.Mutex
	fn  func(line string)
	buf []byte
}

func (l *lines) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		line, rest, ok := bytes.Cut(l.buf, []byte("\n"))
		if !ok {
			return len(b), nil
		}
		l.fn(string(bytes.TrimSuffix(line, []byte("\r"))))
		l.buf = rest
	}
}

// scrolling writes each line with a prefix above the status line.
func (c *console) scrolling(prefix string) io.Writer {
	return &lines{fn: func(line string) { c.println(prefix + line) }}
}

// statusOf makes each line written the status line, with a prefix.
func (c *console) statusOf(prefix string) io.Writer {
	return &lines{fn: func(line string) { c.setStatus(prefix + line) }}
}

// termWidth is the number of columns of the terminal f, or 0 when f is no
// terminal (a pipe, a file, /dev/null).
func termWidth(f *os.File) int {
	var ws struct{ row, col, xpixel, ypixel uint16 }
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), uintptr(syscall.TIOCGWINSZ), uintptr(unsafe.Pointer(&ws)))
	if errno != 0 {
		return 0
	}
	if ws.col == 0 { // a terminal that does not say: assume the classic width
		return 80
	}
	return int(ws.col)
}
