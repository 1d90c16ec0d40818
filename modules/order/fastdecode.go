//go:build !abtest_libjson

package order

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"
)

// fastDecode decodes the common message quickly: a well-formed order object
// whose fields have the expected JSON types, each known name spelt exactly
// and given once. Anything else (null, a number that is not a plain integer,
// an escaped key, a malformed date, a syntax error anywhere) makes it answer
// ok=false, and decode, the full decoder, gives the answer and any rejection
// reason. When it answers ok, the Order is the one decode would give: the
// differential fuzz test FuzzFastDecode holds it to that.
//
// When the message already is the order's canonical JSON (what marshal
// writes for it; this service's producer sends json.Marshal's form, which is
// the same unless a string holds < > or &), canon is those bytes, and Parse
// need not encode the order again.
func fastDecode(raw []byte) (o Order, canon []byte, ok bool) {
	if len(raw) > MaxMessageBytes || !utf8.Valid(raw) {
		return o, nil, false
	}
	// One copy of the message backs every string of the order, in place of
	// a string allocated for each field; when the message is canonical, the
	// same bytes are its JSON. Nothing writes to them after this.
	buf := bytes.Clone(trimSpace(raw))
	d := fastDecoder{data: buf, text: unsafe.String(unsafe.SliceData(buf), len(buf)), canon: true}
	var date string
	ok = d.object(orderShape, func(key []byte) bool {
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
		return o, nil, false
	}
	t, err := time.Parse(time.RFC3339Nano, date)
	if err != nil {
		return o, nil, false
	}
	o.DateCreated = t
	if d.canon && marshalsAs(t, date) {
		return o, buf, true
	}
	// The cache keeps the uid; it must not hold the whole message too.
	o.OrderUID = strings.Clone(o.OrderUID)
	return o, nil, true
}

// marshalsAs reports whether date is how Time.MarshalJSON writes t, inside
// its quotes. MarshalJSON refuses a zone offset of a day or more, which the
// encoder then reports.
func marshalsAs(t time.Time, date string) bool {
	if _, offset := t.Zone(); offset <= -24*60*60 || offset >= 24*60*60 {
		return false
	}
	var b [64]byte
	return string(t.AppendFormat(b[:0], time.RFC3339Nano)) == date
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
	text  string // data as a string, sharing its bytes
	i     int
	depth int
	// canon stays true while data is what marshal writes for the order:
	// no white space, every field in declaration order and no other,
	// strings written as marshal writes them, integers without "-0".
	canon bool
}

func (d *fastDecoder) space() {
	if j := skipSpace(d.data, d.i); j != d.i {
		d.i = j
		d.canon = false
	}
}

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
// read the value. A known name given twice is refused, as decode refuses it;
// unknown names are skipped whatever they repeat. Keys in sh's order, each
// once, keep the object canonical.
func (d *fastDecoder) object(sh *shape, field func(key []byte) bool) bool {
	var seen uint64 // bit i: sh.names[i] was given; no struct has 64 fields
	next := 0       // the index in sh.names of the key canonical order wants
	ok := d.sequence('{', '}', func() bool {
		key, flags, ok := d.rawString()
		if !ok || flags&escaped != 0 {
			return false
		}
		if next < len(sh.names) && seen == 1<<next-1 && string(key) == string(sh.names[next]) {
			seen |= 1 << next
			next++
		} else {
			d.canon = false
			if i, exact := sh.lookup(key); exact {
				if seen&(1<<i) != 0 {
					return false
				}
				seen |= 1 << i
			}
		}
		d.space()
		if d.i >= len(d.data) || d.data[d.i] != ':' {
			return false
		}
		d.i++
		d.space()
		return field(key)
	})
	if next != len(sh.names) {
		d.canon = false
	}
	return ok
}

// What a string token holds besides plain characters.
const (
	escaped = 1 << iota // a backslash escape
	marked              // U+2028 or U+2029, which marshal writes escaped
)

// Classes of bytes inside a string token; 0 is a plain byte.
const (
	plainByte = iota
	quoteByte
	backslashByte
	controlByte // below 0x20: only escaped
	markedByte  // 0xE2, the first byte of U+2028 and U+2029
)

// stringBytes classifies every byte value, so that the scan of a string
// reads one table entry a byte. It is built once and only read.
var stringBytes = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = controlByte
	}
	t['"'], t['\\'] = quoteByte, backslashByte
	t[0xE2] = markedByte
	return t
}()

// rawString reads a string token and returns its contents, still escaped,
// and what they hold (escaped, marked).
func (d *fastDecoder) rawString() (s []byte, flags uint8, ok bool) {
	if d.i >= len(d.data) || d.data[d.i] != '"' {
		return nil, 0, false
	}
	start := d.i + 1
	for i := start; i < len(d.data); i++ {
		for i < len(d.data) && stringBytes[d.data[i]] == plainByte {
			i++
		}
		if i == len(d.data) {
			break
		}
		switch c := d.data[i]; stringBytes[c] {
		case quoteByte:
			d.i = i + 1
			return d.data[start:i], flags, true
		case backslashByte:
			flags |= escaped
			i++
		case controlByte:
			return nil, 0, false
		case markedByte: // the data is valid UTF-8, so 0xE2 0x80 0xA8 is U+2028
			if i+2 < len(d.data) && d.data[i+1] == 0x80 && d.data[i+2]&^1 == 0xA8 {
				flags |= marked
			}
		}
	}
	return nil, 0, false
}

func (d *fastDecoder) str(dst *string) bool {
	start := d.i
	_, flags, ok := d.rawString()
	if !ok {
		return false
	}
	if flags != 0 {
		d.canon = false // marshal would write it otherwise, or might
	}
	if flags&escaped == 0 {
		*dst = d.text[start+1 : d.i-1]
		return true
	}
	s, ok := unquote(d.data[start:d.i])
	*dst = s
	return ok
}

// unquote decodes a string token with escapes. They are rare: the standard
// decoder unquotes them, or refuses. (Given dst itself, it would make every
// field str fills escape to the heap.)
func unquote(token []byte) (string, bool) {
	var s string
	err := json.Unmarshal(token, &s)
	return s, err == nil
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
		if n == 0 {
			d.canon = false // marshal writes 0
		}
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
	d.canon = false
	start := d.i
	depth := d.depth
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case '"':
			if _, _, ok := d.rawString(); !ok {
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
	return d.object(deliveryShape, func(key []byte) bool {
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
	return d.object(paymentShape, func(key []byte) bool {
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
	// Orders carry a few items: the first ones are read into an array on
	// the stack, and all are copied out once, at their final length.
	var few [8]Item
	var more []Item
	n := 0
	ok := d.sequence('[', ']', func() bool {
		n++
		if n <= len(few) {
			return d.item(&few[n-1])
		}
		more = append(more, Item{})
		return d.item(&more[len(more)-1])
	})
	if ok {
		items := make([]Item, n)
		copy(items, few[:min(n, len(few))])
		copy(items[min(n, len(few)):], more)
		*dst = items
	}
	return ok
}

func (d *fastDecoder) item(v *Item) bool {
	return d.object(itemShape, func(key []byte) bool {
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
