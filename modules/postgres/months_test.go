package postgres_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/order"
)

// partitions lists order_search's partitions: history first (it holds what
// is before the months), then the months, oldest first.
func partitions(t *testing.T, dsn string) []string {
	t.Helper()
	var names []string
	query(t, dsn, `SELECT array_agg(c.relname::text ORDER BY c.relname <> 'order_search_history', c.relname)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'order_search'::regclass`, &names)
	return names
}

// monthNames are the partition names of the n months from the one holding
// at, in UTC.
func monthNames(at time.Time, n int) []string {
	first := time.Date(at.UTC().Year(), at.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	var out []string
	for i := range n {
		out = append(out, "order_search_"+first.AddDate(0, i, 0).Format("2006_01"))
	}
	return out
}

// ahead is o parsed as a consumed message would be by a service whose clock
// reads o's date_created: validation refuses dates more than an hour ahead.
func ahead(t *testing.T, o order.Order) order.Parsed {
	t.Helper()
	raw, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	rules := order.DefaultRules()
	rules.Now = func() time.Time { return o.DateCreated }
	p, err := rules.Parse(raw)
	if err != nil {
		t.Fatalf("test order %s is invalid: %v", o.OrderUID, err)
	}
	return p
}

// An open store has the partitions of this month and the two after it, so
// that an order dated up to two months ahead can be stored; everything
// before this month is in the history partition.
func TestStoreHasTheComingMonths(t *testing.T) {
	_, dsn := open(t)
	want := append([]string{"order_search_history"}, monthNames(time.Now(), 3)...)
	if got := partitions(t, dsn); !slices.Equal(got, want) {
		t.Errorf("order_search partitions %q, want %q", got, want)
	}
}

// Months the service was not running for are added when it runs again, with
// no gap, however many instances add them at once; a month added already is
// not added again.
func TestMonthsAddedAfterADowntime(t *testing.T) {
	_, dsn := open(t)
	later := time.Now().AddDate(0, 5, 0)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		added []int
	)
	for range 3 {
		wg.Go(func() {
			var n int
			ctx := context.WithoutCancel(t.Context())
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close(ctx)
			if err := conn.QueryRow(ctx, "SELECT order_search_add_months(2, $1)", later).Scan(&n); err != nil {
				t.Errorf("add months: %v", err)
				return
			}
			mu.Lock()
			added = append(added, n)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(added)
	if want := []int{0, 0, 5}; !slices.Equal(added, want) {
		t.Errorf("three instances at once added %v months, want %v", added, want)
	}
	want := append([]string{"order_search_history"}, monthNames(time.Now(), 8)...)
	if got := partitions(t, dsn); !slices.Equal(got, want) {
		t.Errorf("order_search partitions %q, want %q", got, want)
	}
}

// A search finds orders of every month, each once and newest first, and a
// cursor carries it across the months: history, this month, the next two.
func TestSearchAcrossMonths(t *testing.T) {
	s, dsn := open(t)
	now := time.Now().UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	dates := []time.Time{
		thisMonth.AddDate(0, 2, 0).Add(24*time.Hour - time.Microsecond), // in the last month that has a partition
		thisMonth.AddDate(0, 1, 0),
		thisMonth.AddDate(0, 1, 0).Add(-time.Microsecond),
		now,
		thisMonth,
		thisMonth.Add(-time.Microsecond), // history from here on
		thisMonth.AddDate(0, -1, 0),
		day(1),
	}
	base := fixture(t)
	var batch []order.Parsed
	var want []string
	for i, d := range dates {
		o := variant(base, "month-"+string(rune('a'+i)), d)
		o.TrackNumber = "MONTHS"
		batch = append(batch, ahead(t, o))
		want = append(want, o.OrderUID)
	}
	save(t, s, batch...)
	// The staged path writes the keys too: one order new, one stored already.
	late := variant(base, "month-late", thisMonth.AddDate(0, 1, 1))
	late.TrackNumber = "MONTHS"
	if got := save(t, s, ahead(t, late), batch[0]); !slices.Equal(got, []order.Outcome{order.Stored, order.Duplicate}) {
		t.Fatalf("outcomes %v, want stored, duplicate", got)
	}
	want = slices.Insert(want, 1, late.OrderUID)

	var got []string
	f := order.Filter{TrackNumber: "MONTHS", Limit: 2}
	for range len(want) {
		page, err := s.Search(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			got = append(got, r.UID)
		}
		if page.Next == nil {
			break
		}
		f.After = page.Next
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages of 2 list %q, want %q", got, want)
	}

	var history, months int
	query(t, dsn, `SELECT count(*) FILTER (WHERE tableoid = 'order_search_history'::regclass),
		count(*) FILTER (WHERE tableoid <> 'order_search_history'::regclass) FROM order_search`, &history, &months)
	if history != 3 || months != 6 {
		t.Errorf("history holds %d orders and the months %d, want 3 and 6", history, months)
	}
}

// An order dated in a month that has no partition yet fails its batch with
// an error that says so, and nothing of the batch is stored; once the month
// is added, the batch is stored. Validation keeps such dates out (an hour
// ahead at most) while the months are added; this is what a batch would
// meet if no instance had added them for two months.
func TestOrderOfAMonthWithoutPartition(t *testing.T) {
	s, dsn := open(t)
	base := fixture(t)
	far := time.Now().AddDate(0, 4, 0)
	batch := []order.Parsed{parsed(t, variant(base, "far-ok", day(2))), ahead(t, variant(base, "far-ahead", far))}
	_, err := s.SaveBatch(t.Context(), batch)
	if err == nil || !strings.Contains(err.Error(), "no partition") {
		t.Fatalf("a batch with an order four months ahead: error %v, want one saying it has no partition", err)
	}
	if n, _ := count(t, dsn); n != 0 {
		t.Fatalf("%d orders stored from a batch that failed", n)
	}
	var added int
	query(t, dsn, "SELECT order_search_add_months(0, now() + interval '4 months')", &added)
	if got := save(t, s, batch...); !slices.Equal(got, []order.Outcome{order.Stored, order.Stored}) {
		t.Fatalf("outcomes %v, want both stored", got)
	}
}
