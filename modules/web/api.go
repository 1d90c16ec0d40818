package web

import (
	"bytes"
	"encoding/json"
	"fmt"

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
			detail:  `no OrderUID: give it in the query (?OrderUID=<uid>) or as a JSON body {"OrderUID":"<uid>"}`,
		}
	}
	return uidFromJSON(body)
}

// uidFromJSON accepts exactly {"OrderUID":"<uid>"}: any other member is more
// likely a typo than something to ignore.
func uidFromJSON(body []byte) (string, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return "", badBody("the request body is not a JSON object")
	}
	for name := range members {
		if name != uidParam {
			return "", badBody(fmt.Sprintf("the request body has member %q", clip(name)))
		}
	}
	raw, ok := members[uidParam]
	if !ok {
		return "", badBody("the request body has no OrderUID member")
	}
	var uid string
	if bytes.Equal(raw, []byte("null")) || json.Unmarshal(raw, &uid) != nil {
		return "", badBody("OrderUID in the request body is not a string")
	}
	return uid, nil
}

func badBody(why string) error {
	return &badRequest{
		heading: "Bad request body",
		detail:  why + `; want {"OrderUID":"<uid>"}`,
	}
}

// checkUID turns away a uid that cannot name an order before the store is
// asked, so such a request counts neither a cache hit nor a miss.
func checkUID(uid string) error {
	if uid == "" {
		return &badRequest{heading: "Missing order uid", detail: "OrderUID is empty"}
	}
	if !order.ValidUID(uid) {
		return &badRequest{
			heading: "Malformed order uid",
			detail:  fmt.Sprintf("malformed OrderUID %q: want 1 to %d of A-Z a-z 0-9 _ -", clip(uid), order.MaxUIDLen),
			typed:   clip(uid),
		}
	}
	return nil
}
