package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/postgres"
	"github.com/marketplace/orders/modules/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const fixturePath = "../order/testdata/model.json"

// fixture is the reference order, decoded.
func fixture(t testing.TB) order.Order {
	t.Helper()
	raw, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	p, err := order.DefaultRules().Parse(raw)
	if err != nil {
		t.Fatalf("fixture does not parse: %v", err)
	}
	return p.Order
}

// parsed encodes o and parses it as a consumed message would be.
func parsed(t testing.TB, o order.Order) order.Parsed {
	t.Helper()
	raw, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := order.DefaultRules().Parse(raw)
	if err != nil {
		t.Fatalf("test order %s is invalid: %v", o.OrderUID, err)
	}
	return p
}

// variant is a copy of base that is another order: its own uid and
// transaction, created at date.
func variant(base order.Order, uid string, date time.Time) order.Order {
	o := base
	o.OrderUID = uid
	o.Payment.Transaction = uid
	o.DateCreated = date
	o.Items = append([]order.Item(nil), base.Items...)
	return o
}

// withItems gives o n items copied from its first one, with totals to match.
func withItems(o order.Order, n int) order.Order {
	first := o.Items[0]
	o.Items = make([]order.Item, n)
	var goods int64
	for i := range o.Items {
		it := first
		it.Rid = fmt.Sprintf("%s-%d", first.Rid, i)
		it.ChrtID = first.ChrtID + int64(i)
		o.Items[i] = it
		goods += it.TotalPrice
	}
	o.Payment.GoodsTotal = goods
	o.Payment.Amount = goods + o.Payment.DeliveryCost + o.Payment.CustomFee
	return o
}

func logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// open returns a store on a fresh database.
func open(t testing.TB) (*postgres.Store, string) {
	t.Helper()
	dsn := pgtest.DSN(t)
	s, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn, ConnectTimeout: 10 * time.Second}, logger(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, dsn
}

func save(t testing.TB, s *postgres.Store, batch ...order.Parsed) []order.Outcome {
	t.Helper()
	out, err := s.SaveBatch(t.Context(), batch)
	if err != nil {
		t.Fatalf("save: %v", err)
	}
	if len(out) != len(batch) {
		t.Fatalf("save: %d outcomes for %d orders", len(out), len(batch))
	}
	return out
}

// count returns how many orders, and items in their JSON, the database at dsn holds, read
// in one snapshot.
func count(t testing.TB, dsn string) (orders, items int64) {
	t.Helper()
	query(t, dsn, "SELECT count(*), coalesce(sum(json_array_length(raw -> 'items')), 0) FROM orders", &orders, &items)
	return orders, items
}

// query runs one query on its own connection and scans its one row.
func query(t testing.TB, dsn, sql string, dest ...any) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func day(n int) time.Time {
	return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n)
}
