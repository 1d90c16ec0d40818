package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/order"
)

// copyRows is one table's rows for pgx's CopyFrom. Binary COPY rows written
// by hand saved 17-26% of the consumer's CPU while an order was rows of four
// tables; with one row of seven columns they saved 5.5-6.5%, and went
// (BENCHMARKS.md, "Fast paths against libraries").
type copyRows struct{ src pgx.CopyFromSource }

// into sends the rows to table's columns, within tx.
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
