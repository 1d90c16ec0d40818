package fake_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/order/fake"
)

func TestOrdersPassParseAndHaveUniqueUIDs(t *testing.T) {
	const n = 10_000
	g := fake.New(1)
	seen := make(map[string]bool, n)
	start := time.Now().UTC()
	currencies := make(map[string]bool)
	for i := 0; i < n; i++ {
		uid, raw := g.OrderJSON()
		p, err := order.DefaultRules().Parse(raw)
		if err != nil {
			t.Fatalf("order %d does not parse: %v\n%s", i, err, raw)
		}
		o := p.Order
		if o.OrderUID != uid {
			t.Fatalf("order %d: OrderJSON uid %q, order_uid %q", i, uid, o.OrderUID)
		}
		if seen[uid] {
			t.Fatalf("order %d: uid %q repeats", i, uid)
		}
		seen[uid] = true
		if len(o.Items) < 1 || len(o.Items) > 5 {
			t.Errorf("order %d has %d items, want 1 to 5", i, len(o.Items))
		}
		if o.DateCreated.Location() != time.UTC || o.DateCreated.Nanosecond() != 0 {
			t.Errorf("order %d: date_created %s is not UTC to the second", i, o.DateCreated.Format(time.RFC3339Nano))
		}
		if age := start.Sub(o.DateCreated); age < -time.Minute || age > 5*time.Minute {
			t.Errorf("order %d: date_created %s is not near now (%s)", i, o.DateCreated, start)
		}
		currencies[o.Payment.Currency] = true
	}
	if len(currencies) < 2 {
		t.Errorf("every order is paid in %v, want a mix of currencies", currencies)
	}
}

func TestUIDsDoNotCollideIn100k(t *testing.T) {
	g := fake.New(7)
	seen := make(map[string]bool, 100_000)
	for i := 0; i < 100_000; i++ {
		uid := g.UID()
		if !order.ValidUID(uid) {
			t.Fatalf("uid %q is not valid", uid)
		}
		if seen[uid] {
			t.Fatalf("uid %q repeats after %d", uid, i)
		}
		seen[uid] = true
	}
}

func TestSameSeedSameSequence(t *testing.T) {
	clock := func() time.Time { return time.Date(2026, 11, 26, 6, 22, 19, 0, time.UTC) }
	a, b := fake.New(42, fake.WithClock(clock)), fake.New(42, fake.WithClock(clock))
	for i := 0; i < 200; i++ {
		_, ra := a.OrderJSON()
		_, rb := b.OrderJSON()
		if !bytes.Equal(ra, rb) {
			t.Fatalf("order %d differs for the same seed:\n%s\n%s", i, ra, rb)
		}
		ka, ia, kindA := a.Invalid()
		kb, ib, kindB := b.Invalid()
		if ka != kb || !bytes.Equal(ia, ib) || kindA != kindB {
			t.Fatalf("invalid message %d differs for the same seed", i)
		}
	}
	_, other := fake.New(43, fake.WithClock(clock)).OrderJSON()
	_, first := fake.New(42, fake.WithClock(clock)).OrderJSON()
	if bytes.Equal(first, other) {
		t.Error("seeds 42 and 43 give the same first order")
	}
}

func TestSeedZeroIsReproducible(t *testing.T) {
	a, b := fake.New(0), fake.New(0)
	if ua, ub := a.UID(), b.UID(); ua != ub {
		t.Errorf("seed 0 gives %q then %q", ua, ub)
	}
}

func TestInvalidFailsParseWithItsKind(t *testing.T) {
	g := fake.New(3)
	kinds := map[string]int{}
	reasons := map[string]bool{}
	for i := 0; i < 2000; i++ {
		key, raw, kind := g.Invalid()
		if !order.ValidUID(key) {
			t.Fatalf("message %d: key %q is not a valid uid", i, key)
		}
		_, err := order.DefaultRules().Parse(raw)
		var rej *order.RejectError
		if !errors.As(err, &rej) {
			t.Fatalf("message %d (%s) passes Parse or fails without a RejectError: %v\n%s", i, kind, err, raw)
		}
		if string(rej.Kind) != kind {
			t.Fatalf("message %d: claims %q, Parse says %v\n%s", i, kind, err, raw)
		}
		kinds[kind]++
		reasons[rej.Reason()[:min(len(rej.Reason()), 20)]] = true
	}
	if kinds["decode"] == 0 || kinds["validation"] == 0 {
		t.Errorf("kinds %v, want both decode and validation", kinds)
	}
	if len(reasons) < 8 {
		t.Errorf("only %d distinct reasons in 2000 broken messages: %v", len(reasons), reasons)
	}
}

func BenchmarkOrderJSON(b *testing.B) {
	g := fake.New(1)
	for b.Loop() {
		g.OrderJSON()
	}
}
