package order

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// fastSeeds are messages near the edges of what the fast path takes.
func fastSeeds(tb testing.TB) [][]byte {
	fixture, err := os.ReadFile("testdata/model.json")
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(fixture, &m); err != nil {
		tb.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var c map[string]any
		_ = json.Unmarshal(fixture, &c)
		f(c)
		b, _ := json.Marshal(c)
		return b
	}
	s := string(fixture)
	return [][]byte{
		fixture,
		[]byte(" \n" + s + "\t"),
		edit(func(m map[string]any) { m["extra"] = map[string]any{"a": []any{1, "x", nil, true}} }),
		edit(func(m map[string]any) { m["Order_UID"] = "x" }),
		edit(func(m map[string]any) { m["delivery"].(map[string]any)["name"] = "Иван \"Ваня\" Петров" }),
		edit(func(m map[string]any) { m["sm_id"] = 1.5 }),
		edit(func(m map[string]any) { m["sm_id"] = nil }),
		edit(func(m map[string]any) { m["items"] = []any{} }),
		edit(func(m map[string]any) { m["date_created"] = "not a date" }),
		[]byte(strings.Replace(s, `"sm_id": 99`, `"sm_id": -0`, 1)),
		[]byte(strings.Replace(s, `"sm_id": 99`, `"sm_id": 1e2`, 1)),
		[]byte(strings.Replace(s, `"sm_id": 99`, `"sm_id": 099`, 1)),
		[]byte(strings.Replace(s, `"locale": "en"`, `"locale": "\u0065n"`, 1)),
		[]byte(strings.Replace(s, `"entry": "WBIL"`, `"entry": "WBIL", "entry": "X"`, 1)),
		[]byte(s + "x"),
		[]byte(s[:len(s)/2]),
		[]byte(`{"order_uid":"a","extra":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`),
		[]byte(`{"extra": tru, "order_uid": "a"}`),
		[]byte(`{"items": [{"price": 1}, ]}`),
		canonicalFixture(tb, fixture),
		// Canonical but for strings that marshal writes escaped, or not.
		canonicalWith(tb, fixture, "<b>Tom & Jerry</b>"),
		canonicalWith(tb, fixture, "line\u2028para\u2029"),
		// Canonical but for a U+2028 written as it is, which marshal escapes.
		bytes.Replace(canonicalWith(tb, fixture, "line\u2028para"), []byte(`\u2028`), []byte("\u2028"), 1),
		canonicalWith(tb, fixture, `quote " and \ backslash`),
		canonicalWith(tb, fixture, "tab\tnew\nline\x00\x7f"),
		canonicalWith(tb, fixture, "Иван 🙂"),
	}
}

// canonicalWith is canonicalFixture with name as the delivery's name.
func canonicalWith(tb testing.TB, fixture []byte, name string) []byte {
	o, _, err := decode(fixture)
	if err != nil {
		tb.Fatal(err)
	}
	o.Delivery.Name = name
	b, err := marshal(o)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// canonicalFixture is the reference order as marshal writes it (and
// json.Marshal, the producer's, as it holds no < > &), which Parse keeps as
// it is.
func canonicalFixture(tb testing.TB, fixture []byte) []byte {
	o, _, err := decode(fixture)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := marshal(o)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzFastDecode holds the fast path to the full decoder: whatever it takes,
// the full decoder takes too, without a date problem, and makes the same
// Order; and a message it keeps as the canonical JSON is marshal's.
func FuzzFastDecode(f *testing.F) {
	for _, s := range fastSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, dateProblem, err := decode(raw)
		got, canon, ok := fastDecode(raw)
		if !ok {
			return
		}
		if err != nil || dateProblem != nil {
			t.Fatalf("fast path took what decode refuses (%v, %v): %q", err, dateProblem, raw)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fast path decoded\n%+v\ndecode gives\n%+v\nfor %q", got, want, raw)
		}
		if canon != nil {
			assertMarshalsTo(t, &got, canon)
		}
	})
}

// assertMarshalsTo fails unless canon is marshal's encoding of o.
func assertMarshalsTo(t *testing.T, o *Order, canon []byte) {
	t.Helper()
	if want, err := marshal(o); err != nil || string(canon) != string(want) {
		t.Fatalf("fast path took the message as canonical:\n%s\nmarshal gives\n%s (%v)", canon, want, err)
	}
}

// TestFastDecodeKnowsCanonicalMessages: a message that already is what
// marshal writes is kept as the order's JSON; one that differs in any byte
// is not, and Parse encodes it.
func TestFastDecodeKnowsCanonicalMessages(t *testing.T) {
	fixture, err := os.ReadFile("testdata/model.json")
	if err != nil {
		t.Fatal(err)
	}
	base := string(canonicalFixture(t, fixture))
	edit := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("the compact fixture has no %s", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	tests := []struct {
		name string
		give string
		want bool
	}{
		{"as marshal writes it", base, true},
		{"white space around it", " \n" + base + "\n", true},
		{"Cyrillic and emoji as they are", edit(`"name":"Test Testov"`, `"name":"Иван 🙂"`), true},
		{"nanoseconds", edit(`"2021-11-26T06:22:19Z"`, `"2021-11-26T06:22:19.123456789+03:00"`), true},
		{"a space after a colon", edit(`"entry":"WBIL"`, `"entry": "WBIL"`), false},
		{"two fields swapped", edit(`"locale":"en","internal_signature":""`, `"internal_signature":"","locale":"en"`), false},
		{"an unknown field", edit(`"entry":"WBIL"`, `"entry":"WBIL","extra":1`), false},
		{"a field left out", edit(`,"oof_shard":"1"`, ``), false},
		{"an item field left out", edit(`"rid":"ab4219087a764ae0btest",`, ``), false},
		{"-0", edit(`"sm_id":99`, `"sm_id":-0`), false},
		{"a zone written +00:00", edit(`"2021-11-26T06:22:19Z"`, `"2021-11-26T06:22:19+00:00"`), false},
		{"a fraction with a trailing zero", edit(`"2021-11-26T06:22:19Z"`, `"2021-11-26T06:22:19.50Z"`), false},
		{"< > & as they are", edit(`"name":"Test Testov"`, `"name":"<b>a&amp;b</b>"`), true},
		{"< escaped as json.Marshal writes it", edit(`"name":"Test Testov"`, `"name":"a\u003cb"`), false},
		{"U+2028 that marshal escapes", edit(`"name":"Test Testov"`, "\"name\":\"a\u2028b\""), false},
		{"an escape", edit(`"name":"Test Testov"`, `"name":"a\"b"`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, canon, ok := fastDecode([]byte(tt.give))
			if !ok {
				t.Fatalf("fast path refused %s", tt.give)
			}
			if (canon != nil) != tt.want {
				t.Fatalf("canonical = %v, want %v for %s", canon != nil, tt.want, tt.give)
			}
			if canon != nil {
				assertMarshalsTo(t, &got, canon)
			}
			p, err := DefaultRules().Parse([]byte(tt.give))
			if err != nil {
				t.Fatal(err)
			}
			assertMarshalsTo(t, &p.Order, p.JSON)
		})
	}
}

func TestFastDecodeTakesTheCommonOrder(t *testing.T) {
	seeds := fastSeeds(t)
	for i, want := range []bool{true, true, true, false, true, false, false, true, false} {
		if _, _, ok := fastDecode(seeds[i]); ok != want {
			t.Errorf("seed %d: fast path ok = %v, want %v", i, ok, want)
		}
	}
}
