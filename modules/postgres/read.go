package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/order"
)

// Reads return raw as stored: the canonical JSON the consumer wrote, the
// same bytes the cache holds for the order, with no decode and re-encode.

// readTimeout bounds a read a request waits for, so a stuck database answers
// an error rather than holding the request.
const readTimeout = 5 * time.Second

// Get returns the order stored under uid, or order.ErrNotFound.
func (s *Store) Get(ctx context.Context, uid string) (order.Record, error) {
	c, err := s.db()
	if err != nil {
		return order.Record{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	var (
		created time.Time
		raw     []byte
	)
	// On pgx beneath the pool: database/sql's row handling cost a cache
	// miss a quarter of its time.
	err = c.withPgx(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, "SELECT date_created, raw FROM orders WHERE order_uid = $1", uid).Scan(&created, &raw)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Record{}, order.ErrNotFound
	}
	if err != nil {
		return order.Record{}, fmt.Errorf("get order %s: %w", uid, err)
	}
	return record(uid, created, raw), nil
}

// Newest returns up to n orders, newest first by date_created, ties broken by
// the greater uid. It streams one query: warming a cache of 100,000 orders
// is one pass over the newest-first index.
func (s *Store) Newest(ctx context.Context, n int) ([]order.Record, error) {
	if n <= 0 {
		return nil, nil
	}
	c, err := s.db()
	if err != nil {
		return nil, err
	}
	var out []order.Record
	err = c.withPgx(ctx, func(conn *pgx.Conn) error {
		var err error
		out, _, err = newestSince(ctx, conn, "", n)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("newest %d orders: %w", n, err)
	}
	return out, nil
}

// xminQuery reads the current snapshot's xmin: every transaction below it has
// ended.
const xminQuery = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"

// newestSince returns up to n orders stored by transactions at or above the
// xmin since ("" for every order), newest first, and the xmin of the snapshot
// it read them in: the point to read from next time.
func newestSince(ctx context.Context, conn *pgx.Conn, since string, n int) ([]order.Record, string, error) {
	var (
		out  []order.Record
		xmin string
	)
	if n <= 0 {
		err := conn.QueryRow(ctx, xminQuery).Scan(&xmin)
		return nil, xmin, err
	}
	err := pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// The first statement takes the snapshot the rows are read in.
		if err := tx.QueryRow(ctx, xminQuery).Scan(&xmin); err != nil {
			return err
		}
		var (
			rows pgx.Rows
			err  error
		)
		if since == "" {
			// When n is near the size of the table the planner would sort
			// every row, raw and all, on disk; walking the newest-first
			// index is several times faster at any n.
			if _, err := tx.Exec(ctx, "SET LOCAL enable_sort = off"); err != nil {
				return err
			}
			rows, err = tx.Query(ctx,
				"SELECT order_uid, date_created, raw FROM orders ORDER BY date_created DESC, order_uid DESC LIMIT $1", n)
		} else {
			rows, err = tx.Query(ctx, `SELECT order_uid, date_created, raw FROM orders WHERE stored_xid >= $1::text::xid8
				ORDER BY date_created DESC, order_uid DESC LIMIT $2`, since, n)
		}
		if err != nil {
			return err
		}
		out = make([]order.Record, 0, min(n, 1<<16))
		var (
			uid     string
			created time.Time
			raw     []byte
		)
		_, err = pgx.ForEachRow(rows, []any{&uid, &created, &raw}, func() error {
			// pgx scans json into a new slice for every row, so raw
			// can be kept as it is.
			out = append(out, record(uid, created, raw))
			return nil
		})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	// timestamptz keeps microseconds, the domain compares nanoseconds: two
	// orders within one microsecond tie in SQL but not in Record.Newer.
	if !slices.IsSortedFunc(out, order.NewestFirst) {
		slices.SortStableFunc(out, order.NewestFirst)
	}
	return out, xmin, nil
}

// Search lists the orders that match every set field of f, newest first by
// (date_created, uid), continuing after f.After.
func (s *Store) Search(ctx context.Context, f order.Filter) (order.Page, error) {
	if f.Limit < 1 || f.Limit > order.MaxListLimit {
		return order.Page{}, fmt.Errorf("search: limit %d is not in 1..%d", f.Limit, order.MaxListLimit)
	}
	if !storable(f) {
		return order.Page{}, nil
	}
	c, err := s.db()
	if err != nil {
		return order.Page{}, err
	}
	// A search finds the page's keys in order_search, each month's
	// partition newest first, and only then reads those orders' JSON from
	// orders by uid; a listing with no field set is orders' newest-first
	// index alone.
	searched := f.TrackNumber != "" || f.CustomerID != "" || f.Phone != "" || f.Transaction != ""
	keys := c.gorm.Table("orders")
	if searched {
		keys = c.gorm.Table("order_search").Select("order_uid, date_created")
	}
	for _, eq := range []struct{ column, value string }{
		{"track_number", f.TrackNumber}, {"customer_id", f.CustomerID}, {"phone", f.Phone}, {"transaction", f.Transaction},
	} {
		if eq.value != "" {
			keys = keys.Where(eq.column+" = ?", eq.value)
		}
	}
	if f.After != nil {
		// The first condition says the same as the second in a form that
		// leaves out the months after the cursor.
		keys = keys.Where("date_created <= ? AND (date_created, order_uid) < (?, ?)",
			f.After.DateCreated, f.After.DateCreated, f.After.UID)
	}
	keys = keys.Order("date_created DESC, order_uid DESC").Limit(f.Limit + 1)
	q := keys.WithContext(ctx).Select("order_uid, date_created, raw")
	if searched {
		q = c.gorm.WithContext(ctx).Table("(?) AS k", keys).Joins("JOIN orders AS o ON o.order_uid = k.order_uid").
			Select("k.order_uid, k.date_created, o.raw").Order("k.date_created DESC, k.order_uid DESC")
	}
	rows, err := q.Rows()
	if err != nil {
		return order.Page{}, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()

	var (
		page  order.Page
		after []order.Key
	)
	for rows.Next() {
		var (
			uid     string
			created time.Time
			raw     []byte
		)
		if err := rows.Scan(&uid, &created, &raw); err != nil {
			return order.Page{}, fmt.Errorf("search: %w", err)
		}
		page.Records = append(page.Records, record(uid, created, raw))
		// The key is the row's own (date_created, uid) as the database
		// compares them, microseconds and all, so the next page starts
		// exactly after this one.
		after = append(after, order.Key{DateCreated: created, UID: uid})
	}
	if err := rows.Err(); err != nil {
		return order.Page{}, fmt.Errorf("search: %w", err)
	}
	if len(page.Records) > f.Limit {
		page.Records = page.Records[:f.Limit]
		page.Next = &after[f.Limit-1]
	}
	return page, nil
}

// record builds the record of a stored order. Its DateCreated is the one in
// the JSON, nanoseconds and all, as the consumer cached it; the column keeps
// only microseconds and stands in when the JSON does not have the canonical
// shape (rows written before raw kept its bytes).
func record(uid string, created time.Time, raw []byte) order.Record {
	if t, ok := jsonCreated(raw); ok {
		created = t
	}
	return order.Record{UID: uid, DateCreated: created, JSON: raw}
}

// createdKey is how date_created appears in canonical JSON: compact, and not
// the first member, so preceded by a comma. Inside a JSON string a quote is
// always escaped, so this text can only be the member itself. It is the
// last member but one, so it is looked for from the end.
var createdKey = []byte(`,"date_created":"`)

func jsonCreated(raw []byte) (time.Time, bool) {
	i := bytes.LastIndex(raw, createdKey)
	if i < 0 {
		return time.Time{}, false
	}
	rest := raw[i+len(createdKey):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:end]))
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// storable reports whether every text of f is one PostgreSQL can hold. A
// filter with a NUL or invalid UTF-8 matches no stored order (validation lets
// no such text in), and sent to the server it would be an error, not a miss.
func storable(f order.Filter) bool {
	texts := []string{f.TrackNumber, f.CustomerID, f.Phone, f.Transaction}
	if f.After != nil {
		texts = append(texts, f.After.UID)
	}
	for _, t := range texts {
		if !utf8.ValidString(t) || strings.IndexByte(t, 0) >= 0 {
			return false
		}
	}
	return true
}
