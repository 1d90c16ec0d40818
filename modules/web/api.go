package web

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/marketplace/orders/modules/order"
)

// uidParam names the uid in the query, in the JSON body and in the search form.
const uidParam = "OrderUID"

// apiGetOrder takes the uid from the query, or, when the query has none, from
// a JSON body {"OrderUID":"<uid>"}.
func (h *handlers) apiGetOrder(c *fiber.Ctx) error {
	uid, err := uidFromQueryOrBody(c)
	if err != nil {
		return err
	}
	return h.sendOrder(c, uid)
}

func (h *handlers) apiOrderByPath(c *fiber.Ctx) error {
	return h.sendOrder(c, c.Params("uid"))
}

// sendOrder answers with the record's JSON as stored: it is canonical
// already, and re-encoding could only make it differ from what was consumed.
func (h *handlers) sendOrder(c *fiber.Ctx, uid string) error {
	if err := checkUID(uid); err != nil {
		return err
	}
	rec, hit, err := h.lookup(c, uid)
	if err != nil {
		return err
	}
	c.Set("X-Source", source(hit))
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(rec.JSON)
}

func uidFromQueryOrBody(c *fiber.Ctx) (string, error) {
	if c.Context().QueryArgs().Has(uidParam) {
		return c.Query(uidParam), nil
	}
	// The raw body, not c.Body(): c.Body() would inflate a compressed body
	// past the size limit the server just enforced.
	body := bytes.TrimSpace(c.Request().Body())
	if len(body) == 0 {
		return "", &badRequest{
			heading: "Missing order uid",
			detail:  say("No `OrderUID`: give it in the query (%s) or as a JSON body %s.", "?OrderUID=<uid>", `{"OrderUID":"<uid>"}`),
		}
	}
	return uidFromJSON(body)
}

// uidFromJSON accepts exactly {"OrderUID":"<uid>"}: any other member is more
// likely a typo than something to ignore.
func uidFromJSON(body []byte) (string, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return "", badBody(say("The request body is not a JSON object; want %s.", wantBody))
	}
	for name := range members {
		if name != uidParam {
			return "", badBody(say("The request body has the member %q; want only %s.", clip(name), wantBody))
		}
	}
	raw, ok := members[uidParam]
	if !ok {
		return "", badBody(say("The request body has no `OrderUID`; want %s.", wantBody))
	}
	var uid string
	if bytes.Equal(raw, []byte("null")) || json.Unmarshal(raw, &uid) != nil {
		return "", badBody(say("`OrderUID` in the request body is not a string; want %s.", wantBody))
	}
	return uid, nil
}

const wantBody = `{"OrderUID":"<uid>"}`

func badBody(why msg) error {
	return &badRequest{heading: "Bad request body", detail: why}
}

// checkUID turns away a uid that cannot name an order before the store is
// asked, so such a request counts neither a cache hit nor a miss.
func checkUID(uid string) error {
	if uid == "" {
		return &badRequest{heading: "Missing order uid", detail: say("The order uid is empty: give the uid of an order.")}
	}
	if !order.ValidUID(uid) {
		return &badRequest{heading: "Not an order uid", detail: whyNotUID(uid), typed: clip(uid)}
	}
	return nil
}

// whyNotUID says what keeps uid from being an order uid: its length, or
// its first character that no uid holds.
func whyNotUID(uid string) msg {
	if n := utf8.RuneCountInString(uid); n > order.MaxUIDLen {
		return say("%q cannot be an order uid: it is %d characters long, and an order uid is at most %d Latin letters, digits, \"_\" or \"-\".",
			clip(uid), n, order.MaxUIDLen)
	}
	pos := 0
	for _, r := range uid {
		pos++
		if !uidRune(r) {
			if r == ' ' {
				return say("%q cannot be an order uid: character %d is a space, and an order uid is only Latin letters, digits, \"_\" or \"-\".", clip(uid), pos)
			}
			return say("%q cannot be an order uid: character %d is %q, and an order uid is only Latin letters, digits, \"_\" or \"-\".", clip(uid), pos, r)
		}
	}
	return say("%q cannot be an order uid: an order uid is 1 to %d Latin letters, digits, \"_\" or \"-\".", clip(uid), order.MaxUIDLen)
}

func uidRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}
