package order

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
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
	}
}

// FuzzFastDecode holds the fast path to the full decoder: whatever it takes,
// the full decoder takes too, without a date problem, and makes the same Order.
// It also holds the canonical encoder to json.Marshal on every order decoded.
func FuzzFastDecode(f *testing.F) {
	for _, s := range fastSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, dateProblem, err := decode(raw)
		if err == nil {
			assertCanonicalIsMarshal(t, &want)
		}
		got, ok := fastDecode(raw)
		if !ok {
			return
		}
		if err != nil || dateProblem != nil {
			t.Fatalf("fast path took what decode refuses (%v, %v): %q", err, dateProblem, raw)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fast path decoded\n%+v\ndecode gives\n%+v\nfor %q", got, want, raw)
		}
	})
}

func TestFastDecodeTakesTheCommonOrder(t *testing.T) {
	seeds := fastSeeds(t)
	for i, want := range []bool{true, true, true, false, true, false, false, true, false} {
		if _, ok := fastDecode(seeds[i]); ok != want {
			t.Errorf("seed %d: fast path ok = %v, want %v", i, ok, want)
		}
	}
}

func assertCanonicalIsMarshal(t *testing.T, o *Order) {
	t.Helper()
	want, wantErr := json.Marshal(o)
	got, err := canonical(o)
	if (err != nil) != (wantErr != nil) || string(got) != string(want) {
		t.Fatalf("canonical gives\n%s (%v)\njson.Marshal gives\n%s (%v)", got, err, want, wantErr)
	}
}

func TestCanonicalIsMarshal(t *testing.T) {
	fixture, err := os.ReadFile("testdata/model.json")
	if err != nil {
		t.Fatal(err)
	}
	base, _, err := decode(fixture)
	if err != nil {
		t.Fatal(err)
	}
	strs := []string{
		"", "plain", "Иван Петров", "emoji 🙂", `quote " and \\ backslash`, "<b>&amp;</b>",
		"tab\tnew\nline\rcr\bbs\fff", "\x00\x01\x1f\x7f", "bad \xff utf-8 \xe2\x82", "line\u2028para\u2029",
	}
	for c := range rune(0x80) { // each ASCII character alone, then in a word
		strs = append(strs, string(c), "a"+string(c)+"b")
	}
	for i, s := range strs {
		o := base
		o.Items = slices.Clone(base.Items)
		o.OrderUID, o.Delivery.Name, o.Payment.Bank, o.Items[0].Name, o.OofShard = s, s, s, s, s
		o.SmID, o.Payment.Amount, o.Items[0].Price = int64(-i), int64(i)<<40, -1<<63
		o.DateCreated = o.DateCreated.Add(time.Duration(i) * 123456789).In(time.FixedZone("", (i%48-24)*1800))
		assertCanonicalIsMarshal(t, &o)
	}
	empty := base
	empty.Items = []Item{}
	assertCanonicalIsMarshal(t, &empty)
	empty.Items = nil
	assertCanonicalIsMarshal(t, &empty)
	assertCanonicalIsMarshal(t, &Order{})
}
