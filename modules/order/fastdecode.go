package order

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// fastDecode decodes the common message quickly: a well-formed order object
// whose fields have the expected JSON types, each known name spelt exactly
// and given once. Anything else (null, a number that is not a plain integer,
// an escaped key, a malformed date, a syntax error anywhere) makes it answer
// ok=false, and decode, the full decoder, gives the answer and any rejection
// reason. When it answers ok, the Order is the one decode would give: the
// differential fuzz test FuzzFastDecode holds it to that.
func fastDecode(raw []byte) (Order, bool) {
	var o Order
	if len(raw) > MaxMessageBytes || !utf8.Valid(raw) {
		return o, false
	}
	d := fastDecoder{data: bytes.TrimSpace(raw)}
	var date string
	ok := d.object(func(key []byte) bool {
		switch string(key) {
		case "order_uid":
			return d.str(&o.OrderUID)
		case "track_number":
			return d.str(&o.TrackNumber)
		case "entry":
			return d.str(&o.Entry)
		case "delivery":
			return d.delivery(&o.Delivery)
		case "payment":
			return d.payment(&o.Payment)
		case "items":
			return d.items(&o.Items)
		case "locale":
			return d.str(&o.Locale)
		case "internal_signature":
			return d.str(&o.InternalSignature)
		case "customer_id":
			return d.str(&o.CustomerID)
		case "delivery_service":
			return d.str(&o.DeliveryService)
		case "shardkey":
			return d.str(&o.ShardKey)
		case "sm_id":
			return d.int(&o.SmID)
		case "date_created":
			return d.str(&date)
		case "oof_shard":
			return d.str(&o.OofShard)
		}
		return d.unknown(key, orderShape)
	})
	if !ok || d.i != len(d.data) || date == "" {
		return o, false
	}
	t, err := time.Parse(time.RFC3339Nano, date)
	if err != nil {
		return o, false
	}
	o.DateCreated = t
	return o, true
}

// The shapes of the nested objects, for telling unknown keys from known
// names in another case.
var (
	deliveryShape = orderShape.child("delivery")
	paymentShape  = orderShape.child("payment")
	itemShape     = orderShape.child("items")
)

func (s *shape) child(name string) *shape {
	i, exact := s.lookup([]byte(name))
	if i < 0 || !exact || s.children[i] == nil {
		panic("order: no object field " + name)
	}
	return s.children[i]
}

type fastDecoder struct {
	data  []byte
	i     int
	depth int
}

func (d *fastDecoder) space() { d.i = skipSpace(d.data, d.i) }

// sequence reads open, then elements separated by commas, then close,
// calling elem for each element; elem starts at the element's first byte.
func (d *fastDecoder) sequence(open, close byte, elem func() bool) bool {
	d.space()
	if d.i >= len(d.data) || d.data[d.i] != open {
		return false
	}
	d.i++
	d.depth++
	for first := true; ; first = false {
		d.space()
		if d.i >= len(d.data) {
			return false
		}
		if d.data[d.i] == close {
			d.i++
			d.depth--
			return true
		}
		if !first {
			if d.data[d.i] != ',' {
				return false
			}
			d.i++
			d.space()
		}
		if !elem() {
			return false
		}
	}
}

// object reads {"key": value, ...}, calling field with each key, which must
// read the value. A key seen twice is refused.
func (d *fastDecoder) object(field func(key []byte) bool) bool {
	var seen [32][]byte // keys of this object so far; the structs have fewer fields
	n := 0
	return d.sequence('{', '}', func() bool {
		key, ok := d.rawString()
		if !ok || bytes.IndexByte(key, '\\') >= 0 || n == len(seen) {
			return false
		}
		for _, k := range seen[:n] {
			if bytes.Equal(k, key) {
				return false
			}
		}
		seen[n] = key
		n++
		d.space()
		if d.i >= len(d.data) || d.data[d.i] != ':' {
			return false
		}
		d.i++
		d.space()
		return field(key)
	})
}

