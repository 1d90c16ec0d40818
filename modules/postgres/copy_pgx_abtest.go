//go:build abtest_pgxcopy

package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/order"
)

// With the build tag abtest_pgxcopy, the rows go through pgx's CopyFrom
// instead of copy.go's hand-written binary rows: the A/B of
// app/bench_ab_test.go (BENCHMARKS.md).

// copyRows is one table's rows as pgx reads them.
type copyRows struct{ src pgx.CopyFromSource }

func (c *copyRows) into(ctx context.Context, tx pgx.Tx, table string, columns []string) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, columns, c.src)
	return err
}

// orderRows are the orders' rows, with the order's index in the batch
// first when staged.
func orderRows(orders []*order.Parsed, staged bool) *copyRows {
	return &copyRows{pgx.CopyFromSlice(len(orders), func(i int) ([]any, error) {
		p := orders[i]
		o := &p.Order
		row := make([]any, 0, len(stageColumns))
		if staged {
			row = append(row, int32(i))
		}
		return append(row, o.OrderUID, o.TrackNumber, o.CustomerID, o.Delivery.Phone, o.Payment.Transaction,
			o.DateCreated, p.JSON), nil
	})}
}
