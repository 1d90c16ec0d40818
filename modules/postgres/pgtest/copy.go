package pgtest

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/order"
)

// CopyOrders is the bound the write path is measured against: the batch
// copied with pgx straight into the tables of the migrated schema (orders,
// then order_search), with no look at what is already stored. It fails on
// any uid already there.
func CopyOrders(ctx context.Context, tx pgx.Tx, batch []order.Parsed) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"orders"}, []string{"order_uid", "date_created", "raw"},
		pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			return []any{batch[i].Order.OrderUID, batch[i].Order.DateCreated, batch[i].JSON}, nil
		}))
	if err != nil {
		return err
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"order_search"},
		[]string{"order_uid", "date_created", "track_number", "customer_id", "phone", "transaction"},
		pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			o := &batch[i].Order
			return []any{o.OrderUID, o.DateCreated, o.TrackNumber, o.CustomerID, o.Delivery.Phone, o.Payment.Transaction}, nil
		}))
	return err
}
