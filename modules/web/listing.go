package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/marketplace/orders/modules/order"
)

// defaultListLimit is how many entries a listing gives when limit is absent.
const defaultListLimit = 20

// maxFilterLen bounds a filter value: longer is no track number, transaction,
// customer id or phone anyone stores.
const maxFilterLen = 128

// ErrBadCursor is what a ParkedLister wraps when the cursor it is given is not
// one it gave out: the domain's sentinel, so every lister speaks it.
var ErrBadCursor = order.ErrBadCursor

// errUnavailable is a route whose backing part app did not provide.
var errUnavailable = fiber.NewError(http.StatusServiceUnavailable)

// badParam is a 400 naming the query parameter at fault.
func badParam(name, why string) error {
	return &badRequest{heading: "Bad parameter " + name, detail: fmt.Sprintf("query parameter %s: %s", name, why)}
}

// listLimit reads limit: absent means defaultListLimit, else 1..MaxListLimit.
func listLimit(c *fiber.Ctx) (int, error) {
	args := c.Context().QueryArgs()
	if !args.Has("limit") {
		return defaultListLimit, nil
	}
	raw := string(args.Peek("limit"))
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > order.MaxListLimit {
		return 0, badParam("limit", fmt.Sprintf("%q is not a whole number from 1 to %d", clip(raw), order.MaxListLimit))
	}
	return n, nil
}

// encodeCursor makes the opaque next_cursor of a listing from the key of its
// last order: base64url of "<RFC 3339 nano date>|<uid>". A uid never holds
// "|", so the split back is unambiguous.
func encodeCursor(k *order.Key) string {
	if k == nil {
		return ""
	}
	raw := k.DateCreated.UTC().Format(time.RFC3339Nano) + "|" + k.UID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor reads what encodeCursor wrote, and nothing else.
func decodeCursor(s string) (*order.Key, error) {
	bad := badParam("cursor", "not a cursor this service gave; start again without it")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	date, uid, ok := strings.Cut(string(raw), "|")
	if !ok || !order.ValidUID(uid) {
		return nil, bad
	}
	t, err := time.Parse(time.RFC3339Nano, date)
	if err != nil {
		return nil, bad
	}
	return &order.Key{DateCreated: t, UID: uid}, nil
}

// filterFrom reads the listing's query: the four exact-match fields, limit
// and cursor. Values are trimmed of spaces, as the search box does.
func filterFrom(c *fiber.Ctx) (order.Filter, error) {
	var f order.Filter
	fields := []struct {
		name string
		dst  *string
	}{
		{"track_number", &f.TrackNumber},
		{"transaction", &f.Transaction},
		{"customer_id", &f.CustomerID},
		{"phone", &f.Phone},
	}
	args := c.Context().QueryArgs()
	for _, fl := range fields {
		v := strings.TrimSpace(string(args.Peek(fl.name)))
		if !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxFilterLen {
			return f, badParam(fl.name, fmt.Sprintf("want at most %d characters of UTF-8 text", maxFilterLen))
		}
		*fl.dst = v
	}
	var err error
	if f.Limit, err = listLimit(c); err != nil {
		return f, err
	}
	if args.Has("cursor") {
		if f.After, err = decodeCursor(string(args.Peek("cursor"))); err != nil {
			return f, err
		}
	}
	return f, nil
}

// ordersPage is the body of GET /api/orders.
type ordersPage struct {
	Orders     []json.RawMessage `json:"orders"`
	NextCursor string            `json:"next_cursor"`
}

func (h *handlers) apiSearch(c *fiber.Ctx) error {
	if strings.HasSuffix(c.Path(), "/") {
		// "/api/orders/" is the order route with an empty uid, which the
		// router, not strict about a trailing slash, sends here.
		return h.apiOrderByPath(c)
	}
	if h.Search == nil {
		return errUnavailable
	}
	f, err := filterFrom(c)
	if err != nil {
		return err
	}
	page, err := h.search(c.UserContext(), f)
	if err != nil {
		return err
	}
	body := ordersPage{Orders: make([]json.RawMessage, len(page.Records)), NextCursor: encodeCursor(page.Next)}
	for i, r := range page.Records {
		body.Orders[i] = r.JSON
	}
	c.Set("X-Source", sourceDatabase)
	return c.JSON(body)
}

func (h *handlers) search(ctx context.Context, f order.Filter) (order.Page, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	page, err := h.Search.Search(ctx, f)
	if err != nil {
		return order.Page{}, fmt.Errorf("search orders: %w", err)
	}
	return page, nil
}

// Where an order answer came from, for the X-Source header.
const (
	sourceCache    = "cache"
	sourceDatabase = "database"
)

func source(hit bool) string {
	if hit {
		return sourceCache
	}
	return sourceDatabase
}

// maxBodyShown is how much of a parked message's key and body are shown.
const maxBodyShown = 2048

// parkedJSON is one parked message in GET /api/dlq.
type parkedJSON struct {
	Kind      string    `json:"kind"`
	Reason    string    `json:"reason"`
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Time      time.Time `json:"time"`
	Key       string    `json:"key"`
	Body      string    `json:"body"`
	// Clipped says Body was cut at maxBodyShown bytes.
	Clipped bool `json:"clipped"`
}

type parkedPage struct {
	Messages   []parkedJSON `json:"messages"`
	NextCursor string       `json:"next_cursor"`
}

// maxCursorLen bounds a DLQ cursor before it reaches the lister.
const maxCursorLen = 512

func (h *handlers) listParked(c *fiber.Ctx) (parkedPage, error) {
	if h.Parked == nil {
		return parkedPage{}, errUnavailable
	}
	limit, err := listLimit(c)
	if err != nil {
		return parkedPage{}, err
	}
	cursor := string(c.Context().QueryArgs().Peek("cursor"))
	if utf8.RuneCountInString(cursor) > maxCursorLen {
		return parkedPage{}, badParam("cursor", "not a cursor this service gave; start again without it")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), lookupTimeout)
	defer cancel()
	page, err := h.Parked.ListParked(ctx, limit, cursor)
	if errors.Is(err, ErrBadCursor) {
		return parkedPage{}, badParam("cursor", "not a cursor this service gave; start again without it")
	}
	if err != nil {
		return parkedPage{}, fmt.Errorf("list parked messages: %w", err)
	}
	out := parkedPage{Messages: make([]parkedJSON, len(page.Items)), NextCursor: page.Next}
	for i, p := range page.Items {
		body, clipped := clipBytes(p.Body, maxBodyShown)
		key, _ := clipBytes(p.Key, 256)
		out.Messages[i] = parkedJSON{
			Kind: string(p.Kind), Reason: p.Reason, Topic: p.Topic, Partition: p.Partition,
			Offset: p.Offset, Time: p.Time.UTC(), Key: key, Body: body, Clipped: clipped,
		}
	}
	return out, nil
}

func (h *handlers) apiParked(c *fiber.Ctx) error {
	page, err := h.listParked(c)
	if err != nil {
		return err
	}
	return c.JSON(page)
}

// clipBytes turns raw message bytes into text: invalid UTF-8 becomes U+FFFD
// (the body is whatever a producer sent), cut at max bytes on a rune boundary.
func clipBytes(b []byte, max int) (string, bool) {
	clipped := len(b) > max
	if clipped {
		b = b[:max]
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if clipped {
		// A rune cut in two at the end is one replacement character.
		s = strings.TrimRight(s, "\uFFFD") + "…"
	}
	return s, clipped
}
