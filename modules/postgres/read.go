package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/marketplace/orders/modules/order"
)

// Get returns the order stored under uid, or order.ErrNotFound.
func (s *Store) Get(ctx context.Context, uid string) (order.Record, error) {
	_, db, err := s.db(ctx)
	if err != nil {
		return order.Record{}, err
	}
	var found []orderRow
	if err := db.Select("raw").Where("order_uid = ?", uid).Limit(1).Find(&found).Error; err != nil {
		return order.Record{}, fmt.Errorf("get order %s: %w", uid, err)
	}
	if len(found) == 0 {
		return order.Record{}, order.ErrNotFound
	}
	rec, err := order.Canonical(found[0].Raw)
	if err != nil {
		return order.Record{}, fmt.Errorf("get order %s: %w", uid, err)
	}
	return rec, nil
}

// Newest returns up to n orders, newest first by date_created, ties broken by
// the greater uid.
func (s *Store) Newest(ctx context.Context, n int) ([]order.Record, error) {
	if n <= 0 {
		return nil, nil
	}
	_, db, err := s.db(ctx)
	if err != nil {
		return nil, err
	}
	var found []orderRow
	if err := db.Select("raw").Order("date_created DESC, order_uid DESC").Limit(n).Find(&found).Error; err != nil {
		return nil, fmt.Errorf("newest %d orders: %w", n, err)
	}
	out := make([]order.Record, 0, len(found))
	for _, r := range found {
		rec, err := order.Canonical(r.Raw)
		if err != nil {
			return nil, fmt.Errorf("newest %d orders: %w", n, err)
		}
		out = append(out, rec)
	}
	// timestamptz keeps microseconds, the domain compares nanoseconds: two
	// orders within one microsecond tie in SQL but not in Record.Newer.
	slices.SortStableFunc(out, func(a, b order.Record) int {
		switch {
		case a.Newer(b):
			return -1
		case b.Newer(a):
			return 1
		}
		return 0
	})
	return out, nil
}

// Count returns how many orders and items are stored, read in one snapshot.
func (s *Store) Count(ctx context.Context) (orders, items int64, err error) {
	_, db, err := s.db(ctx)
	if err != nil {
		return 0, 0, err
	}
	row := db.Raw("SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM items)").Row()
	if err := row.Scan(&orders, &items); err != nil {
		return 0, 0, fmt.Errorf("count orders: %w", err)
	}
	return orders, items, nil
}
