package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/order"
)

// A batch is first copied into two staging tables that live as long as the
// connection and are emptied at every commit, so a batch costs no catalog
// changes. stage_orders has one row per order of the batch (with its
// delivery and payment); n is the order's index in the batch.
const createStaging = `
CREATE TEMP TABLE IF NOT EXISTS stage_orders (
    n                  integer NOT NULL,
    order_uid          text COLLATE "C" NOT NULL,
    track_number       text NOT NULL,
    entry              text NOT NULL,
    locale             text NOT NULL,
    internal_signature text NOT NULL,
    customer_id        text NOT NULL,
    delivery_service   text NOT NULL,
    shardkey           text NOT NULL,
    sm_id              bigint NOT NULL,
    date_created       timestamptz NOT NULL,
    oof_shard          text NOT NULL,
    raw                json NOT NULL,
    d_name             text NOT NULL,
    d_phone            text NOT NULL,
    d_zip              text NOT NULL,
    d_city             text NOT NULL,
    d_address          text NOT NULL,
    d_region           text NOT NULL,
    d_email            text NOT NULL,
    p_transaction      text NOT NULL,
    p_request_id       text NOT NULL,
    p_currency         text NOT NULL,
    p_provider         text NOT NULL,
    p_amount           bigint NOT NULL,
    p_payment_dt       bigint NOT NULL,
    p_bank             text NOT NULL,
    p_delivery_cost    bigint NOT NULL,
    p_goods_total      bigint NOT NULL,
    p_custom_fee       bigint NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_items (
    n            integer NOT NULL,
    position     integer NOT NULL,
    chrt_id      bigint NOT NULL,
    track_number text NOT NULL,
    price        bigint NOT NULL,
    rid          text NOT NULL,
    name         text NOT NULL,
    sale         bigint NOT NULL,
    size         text NOT NULL,
    total_price  bigint NOT NULL,
    nm_id        bigint NOT NULL,
    brand        text NOT NULL,
    status       bigint NOT NULL
) ON COMMIT DELETE ROWS`

var (
	stageOrderColumns = []string{
		"n", "order_uid", "track_number", "entry", "locale", "internal_signature", "customer_id",
		"delivery_service", "shardkey", "sm_id", "date_created", "oof_shard", "raw",
		"d_name", "d_phone", "d_zip", "d_city", "d_address", "d_region", "d_email",
		"p_transaction", "p_request_id", "p_currency", "p_provider", "p_amount", "p_payment_dt",
		"p_bank", "p_delivery_cost", "p_goods_total", "p_custom_fee",
	}
	stageItemColumns = []string{
		"n", "position", "chrt_id", "track_number", "price", "rid", "name", "sale", "size",
		"total_price", "nm_id", "brand", "status",
	}
)

// insertFresh stores the first occurrence of each uid of the batch unless
// the uid is already stored, with its delivery, payment and items, and
// returns the uids it stored. firsts is sorted by uid, so concurrent writers
// take the uid locks in one order and cannot deadlock each other. A uid that
// a concurrent writer is inserting waits for that writer's commit and is
// then left alone.
const insertFresh = `
WITH firsts AS (
    SELECT DISTINCT ON (order_uid) * FROM stage_orders ORDER BY order_uid, n
), fresh AS (
    INSERT INTO orders (order_uid, track_number, entry, locale, internal_signature, customer_id,
                        delivery_service, shardkey, sm_id, date_created, oof_shard, raw)
    SELECT order_uid, track_number, entry, locale, internal_signature, customer_id,
           delivery_service, shardkey, sm_id, date_created, oof_shard, raw
    FROM firsts
    ON CONFLICT (order_uid) DO NOTHING
    RETURNING order_uid
), d AS (
    INSERT INTO deliveries (order_uid, name, phone, zip, city, address, region, email)
    SELECT f.order_uid, d_name, d_phone, d_zip, d_city, d_address, d_region, d_email
    FROM firsts f JOIN fresh USING (order_uid)
), p AS (
    INSERT INTO payments (order_uid, transaction, request_id, currency, provider, amount,
                          payment_dt, bank, delivery_cost, goods_total, custom_fee)
    SELECT f.order_uid, p_transaction, p_request_id, p_currency, p_provider, p_amount,
           p_payment_dt, p_bank, p_delivery_cost, p_goods_total, p_custom_fee
    FROM firsts f JOIN fresh USING (order_uid)
), i AS (
    INSERT INTO items (order_uid, position, chrt_id, track_number, price, rid, name, sale,
                       size, total_price, nm_id, brand, status)
    SELECT f.order_uid, s.position, s.chrt_id, s.track_number, s.price, s.rid, s.name, s.sale,
           s.size, s.total_price, s.nm_id, s.brand, s.status
    FROM firsts f JOIN fresh USING (order_uid) JOIN stage_items s ON s.n = f.n
)
SELECT order_uid FROM fresh`

