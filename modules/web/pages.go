package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/views"
)

// recentCount is how many orders the home page lists.
const recentCount = 20

// ReferenceUID is the uid of the contract's reference order, offered as an
// example while the list of recent orders is empty.
const ReferenceUID = "b563feb7b2b84b6test"

// maxMatchesShown is how many matches of one search the results page lists.
const maxMatchesShown = 50

// pageHome is the home page, or, once the form is submitted, the answer to
// it.
func (h *handlers) pageHome(c *fiber.Ctx) error {
	if !c.Context().QueryArgs().Has(uidParam) {
		v := views.HomeView{Page: pageOf(c, "")}
		v.FocusSearch = true
		if h.Recent != nil {
			v.Orders = rows(h.Recent.Newest(recentCount), v.Lang)
			v.LiveSrc = "/live/orders"
		}
		if len(v.Orders) == 0 {
			v.ExampleUID, v.ExampleHref = ReferenceUID, orderHref(ReferenceUID)
		}
		return render(c, http.StatusOK, views.HomePage(v))
	}
	return h.searchBox(c, c.Query(uidParam))
}

// searchBox finds what the box was given: an order by uid, else orders by
// track number, transaction, customer id or phone. One match is shown as its
// page, several as a list.
func (h *handlers) searchBox(c *fiber.Ctx, typed string) error {
	text := strings.TrimSpace(typed)
	if text == "" {
		return &badRequest{
			heading: "Nothing to look for",
			detail:  say("The search box was empty: type an order uid, track number, transaction, customer id or phone."),
			typed:   typed,
		}
	}
	if utf8.RuneCountInString(text) > maxFilterLen {
		return &badRequest{
			heading: "Search text too long",
			detail:  say("Search for at most %d characters.", maxFilterLen),
			typed:   clip(text),
		}
	}
	if order.ValidUID(text) {
		rec, hit, err := h.lookup(c, text)
		if err == nil {
			return h.renderOrder(c, rec, hit, text)
		}
		if !errors.Is(err, order.ErrNotFound) || h.Search == nil {
			return err
		}
	} else if h.Search == nil {
		return checkUID(text)
	}
	found, err := h.findAll(c.UserContext(), text)
	if err != nil {
		return &lookupError{uid: text, err: err}
	}
	switch len(found) {
	case 0:
		return &lookupError{uid: text, err: order.ErrNotFound}
	case 1:
		if !order.ValidUID(text) {
			// The search read the order from the database; the uid lookup
			// that would have counted it did not run.
			h.Observer.Lookup(false)
		}
		return h.renderOrder(c, found[0], false, text)
	}
	p := pageOf(c, text)
	return render(c, http.StatusOK, views.ResultsPage(views.ResultsView{Page: p, Orders: rows(found, p.Lang)}))
}

// findAll searches each field for text and merges the matches, newest
// first, at most maxMatchesShown of them. Track numbers are upper case, so
// one typed in any case is looked for in upper case too; a phone is looked
// for with and without its "+" and the spaces, dashes and brackets people
// write in it.
func (h *handlers) findAll(ctx context.Context, text string) ([]order.Record, error) {
	filters := []order.Filter{
		{TrackNumber: text}, {Transaction: text}, {CustomerID: text}, {Phone: text},
	}
	if up := strings.ToUpper(text); up != text {
		filters = append(filters, order.Filter{TrackNumber: up})
	}
	for _, p := range phoneForms(text) {
		filters = append(filters, order.Filter{Phone: p})
	}
	seen := map[string]bool{}
	var found []order.Record
	for _, f := range filters {
		f.Limit = maxMatchesShown
		page, err := h.search(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, r := range page.Records {
			if !seen[r.UID] {
				seen[r.UID] = true
				found = append(found, r)
			}
		}
	}
	slices.SortFunc(found, order.NewestFirst)
	return found[:min(len(found), maxMatchesShown)], nil
}

func (h *handlers) pageOrder(c *fiber.Ctx) error {
	uid := c.Params("uid")
	if err := checkUID(uid); err != nil {
		return err
	}
	rec, hit, err := h.lookup(c, uid)
	if err != nil {
		return err
	}
	return h.renderOrder(c, rec, hit, uid)
}

func (h *handlers) renderOrder(c *fiber.Ctx, rec order.Record, hit bool, query string) error {
	o, err := order.Decode(rec.JSON)
	if err != nil {
		return fmt.Errorf("decode order %s: %w", rec.UID, err)
	}
	c.Set("X-Source", source(hit))
	return render(c, http.StatusOK, views.OrderPage(orderView(o, pageOf(c, query), hit)))
}

// phoneForms are the other ways text may be written as a stored phone: with
// and without a leading "+", and without spaces, dashes, dots or brackets.
// Text that is not a phone has none.
func phoneForms(text string) []string {
	digits := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return r
		case r == '+' || r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
			return -1
		}
		return utf8.RuneError
	}, text)
	if digits == "" || strings.ContainsRune(digits, utf8.RuneError) || strings.Count(text, "+") > 1 {
		return nil
	}
	var forms []string
	for _, f := range []string{digits, "+" + digits} {
		if f != text {
			forms = append(forms, f)
		}
	}
	return forms
}

