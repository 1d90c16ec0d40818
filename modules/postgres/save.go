package postgres

import (
	"bytes"
	"context"
	"database/sql/driver"
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/marketplace/orders/modules/order"
)

// maxBindParams is PostgreSQL's limit on parameters in one statement.
const maxBindParams = 65535

// chunkSizes is how many rows of each table fit in one INSERT.
type chunkSizes struct {
	orders, deliveries, payments, items int
}

func newChunkSizes(db *gorm.DB) (chunkSizes, error) {
	size := func(model any) (int, error) {
		stmt := &gorm.Statement{DB: db}
		if err := stmt.Parse(model); err != nil {
			return 0, fmt.Errorf("postgres: row type %T: %w", model, err)
		}
		return maxBindParams / len(stmt.Schema.DBNames), nil
	}
	var c chunkSizes
	var err error
	if c.orders, err = size(&orderRow{}); err != nil {
		return c, err
	}
	if c.deliveries, err = size(&deliveryRow{}); err != nil {
		return c, err
	}
	if c.payments, err = size(&paymentRow{}); err != nil {
		return c, err
	}
	c.items, err = size(&itemRow{})
	return c, err
}

// SaveBatch stores the batch in one transaction and says, per order, whether
// it was stored, a duplicate or a conflict. The first occurrence of a uid,
// stored earlier or earlier in the batch, is the one that counts. An error
// means nothing was stored; the whole batch may be retried.
func (s *Store) SaveBatch(ctx context.Context, batch []order.Parsed) ([]order.Outcome, error) {
	if len(batch) == 0 {
		return []order.Outcome{}, nil
	}
	c, db, err := s.db(ctx)
	if err != nil {
		return nil, err
	}
	outcomes := make([]order.Outcome, len(batch))
	err = db.Transaction(func(tx *gorm.DB) error {
		known, err := stored(tx, batch)
		if err != nil {
			return err
		}
		var fresh rows
		for i, p := range batch {
			uid := p.Order.OrderUID
			if ref, ok := known[uid]; ok {
				outcomes[i] = order.Conflict
				if bytes.Equal(ref, p.JSON) {
					outcomes[i] = order.Duplicate
				}
				continue
			}
			known[uid] = p.JSON
			outcomes[i] = order.Stored
			fresh.add(p)
		}
		return insert(tx, c.chunks, &fresh)
	})
	if err != nil {
		return nil, fmt.Errorf("save batch of %d: %w", len(batch), err)
	}
	return outcomes, nil
}

// stored returns the canonical JSON of each order of the batch already in
// the database. jsonb keeps neither key order nor spacing, so the stored
// value is re-encoded before it is compared.
func stored(tx *gorm.DB, batch []order.Parsed) (map[string][]byte, error) {
	uids := make(uidList, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	for _, p := range batch {
		if uid := p.Order.OrderUID; !seen[uid] {
			seen[uid] = true
			uids = append(uids, uid)
		}
	}
	var found []orderRow
	if err := tx.Select("order_uid", "raw").Where("order_uid = ANY(?)", uids).Find(&found).Error; err != nil {
		return nil, fmt.Errorf("look up stored orders: %w", err)
	}
	known := make(map[string][]byte, len(batch))
	for _, r := range found {
		rec, err := order.Canonical(r.Raw)
		if err != nil {
			return nil, fmt.Errorf("stored order %s: %w", r.OrderUID, err)
		}
		known[r.OrderUID] = rec.JSON
	}
	return known, nil
}

// insert writes new orders. DO NOTHING keeps a replay from failing on rows a
// concurrent writer committed since the look-up; the count check then sends
// the batch back to be retried, when the look-up will see those orders.
func insert(tx *gorm.DB, chunks chunkSizes, r *rows) error {
	if len(r.orders) == 0 {
		return nil
	}
	ignore := tx.Clauses(clause.OnConflict{DoNothing: true})
	res := ignore.CreateInBatches(r.orders, chunks.orders)
	if res.Error != nil {
		return fmt.Errorf("insert orders: %w", res.Error)
	}
	if res.RowsAffected != int64(len(r.orders)) {
		return fmt.Errorf("insert orders: %d of %d already stored by a concurrent writer; retry the batch",
			int64(len(r.orders))-res.RowsAffected, len(r.orders))
	}
	if err := ignore.CreateInBatches(r.deliveries, chunks.deliveries).Error; err != nil {
		return fmt.Errorf("insert deliveries: %w", err)
	}
	if err := ignore.CreateInBatches(r.payments, chunks.payments).Error; err != nil {
		return fmt.Errorf("insert payments: %w", err)
	}
	if err := ignore.CreateInBatches(r.items, chunks.items).Error; err != nil {
		return fmt.Errorf("insert items: %w", err)
	}
	return nil
}

// uidList travels as one text[] parameter: gorm would expand a plain slice
// into a parameter per element, and a statement per batch length.
type uidList []string

var arrayEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// Value renders a PostgreSQL array literal, which pgx sends as the text of
// the text[] parameter.
func (l uidList) Value() (driver.Value, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, s := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(arrayEscaper.Replace(s))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String(), nil
}
