package postgres_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/marketplace/orders/modules/order"
)

// TestEscapedAndUnescapedAreTheSameOrder: an order stored while < > & were
// still written \u003c \u003e \u0026 is the same order as its canonical JSON
// now, which keeps them as they are: the store compares bytes, then jsonb
// values. A changed order under that uid is still a conflict.
func TestEscapedAndUnescapedAreTheSameOrder(t *testing.T) {
	s, _ := open(t)
	o := variant(fixture(t), "html-marks", day(1))
	o.Delivery.Address = "<b>Tom & Jerry</b>"
	now := parsed(t, o)
	if !bytes.Contains(now.JSON, []byte(`"<b>Tom & Jerry</b>"`)) {
		t.Fatalf("canonical JSON escapes < > &: %s", now.JSON)
	}
	before := now
	var err error
	if before.JSON, err = json.Marshal(o); err != nil { // how it was stored before
		t.Fatal(err)
	}
	if !bytes.Contains(before.JSON, []byte(`\u003cb\u003eTom \u0026 Jerry`)) {
		t.Fatalf("json.Marshal no longer escapes: %s", before.JSON)
	}
	if got := save(t, s, before); !slices.Equal(got, []order.Outcome{order.Stored}) {
		t.Fatalf("first save = %v, want [stored]", got)
	}

	changed := o
	changed.Delivery.Address = "<b>Tom & Jerry</b> "
	got := save(t, s, now, parsed(t, changed))
	if want := []order.Outcome{order.Duplicate, order.Conflict}; !slices.Equal(got, want) {
		t.Errorf("the same order unescaped, then a changed one: %v, want %v", got, want)
	}
	rec, err := s.Get(t.Context(), o.OrderUID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.JSON, before.JSON) {
		t.Errorf("the stored row changed: %s", rec.JSON)
	}
}
