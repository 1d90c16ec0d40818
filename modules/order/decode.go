package order

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on a message before it is decoded.
const (
	MaxMessageBytes = 1 << 20
	MaxDepth        = 64
)

// Parsed is an order that decoded and passed validation, with its canonical
// JSON: the known fields only, in a fixed order, so two messages carrying the
// same order have equal JSON whatever their key order, whitespace or unknown
// fields. JSON may share its bytes with the Order's strings: it is read,
// never written.
type Parsed struct {
	Order Order
	JSON  []byte
}

// Record is the parsed order in the form the cache and the store keep.
func (p Parsed) Record() Record {
	return Record{UID: p.Order.OrderUID, DateCreated: p.Order.DateCreated, JSON: p.JSON}
}

// Parse decodes one message and validates it by r. A *RejectError says why
// the message can never be stored; its Kind is KindDecode or KindValidation.
func (r Rules) Parse(raw []byte) (Parsed, error) {
	o, encoded, ok := fastDecode(raw)
	var dateProblem *FieldError
	if !ok {
		var err error
		if o, dateProblem, err = decode(raw); err != nil {
			return Parsed{}, err
		}
	}
	if verr := validate(&o, dateProblem, r); verr != nil {
		return Parsed{}, verr
	}
	if encoded == nil {
		var err error
		if encoded, err = marshal(&o); err != nil {
			return Parsed{}, reject(KindDecode, "", "cannot encode: %v", err)
		}
	}
	return Parsed{Order: o, JSON: encoded}, nil
}

// Decode reads an order the service stored (its canonical JSON, or jsonb's
// rendering of it) back into an Order, for pages that show its fields.
func Decode(stored []byte) (Order, error) {
	if o, _, ok := fastDecode(stored); ok {
		return o, nil
	}
	var o Order
	if err := json.Unmarshal(stored, &o); err != nil {
		return Order{}, fmt.Errorf("decode stored order: %w", err)
	}
	return o, nil
}

// marshal writes an order's canonical JSON: json.Marshal's form (fields in
// declaration order, no white space) without HTML escaping, so a stored
// order keeps < > & as they are (escaped, a message of them grew five times
// over). Pages escape what they show; the API serves the JSON as
// application/json.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil // Encode ends each value with one
}

// decode turns bytes into an Order. date_created is taken as a string so that a
// malformed time is reported as a validation problem naming the field rather
// than as an anonymous parse error.
func decode(raw []byte) (Order, *FieldError, error) {
	var o Order
	if len(raw) > MaxMessageBytes {
		return o, nil, reject(KindDecode, "", "message is %d bytes, more than the %d allowed", len(raw), MaxMessageBytes)
	}
	if !utf8.Valid(raw) {
		return o, nil, reject(KindDecode, "", "message is not valid UTF-8")
	}
	trimmed := trimSpace(raw)
	if len(trimmed) == 0 {
		return o, nil, reject(KindDecode, "", "message is empty, want a JSON object")
	}
	if d := depth(trimmed); d > MaxDepth {
		return o, nil, reject(KindDecode, "", "JSON nesting is deeper than %d levels", MaxDepth)
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return o, nil, reject(KindDecode, "", "message is not JSON")
		}
		return o, nil, reject(KindDecode, "", "message is JSON %s, want an object", JSONKind(trimmed[0]))
	}

	type plain Order
	wire := struct {
		*plain
		DateCreated *string `json:"date_created"`
	}{plain: (*plain)(&o)}
	if err := json.Unmarshal(trimmed, &wire); err != nil {
		return o, nil, decodeError(err)
	}
	if fe := checkNames(trimmed); fe != nil {
		return o, nil, &RejectError{Kind: KindDecode, Problems: []FieldError{*fe}}
	}
	if wire.DateCreated == nil || *wire.DateCreated == "" {
		return o, &FieldError{Field: "date_created", Message: "is required"}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *wire.DateCreated)
	if err != nil {
		return o, &FieldError{Field: "date_created", Message: fmt.Sprintf("%q is not an RFC 3339 time", clip(*wire.DateCreated))}, nil
	}
	o.DateCreated = t
	return o, nil, nil
}

