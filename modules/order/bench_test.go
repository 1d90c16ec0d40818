package order_test

import (
	"testing"

	"github.com/marketplace/orders/modules/order"
)

// BenchmarkParse is the consumer's per-message CPU cost: decode, validate and
// encode the canonical JSON of the reference order.
func BenchmarkParse(b *testing.B) {
	raw := fixture(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := order.DefaultRules().Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}
