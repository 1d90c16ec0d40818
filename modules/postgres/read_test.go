package postgres_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/order/fake"
)

// A cache miss answers with the very bytes the cache would hold: the
// consumer caches what Parse returned, warm-up caches what Newest returns.
func TestReadsReturnTheCachedBytes(t *testing.T) {
	s, _ := open(t)
	gen := fake.New(7)
	var batch []order.Parsed
	for range 20 {
		batch = append(batch, parsed(t, gen.Order()))
	}
	// Nanoseconds and a zone other than UTC survive as they were consumed,
	// although the date_created column keeps microseconds.
	precise := variant(fixture(t), "nanoseconds", time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("", 3*3600)))
	batch = append(batch, parsed(t, precise))
	save(t, s, batch...)

	newest, err := s.Newest(t.Context(), len(batch))
	if err != nil {
		t.Fatal(err)
	}
	warm := make(map[string]order.Record, len(newest))
	for _, r := range newest {
		warm[r.UID] = r
	}
	for _, p := range batch {
		want := p.Record()
		got, err := s.Get(t.Context(), want.UID)
		if err != nil {
			t.Fatalf("get %s: %v", want.UID, err)
		}
		for _, r := range []struct {
			how string
			got order.Record
		}{{"get", got}, {"newest", warm[want.UID]}} {
			if r.got.UID != want.UID || !bytes.Equal(r.got.JSON, want.JSON) || !r.got.DateCreated.Equal(want.DateCreated) {
				t.Errorf("%s %s = %s %v %s\nwant the consumed record %s %v %s", r.how, want.UID,
					r.got.UID, r.got.DateCreated, r.got.JSON, want.UID, want.DateCreated, want.JSON)
			}
		}
	}
}

func TestSearch(t *testing.T) {
	s, _ := open(t)
	base := fixture(t)
	type spec struct {
		uid, track, customer, phone string
		date                        time.Time
	}
	specs := []spec{
		{"a1", "TRACK-A", "alice", "+70000000001", day(1)},
		{"a2", "TRACK-A", "alice", "+70000000001", day(2)},
		{"a3", "TRACK-A", "bob", "+70000000002", day(2)},
		{"a4", "TRACK-A", "bob", "+70000000002", day(2)},
		{"a5", "TRACK-A", "alice", "+70000000002", day(2)},
		{"a6", "TRACK-A", "carol", "+70000000003", day(3)},
		{"a7", "TRACK-A", "alice", "+70000000001", day(0)},
		{"b1", "TRACK-B", "alice", "+70000000001", day(2)},
		{"b2", "TRACK-B", "bob", "+70000000009", day(5)},
	}
	for _, sp := range specs {
		o := variant(base, sp.uid, sp.date)
		o.TrackNumber = sp.track
		o.CustomerID = sp.customer
		o.Delivery.Phone = sp.phone
		save(t, s, parsed(t, o))
	}

	tests := []struct {
		name string
		give order.Filter
		want []string // newest first, every page together
	}{
		{"every order", order.Filter{}, []string{"b2", "a6", "b1", "a5", "a4", "a3", "a2", "a1", "a7"}},
		{"track number", order.Filter{TrackNumber: "TRACK-A"}, []string{"a6", "a5", "a4", "a3", "a2", "a1", "a7"}},
		{"customer id", order.Filter{CustomerID: "alice"}, []string{"b1", "a5", "a2", "a1", "a7"}},
		{"phone", order.Filter{Phone: "+70000000002"}, []string{"a5", "a4", "a3"}},
		{"transaction", order.Filter{Transaction: "a4"}, []string{"a4"}},
		{"every field must match", order.Filter{TrackNumber: "TRACK-A", CustomerID: "alice", Phone: "+70000000001"}, []string{"a2", "a1", "a7"}},
		{"no match", order.Filter{TrackNumber: "TRACK-B", Transaction: "a1"}, nil},
		{"exact, not a prefix", order.Filter{TrackNumber: "TRACK"}, nil},
		// Text PostgreSQL cannot hold matches nothing rather than failing.
		{"NUL in a filter", order.Filter{Transaction: "a4\x00"}, nil},
		{"invalid UTF-8 in a filter", order.Filter{Phone: "+7\xff"}, nil},
		{"NUL in the cursor's uid", order.Filter{After: &order.Key{DateCreated: day(9), UID: "a\x00"}}, nil},
	}
	for _, tt := range tests {
		for _, limit := range []int{1, 2, 3, len(tt.want), order.MaxListLimit} {
			if limit < 1 {
				continue
			}
			t.Run(fmt.Sprintf("%s/limit %d", tt.name, limit), func(t *testing.T) {
				f := tt.give
				f.Limit = limit
				var got []string
				for pages := 0; ; pages++ {
					if pages > len(tt.want) {
						t.Fatalf("more pages than orders: %v so far", got)
					}
					page, err := s.Search(t.Context(), f)
					if err != nil {
						t.Fatal(err)
					}
					if len(page.Records) > limit {
						t.Fatalf("page of %d records, limit %d", len(page.Records), limit)
					}
					for _, r := range page.Records {
						got = append(got, r.UID)
					}
					if page.Next == nil {
						break
					}
					if len(page.Records) != limit {
						t.Errorf("short page of %d with a next key", len(page.Records))
					}
					f.After = page.Next
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("listed %v, want %v", got, tt.want)
				}
			})
		}
	}

	t.Run("a full last page has no next key", func(t *testing.T) {
		page, err := s.Search(t.Context(), order.Filter{Phone: "+70000000002", Limit: 3})
		if err != nil || len(page.Records) != 3 || page.Next != nil {
			t.Errorf("got %d records, next %v, err %v; want 3, nil, nil", len(page.Records), page.Next, err)
		}
	})
	t.Run("records are the stored orders", func(t *testing.T) {
		page, err := s.Search(t.Context(), order.Filter{Transaction: "b2", Limit: 1})
		if err != nil || len(page.Records) != 1 {
			t.Fatalf("got %v, %v", page, err)
		}
		want, err := s.Get(t.Context(), "b2")
		if err != nil {
			t.Fatal(err)
		}
		if r := page.Records[0]; !bytes.Equal(r.JSON, want.JSON) || !r.DateCreated.Equal(want.DateCreated) {
			t.Errorf("listed %s %v, want %s %v", r.JSON, r.DateCreated, want.JSON, want.DateCreated)
		}
	})
	t.Run("limit out of range", func(t *testing.T) {
		for _, limit := range []int{0, -1, order.MaxListLimit + 1} {
			if _, err := s.Search(t.Context(), order.Filter{Limit: limit}); err == nil {
				t.Errorf("limit %d accepted", limit)
			}
		}
	})
}