// sameAsStored says, for the given orders of the batch, whether each is the
// same order as the one stored under its uid: equal as JSON values. It runs
// after insertFresh, as a new statement, so it sees both what this batch
// stored and what concurrent writers committed meanwhile.
const sameAsStored = `
SELECT s.n, o.raw::jsonb = s.raw::jsonb
FROM stage_orders s JOIN orders o USING (order_uid)
WHERE s.n = ANY($1)`

// SaveBatch stores the batch in one transaction and says, per order, whether
// it was stored, a duplicate or a conflict. The first occurrence of a uid,
// stored earlier or earlier in the batch, is the one that counts. An error
// means nothing was stored; the whole batch may be retried.
func (s *Store) SaveBatch(ctx context.Context, batch []order.Parsed) ([]order.Outcome, error) {
	if len(batch) == 0 {
		return []order.Outcome{}, nil
	}
	c, err := s.db()
	if err != nil {
		return nil, err
	}
	var outcomes []order.Outcome
	err = c.withPgx(ctx, func(conn *pgx.Conn) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			outcomes, err = saveBatch(ctx, tx, batch)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("save batch of %d: %w", len(batch), err)
	}
	return outcomes, nil
}

func saveBatch(ctx context.Context, tx pgx.Tx, batch []order.Parsed) ([]order.Outcome, error) {
	if _, err := tx.Exec(ctx, createStaging, pgx.QueryExecModeSimpleProtocol); err != nil {
		return nil, fmt.Errorf("staging tables: %w", err)
	}
	if err := stage(ctx, tx, batch); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, insertFresh)
	if err != nil {
		return nil, fmt.Errorf("insert new orders: %w", err)
	}
	fresh := make(map[string]bool, len(batch))
	var uid string
	_, err = pgx.ForEachRow(rows, []any{&uid}, func() error {
		fresh[uid] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("insert new orders: %w", err)
	}

	// An order is stored when it is its uid's first occurrence in the batch
	// and that uid was inserted; every other one is compared with what is
	// stored now.
	outcomes := make([]order.Outcome, len(batch))
	var compare []int32
	for i, p := range batch {
		uid := p.Order.OrderUID
		if fresh[uid] {
			outcomes[i] = order.Stored
			delete(fresh, uid) // later occurrences are compared
			continue
		}
		compare = append(compare, int32(i))
	}
	if len(compare) == 0 {
		return outcomes, nil
	}
	rows, err = tx.Query(ctx, sameAsStored, compare)
	if err != nil {
		return nil, fmt.Errorf("compare with stored orders: %w", err)
	}
	var (
		n    int32
		same bool
	)
	found := 0
	_, err = pgx.ForEachRow(rows, []any{&n, &same}, func() error {
		outcomes[n] = order.Conflict
		if same {
			outcomes[n] = order.Duplicate
		}
		found++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("compare with stored orders: %w", err)
	}
	if found != len(compare) {
		// Cannot happen while rows are never deleted; if they are, the
		// retry decides again.
		return nil, fmt.Errorf("compare with stored orders: %d of %d not found", len(compare)-found, len(compare))
	}
	return outcomes, nil
}

// stage copies the batch into the staging tables.
func stage(ctx context.Context, tx pgx.Tx, batch []order.Parsed) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_orders"}, stageOrderColumns,
		pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			o := &batch[i].Order
			d, p := &o.Delivery, &o.Payment
			return []any{
				int32(i), o.OrderUID, o.TrackNumber, o.Entry, o.Locale, o.InternalSignature, o.CustomerID,
				o.DeliveryService, o.ShardKey, o.SmID, o.DateCreated, o.OofShard, batch[i].JSON,
				d.Name, d.Phone, d.Zip, d.City, d.Address, d.Region, d.Email,
				p.Transaction, p.RequestID, p.Currency, p.Provider, p.Amount, p.PaymentDt,
				p.Bank, p.DeliveryCost, p.GoodsTotal, p.CustomFee,
			}, nil
		}))
	if err != nil {
		return fmt.Errorf("stage orders: %w", err)
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"stage_items"}, stageItemColumns, &itemSource{batch: batch, i: -1})
	if err != nil {
		return fmt.Errorf("stage items: %w", err)
	}
	return nil
}

// itemSource walks the items of every order of a batch for COPY.
type itemSource struct {
	batch []order.Parsed
	i, j  int // order and item index of the current row
	row   [13]any
}

func (s *itemSource) Next() bool {
	s.j++
	for s.i < 0 || s.j >= len(s.batch[s.i].Order.Items) {
		s.i++
		s.j = 0
		if s.i >= len(s.batch) {
			return false
		}
	}
	return true
}

func (s *itemSource) Values() ([]any, error) {
	it := &s.batch[s.i].Order.Items[s.j]
	s.row = [13]any{
		int32(s.i), int32(s.j), it.ChrtID, it.TrackNumber, it.Price, it.Rid, it.Name, it.Sale,
		it.Size, it.TotalPrice, it.NmID, it.Brand, it.Status,
	}
	return s.row[:], nil
}

func (s *itemSource) Err() error { return nil }