func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return reject(KindDecode, "", "message is not JSON: %v at byte %d", syntax, syntax.Offset)
	case errors.As(err, &typ):
		// The embedded decode alias shows up as the first path element.
		field := strings.TrimPrefix(strings.TrimPrefix(typ.Field, "plain"), ".")
		if field == "" {
			field = "(root)"
		}
		// Value holds the literal for a number, which may be any length.
		return reject(KindDecode, field, "want %s, got %s", typeName(typ.Type, field), clip(typ.Value))
	default:
		return reject(KindDecode, "", "message is not an order: %v", err)
	}
}

// integers says what each integer field holds, so a reason names it.
var integers = map[string]string{
	"sm_id":                 "an integer (an id)",
	"payment.amount":        "an integer (minor units)",
	"payment.payment_dt":    "an integer (a Unix time in seconds)",
	"payment.delivery_cost": "an integer (minor units)",
	"payment.goods_total":   "an integer (minor units)",
	"payment.custom_fee":    "an integer (minor units)",
	"items.chrt_id":         "an integer (an id)",
	"items.price":           "an integer (minor units)",
	"items.sale":            "an integer (a discount in percent, 0 to 100)",
	"items.total_price":     "an integer (minor units)",
	"items.nm_id":           "an integer (an id)",
	"items.status":          "an integer (a status code)",
}

func typeName(t reflect.Type, field string) string {
	switch t.Kind() {
	case reflect.Int64, reflect.Int:
		if what, ok := integers[field]; ok {
			return what
		}
		return "an integer"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array"
	case reflect.Struct:
		return "an object"
	default:
		return t.String()
	}
}

// JSONKind names the kind of JSON value that starts with the byte first.
func JSONKind(first byte) string {
	switch first {
	case '[':
		return "array"
	case '"':
		return "string"
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	default:
		return "number"
	}
}

// depth returns the deepest nesting of arrays and objects in data, counting
// only brackets outside strings. It stops counting once past MaxDepth.
func depth(data []byte) int {
	deepest, cur := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			cur++
			if cur > deepest {
				deepest = cur
				if deepest > MaxDepth {
					return deepest
				}
			}
		case '}', ']':
			cur--
		}
	}
	return deepest
}

// clip keeps an echoed value short enough for a header or a log line.
func clip(s string) string { return Clip(s, 64) }

// Clip cuts s to at most max bytes, on a character boundary, marking the cut
// with an ellipsis: error texts quote what they reject, and a 10 KiB value
// should not come back whole.
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Field names are matched exactly and once. encoding/json alone would fill
// order_uid from "ORDER_UID" (or "ſhardkey" into shardkey: it folds case the
// Unicode way) and, given a name twice, keep the last value. The contract
// compares orders as JSON values, where "ORDER_UID" is an unknown field and a
// repeated name is ambiguous: other readers of the topic (PostgreSQL keeps the
// last, some parsers the first) could see another order than the one stored.
// So a known field spelt in another case, or given twice in one object, is a
// decode rejection naming the field. Unknown fields are not looked into.

// shape is the field names of one struct the decoder fills, and the shapes of
// those fields that hold objects or arrays of objects.
type shape struct {
	names    [][]byte
	children []*shape // by index of names; nil for a field holding no object
}

// orderShape is built once from the json tags and only read.
var orderShape = shapeOf(reflect.TypeFor[Order]())

func shapeOf(t reflect.Type) *shape {
	s := &shape{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		var child *shape
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
			child = shapeOf(ft)
		}
		s.names = append(s.names, []byte(name))
		s.children = append(s.children, child)
	}
	return s
}

