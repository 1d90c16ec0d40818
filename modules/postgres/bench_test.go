package postgres_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/marketplace/orders/modules/order"
)

// BenchmarkSaveBatch stores batches of 500 new orders, the consumer's
// default batch size, each order like the fixture with one item.
func BenchmarkSaveBatch(b *testing.B) {
	s, _ := open(b)
	base := fixture(b)
	const size = 500
	next := 0
	batch := make([]order.Parsed, size)
	stored := 0
	for b.Loop() {
		b.StopTimer()
		for i := range batch {
			o := variant(base, fmt.Sprintf("bench-%09d", next), day(next%3650))
			next++
			js, err := json.Marshal(&o)
			if err != nil {
				b.Fatal(err)
			}
			// What order.Parse returns for a valid order, without paying for
			// validation inside the measurement loop.
			batch[i] = order.Parsed{Order: o, JSON: js}
		}
		b.StartTimer()
		out, err := s.SaveBatch(b.Context(), batch)
		if err != nil {
			b.Fatal(err)
		}
		stored += len(out)
	}
	b.ReportMetric(float64(stored)/b.Elapsed().Seconds(), "orders/s")
}
