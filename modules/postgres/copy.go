//go:build !abtest_pgxcopy

package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/order"
)

// copyRows is one table's rows in PostgreSQL's binary COPY format, written
// field by field for the column types of the schema in migrations/ (text,
// bigint, integer, timestamptz, json). pgx's CopyFrom writes the same
// format, but looks up an encode plan for every value; that cost the
// consumer as much CPU as parsing the orders did.
type copyRows struct{ b []byte }

// pgCopyHeader opens a binary COPY stream: the signature, no flags, no
// header extension.
var pgCopyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

func newCopyRows(sizeHint int) *copyRows {
	return &copyRows{b: append(make([]byte, 0, sizeHint), pgCopyHeader...)}
}

func (c *copyRows) row(fields int) { c.b = binary.BigEndian.AppendUint16(c.b, uint16(fields)) }

func (c *copyRows) text(s string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
}

// json is a json column's value: in binary COPY, its text.
func (c *copyRows) json(v []byte) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(v)))
	c.b = append(c.b, v...)
}

func (c *copyRows) int8(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

func (c *copyRows) int4(v int32) {
	c.b = binary.BigEndian.AppendUint32(c.b, 4)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(v))
}

// pgEpoch is where timestamptz counts its microseconds from.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// timestamptz is t in microseconds from 2000-01-01 UTC, as pgx writes it
// (nanoseconds truncated).
func (c *copyRows) timestamptz(t time.Time) {
	c.int8((t.Unix()-pgEpoch)*1_000_000 + int64(t.Nanosecond())/1000)
}

// into sends the rows to table's columns, within tx.
func (c *copyRows) into(ctx context.Context, tx pgx.Tx, table string, columns []string) error {
	c.b = binary.BigEndian.AppendUint16(c.b, 0xffff) // the trailer: -1 fields
	quoted := make([]string, len(columns))
	for i, col := range columns {
		quoted[i] = pgx.Identifier{col}.Sanitize()
	}
	sql := "COPY " + pgx.Identifier{table}.Sanitize() + " (" + strings.Join(quoted, ", ") + ") FROM STDIN (FORMAT binary)"
	_, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(c.b), sql)
	return err
}

// orderRows are the orders' rows, with the order's index in the batch
// first when staged.
func orderRows(orders []*order.Parsed, staged bool) *copyRows {
	c := newCopyRows(len(orders) * 1600)
	for i, p := range orders {
		o := &p.Order
		if staged {
			c.row(len(stageColumns))
			c.int4(int32(i))
		} else {
			c.row(len(orderColumns))
		}
		c.text(o.OrderUID)
		c.text(o.TrackNumber)
		c.text(o.CustomerID)
		c.text(o.Delivery.Phone)
		c.text(o.Payment.Transaction)
		c.timestamptz(o.DateCreated)
		c.json(p.JSON)
	}
	return c
}
