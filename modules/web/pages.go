package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/views"
)

// pageSearch is the search page, or, once the form is submitted, the answer
// to it.
func (h *handlers) pageSearch(c *fiber.Ctx) error {
	if !c.Context().QueryArgs().Has(uidParam) {
		// Nothing was asked, so there is nothing to refill the box with:
		// SearchView.Query stays empty. A uid that was asked for, even an
		// empty one, gets its answer, and an error page refills the box.
		return render(c, http.StatusOK, views.SearchPage(views.SearchView{}))
	}
	// Taken as given, as the API does: " <uid>\n" is malformed on both.
	return h.orderPage(c, c.Query(uidParam))
}

func (h *handlers) pageOrder(c *fiber.Ctx) error {
	return h.orderPage(c, c.Params("uid"))
}

func (h *handlers) orderPage(c *fiber.Ctx, uid string) error {
	if err := checkUID(uid); err != nil {
		return err
	}
	rec, err := h.lookup(c, uid)
	if err != nil {
		return err
	}
	var o order.Order
	if err := json.Unmarshal(rec.JSON, &o); err != nil {
		return fmt.Errorf("decode order %s: %w", uid, err)
	}
	return render(c, http.StatusOK, views.OrderPage(orderView(o)))
}

// render writes a page; the status goes first because the body streams
// straight into the response.
func render(c *fiber.Ctx, status int, page templ.Component) error {
	c.Status(status)
	c.Type("html", "utf-8")
	return page.Render(c.UserContext(), c.Response().BodyWriter())
}

// orderView formats an order for people. Amounts are minor units of the
// payment's currency; times are shown in UTC.
func orderView(o order.Order) views.OrderView {
	cur := o.Payment.Currency
	v := views.OrderView{
		UID:             o.OrderUID,
		TrackNumber:     o.TrackNumber,
		Entry:           o.Entry,
		Created:         humanTime(o.DateCreated),
		CreatedISO:      isoTime(o.DateCreated),
		CustomerID:      o.CustomerID,
		Locale:          o.Locale,
		DeliveryService: o.DeliveryService,
		ShardKey:        o.ShardKey,
		SmID:            strconv.FormatInt(o.SmID, 10),
		OofShard:        o.OofShard,
		JSONHref:        "/api/orders/" + url.PathEscape(o.OrderUID),
		Delivery: views.DeliveryView{
			Name:    o.Delivery.Name,
			Phone:   o.Delivery.Phone,
			Email:   o.Delivery.Email,
			Address: o.Delivery.Address,
			City:    o.Delivery.City,
			Region:  o.Delivery.Region,
			Zip:     o.Delivery.Zip,
		},
		Payment: views.PaymentView{
			Transaction:  o.Payment.Transaction,
			RequestID:    o.Payment.RequestID,
			Provider:     o.Payment.Provider,
			Bank:         o.Payment.Bank,
			Currency:     cur,
			GoodsTotal:   money(o.Payment.GoodsTotal, cur),
			DeliveryCost: money(o.Payment.DeliveryCost, cur),
			CustomFee:    money(o.Payment.CustomFee, cur),
			Amount:       money(o.Payment.Amount, cur),
		},
		Items: make([]views.ItemView, len(o.Items)),
	}
	if o.Payment.PaymentDt > 0 {
		paid := time.Unix(o.Payment.PaymentDt, 0)
		v.Payment.PaidAt, v.Payment.PaidAtISO = humanTime(paid), isoTime(paid)
	}
	for i, it := range o.Items {
		v.Items[i] = views.ItemView{
			Name:        it.Name,
			Brand:       it.Brand,
			Size:        it.Size,
			Price:       money(it.Price, cur),
			Sale:        strconv.FormatInt(it.Sale, 10) + "%",
			TotalPrice:  money(it.TotalPrice, cur),
			ChrtID:      strconv.FormatInt(it.ChrtID, 10),
			NmID:        strconv.FormatInt(it.NmID, 10),
			Rid:         it.Rid,
			TrackNumber: it.TrackNumber,
			Status:      strconv.FormatInt(it.Status, 10),
		}
	}
	return v
}

func humanTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// money writes an amount in minor units as major units and currency,
// 1817 USD as "18.17 USD", using the currency's ISO 4217 exponent.
func money(minor int64, currency string) string {
	sign := ""
	abs := uint64(minor)
	if minor < 0 {
		sign = "-"
		abs = uint64(-(minor + 1)) + 1 // -minor overflows for math.MinInt64
	}
	exp := minorDigits(currency)
	if exp == 0 {
		return fmt.Sprintf("%s%d %s", sign, abs, currency)
	}
	scale := uint64(1)
	for range exp {
		scale *= 10
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, abs/scale, exp, abs%scale, currency)
}

// minorDigits is the ISO 4217 exponent: how many digits of an amount are
// minor units. Most currencies have two.
func minorDigits(currency string) int {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
		"UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	case "CLF", "UYW":
		return 4
	default:
		return 2
	}
}
