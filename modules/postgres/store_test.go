package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"go.uber.org/fx/fxtest"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/postgres"
	"github.com/marketplace/orders/modules/postgres/pgtest"
)

func TestFixtureRoundTrip(t *testing.T) {
	s, _ := open(t)
	p := parsed(t, fixture(t))

	if got := save(t, s, p); !slices.Equal(got, []order.Outcome{order.Stored}) {
		t.Fatalf("outcomes = %v, want [stored]", got)
	}
	rec, err := s.Get(t.Context(), p.Order.OrderUID)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if !bytes.Equal(rec.JSON, p.JSON) {
		t.Errorf("stored JSON differs from consumed\n got: %s\nwant: %s", rec.JSON, p.JSON)
	}
	if rec.UID != p.Order.OrderUID || !rec.DateCreated.Equal(p.Order.DateCreated) {
		t.Errorf("record = %s %v, want %s %v", rec.UID, rec.DateCreated, p.Order.OrderUID, p.Order.DateCreated)
	}
}

func TestGetUnknown(t *testing.T) {
	s, _ := open(t)
	save(t, s, parsed(t, fixture(t)))
	_, err := s.Get(t.Context(), "no_such_order")
	if !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("err = %v, want order.ErrNotFound", err)
	}
}

func TestReplayIsNoOp(t *testing.T) {
	s, dsn := open(t)
	base := fixture(t)
	batch := []order.Parsed{
		parsed(t, variant(base, "replay-a", day(1))),
		parsed(t, withItems(variant(base, "replay-b", day(2)), 3)),
		parsed(t, variant(base, "replay-c", day(3))),
	}
	first := save(t, s, batch...)
	if want := []order.Outcome{order.Stored, order.Stored, order.Stored}; !slices.Equal(first, want) {
		t.Fatalf("first save = %v, want %v", first, want)
	}
	orders, items := count(t, dsn)

	second := save(t, s, batch...)
	if want := []order.Outcome{order.Duplicate, order.Duplicate, order.Duplicate}; !slices.Equal(second, want) {
		t.Errorf("replay = %v, want %v", second, want)
	}
	gotOrders, gotItems := count(t, dsn)
	if gotOrders != orders || gotItems != items {
		t.Errorf("after replay: %d orders, %d items; want %d, %d", gotOrders, gotItems, orders, items)
	}
	if orders != 3 || items != 5 {
		t.Errorf("stored %d orders, %d items; want 3, 5", orders, items)
	}
}

