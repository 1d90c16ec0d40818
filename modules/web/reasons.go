package web

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/marketplace/orders/views"
)

// A DLQ reason (x-error) is written by the consumer in English: problems
// joined by "; ", each "<field path>: <message>" or a message alone, in the
// words of modules/order. A page shows it in its own language, field paths
// and the values quoted set apart as code; a message this table does not
// know is shown as it was written.

// fieldPath is a JSON path as order names fields: items[0].total_price.
var fieldPath = regexp.MustCompile(`^(?:[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?)*|\(root\))$`)

// reasonRule words one message of modules/order in Russian: the groups of
// its pattern are values (code), except those listed in words, which are
// looked up in reasonWords and shown as words.
type reasonRule struct {
	pattern *regexp.Regexp
	ru      string // a views.Spans format over the groups, %[1]s and on
	words   []int  // groups that are words, not values
}

func rule(pattern, ru string, words ...int) reasonRule {
	return reasonRule{pattern: regexp.MustCompile("^" + pattern + "$"), ru: ru, words: words}
}

const (
	num    = `(-?\d+)`
	quoted = `(".*")`
)

var reasonRules = []reasonRule{
	// validation (modules/order/validate.go)
	rule(`is required`, "обязательно, но не заполнено"),
	rule(`is `+num+` characters, more than `+num, "%[1]s символов — больше допустимых %[2]s"),
	rule(`contains a control character`, "содержит управляющий символ"),
	rule(`must not be negative, got `+num, "не может быть отрицательным, а здесь %[1]s"),
	rule(`is `+num+`, more than `+num, "%[1]s — больше допустимых %[2]s"),
	rule(quoted+` must be 1 to `+num+` of A-Z a-z 0-9 _ -`,
		"%[1]s — не идентификатор: нужно от 1 до %[2]s латинских букв, цифр, знаков «_» и «-»"),
	rule(`is the zero time`, "нулевое время"),
	rule(`is (.+), more than (.+) ahead of the service's clock \((.+)\)`,
		"%[1]s — больше чем на %[2]s впереди часов сервиса (%[3]s)"),
	rule(quoted+` must be 3 upper-case letters \(ISO 4217\)`, "%[1]s — нужно три заглавные латинские буквы (ISO 4217)"),
	rule(`must have at least one item`, "нужен хотя бы один товар"),
	rule(`has `+num+` items, more than `+num, "%[1]s товаров — больше допустимых %[2]s"),
	rule(`must be 0 to 100, got `+num, "должно быть от 0 до 100, а здесь %[1]s"),
	rule(`is `+num+`, want `+num+` or `+num+` = price `+num+` × \(100 − sale `+num+`\) / 100 rounded down or up`,
		"%[1]s, а должно быть %[2]s или %[3]s = `price` %[4]s × (100 − `sale` %[5]s) / 100 с округлением вниз или вверх"),
	rule(`is `+num+`, want `+num+` = price `+num+` × \(100 − sale `+num+`\) / 100 rounded down or up`,
		"%[1]s, а должно быть %[2]s = `price` %[3]s × (100 − `sale` %[4]s) / 100 с округлением вниз или вверх"),
	rule(`is `+num+`, want `+num+` = the sum of items' total_price`, "%[1]s, а должно быть %[2]s — сумма `total_price` товаров"),
	rule(`is `+num+`, want `+num+` = goods_total \+ delivery_cost \+ custom_fee`,
		"%[1]s, а должно быть %[2]s = `goods_total` + `delivery_cost` + `custom_fee`"),
	rule(`and `+num+` more problems`, "и ещё проблем: %[1]s"),
	// decode (modules/order/decode.go)
	rule(`message is `+num+` bytes, more than the `+num+` allowed`, "сообщение занимает %[1]s байт — больше допустимых %[2]s"),
	rule(`message is not valid UTF-8`, "сообщение — не текст в UTF-8"),
	rule(`message is empty, want a JSON object`, "сообщение пустое, а нужен объект JSON"),
	rule(`JSON nesting is deeper than `+num+` levels`, "вложенность JSON глубже %[1]s уровней"),
	rule(`message is not JSON`, "сообщение — не JSON"),
	rule(`message is JSON (\w+), want an object`, "сообщение — %[1]s JSON, а нужен объект", 1),
	rule(`message is not JSON: invalid character ('.+?'|'\\'') .* at byte `+num, "сообщение — не JSON: недопустимый символ %[1]s в байте %[2]s"),
	rule(`message is not JSON: unexpected end of JSON input at byte `+num, "сообщение — не JSON: оно обрывается в байте %[1]s"),
	rule(`message is not JSON: .* at byte `+num, "сообщение — не JSON: ошибка в байте %[1]s"),
	rule(`message is not an order: .*`, "сообщение — не заказ"),
	rule(`cannot encode: .*`, "заказ не удалось закодировать"),
	rule(`want (an integer(?: \([^)]*\))?|a string|an array|an object|a boolean), got (\w+)`,
		"ожидается %[1]s, а в сообщении — %[2]s", 1, 2),
	rule(`want (an integer(?: \([^)]*\))?|a string|an array|an object|a boolean), got (\w+) (.+)`,
		"ожидается %[1]s, а в сообщении — %[2]s %[3]s", 1, 2),
	rule(quoted+` is not an RFC 3339 time`, "%[1]s — не время в формате RFC 3339"),
	rule(`key `+quoted+` differs from the field name only in case \(names are case-sensitive\)`,
		"ключ %[1]s отличается от имени поля только регистром букв (а регистр важен)"),
	// conflict (modules/kafka/consumer.go)
	rule(`a different order is already stored under `+quoted, "под %[1]s уже хранится другой заказ"),
}

