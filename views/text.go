package views

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/a-h/templ"
)

// currentPage marks the link to the page being shown.
func currentPage(current bool) templ.Attributes {
	if current {
		return templ.Attributes{"aria-current": "page"}
	}
	return nil
}

// Text is a sentence for people with the values it quotes set apart: a page
// shows those as code, so that what was typed or stored reads as such and
// never as words of the page.
type Text []Span

// Span is a run of a Text: words of the page, or a value shown as code.
type Span struct {
	S    string
	Code bool
}

// String is the sentence with nothing set apart.
func (t Text) String() string {
	var b strings.Builder
	for _, s := range t {
		b.WriteString(s.S)
	}
	return b.String()
}

// Plain is words with no value in them.
func Plain(s string) Text { return Text{{S: s}} }

// Tf is the sentence format in lang with each argument set apart as a
// value. See Spans for what format may hold.
func Tf(lang, format string, args ...any) Text {
	return Spans(T(lang, format), args...)
}

// Spans formats a sentence whose arguments are values: each verb (%s, %d,
// %q, %v) becomes a code span of its argument, and text between backticks
// (field names) is code too. A verb may pick its argument by number,
// %[2]d, as a translation may need another word order; %% is a percent
// sign. An argument that is a Text is spliced in as it is.
func Spans(format string, args ...any) Text {
	var out Text
	add := func(s string, code bool) {
		if s == "" {
			return
		}
		if n := len(out); n > 0 && out[n-1].Code == code {
			out[n-1].S += s
			return
		}
		out = append(out, Span{S: s, Code: code})
	}
	var lit strings.Builder
	code := false
	flush := func() {
		add(lit.String(), code)
		lit.Reset()
	}
	next := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch {
		case c == '`':
			flush()
			code = !code
		case c == '%' && i+1 < len(format) && format[i+1] == '%':
			lit.WriteByte('%')
			i++
		case c == '%' && i+1 < len(format):
			j := i + 1
			if format[j] == '[' {
				end := strings.IndexByte(format[j:], ']')
				n, err := strconv.Atoi(format[j+1 : j+max(end, 1)])
				if end < 0 || err != nil || n < 1 {
					lit.WriteByte(c)
					continue
				}
				next = n - 1
				j += end + 1
			}
			if j >= len(format) {
				lit.WriteString(format[i:])
				i = len(format)
				continue
			}
			verb := format[j]
			i = j
			flush()
			if next >= len(args) {
				add("%!"+string(verb)+"(MISSING)", true)
				continue
			}
			arg := args[next]
			next++
			if t, ok := arg.(Text); ok {
				for _, s := range t {
					add(s.S, s.Code)
				}
				continue
			}
			add(fmt.Sprintf("%"+string(verb), arg), true)
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return out
}