func TestOutcomes(t *testing.T) {
	base := fixture(t)
	a := variant(base, "order-a", day(1))
	aChanged := a
	aChanged.Delivery.Name = "Someone Else"
	b := variant(base, "order-b", day(2))

	tests := []struct {
		name      string
		stored    []order.Order // saved before
		give      []order.Order
		want      []order.Outcome
		wantStore []order.Order // what Get returns afterwards
	}{
		{
			name: "new orders are stored",
			give: []order.Order{a, b},
			want: []order.Outcome{order.Stored, order.Stored}, wantStore: []order.Order{a, b},
		},
		{
			name:   "already stored is a duplicate",
			stored: []order.Order{a},
			give:   []order.Order{a, b},
			want:   []order.Outcome{order.Duplicate, order.Stored}, wantStore: []order.Order{a, b},
		},
		{
			name:   "different content under a stored uid is a conflict and not merged",
			stored: []order.Order{a},
			give:   []order.Order{aChanged},
			want:   []order.Outcome{order.Conflict}, wantStore: []order.Order{a},
		},
		{
			name: "repeated within the batch is a duplicate",
			give: []order.Order{a, b, a},
			want: []order.Outcome{order.Stored, order.Stored, order.Duplicate}, wantStore: []order.Order{a, b},
		},
		{
			name: "changed within the batch is a conflict; the first wins",
			give: []order.Order{a, aChanged},
			want: []order.Outcome{order.Stored, order.Conflict}, wantStore: []order.Order{a},
		},
		{
			name:   "the stored order is the reference, not the batch's first",
			stored: []order.Order{a},
			give:   []order.Order{aChanged, a, aChanged},
			want:   []order.Outcome{order.Conflict, order.Duplicate, order.Conflict}, wantStore: []order.Order{a},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dsn := open(t)
			var pre []order.Parsed
			for _, o := range tt.stored {
				pre = append(pre, parsed(t, o))
			}
			if len(pre) > 0 {
				save(t, s, pre...)
			}
			var give []order.Parsed
			for _, o := range tt.give {
				give = append(give, parsed(t, o))
			}
			if got := save(t, s, give...); !slices.Equal(got, tt.want) {
				t.Errorf("outcomes = %v, want %v", got, tt.want)
			}
			for _, o := range tt.wantStore {
				want := parsed(t, o)
				rec, err := s.Get(t.Context(), o.OrderUID)
				if err != nil {
					t.Fatalf("get %s: %v", o.OrderUID, err)
				}
				if !bytes.Equal(rec.JSON, want.JSON) {
					t.Errorf("stored %s = %s\nwant %s", o.OrderUID, rec.JSON, want.JSON)
				}
			}
			if orders, items := count(t, dsn); orders != int64(len(tt.wantStore)) || items != int64(len(tt.wantStore)) {
				t.Errorf("stored %d orders, %d items; want %d each", orders, items, len(tt.wantStore))
			}
		})
	}
}

func TestNewest(t *testing.T) {
	s, _ := open(t)
	base := fixture(t)
	tie := day(5)
	save(t, s,
		parsed(t, variant(base, "old", day(1))),
		parsed(t, variant(base, "tie-A", tie)),
		parsed(t, variant(base, "newest", day(9))),
		parsed(t, variant(base, "tie-b", tie)),
		parsed(t, variant(base, "tie-B", tie)),
		// Same instant written in another zone: still a tie.
		parsed(t, variant(base, "tie-a", tie.In(time.FixedZone("MSK", 3*3600)))),
	)

	tests := []struct {
		give int
		want []string
	}{
		// Ties sort by uid bytes, descending: "b" > "a" > "B" > "A".
		{give: 10, want: []string{"newest", "tie-b", "tie-a", "tie-B", "tie-A", "old"}},
		{give: 3, want: []string{"newest", "tie-b", "tie-a"}},
		{give: 1, want: []string{"newest"}},
		{give: 0, want: nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.give), func(t *testing.T) {
			recs, err := s.Newest(t.Context(), tt.give)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range recs {
				got = append(got, r.UID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Newest(%d) = %v, want %v", tt.give, got, tt.want)
			}
		})
	}
}

