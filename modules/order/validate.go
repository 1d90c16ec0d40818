package order

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Bounds on values. Amounts are minor units; MaxAmount keeps every sum the
// rules compute far inside int64.
const (
	MaxAmount    = 1_000_000_000_000_000 // 10^15 minor units
	MaxItems     = 1000
	maxShortText = 255
	maxLongText  = 1024
)

// Rules are the validation settings that producers differ on; the rest of
// the rules hold for every producer.
type Rules struct {
	// Totals checks the three sums: item total_price, goods_total and amount.
	// Producers that do not keep them turn it off.
	Totals bool
	// MaxFuture is how far ahead of Now date_created may be: the cache keeps
	// the newest orders, so a far-future order would hold a slot for ever.
	MaxFuture time.Duration
	// Now is the service's clock; nil means time.Now.
	Now func() time.Time
}

// DefaultRules are the contract's defaults: sums checked, an hour of clock skew.
func DefaultRules() Rules { return Rules{Totals: true, MaxFuture: time.Hour} }

func (r Rules) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// maxProblems is how many problems a rejection lists. The reason travels as
// a header next to a message of up to 1 MiB; an order of thousands of broken
// items would otherwise make it megabytes, too large for the DLQ topic.
const maxProblems = 20

type checker struct {
	problems []FieldError
	more     int // problems past maxProblems, counted only
	item     int // the item being checked, or -1: its fields are items[item].name
}

// path is a field's JSON path. Item fields are named only when a problem is
// found, so a valid order costs no formatting.
func (c *checker) path(field string) string {
	if c.item < 0 {
		return field
	}
	return "items[" + strconv.Itoa(c.item) + "]." + field
}

func (c *checker) add(field, format string, args ...any) {
	if len(c.problems) >= maxProblems {
		c.more++
		return
	}
	c.problems = append(c.problems, FieldError{Field: c.path(field), Message: fmt.Sprintf(format, args...)})
}

func (c *checker) text(field, v string, required bool, max int) {
	switch {
	case required && v == "":
		c.add(field, "is required")
	case len(v) <= max && printableASCII(v):
		// Most text: short enough and no control character, settled
		// without decoding runes.
	case utf8.RuneCountInString(v) > max:
		c.add(field, "is %d characters, more than %d", utf8.RuneCountInString(v), max)
	case strings.ContainsFunc(v, unicode.IsControl):
		// PostgreSQL cannot store NUL in text; no field needs control characters.
		c.add(field, "contains a control character")
	}
}

func (c *checker) amount(field string, v int64) bool {
	switch {
	case v < 0:
		c.add(field, "must not be negative, got %d", v)
	case v > MaxAmount:
		c.add(field, "is %d, more than %d", v, int64(MaxAmount))
	default:
		return true
	}
	return false
}

func validate(o *Order, dateProblem *FieldError, rules Rules) *RejectError {
	c := checker{item: -1}
	c.header(o, dateProblem, rules)
	c.delivery(&o.Delivery)
	money := c.payment(&o.Payment)
	sum, itemsOK := c.items(o.Items, rules)
	if rules.Totals {
		c.totals(&o.Payment, money, sum, itemsOK)
	}
	if len(c.problems) == 0 {
		return nil
	}
	if c.more > 0 {
		c.problems = append(c.problems, FieldError{Message: fmt.Sprintf("and %d more problems", c.more)})
	}
	return &RejectError{Kind: KindValidation, Problems: c.problems}
}

// header checks the order's own fields.
func (c *checker) header(o *Order, dateProblem *FieldError, rules Rules) {
	switch {
	case o.OrderUID == "":
		c.add("order_uid", "is required")
	case !ValidUID(o.OrderUID):
		c.add("order_uid", "%q must be 1 to %d of A-Z a-z 0-9 _ -", clip(o.OrderUID), MaxUIDLen)
	}
	c.text("track_number", o.TrackNumber, true, maxShortText)
	c.text("entry", o.Entry, true, maxShortText)
	c.text("locale", o.Locale, false, maxShortText)
	c.text("internal_signature", o.InternalSignature, false, maxShortText)
	c.text("customer_id", o.CustomerID, false, maxShortText)
	c.text("delivery_service", o.DeliveryService, false, maxShortText)
	c.text("shardkey", o.ShardKey, false, maxShortText)
	c.text("oof_shard", o.OofShard, false, maxShortText)
	c.amount("sm_id", o.SmID)
	switch {
	case dateProblem != nil:
		c.problems = append(c.problems, *dateProblem)
	case o.DateCreated.IsZero():
		c.add("date_created", "is the zero time")
	case o.DateCreated.After(rules.now().Add(rules.MaxFuture)):
		c.add("date_created", "is %s, more than %s ahead of the service's clock (%s)",
			o.DateCreated.UTC().Format(time.RFC3339), rules.MaxFuture, rules.now().UTC().Format(time.RFC3339))
	}
}