// lookup returns the index of the field key names, and whether it is spelt
// exactly so; -1 when key is an unknown field.
func (s *shape) lookup(key []byte) (int, bool) {
	for i, n := range s.names {
		if string(key) == string(n) {
			return i, true
		}
	}
	for i, n := range s.names {
		if bytes.EqualFold(key, n) {
			return i, false
		}
	}
	return -1, false
}

// checkNames reports the first known field spelt in another case or repeated
// in data, a JSON object json.Unmarshal has accepted.
func checkNames(data []byte) *FieldError {
	s := nameScanner{data: data}
	return s.value(orderShape)
}

// nameScanner walks JSON already known to be valid, so it reports no syntax.
type nameScanner struct {
	data []byte
	i    int
}

// value checks the value at s.i against sh and moves past it; a nil sh (a
// plain or unknown field) is skipped unread.
func (s *nameScanner) value(sh *shape) *FieldError {
	s.space()
	if sh == nil || s.i >= len(s.data) {
		s.skip()
		return nil
	}
	switch s.data[s.i] {
	case '{':
		return s.object(sh)
	case '[':
		s.i++
		for n := 0; ; n++ {
			s.space()
			if s.i >= len(s.data) || s.data[s.i] == ']' {
				s.i++
				return nil
			}
			if fe := s.value(sh); fe != nil {
				fe.Field = "[" + strconv.Itoa(n) + "]" + dotted(fe.Field)
				return fe
			}
			s.space()
			if s.i < len(s.data) && s.data[s.i] == ',' {
				s.i++
			}
		}
	default:
		s.skip()
		return nil
	}
}

func (s *nameScanner) object(sh *shape) *FieldError {
	s.i++           // {
	var seen uint64 // by field index; the structs have fewer than 64 fields
	for {
		s.space()
		if s.i >= len(s.data) {
			return nil
		}
		switch s.data[s.i] {
		case '}':
			s.i++
			return nil
		case ',':
			s.i++
			continue
		}
		key := s.key()
		s.space()
		s.i++ // :
		var child *shape
		switch idx, exact := sh.lookup(key); {
		case idx < 0:
		case !exact:
			return &FieldError{Field: string(sh.names[idx]),
				Message: fmt.Sprintf("key %q differs from the field name only in case (names are case-sensitive)", clip(string(key)))}
		case seen&(1<<idx) != 0:
			return &FieldError{Field: string(key), Message: "appears twice in one object"}
		default:
			seen |= 1 << idx
			child = sh.children[idx]
		}
		if fe := s.value(child); fe != nil {
			fe.Field = string(key) + dotted(fe.Field)
			return fe
		}
	}
}

// key reads the string at s.i, unescaped.
func (s *nameScanner) key() []byte {
	start := s.i
	s.endString()
	raw := s.data[start:min(s.i, len(s.data))]
	if bytes.IndexByte(raw, '\\') < 0 {
		return bytes.Trim(raw, `"`)
	}
	var k string
	_ = json.Unmarshal(raw, &k) // the decoder has accepted it already
	return []byte(k)
}

// endString moves past the string starting at s.i.
func (s *nameScanner) endString() {
	for s.i++; s.i < len(s.data); s.i++ {
		switch s.data[s.i] {
		case '\\':
			s.i++
		case '"':
			s.i++
			return
		}
	}
}

// skip moves to the comma or closing bracket that ends the value at s.i.
func (s *nameScanner) skip() {
	depth := 0
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case '"':
			s.endString()
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return
			}
			depth--
		case ',':
			if depth == 0 {
				return
			}
		}
		s.i++
	}
}

func (s *nameScanner) space() { s.i = skipSpace(s.data, s.i) }

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// jsonSpace is JSON's white space; Unicode's other spaces (U+00A0, U+3000,
// \v) are not JSON, as json.Valid says.
const jsonSpace = " \t\n\r"

// trimSpace drops the JSON white space around a message.
func trimSpace(raw []byte) []byte { return bytes.Trim(raw, jsonSpace) }

// dotted joins a child's path to its parent's name.
func dotted(field string) string {
	if field == "" || field[0] == '[' {
		return field
	}
	return "." + field
}
