package order

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
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
// fields.
type Parsed struct {
	Order Order
	JSON  []byte
}

// Record is the parsed order in the form the cache and the store keep.
func (p Parsed) Record() Record {
	return Record{UID: p.Order.OrderUID, DateCreated: p.Order.DateCreated, JSON: p.JSON}
}

// Parse decodes one message and validates it. A *RejectError says why the
// message can never be stored; its Kind is KindDecode or KindValidation.
func Parse(raw []byte) (Parsed, error) {
	o, dateProblem, err := decode(raw)
	if err != nil {
		return Parsed{}, err
	}
	if verr := validate(&o, dateProblem); verr != nil {
		return Parsed{}, verr
	}
	canonical, err := json.Marshal(&o)
	if err != nil {
		return Parsed{}, reject(KindDecode, "", "cannot encode: %v", err)
	}
	return Parsed{Order: o, JSON: canonical}, nil
}

// Canonical re-encodes stored JSON into the canonical form Parse gives, so a
// record read back from the store is byte-for-byte what the cache holds.
func Canonical(stored []byte) (Record, error) {
	var o Order
	if err := json.Unmarshal(stored, &o); err != nil {
		return Record{}, fmt.Errorf("decode stored order: %w", err)
	}
	b, err := json.Marshal(&o)
	if err != nil {
		return Record{}, fmt.Errorf("encode stored order: %w", err)
	}
	return Record{UID: o.OrderUID, DateCreated: o.DateCreated, JSON: b}, nil
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
	trimmed := bytes.TrimSpace(raw)
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
		return o, nil, reject(KindDecode, "", "message is JSON %s, want an object", jsonKind(trimmed[0]))
	}

	type plain Order
	wire := struct {
		*plain
		DateCreated *string `json:"date_created"`
	}{plain: (*plain)(&o)}
	if err := json.Unmarshal(trimmed, &wire); err != nil {
		return o, nil, decodeError(err)
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
		return reject(KindDecode, field, "want %s, got %s", typeName(typ.Type), typ.Value)
	default:
		return reject(KindDecode, "", "message is not an order: %v", err)
	}
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int64, reflect.Int:
		return "an integer (minor units)"
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

func jsonKind(first byte) string {
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
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
