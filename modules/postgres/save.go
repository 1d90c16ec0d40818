package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/marketplace/orders/modules/order"
)

// A batch takes one of two paths, each one transaction with COPY
// (copyOrders):
//   - tried first for any batch that repeats no uid: COPY straight into
//     orders and order_search, all stored. That is nearly every batch of a
//     live topic, and it costs the database what bare COPY does. A uid
//     already stored, or stored by a concurrent writer meanwhile (the COPY
//     waits for that writer's commit), fails the COPY on the primary key;
//     the transaction is rolled back and the batch takes the other path.
//   - saveStaged, for any other batch (replays, conflicts, repeats): COPY the
//     orders into a staging table, insert the new ones (and their keys) with
//     ON CONFLICT DO NOTHING RETURNING order_uid, and compare every other
//     order with the stored one as JSON values: equal bytes, or else equal
//     jsonb, is a duplicate.
//
// Either way the same transaction notifies every instance's follower of the
// orders it stored (see follow.go).
//
// The staging table lives only as long as its transaction, so nothing
// outlives the transaction on its connection, as a transaction pooler
// requires; n is the order's index in the batch.
const createStaging = `
CREATE TEMP TABLE stage_orders (
    n            integer NOT NULL,
    order_uid    text COLLATE "C" NOT NULL,
    track_number text NOT NULL,
    customer_id  text NOT NULL,
    phone        text NOT NULL,
    transaction  text NOT NULL,
    date_created timestamptz NOT NULL,
    raw          json NOT NULL
) ON COMMIT DROP`

// The columns of a staged order: its index in the batch, then what orders
// and order_search hold of it (migrations 006 and 007 say what each serves).
var stageColumns = []string{"n", "order_uid", "track_number", "customer_id", "phone", "transaction", "date_created", "raw"}

// The columns of each table a stored order is written to.
var (
	orderColumns  = []string{"order_uid", "date_created", "raw"}
	searchColumns = []string{"order_uid", "date_created", "track_number", "customer_id", "phone", "transaction"}
)

// insertFresh stores the first occurrence of each uid of the batch unless
// the uid is already stored, with its search keys, and returns the uids it
// stored. firsts is sorted by uid, so concurrent writers take the uid locks
// in one order and cannot deadlock each other. A uid that a concurrent
// writer is inserting waits for that writer's commit and is then left
// alone.
const insertFresh = `
WITH firsts AS (
    SELECT DISTINCT ON (order_uid) * FROM stage_orders ORDER BY order_uid, n
), fresh AS (
    INSERT INTO orders (order_uid, date_created, raw)
    SELECT order_uid, date_created, raw FROM firsts
    ON CONFLICT (order_uid) DO NOTHING
    RETURNING order_uid
), keys AS (
    INSERT INTO order_search (order_uid, date_created, track_number, customer_id, phone, transaction)
    SELECT f.order_uid, f.date_created, f.track_number, f.customer_id, f.phone, f.transaction
    FROM firsts f JOIN fresh USING (order_uid)
)
SELECT order_uid FROM fresh`

