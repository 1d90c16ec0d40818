package web

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/marketplace/orders/modules/order"
)

// searchDown is a track number the fake search fails on, as a store would.
const searchDown = "SEARCH-DOWN"

// fakeSearch answers Search over the records of a fakeOrders, as the store
// would: exact matches, newest first, keyset after Filter.After.
type fakeSearch struct {
	orders *fakeOrders
	mu     sync.Mutex
	last   order.Filter
}

func (s *fakeSearch) Search(_ context.Context, f order.Filter) (order.Page, error) {
	s.mu.Lock()
	s.last = f
	s.mu.Unlock()
	if f.TrackNumber == searchDown {
		return order.Page{}, fmt.Errorf("search: %s", storeSecret)
	}
	if f.Limit < 1 || f.Limit > order.MaxListLimit {
		return order.Page{}, fmt.Errorf("limit %d out of range", f.Limit)
	}
	var all []order.Record
	for _, r := range s.orders.all() {
		o := decode(r)
		if (f.TrackNumber == "" || o.TrackNumber == f.TrackNumber) &&
			(f.Transaction == "" || o.Payment.Transaction == f.Transaction) &&
			(f.CustomerID == "" || o.CustomerID == f.CustomerID) &&
			(f.Phone == "" || o.Delivery.Phone == f.Phone) {
			if f.After != nil && !(order.Record{DateCreated: f.After.DateCreated, UID: f.After.UID}).Newer(r) {
				continue
			}
			all = append(all, r)
		}
	}
	sortNewest(all)
	page := order.Page{Records: all[:min(len(all), f.Limit)]}
	if len(all) > f.Limit {
		last := page.Records[len(page.Records)-1]
		page.Next = &order.Key{DateCreated: last.DateCreated, UID: last.UID}
	}
	return page, nil
}

func (s *fakeSearch) lastFilter() order.Filter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func sortNewest(recs []order.Record) { slices.SortFunc(recs, order.NewestFirst) }

func decode(r order.Record) order.Order {
	p, err := order.DefaultRules().Parse(r.JSON)
	if err != nil {
		panic(err)
	}
	return p.Order
}

func (f *fakeOrders) all() []order.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]order.Record, 0, len(f.records))
	for _, r := range f.records {
		out = append(out, r)
	}
	return out
}

func (f *fakeOrders) put(r order.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records[r.UID] = r
}

// fakeRecent is the cache's Newest over a fakeOrders.
type fakeRecent struct{ orders *fakeOrders }

func (c *fakeRecent) Newest(n int) []order.Record {
	all := c.orders.all()
	sortNewest(all)
	return all[:min(n, len(all))]
}

// fakeParked lists messages in pages; its cursors are "p<index>" into the
// messages of the kind asked for. err, when set, is what every listing
// fails with.
type fakeParked struct {
	mu    sync.Mutex
	items []order.Parked
	err   error
	kinds []order.Kind // the kinds asked for, in order
}

var errFakeBadCursor = fmt.Errorf("fake: %w", ErrBadCursor)

func (p *fakeParked) ListParkedKind(_ context.Context, kind order.Kind, limit int, cursor string) (order.ParkedPage, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.kinds = append(p.kinds, kind)
	if p.err != nil {
		return order.ParkedPage{}, p.err
	}
	counts := map[order.Kind]int{}
	var items []order.Parked
	for _, m := range p.items {
		counts[m.Kind]++
		if kind == "" || m.Kind == kind {
			items = append(items, m)
		}
	}
	start := 0
	if cursor != "" {
		if _, err := fmt.Sscanf(cursor, "p%d", &start); err != nil || start < 0 || start > len(items) {
			return order.ParkedPage{}, errFakeBadCursor
		}
	}
	if limit < 1 {
		return order.ParkedPage{}, errors.New("bad limit")
	}
	end := min(start+limit, len(items))
	page := order.ParkedPage{Items: items[start:end], Counts: counts}
	if end < len(items) {
		page.Next = fmt.Sprintf("p%d", end)
	}
	return page, nil
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