// reasonWords are the words inside messages: JSON kinds and Go's types as
// modules/order names them.
var reasonWords = map[string]string{
	"array": "массив", "string": "строка", "null": "null", "boolean": "логическое значение", "bool": "логическое значение",
	"number": "число", "object": "объект",
	"an integer (minor units)":                     "целое число (в минимальных единицах валюты)",
	"an integer (a Unix time in seconds)":          "целое число (время Unix в секундах)",
	"an integer (an id)":                           "целое число (идентификатор)",
	"an integer (a discount in percent, 0 to 100)": "целое число (скидка в процентах, от 0 до 100)",
	"an integer (a status code)":                   "целое число (код статуса)",
	"an integer":                                   "целое число",
	"a string":                                     "строка",
	"an array":                                     "массив",
	"an object":                                    "объект",
	"a boolean":                                    "логическое значение",
}

// reasonText is a DLQ reason for a page in lang.
func reasonText(reason, lang string) views.Text {
	var out views.Text
	for i, problem := range strings.Split(reason, "; ") {
		if i > 0 {
			out = append(out, views.Span{S: "; "})
		}
		field, message, ok := strings.Cut(problem, ": ")
		if !ok || !fieldPath.MatchString(field) {
			field, message = "", problem
		}
		if field != "" {
			out = append(out, views.Span{S: field, Code: true}, views.Span{S: ": "})
		}
		out = append(out, messageText(message, lang)...)
	}
	return out
}

func messageText(message, lang string) views.Text {
	if lang != views.LangRU {
		return views.Plain(message)
	}
	for _, r := range reasonRules {
		m := r.pattern.FindStringSubmatch(message)
		if m == nil {
			continue
		}
		args := make([]any, len(m)-1)
		for i, g := range m[1:] {
			args[i] = g
			for _, w := range r.words {
				if w == i+1 {
					if ru, ok := reasonWords[g]; ok {
						g = ru
					}
					args[i] = views.Plain(g)
				}
			}
		}
		return views.Spans(r.ru, args...)
	}
	return views.Plain(message)
}

// maxPrettyShown bounds a pretty-printed body, written out: indenting a
// clipped body of brackets could otherwise make it ever so long.
const maxPrettyShown = 6 << 10

// prettyBody lays a message body out for reading: JSON indented, even when
// clipped mid-value; anything else as it is. The result is at most
// maxPrettyShown written out.
func prettyBody(body string) (string, bool) {
	trimmed := strings.TrimSpace(body)
	if trimmed == "" || (trimmed[0] != '{' && trimmed[0] != '[') {
		return clipShown([]byte(body), maxPrettyShown)
	}
	var b bytes.Buffer
	if json.Indent(&b, []byte(trimmed), "", "  ") != nil {
		b.Reset()
		indentLoose(&b, trimmed)
	}
	return clipShown(b.Bytes(), maxPrettyShown)
}

// indentLoose indents JSON that may be cut short or broken: a newline after
// each opening bracket and comma and before each closing one, outside
// strings. Nesting past a dozen levels is not indented further.
func indentLoose(b *bytes.Buffer, s string) {
	depth, inString, escaped := 0, false, false
	newline := func() {
		b.WriteByte('\n')
		b.WriteString(strings.Repeat("  ", min(max(depth, 0), 12)))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			b.WriteByte(c)
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
			b.WriteByte(c)
		case '{', '[':
			b.WriteByte(c)
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			b.WriteByte(c)
		case ',':
			b.WriteByte(c)
			newline()
		case ':':
			b.WriteString(": ")
		case ' ', '\t', '\n', '\r':
		default:
			b.WriteByte(c)
		}
	}
}