// sameAsStored says, for the given orders of the batch, whether each is the
// same order as the one stored under its uid: equal as JSON values (NULL
// when none is stored). It runs after insertFresh, as a new statement, so it
// sees both what this batch stored and what concurrent writers committed
// meanwhile. The stored order is looked up by primary key for each staged
// one, whatever plan a prepared statement settles on. Equal bytes are the
// common case (both sides canonical JSON from the same encoder) and need no
// parsing; only different bytes are compared as jsonb values.
const sameAsStored = `
SELECT s.n, (SELECT o.raw::text = s.raw::text OR o.raw::jsonb = s.raw::jsonb
             FROM orders o WHERE o.order_uid = s.order_uid)
FROM stage_orders s
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
		if fresh, ok := byUID(batch); ok {
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if err := copyOrders(ctx, tx, fresh, false); err != nil {
					return err
				}
				return s.notifyStored(ctx, tx, fresh)
			})
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != uniqueViolation {
				if err == nil {
					outcomes = slices.Repeat([]order.Outcome{order.Stored}, len(batch))
				}
				return err
			}
			// A uid is stored already: the staged path tells each order's fate.
		}
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var err error
			if outcomes, err = saveStaged(ctx, tx, batch); err != nil {
				return err
			}
			var stored []*order.Parsed
			for i, o := range outcomes {
				if o == order.Stored {
					stored = append(stored, &batch[i])
				}
			}
			return s.notifyStored(ctx, tx, stored)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("save batch of %d: %w", len(batch), poolerHint(err))
	}
	return outcomes, nil
}

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

// byUID returns the batch's orders sorted by uid, so that concurrent
// writers of overlapping batches take the uid locks in one order and wait
// for each other instead of deadlocking; ok is false when a uid repeats.
func byUID(batch []order.Parsed) (sorted []*order.Parsed, ok bool) {
	sorted = make([]*order.Parsed, len(batch))
	for i := range batch {
		sorted[i] = &batch[i]
	}
	slices.SortFunc(sorted, func(a, b *order.Parsed) int { return strings.Compare(a.Order.OrderUID, b.Order.OrderUID) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Order.OrderUID == sorted[i-1].Order.OrderUID {
			return nil, false
		}
	}
	return sorted, true
}

// saveStaged copies the orders into the staging table and lets the database
// tell which are new; only those are written.
func saveStaged(ctx context.Context, tx pgx.Tx, batch []order.Parsed) ([]order.Outcome, error) {
	if _, err := tx.Exec(ctx, createStaging, pgx.QueryExecModeSimpleProtocol); err != nil {
		return nil, fmt.Errorf("staging table: %w", err)
	}
	all := make([]*order.Parsed, len(batch))
	for i := range batch {
		all[i] = &batch[i]
	}
	if err := copyOrders(ctx, tx, all, true); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, insertFresh)
	if err != nil {
		return nil, fmt.Errorf("insert new orders: %w", err)
	}
	fresh := make(map[string]bool, len(batch))
	var uid string
	if _, err := pgx.ForEachRow(rows, []any{&uid}, func() error {
		fresh[uid] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("insert new orders: %w", err)
	}

	// An order is stored when it is its uid's first occurrence in the batch
	// and that uid was inserted; every other one is compared with what is
	// stored now.
	outcomes := make([]order.Outcome, len(batch)) // each set below
	stored := make([]*order.Parsed, 0, len(fresh))
	var compare []int32
	for i := range batch {
		o := &batch[i].Order
		if fresh[o.OrderUID] {
			outcomes[i] = order.Stored
			stored = append(stored, &batch[i])
			delete(fresh, o.OrderUID) // later occurrences are compared
			continue
		}
		compare = append(compare, int32(i))
	}
	if err := compareStored(ctx, tx, compare, outcomes); err != nil {
		return nil, err
	}
	return outcomes, nil
}

// compareStored sets the outcome of each order of the batch at the indexes
// in compare: a duplicate when it is the same order as the stored one, else
// a conflict.
func compareStored(ctx context.Context, tx pgx.Tx, compare []int32, outcomes []order.Outcome) error {
	if len(compare) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, sameAsStored, compare)
	if err != nil {
		return fmt.Errorf("compare with stored orders: %w", err)
	}
	var (
		n    int32
		same *bool
	)
	_, err = pgx.ForEachRow(rows, []any{&n, &same}, func() error {
		if same == nil {
			// Cannot happen while orders are never deleted; if they are,
			// the retry decides again.
			return fmt.Errorf("order %d of the batch is neither new nor stored", n)
		}
		outcomes[n] = order.Conflict
		if *same {
			outcomes[n] = order.Duplicate
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("compare with stored orders: %w", err)
	}
	return nil
}

// copyOrders COPYs the orders into orders and their keys into order_search,
// or when staged into stage_orders with each order's index in the batch
// first. pgx's CopyFrom writes the rows: binary rows written by hand saved
// 17-26% of the consumer's CPU while an order was rows of four tables, and
// 5.5-6.5% once it was one row of seven columns, so they went
// (BENCHMARKS.md, "Fast paths against libraries").
func copyOrders(ctx context.Context, tx pgx.Tx, orders []*order.Parsed, staged bool) error {
	if staged {
		return copyRows(ctx, tx, "stage_orders", stageColumns, len(orders), func(i int) []any {
			p := orders[i]
			o := &p.Order
			return []any{int32(i), o.OrderUID, o.TrackNumber, o.CustomerID, o.Delivery.Phone, o.Payment.Transaction,
				o.DateCreated, p.JSON}
		})
	}
	// orders first: a uid already stored fails the COPY there, before any
	// key is written.
	err := copyRows(ctx, tx, "orders", orderColumns, len(orders), func(i int) []any {
		return []any{orders[i].Order.OrderUID, orders[i].Order.DateCreated, orders[i].JSON}
	})
	if err != nil {
		return err
	}
	return copyRows(ctx, tx, "order_search", searchColumns, len(orders), func(i int) []any {
		o := &orders[i].Order
		return []any{o.OrderUID, o.DateCreated, o.TrackNumber, o.CustomerID, o.Delivery.Phone, o.Payment.Transaction}
	})
}

// copyRows COPYs n rows, row(i) each, into table.
func copyRows(ctx context.Context, tx pgx.Tx, table string, columns []string, n int, row func(i int) []any) error {
	rows := pgx.CopyFromSlice(n, func(i int) ([]any, error) { return row(i), nil })
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{table}, columns, rows); err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	return nil
}