func (h *handlers) pageParked(c *fiber.Ctx) error {
	p := pageOf(c, "")
	q, err := parkedQueryOf(c)
	if err != nil {
		return err
	}
	page, err := h.listParked(c, q)
	v := views.ParkedView{Page: p}
	switch {
	case errors.Is(err, errUnavailable):
		v.Unavailable = true
	case err != nil:
		return err
	}
	v.Kinds = kindFilters(page.Counts, q.kind, p.Lang)
	v.Empty = views.T(p.Lang, "Nothing is parked.")
	if q.kind != "" {
		v.Empty = views.T(p.Lang, "No parked message is of this kind.")
	}
	for _, m := range page.Messages {
		v.Messages = append(v.Messages, parkedRow(m, p.Lang))
	}
	here := url.Values{}
	if q.kind != "" {
		here.Set("kind", string(q.kind))
	}
	if c.Context().QueryArgs().Has("limit") {
		here.Set("limit", strconv.Itoa(q.limit))
	}
	if q.cursor != "" {
		v.NewestHref = "/dlq"
		if len(here) > 0 {
			v.NewestHref += "?" + here.Encode()
		}
	}
	if page.NextCursor != "" {
		here.Set("cursor", page.NextCursor)
		v.MoreHref = "/dlq?" + here.Encode()
	}
	return render(c, http.StatusOK, views.ParkedPage(v))
}

// kindFilters are the links above the DLQ list: every kind, then each kind
// with its count.
func kindFilters(counts map[string]int, current order.Kind, lang string) []views.KindFilter {
	total := 0
	for _, n := range counts {
		total += n
	}
	out := []views.KindFilter{{
		Label: views.T(lang, "All"), Title: views.T(lang, "Every parked message"), Class: "all",
		Count: strconv.Itoa(total), Href: "/dlq", Current: current == "",
	}}
	for _, k := range parkedKinds {
		out = append(out, views.KindFilter{
			Label: kindName(k, lang), Title: kindMeaning(k, lang), Class: string(k),
			Count: strconv.Itoa(counts[string(k)]), Href: "/dlq?kind=" + string(k), Current: current == k,
		})
	}
	return out
}

// kindName is a kind of rejection in words: its name in the contract, in
// English.
func kindName(k order.Kind, lang string) string {
	if !slices.Contains(parkedKinds, k) {
		return string(k)
	}
	return views.T(lang, string(k))
}

// kindMeaning says what a kind of rejection is.
func kindMeaning(k order.Kind, lang string) string {
	switch k {
	case order.KindDecode:
		return views.T(lang, "Not JSON, or not shaped like an order")
	case order.KindValidation:
		return views.T(lang, "An order that breaks a rule")
	case order.KindConflict:
		return views.T(lang, "Another order is stored under its uid")
	}
	return ""
}

