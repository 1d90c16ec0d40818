package pgtest

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/order"
)

// CopyOrders is the bound the write path is measured against: the batch
// copied with pgx straight into the orders table of the migrated schema,
// with no look at what is already stored. It fails on any uid already there.
func CopyOrders(ctx context.Context, tx pgx.Tx, batch []order.Parsed) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"orders"},
		[]string{"order_uid", "track_number", "customer_id", "phone", "transaction", "date_created", "raw"},
		pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			o := &batch[i].Order
			return []any{o.OrderUID, o.TrackNumber, o.CustomerID, o.Delivery.Phone, o.Payment.Transaction,
				o.DateCreated, batch[i].JSON}, nil
		}))
	return err
}
