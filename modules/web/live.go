package web

import (
	"bufio"
	"bytes"
	"context"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"github.com/marketplace/orders/views"
)

// How the live list of recent orders is kept fresh: the stream looks at the
// cache every livePoll and sends the rows when the newest orders changed. A
// stream ends after liveMaxAge (the browser reconnects), so no connection
// lives for ever.
const (
	livePoll   = time.Second
	liveMaxAge = 10 * time.Minute
)

// liveOrders is the server-sent event stream behind the home page's list:
// each "orders" event carries the rows of the table body, which htmx swaps
// in. Without JavaScript the list is simply the one the page was served with.
func (h *handlers) liveOrders(c *fiber.Ctx) error {
	if h.Recent == nil {
		return fiber.ErrNotFound
	}
	p := pageOf(c, "")
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set("X-Accel-Buffering", "no")
	done := h.Done
	ctx := c.UserContext()
	// The server's write deadline is set once per answer; a stream that
	// outlives it renews it before each write, so a reader that stops
	// reading is still cut off within writeTimeout.
	conn := c.Context().Conn()
	renew := func() { _ = conn.SetWriteDeadline(time.Now().Add(writeTimeout)) }
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		tick := time.NewTicker(livePoll)
		defer tick.Stop()
		end := time.After(liveMaxAge)
		last := ""
		for {
			recs := h.Recent.Newest(recentCount)
			var sig strings.Builder
			for _, r := range recs {
				sig.WriteString(r.UID)
				sig.WriteByte(' ')
			}
			renew()
			if s := sig.String(); s != last {
				last = s
				if writeEvent(ctx, w, "orders", views.OrderRows(p, rows(recs, p.Lang))) != nil {
					return
				}
			} else if _, err := w.WriteString(": keep-alive\n\n"); err != nil || w.Flush() != nil {
				// A comment line tells a closed connection apart.
				return
			}
			select {
			case <-done:
				return
			case <-end:
				return
			case <-tick.C:
			}
		}
	})
	return nil
}

// writeEvent sends one event whose data is the rendered component, one
// "data:" line per line of HTML.
func writeEvent(ctx context.Context, w *bufio.Writer, name string, c templ.Component) error {
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		return err
	}
	w.WriteString("event: " + name + "\n")
	for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		w.WriteString("data: " + line + "\n")
	}
	w.WriteString("\n")
	return w.Flush()
}
