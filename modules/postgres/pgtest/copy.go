package pgtest

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/order"
)

// CopyOrders is the bound the write path is measured against: the batch
// copied with pgx straight into the four tables of the migrated schema, with
// no look at what is already stored. It fails on any uid already there.
func CopyOrders(ctx context.Context, tx pgx.Tx, batch []order.Parsed) error {
	var items [][]any
	for _, p := range batch {
		for i, it := range p.Order.Items {
			items = append(items, []any{p.Order.OrderUID, int32(i), it.ChrtID, it.TrackNumber, it.Price, it.Rid,
				it.Name, it.Sale, it.Size, it.TotalPrice, it.NmID, it.Brand, it.Status})
		}
	}
	tables := []struct {
		name string
		cols []string
		rows pgx.CopyFromSource
	}{
		{"orders", []string{"order_uid", "track_number", "entry", "locale", "internal_signature", "customer_id",
			"delivery_service", "shardkey", "sm_id", "date_created", "oof_shard", "raw"},
			pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
				o := &batch[i].Order
				return []any{o.OrderUID, o.TrackNumber, o.Entry, o.Locale, o.InternalSignature, o.CustomerID,
					o.DeliveryService, o.ShardKey, o.SmID, o.DateCreated, o.OofShard, batch[i].JSON}, nil
			})},
		{"deliveries", []string{"order_uid", "name", "phone", "zip", "city", "address", "region", "email"},
			pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
				d := &batch[i].Order.Delivery
				return []any{batch[i].Order.OrderUID, d.Name, d.Phone, d.Zip, d.City, d.Address, d.Region, d.Email}, nil
			})},
		{"payments", []string{"order_uid", "transaction", "request_id", "currency", "provider", "amount",
			"payment_dt", "bank", "delivery_cost", "goods_total", "custom_fee"},
			pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
				p := &batch[i].Order.Payment
				return []any{batch[i].Order.OrderUID, p.Transaction, p.RequestID, p.Currency, p.Provider, p.Amount,
					p.PaymentDt, p.Bank, p.DeliveryCost, p.GoodsTotal, p.CustomFee}, nil
			})},
		{"items", []string{"order_uid", "position", "chrt_id", "track_number", "price", "rid", "name", "sale",
			"size", "total_price", "nm_id", "brand", "status"}, pgx.CopyFromRows(items)},
	}
	for _, t := range tables {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, t.rows); err != nil {
			return err
		}
	}
	return nil
}
