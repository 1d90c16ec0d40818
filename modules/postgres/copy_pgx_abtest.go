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
		return append(row, o.OrderUID, o.TrackNumber, o.Entry, o.Locale, o.InternalSignature, o.CustomerID,
			o.DeliveryService, o.ShardKey, o.SmID, o.DateCreated, o.OofShard, p.JSON), nil
	})}
}

func deliveryRows(orders []*order.Parsed) *copyRows {
	return &copyRows{pgx.CopyFromSlice(len(orders), func(i int) ([]any, error) {
		d := &orders[i].Order.Delivery
		return []any{orders[i].Order.OrderUID, d.Name, d.Phone, d.Zip, d.City, d.Address, d.Region, d.Email}, nil
	})}
}

func paymentRows(orders []*order.Parsed) *copyRows {
	return &copyRows{pgx.CopyFromSlice(len(orders), func(i int) ([]any, error) {
		p := &orders[i].Order.Payment
		return []any{orders[i].Order.OrderUID, p.Transaction, p.RequestID, p.Currency, p.Provider, p.Amount,
			p.PaymentDt, p.Bank, p.DeliveryCost, p.GoodsTotal, p.CustomFee}, nil
	})}
}

// itemRows are the items of the orders; position is the item's index in
// its order.
func itemRows(orders []*order.Parsed) *copyRows {
	var rows [][]any
	for _, p := range orders {
		for j := range p.Order.Items {
			it := &p.Order.Items[j]
			rows = append(rows, []any{p.Order.OrderUID, int32(j), it.ChrtID, it.TrackNumber, it.Price, it.Rid,
				it.Name, it.Sale, it.Size, it.TotalPrice, it.NmID, it.Brand, it.Status})
		}
	}
	return &copyRows{pgx.CopyFromRows(rows)}
}