func parkedRow(m parkedJSON, lang string) views.ParkedRow {
	row := views.ParkedRow{
		Kind:      kindName(order.Kind(m.Kind), lang),
		KindClass: "other",
		Reason:    reasonText(m.Reason, lang),
		Source:    views.Tf(lang, "%s, partition %d, offset %d", m.Topic, m.Partition, m.Offset),
		Time:      humanTime(m.Time),
		TimeISO:   isoTime(m.Time),
		Key:       m.Key,
	}
	if slices.Contains(parkedKinds, order.Kind(m.Kind)) {
		row.KindClass = m.Kind
	}
	if m.ReplayOf != "" {
		row.ReplayOf = views.Tf(lang, "replay of %s", m.ReplayOf)
		if topic, pos, ok := strings.Cut(m.ReplayOf, "/"); ok {
			part, off, ok := strings.Cut(pos, "@")
			if ok {
				row.ReplayOf = views.Tf(lang, "replay of %s, partition %s, offset %s", topic, part, off)
			}
		}
	}
	body, clipped := prettyBody(m.Body)
	row.Body = body
	size := sizeText(m.Size, lang)
	row.BodyLabel = views.Tf(lang, "Message, %s", size).String()
	if clipped || m.Clipped {
		row.BodyLabel = views.Tf(lang, "Message, %s, the beginning shown", size).String()
	}
	return row
}

// sizeText is a size in bytes for people: "812 B", "1.2 KB", "3.4 MB".
func sizeText(n int, lang string) string {
	point := "."
	if lang == views.LangRU {
		point = ","
	}
	unit := func(v float64, name string) string {
		s := strconv.FormatFloat(v, 'f', 1, 64)
		s = strings.TrimSuffix(s, ".0")
		return strings.Replace(s, ".", point, 1) + "\u00a0" + views.T(lang, name)
	}
	switch {
	case n < 1000:
		return strconv.Itoa(n) + "\u00a0" + views.T(lang, "B")
	case n < 1000*1000:
		return unit(float64(n)/1000, "KB")
	default:
		return unit(float64(n)/1000/1000, "MB")
	}
}

// render writes a page; the status goes first because the body streams
// straight into the response.
func render(c *fiber.Ctx, status int, page templ.Component) error {
	c.Status(status)
	c.Type("html", "utf-8")
	return page.Render(c.UserContext(), c.Response().BodyWriter())
}

func orderHref(uid string) string { return "/orders/" + url.PathEscape(uid) }

// rows turns records into list rows; a record that does not decode (none
// should: they were decoded once already) is left out rather than failing
// the whole list.
func rows(recs []order.Record, lang string) []views.OrderRow {
	out := make([]views.OrderRow, 0, len(recs))
	for _, r := range recs {
		o, err := order.Decode(r.JSON)
		if err != nil {
			continue
		}
		out = append(out, views.OrderRow{
			UID:         o.OrderUID,
			Href:        orderHref(o.OrderUID),
			Created:     humanTime(o.DateCreated),
			CreatedISO:  isoTime(o.DateCreated),
			Customer:    o.CustomerID,
			Amount:      money(o.Payment.Amount, o.Payment.Currency, lang),
			Items:       strconv.Itoa(len(o.Items)),
			TrackNumber: o.TrackNumber,
		})
	}
	return out
}