func (c *checker) delivery(d *Delivery) {
	c.text("delivery.name", d.Name, true, maxShortText)
	c.text("delivery.phone", d.Phone, true, maxShortText)
	c.text("delivery.zip", d.Zip, false, maxShortText)
	c.text("delivery.city", d.City, true, maxShortText)
	c.text("delivery.address", d.Address, true, maxLongText)
	c.text("delivery.region", d.Region, false, maxShortText)
	c.text("delivery.email", d.Email, false, maxShortText)
}

// sane says which of the payment's sums are valid amounts, so the totals
// compare only those.
type sane struct{ amount, cost, goods, fee bool }

func (c *checker) payment(p *Payment) sane {
	// The payment provider's id: any text, equal to the uid or not.
	c.text("payment.transaction", p.Transaction, true, maxShortText)
	c.text("payment.request_id", p.RequestID, false, maxShortText)
	if !isCurrency(p.Currency) {
		if p.Currency == "" {
			c.add("payment.currency", "is required")
		} else {
			c.add("payment.currency", "%q must be 3 upper-case letters (ISO 4217)", clip(p.Currency))
		}
	}
	c.text("payment.provider", p.Provider, true, maxShortText)
	c.text("payment.bank", p.Bank, false, maxShortText)
	c.amount("payment.payment_dt", p.PaymentDt)
	return sane{
		amount: c.amount("payment.amount", p.Amount),
		cost:   c.amount("payment.delivery_cost", p.DeliveryCost),
		goods:  c.amount("payment.goods_total", p.GoodsTotal),
		fee:    c.amount("payment.custom_fee", p.CustomFee),
	}
}

// items checks each item and returns the sum of their total prices and
// whether it can be compared with goods_total.
func (c *checker) items(items []Item, rules Rules) (sum int64, ok bool) {
	switch {
	case len(items) == 0:
		c.add("items", "must have at least one item")
	case len(items) > MaxItems:
		c.add("items", "has %d items, more than %d", len(items), MaxItems)
	}
	ok = len(items) > 0 && len(items) <= MaxItems
	for i := range items {
		c.item = i
		if !c.itemOK(&items[i], rules) {
			ok = false
		}
		sum += items[i].TotalPrice
	}
	c.item = -1
	return sum, ok
}

// itemOK checks one item and reports whether its total_price is a valid amount.
func (c *checker) itemOK(it *Item, rules Rules) bool {
	c.amount("chrt_id", it.ChrtID)
	c.amount("nm_id", it.NmID)
	c.amount("status", it.Status)
	c.text("track_number", it.TrackNumber, false, maxShortText)
	c.text("rid", it.Rid, false, maxShortText)
	c.text("name", it.Name, true, maxShortText)
	c.text("size", it.Size, false, maxShortText)
	c.text("brand", it.Brand, false, maxShortText)
	priceOK := c.amount("price", it.Price)
	totalOK := c.amount("total_price", it.TotalPrice)
	saleOK := it.Sale >= 0 && it.Sale <= 100
	if !saleOK {
		c.add("sale", "must be 0 to 100, got %d", it.Sale)
	}
	if rules.Totals && priceOK && saleOK && totalOK {
		// Producers round the discounted price down or up; both are right.
		exact := it.Price * (100 - it.Sale)
		down, up := exact/100, (exact+99)/100
		if it.TotalPrice != down && it.TotalPrice != up {
			want := fmt.Sprint(down)
			if up != down {
				want = fmt.Sprintf("%d or %d", down, up)
			}
			c.add("total_price", "is %d, want %s = price %d × (100 − sale %d) / 100 rounded down or up", it.TotalPrice, want, it.Price, it.Sale)
		}
	}
	return totalOK
}

// totals checks goods_total and amount against what they sum.
func (c *checker) totals(p *Payment, ok sane, itemsSum int64, itemsOK bool) {
	if itemsOK && ok.goods && p.GoodsTotal != itemsSum {
		c.add("payment.goods_total", "is %d, want %d = the sum of items' total_price", p.GoodsTotal, itemsSum)
	}
	if ok.amount && ok.goods && ok.cost && ok.fee {
		if want := p.GoodsTotal + p.DeliveryCost + p.CustomFee; p.Amount != want {
			c.add("payment.amount", "is %d, want %d = goods_total + delivery_cost + custom_fee", p.Amount, want)
		}
	}
}

// printableASCII reports whether s holds only the characters from space to ~.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
