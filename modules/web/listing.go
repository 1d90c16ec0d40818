package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
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

// badParam is a 400 naming the query parameter at fault; why is a format
// whose first verb is the parameter's name.
func badParam(name, why string, args ...any) error {
	return &badRequest{heading: "Bad query parameter", detail: say(why, append([]any{name}, args...)...)}
}

// badCursor is a cursor this service did not give, or no longer can follow.
func badCursor() error {
	return badParam("cursor", "The %s parameter is not a cursor this service gave, or it no longer leads anywhere; start again without it.")
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
		return 0, badParam("limit", "The %s parameter is %q; want a whole number from 1 to %d.", clip(raw), order.MaxListLimit)
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
	bad := badCursor()
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
			return f, badParam(fl.name, "The %s parameter is too long or not text; want at most %d characters of UTF-8 text.", maxFilterLen)
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

// What a DLQ listing shows of each message, as what it costs written out:
// a page of the most messages stays well under a megabyte however hostile
// the bytes (see shownCost).
const (
	maxBodyShown   = 4 << 10
	maxReasonShown = 2 << 10
	maxKeyShown    = 256
	maxTopicShown  = 256
)

// parkedKinds are the kinds a DLQ listing may be filtered by.
var parkedKinds = []order.Kind{order.KindDecode, order.KindValidation, order.KindConflict}

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
	// Clipped says Body was cut; Size is the whole message in bytes.
	Clipped bool `json:"clipped"`
	Size    int  `json:"size"`
	// ReplayOf is the parked message this one is a replay of, as
	// "<topic>/<partition>@<offset>"; empty when it is not one.
	ReplayOf string `json:"replay_of"`
}

type parkedPage struct {
	Messages   []parkedJSON   `json:"messages"`
	Counts     map[string]int `json:"counts"`
	NextCursor string         `json:"next_cursor"`
}

// maxCursorLen bounds a DLQ cursor before it reaches the lister.
const maxCursorLen = 512

// parkedQuery is what a DLQ listing was asked for.
type parkedQuery struct {
	kind   order.Kind
	limit  int
	cursor string
}

func parkedQueryOf(c *fiber.Ctx) (parkedQuery, error) {
	var q parkedQuery
	args := c.Context().QueryArgs()
	if args.Has("kind") {
		q.kind = order.Kind(args.Peek("kind"))
		if !slices.Contains(parkedKinds, q.kind) {
			return q, badParam("kind", "The %s parameter is %q; want `decode`, `validation` or `conflict`.", clip(string(q.kind)))
		}
	}
	var err error
	if q.limit, err = listLimit(c); err != nil {
		return q, err
	}
	q.cursor = string(args.Peek("cursor"))
	if utf8.RuneCountInString(q.cursor) > maxCursorLen {
		return q, badCursor()
	}
	return q, nil
}

func (h *handlers) listParked(c *fiber.Ctx, q parkedQuery) (parkedPage, error) {
	if h.Parked == nil {
		return parkedPage{}, errUnavailable
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), lookupTimeout)
	defer cancel()
	page, err := h.Parked.ListParkedKind(ctx, q.kind, q.limit, q.cursor)
	if errors.Is(err, ErrBadCursor) {
		return parkedPage{}, badCursor()
	}
	if err != nil {
		return parkedPage{}, &unavailableError{
			detail: say("The parked messages could not be read from the broker just now. Try again in a moment."),
			err:    fmt.Errorf("list parked messages: %w", err),
		}
	}
	out := parkedPage{Messages: make([]parkedJSON, len(page.Items)), Counts: map[string]int{}, NextCursor: page.Next}
	for _, k := range parkedKinds {
		out.Counts[string(k)] = page.Counts[k]
	}
	for i, p := range page.Items {
		body, clipped := clipShown(p.Body, maxBodyShown)
		key, _ := clipShown(p.Key, maxKeyShown)
		reason, _ := clipShown([]byte(p.Reason), maxReasonShown)
		topic, _ := clipShown([]byte(p.Topic), maxTopicShown)
		replay, _ := clipShown([]byte(p.ReplayOf), maxTopicShown)
		kind, _ := clipShown([]byte(p.Kind), 32)
		out.Messages[i] = parkedJSON{
			Kind: kind, Reason: reason, Topic: topic, Partition: p.Partition,
			Offset: p.Offset, Time: p.Time.UTC(), Key: key, Body: body,
			Clipped: clipped || len(p.Body) < p.Size, Size: max(p.Size, len(p.Body)), ReplayOf: replay,
		}
	}
	return out, nil
}

func (h *handlers) apiParked(c *fiber.Ctx) error {
	q, err := parkedQueryOf(c)
	if err != nil {
		return err
	}
	page, err := h.listParked(c, q)
	if err != nil {
		return err
	}
	return c.JSON(page)
}

// shownCost is what a character costs written out in JSON or HTML at
// worst: a control character is \u0000 in JSON, a quote &#34; in HTML.
func shownCost(r rune) int {
	switch {
	case r < 0x20, r == '<', r == '>', r == '&', r == '"', r == '\'', r == '\\', r == 0x7f,
		r == '\u2028', r == '\u2029':
		return 6
	}
	return utf8.RuneLen(r)
}

// clipShown turns raw message bytes into text (invalid UTF-8 becomes
// U+FFFD: the bytes are whatever a producer sent) of at most max bytes
// written out (shownCost), cut with "…".
func clipShown(b []byte, max int) (string, bool) {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	cost := 0
	for i, r := range s {
		cost += shownCost(r)
		if cost > max {
			return s[:i] + "…", true
		}
	}
	return s, false
}