// orderView formats an order for people. Amounts are minor units of the
// payment's currency; times are shown in UTC (app.js adds the viewer's zone).
func orderView(o order.Order, p views.Page, hit bool) views.OrderView {
	cur, lang := o.Payment.Currency, p.Lang
	m := func(minor int64) string { return money(minor, cur, lang) }
	v := views.OrderView{
		Page:        p,
		UID:         o.OrderUID,
		TrackNumber: o.TrackNumber,
		Created:     humanTime(o.DateCreated),
		CreatedISO:  isoTime(o.DateCreated),
		CustomerID:  o.CustomerID,
		Amount:      m(o.Payment.Amount),
		SourceNote:  views.T(lang, "Served from the database"),
		JSONHref:    "/api/orders/" + url.PathEscape(o.OrderUID),
		Delivery: views.DeliveryView{
			Name: o.Delivery.Name, Phone: o.Delivery.Phone, Email: o.Delivery.Email, Address: o.Delivery.Address,
			City: o.Delivery.City, Region: o.Delivery.Region, Zip: o.Delivery.Zip,
		},
		Payment: paymentView(o.Payment, m),
		Technical: []views.Field{
			{Label: views.T(lang, "Entry"), Value: o.Entry},
			{Label: views.T(lang, "Locale"), Value: o.Locale},
			{Label: views.T(lang, "Delivery service"), Value: o.DeliveryService},
			{Label: views.T(lang, "Shard key"), Value: o.ShardKey},
			{Label: "sm_id", Value: strconv.FormatInt(o.SmID, 10), Raw: true},
			{Label: "oof_shard", Value: o.OofShard, Raw: true},
			{Label: views.T(lang, "Internal signature"), Value: o.InternalSignature},
			{Label: views.T(lang, "Currency"), Value: cur},
		},
	}
	if hit {
		v.SourceNote = views.T(lang, "Served from the cache")
	}
	var total int64
	statuses := []int64{}
	for _, it := range o.Items {
		total += it.TotalPrice
		if !slices.Contains(statuses, it.Status) {
			statuses = append(statuses, it.Status)
		}
		v.Items = append(v.Items, itemView(it, lang, m))
	}
	v.ItemTotal = m(total)
	words := make([]string, len(statuses))
	for i, s := range statuses {
		words[i] = statusText(s, lang)
	}
	v.Status = strings.Join(words, ", ")
	v.StatusClass = "status-other"
	if len(statuses) == 1 && statuses[0] >= 200 && statuses[0] < 300 {
		v.StatusClass = "status-ok"
	}
	return v
}

func paymentView(p order.Payment, m func(int64) string) views.PaymentView {
	v := views.PaymentView{
		Transaction:  p.Transaction,
		RequestID:    p.RequestID,
		Provider:     p.Provider,
		Bank:         p.Bank,
		Currency:     p.Currency,
		GoodsTotal:   m(p.GoodsTotal),
		DeliveryCost: m(p.DeliveryCost),
		CustomFee:    m(p.CustomFee),
		Amount:       m(p.Amount),
	}
	if p.PaymentDt > 0 {
		paid := time.Unix(p.PaymentDt, 0)
		v.PaidAt, v.PaidAtISO = humanTime(paid), isoTime(paid)
	}
	return v
}

func itemView(it order.Item, lang string, m func(int64) string) views.ItemView {
	return views.ItemView{
		Name:       it.Name,
		Brand:      it.Brand,
		Size:       it.Size,
		Price:      m(it.Price),
		Sale:       strconv.FormatInt(it.Sale, 10) + "%",
		TotalPrice: m(it.TotalPrice),
		Status:     statusText(it.Status, lang),
		Technical: []views.Field{
			{Label: "chrt_id", Value: strconv.FormatInt(it.ChrtID, 10), Raw: true},
			{Label: "nm_id", Value: strconv.FormatInt(it.NmID, 10), Raw: true},
			{Label: "rid", Value: it.Rid, Raw: true},
			{Label: views.T(lang, "Track number"), Value: it.TrackNumber},
		},
	}
}

// statusText is an item status: its code, then its name where the name is
// known. The producers' codes are not published beyond the reference
// order's 202 (accepted), so any other code is shown as it is.
func statusText(code int64, lang string) string {
	n := strconv.FormatInt(code, 10)
	if code == 202 {
		return n + " " + views.T(lang, "Accepted")
	}
	return n
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

// money writes an amount in minor units as major units with thousands
// separators and the currency, using the currency's ISO 4217 exponent:
// 101817 USD is "1,018.17 USD" in English and "1 018,17 USD" in Russian.
// The space before the currency does not break, so the two stay on one line.
func money(minor int64, currency, lang string) string {
	sign := ""
	abs := uint64(minor)
	if minor < 0 {
		sign = "-"
		abs = uint64(-(minor + 1)) + 1 // -minor overflows for math.MinInt64
	}
	group, point := ",", "."
	if lang == views.LangRU {
		group, point = "\u202f", ","
	}
	exp := minorDigits(currency)
	scale := uint64(1)
	for range exp {
		scale *= 10
	}
	s := sign + grouped(abs/scale, group)
	if exp > 0 {
		s += fmt.Sprintf("%s%0*d", point, exp, abs%scale)
	}
	return s + "\u00a0" + currency
}

// grouped writes n with sep between groups of three digits.
func grouped(n uint64, sep string) string {
	digits := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(d)
	}
	return b.String()
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