func TestLargeBatch(t *testing.T) {
	s, dsn := open(t)
	base := withItems(fixture(t), 6)
	const n = 1000
	batch := make([]order.Parsed, n)
	for i := range batch {
		batch[i] = parsed(t, variant(base, fmt.Sprintf("bulk-%04d", i), day(0).Add(time.Duration(i)*time.Minute)))
	}
	out := save(t, s, batch...)
	for i, o := range out {
		if o != order.Stored {
			t.Fatalf("order %d: %v, want stored", i, o)
		}
	}
	// 6,000 items need more than one INSERT under the bind-parameter limit.
	if orders, items := count(t, dsn); orders != n || items != 6*n {
		t.Errorf("stored %d orders, %d items; want %d, %d", orders, items, n, 6*n)
	}
	for _, i := range []int{0, 499, n - 1} {
		rec, err := s.Get(t.Context(), batch[i].Order.OrderUID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rec.JSON, batch[i].JSON) {
			t.Errorf("order %d read back differs", i)
		}
	}
	newest, err := s.Newest(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(newest) != 1 || newest[0].UID != batch[n-1].Order.OrderUID {
		t.Errorf("newest = %v, want %s", newest, batch[n-1].Order.OrderUID)
	}
}

// Two consumers handed the same orders at once (a rebalance) must store each
// exactly once; the loser of a race retries, as its caller would.
func TestConcurrentWritersStoreOnce(t *testing.T) {
	_, dsn := open(t)
	base := fixture(t)
	batch := make([]order.Parsed, 50)
	for i := range batch {
		batch[i] = parsed(t, variant(base, fmt.Sprintf("race-%02d", i), day(i)))
	}

	const writers = 4
	stored := make([]int, len(batch))
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		s, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn, ConnectTimeout: 10 * time.Second}, logger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		wg.Go(func() {
			for attempt := 0; ; attempt++ {
				out, err := s.SaveBatch(t.Context(), batch)
				if err != nil {
					if attempt == 5 {
						errs <- err
						return
					}
					t.Logf("retrying: %v", err)
					continue
				}
				mu.Lock()
				for i, o := range out {
					switch o {
					case order.Stored:
						stored[i]++
					case order.Conflict:
						errs <- fmt.Errorf("order %d: conflict with itself", i)
					}
				}
				mu.Unlock()
				return
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, n := range stored {
		if n != 1 {
			t.Errorf("order %d reported stored %d times, want 1", i, n)
		}
	}
	if orders, items := count(t, dsn); orders != 50 || items != 50 {
		t.Errorf("stored %d orders, %d items; want 50, 50", orders, items)
	}
}

func TestLifecycle(t *testing.T) {
	cfg := postgres.Config{DSN: pgtest.DSN(t), ConnectTimeout: 10 * time.Second}
	lc := fxtest.NewLifecycle(t)
	s := postgres.New(lc, cfg, logger(t))
	if s.Ping(t.Context()) == nil {
		t.Fatal("store ready before start")
	}
	lc.RequireStart()
	if got := schemaVersion(t, cfg.DSN); got != latestVersion(t) {
		t.Errorf("schema at version %d after start, want %d", got, latestVersion(t))
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("ping after start: %v", err)
	}
	save(t, s, parsed(t, fixture(t)))
	lc.RequireStop()
	if err := s.Ping(t.Context()); err == nil {
		t.Error("ping succeeds after stop")
	}
}

func TestStartFailsWhenUnreachable(t *testing.T) {
	// Port 1 on loopback: nothing listens there, so every attempt is refused.
	cfg := postgres.Config{
		DSN:            "postgres://orders:secret-pw@127.0.0.1:1/orders?sslmode=disable",
		ConnectTimeout: 700 * time.Millisecond,
	}
	lc := fxtest.NewLifecycle(t)
	s := postgres.New(lc, cfg, logger(t))
	err := lc.Start(t.Context())
	if err == nil {
		lc.RequireStop()
		t.Fatal("start succeeded with no database")
	}
	if bytes.Contains([]byte(err.Error()), []byte("secret-pw")) {
		t.Errorf("error shows the password: %v", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte("not reachable")) {
		t.Errorf("error does not say the database is unreachable: %v", err)
	}
	if s.Ping(t.Context()) == nil {
		t.Error("store open without a database")
	}
}

// While the database is down, reads and writes fail with an error (to be
// retried) and Ping says so; once it is back, the same store works again.
func TestDatabaseOutage(t *testing.T) {
	cluster := pgtest.Cluster(t)
	s, dsn := open(t)
	base := fixture(t)
	before := parsed(t, variant(base, "before-outage", day(1)))
	save(t, s, before)

	if err := cluster.Pause(t.Context()); err != nil {
		t.Fatalf("pause: %v", err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = cluster.Resume(context.Background())
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err == nil {
		t.Error("ping succeeds while the database is down")
	}
	during := parsed(t, variant(base, "during-outage", day(2)))
	if out, err := s.SaveBatch(ctx, []order.Parsed{during}); err == nil {
		t.Errorf("save succeeded while the database is down: %v", out)
	}
	if _, err := s.Get(ctx, before.Order.OrderUID); err == nil || errors.Is(err, order.ErrNotFound) {
		t.Errorf("get while down: %v, want an error that is not ErrNotFound", err)
	}

	if err := cluster.Resume(t.Context()); err != nil {
		t.Fatalf("resume: %v", err)
	}
	resumed = true
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("ping after recovery: %v", err)
	}
	var out []order.Outcome
	var err error
	for range 3 { // a pooled connection may die with the old server
		if out, err = s.SaveBatch(t.Context(), []order.Parsed{during}); err == nil {
			break
		}
	}
	if err != nil || !slices.Equal(out, []order.Outcome{order.Stored}) {
		t.Fatalf("save after recovery: %v, %v", out, err)
	}
	if orders, _ := count(t, dsn); orders != 2 {
		t.Errorf("%d orders after recovery, want 2", orders)
	}
}

// The search columns and the JSON stored are those of the order that was
// stored, not of a later, conflicting one under the same uid.
func TestColumnsFollowTheStoredOrder(t *testing.T) {
	s, dsn := open(t)
	base := fixture(t)
	a := withItems(variant(base, "parts-a", day(1)), 3)
	aChanged := withItems(variant(base, "parts-a", day(1)), 2)
	aChanged.Delivery.Name, aChanged.Delivery.Phone = "Someone Else", "+79990000001"
	aChanged.Payment.Bank, aChanged.Payment.Transaction = "another-bank", "tx-changed"
	b := withItems(variant(base, "parts-b", day(2)), 4)

	got := save(t, s, parsed(t, aChanged), parsed(t, b), parsed(t, a))
	if want := []order.Outcome{order.Stored, order.Stored, order.Conflict}; !slices.Equal(got, want) {
		t.Fatalf("outcomes = %v, want %v", got, want)
	}
	var name, bank, phone, transaction string
	var items, bItems, keys int64
	query(t, dsn, `SELECT raw -> 'delivery' ->> 'name', raw -> 'payment' ->> 'bank', k.phone, k.transaction,
		json_array_length(raw -> 'items'), (SELECT json_array_length(raw -> 'items') FROM orders WHERE order_uid = 'parts-b'),
		(SELECT count(*) FROM order_search WHERE order_uid = 'parts-a')
		FROM orders o JOIN order_search k USING (order_uid) WHERE order_uid = 'parts-a'`,
		&name, &bank, &phone, &transaction, &items, &bItems, &keys)
	if name != aChanged.Delivery.Name || bank != aChanged.Payment.Bank || phone != aChanged.Delivery.Phone ||
		transaction != aChanged.Payment.Transaction || items != 2 || bItems != 4 || keys != 1 {
		t.Errorf("stored parts-a with %q, %q, %q, %q, %d items, %d rows of search keys, and parts-b with %d items; "+
			"want %q, %q, %q, %q, 2 items, 1 row and 4 items",
			name, bank, phone, transaction, items, keys, bItems,
			aChanged.Delivery.Name, aChanged.Payment.Bank, aChanged.Delivery.Phone, aChanged.Payment.Transaction)
	}
}

// A batch of new orders, one of which another writer is storing at that
// moment, waits for that writer and then decides that order as it would
// have, had it come later: here a conflict, while the rest is stored.
func TestWriterStoringTheSameUIDMeanwhile(t *testing.T) {
	s, dsn := open(t)
	base := fixture(t)
	x := parsed(t, variant(base, "meanwhile-x", day(1)))
	changed := x.Order
	changed.Delivery.City = "Elsewhere"
	xChanged := parsed(t, changed)
	y := parsed(t, variant(base, "meanwhile-y", day(2)))

	ctx := t.Context()
	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.WithoutCancel(ctx))
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	o := x.Order
	if _, err := tx.Exec(ctx, `INSERT INTO orders (order_uid, date_created, raw) VALUES ($1, $2, $3)`,
		o.OrderUID, o.DateCreated, string(x.JSON)); err != nil {
		t.Fatal(err)
	}

	type result struct {
		out []order.Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := s.SaveBatch(ctx, []order.Parsed{y, xChanged})
		done <- result{out, err}
	}()
	// The batch has to be waiting for the other writer's row lock before
	// that writer commits, or the test proves nothing.
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		var waiting int
		query(t, dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", &waiting)
		if waiting == 0 {
			return struct{}{}, errors.New("the batch is not waiting for the other writer")
		}
		return struct{}{}, nil
	}, backoff.WithBackOff(backoff.NewConstantBackOff(10*time.Millisecond)), backoff.WithMaxElapsedTime(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("save: %v", r.err)
	}
	if want := []order.Outcome{order.Stored, order.Conflict}; !slices.Equal(r.out, want) {
		t.Errorf("outcomes = %v, want %v", r.out, want)
	}
	var orders int
	var city string
	query(t, dsn, "SELECT count(*), max(raw -> 'delivery' ->> 'city') FILTER (WHERE order_uid = 'meanwhile-x') FROM orders",
		&orders, &city)
	if orders != 2 || city != x.Order.Delivery.City {
		t.Errorf("%d orders, meanwhile-x in %q; want 2, the other writer's %q", orders, city, x.Order.Delivery.City)
	}
}

// TestColumnsHoldTheOrder reads every column of orders back, on both write
// paths (a new batch, and a batch with a repeat, which is staged): the
// search columns hold the order's values and raw decodes to the order.
func TestColumnsHoldTheOrder(t *testing.T) {
	s, dsn := open(t)
	base := fixture(t)
	a := withItems(variant(base, "cols-a", time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.FixedZone("", 3*3600))), 3)
	a.SmID, a.Payment.PaymentDt, a.Items[2].NmID = 1<<40, 1<<45, 7
	a.Delivery.Name, a.Items[1].Brand = "Иван «Ваня» Петров", "Brand\\with/slashes"
	a.Delivery.Phone, a.Payment.Transaction, a.CustomerID = "+7 (999) 000-00-01", "tx «a»", "клиент-1"
	b := withItems(variant(base, "cols-b", time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC)), 1)
	c := variant(base, "cols-c", day(3))
	save(t, s, parsed(t, a))
	save(t, s, parsed(t, b), parsed(t, c), parsed(t, b)) // staged: b repeats

	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	for _, want := range []order.Order{a, b, c} {
		var (
			uid, track, customer, phone, transaction string
			created                                  time.Time
			raw                                      []byte
		)
		// Each stored order is one row of orders and one of order_search,
		// in the partition of its month.
		err := conn.QueryRow(t.Context(), `
			SELECT o.order_uid, k.track_number, k.customer_id, k.phone, k.transaction, o.date_created, o.raw
			FROM orders o JOIN order_search k ON k.order_uid = o.order_uid AND k.date_created = o.date_created
			WHERE o.order_uid = $1`, want.OrderUID).Scan(&uid, &track, &customer, &phone, &transaction, &created, &raw)
		if err != nil {
			t.Fatalf("%s: %v", want.OrderUID, err)
		}
		if got := []string{uid, track, customer, phone, transaction}; !slices.Equal(got, []string{want.OrderUID,
			want.TrackNumber, want.CustomerID, want.Delivery.Phone, want.Payment.Transaction}) {
			t.Errorf("%s: uid, track_number, customer_id, phone, transaction hold %q", want.OrderUID, got)
		}
		// timestamptz keeps microseconds, and reads back in UTC.
		if !created.Equal(want.DateCreated.Truncate(time.Microsecond)) {
			t.Errorf("%s: date_created %v, want %v", want.OrderUID, created, want.DateCreated)
		}
		o, err := order.Decode(raw)
		if err != nil || !reflect.DeepEqual(o, want) {
			t.Errorf("%s: raw holds\n%+v (%v)\nwant\n%+v", want.OrderUID, o, err, want)
		}
	}
}
