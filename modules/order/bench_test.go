package order_test

import (
	"testing"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/order/fake"
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

// BenchmarkParseGenerated is the same cost for the orders the producer
// sends: json.Marshal's compact form, which Parse keeps as the canonical
// JSON instead of encoding it again. It cycles over 1,000 generated orders.
func BenchmarkParseGenerated(b *testing.B) {
	gen := fake.New(1)
	msgs := make([][]byte, 1000)
	size := 0
	for i := range msgs {
		_, msgs[i] = gen.OrderJSON()
		size += len(msgs[i])
	}
	b.SetBytes(int64(size / len(msgs)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := order.DefaultRules().Parse(msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