// rawString reads a string token and returns its contents, still escaped.
func (d *fastDecoder) rawString() ([]byte, bool) {
	if d.i >= len(d.data) || d.data[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	for i := start; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.i = i + 1
			return d.data[start:i], true
		case c == '\\':
			i++
		case c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

func (d *fastDecoder) str(dst *string) bool {
	start := d.i
	s, ok := d.rawString()
	if !ok {
		return false
	}
	if bytes.IndexByte(s, '\\') < 0 {
		*dst = string(s)
		return true
	}
	// Escapes are rare: the standard decoder unquotes them, or refuses.
	return json.Unmarshal(d.data[start:d.i], dst) == nil
}

// int reads a plain integer: -?(0|[1-9][0-9]*), at most 18 digits so it
// cannot overflow.
func (d *fastDecoder) int(dst *int64) bool {
	i, neg := d.i, false
	if i < len(d.data) && d.data[i] == '-' {
		neg = true
		i++
	}
	start := i
	var n int64
	for i < len(d.data) && d.data[i] >= '0' && d.data[i] <= '9' {
		n = n*10 + int64(d.data[i]-'0')
		i++
	}
	digits := i - start
	if digits == 0 || digits > 18 || (digits > 1 && d.data[start] == '0') {
		return false
	}
	if i < len(d.data) {
		switch d.data[i] {
		case '.', 'e', 'E':
			return false
		}
	}
	if neg {
		n = -n
	}
	*dst = n
	d.i = i
	return true
}

// unknown skips the value of a field the order does not have, after making
// sure the key is not a known name in another case (which decode refuses).
func (d *fastDecoder) unknown(key []byte, sh *shape) bool {
	if idx, _ := sh.lookup(key); idx >= 0 {
		return false
	}
	start := d.i
	depth := d.depth
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case '"':
			if _, ok := d.rawString(); !ok {
				return false
			}
			continue
		case '{', '[':
			depth++
			if depth > MaxDepth {
				return false
			}
		case '}', ']':
			if depth == d.depth {
				return json.Valid(d.data[start:d.i])
			}
			depth--
		case ',':
			if depth == d.depth {
				return json.Valid(d.data[start:d.i])
			}
		}
		d.i++
	}
	return false
}

func (d *fastDecoder) delivery(v *Delivery) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "name":
			return d.str(&v.Name)
		case "phone":
			return d.str(&v.Phone)
		case "zip":
			return d.str(&v.Zip)
		case "city":
			return d.str(&v.City)
		case "address":
			return d.str(&v.Address)
		case "region":
			return d.str(&v.Region)
		case "email":
			return d.str(&v.Email)
		}
		return d.unknown(key, deliveryShape)
	})
}

func (d *fastDecoder) payment(v *Payment) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "transaction":
			return d.str(&v.Transaction)
		case "request_id":
			return d.str(&v.RequestID)
		case "currency":
			return d.str(&v.Currency)
		case "provider":
			return d.str(&v.Provider)
		case "amount":
			return d.int(&v.Amount)
		case "payment_dt":
			return d.int(&v.PaymentDt)
		case "bank":
			return d.str(&v.Bank)
		case "delivery_cost":
			return d.int(&v.DeliveryCost)
		case "goods_total":
			return d.int(&v.GoodsTotal)
		case "custom_fee":
			return d.int(&v.CustomFee)
		}
		return d.unknown(key, paymentShape)
	})
}

func (d *fastDecoder) items(dst *[]Item) bool {
	items := []Item{}
	ok := d.sequence('[', ']', func() bool {
		var it Item
		if !d.item(&it) {
			return false
		}
		items = append(items, it)
		return true
	})
	if ok {
		*dst = items
	}
	return ok
}

func (d *fastDecoder) item(v *Item) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "chrt_id":
			return d.int(&v.ChrtID)
		case "track_number":
			return d.str(&v.TrackNumber)
		case "price":
			return d.int(&v.Price)
		case "rid":
			return d.str(&v.Rid)
		case "name":
			return d.str(&v.Name)
		case "sale":
			return d.int(&v.Sale)
		case "size":
			return d.str(&v.Size)
		case "total_price":
			return d.int(&v.TotalPrice)
		case "nm_id":
			return d.int(&v.NmID)
		case "brand":
			return d.str(&v.Brand)
		case "status":
			return d.int(&v.Status)
		}
		return d.unknown(key, itemShape)
	})
}
