package postgres

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/order"
)

// A batch's notifications each stay under PostgreSQL's payload limit and name
// every stored order exactly once, with its date_created to the nanosecond.
func TestPayloadsFitAndRoundTrip(t *testing.T) {
	created := time.Date(2026, 12, 6, 1, 2, 3, 456789123, time.FixedZone("x", 3*3600))
	var batch []*order.Parsed
	for i := range 500 {
		uid := fmt.Sprintf("%s%04d", strings.Repeat("u", 60), i) // 64 characters, the longest uid
		batch = append(batch, &order.Parsed{Order: order.Order{OrderUID: uid, DateCreated: created.Add(time.Duration(i))}})
	}
	sent := time.UnixMicro(1_765_000_000_123_456)
	ps := payloads("inst", sent, batch)
	if len(ps) < 2 {
		t.Fatalf("%d notifications for 500 long uids, want several", len(ps))
	}
	var got []order.Key
	for _, p := range ps {
		if len(p) > maxPayload {
			t.Fatalf("payload of %d bytes, over %d", len(p), maxPayload)
		}
		n, err := parseNotice(p)
		if err != nil {
			t.Fatal(err)
		}
		if n.instance != "inst" || !n.sent.Equal(sent) {
			t.Fatalf("head = %q %v, want inst %v", n.instance, n.sent, sent)
		}
		got = append(got, n.keys...)
	}
	if len(got) != len(batch) {
		t.Fatalf("%d orders named, want %d", len(got), len(batch))
	}
	for i, k := range got {
		if k.UID != batch[i].Order.OrderUID || !k.DateCreated.Equal(batch[i].Order.DateCreated) {
			t.Fatalf("order %d: %v, want %s %v", i, k, batch[i].Order.OrderUID, batch[i].Order.DateCreated)
		}
	}
}

func TestParseNoticeRefusesGarbage(t *testing.T) {
	for _, give := range []string{"", "inst", "inst notanumber\n2026-01-01T00:00:00Z a", "inst 1\nnot-a-time a", "inst 1\n2026-01-01T00:00:00Z"} {
		if _, err := parseNotice(give); err == nil {
			t.Errorf("parseNotice(%q) took it", give)
		}
	}
}
