package postgres_test

import (
	"context"
	_ "embed"
	"io/fs"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/migrations"
	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/postgres"
	"github.com/marketplace/orders/modules/postgres/pgtest"
)

func TestMigrateTwice(t *testing.T) {
	first, dsn := open(t)
	p := parsed(t, fixture(t))
	save(t, first, p)

	second, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn, ConnectTimeout: 10 * time.Second}, logger(t))
	if err != nil {
		t.Fatalf("second open: %v", err)
	}
	defer second.Close()
	if _, err := second.Get(t.Context(), p.Order.OrderUID); err != nil {
		t.Errorf("order lost by second migration: %v", err)
	}
	checkMigrated(t, dsn)
}

func TestMigrateConcurrently(t *testing.T) {
	dsn := pgtest.DSN(t)
	const instances = 4
	var wg sync.WaitGroup
	errs := make([]error, instances)
	for i := range instances {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn, ConnectTimeout: 10 * time.Second}, logger(t))
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	checkMigrated(t, dsn)
}

// runnerSchema is migrations/001_init.sql as the hand-written runner before
// goose applied it: no goose annotations, no IF NOT EXISTS.
//
//go:embed testdata/runner_001_init.sql
var runnerSchema string

// A database that the runner before goose migrated, with orders in it, is
// taken over: goose applies its first version over the existing schema, the
// orders stay readable, and replaying them is still a no-op.
func TestMigrateOverRunnerSchema(t *testing.T) {
	dsn := pgtest.DSN(t)
	base := fixture(t)
	old := parsed(t, withItems(variant(base, "written-by-runner", day(1)), 2))
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	o, d, pm := old.Order, old.Order.Delivery, old.Order.Payment
	setup := []struct {
		sql  string
		args []any
	}{
		{runnerSchema, nil},
		{`CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
		  INSERT INTO schema_migrations (version) VALUES ('001_init')`, nil},
		{`INSERT INTO orders (order_uid, track_number, entry, locale, internal_signature, customer_id, delivery_service,
		    shardkey, sm_id, date_created, oof_shard, raw) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)`,
			[]any{o.OrderUID, o.TrackNumber, o.Entry, o.Locale, o.InternalSignature, o.CustomerID, o.DeliveryService,
				o.ShardKey, o.SmID, o.DateCreated, o.OofShard, string(old.JSON)}},
		{`INSERT INTO deliveries VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			[]any{o.OrderUID, d.Name, d.Phone, d.Zip, d.City, d.Address, d.Region, d.Email}},
		{`INSERT INTO payments VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			[]any{o.OrderUID, pm.Transaction, pm.RequestID, pm.Currency, pm.Provider, pm.Amount, pm.PaymentDt, pm.Bank,
				pm.DeliveryCost, pm.GoodsTotal, pm.CustomFee}},
	}
	for i, it := range o.Items {
		setup = append(setup, struct {
			sql  string
			args []any
		}{`INSERT INTO items VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			[]any{o.OrderUID, i, it.ChrtID, it.TrackNumber, it.Price, it.Rid, it.Name, it.Sale, it.Size, it.TotalPrice,
				it.NmID, it.Brand, it.Status}})
	}
	for _, st := range setup {
		mode := []any{pgx.QueryExecModeSimpleProtocol} // many statements in one
		if st.args != nil {
			mode = st.args
		}
		if _, err := conn.Exec(ctx, st.sql, mode...); err != nil {
			t.Fatalf("set up the runner's database: %v", err)
		}
	}

	s, err := postgres.Open(ctx, postgres.Config{DSN: dsn, ConnectTimeout: 10 * time.Second}, logger(t))
	if err != nil {
		t.Fatalf("open over the runner's schema: %v", err)
	}
	defer s.Close()
	checkMigrated(t, dsn)

	rec, err := s.Get(ctx, o.OrderUID)
	if err != nil {
		t.Fatalf("get the runner's order: %v", err)
	}
	// Written as jsonb, the order keeps jsonb's rendering: the same values.
	same, err := order.Decode(rec.JSON)
	if err != nil || !reflect.DeepEqual(same, old.Order) || !rec.DateCreated.Equal(o.DateCreated) {
		t.Errorf("the runner's order reads back as %s %v (%v), want %s %v", rec.JSON, rec.DateCreated, err, old.JSON, o.DateCreated)
	}
	changed := o
	changed.Delivery.City = "Elsewhere"
	got := save(t, s, old, parsed(t, changed))
	if want := []order.Outcome{order.Duplicate, order.Conflict}; !slices.Equal(got, want) {
		t.Errorf("replaying the runner's order: %v, want %v", got, want)
	}
	if orders, items := count(t, dsn); orders != 1 || items != 2 {
		t.Errorf("%d orders, %d items; want 1, 2", orders, items)
	}
	// Its phone and transaction, kept in deliveries and payments before
	// 006, are searchable from orders alone.
	for _, f := range []order.Filter{{Phone: d.Phone}, {Transaction: pm.Transaction}, {TrackNumber: o.TrackNumber}} {
		f.Limit = 10
		page, err := s.Search(ctx, f)
		if err != nil || len(page.Records) != 1 || page.Records[0].UID != o.OrderUID {
			t.Errorf("search %+v after the migration: %v (%v), want %s", f, page.Records, err, o.OrderUID)
		}
	}
	var tables []string
	query(t, dsn, `SELECT coalesce(array_agg(relname::text ORDER BY relname), '{}') FROM pg_class
		WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace AND relname IN ('deliveries', 'payments', 'items')`, &tables)
	if len(tables) != 0 {
		t.Errorf("tables %v are left after the migration", tables)
	}
}

// checkMigrated fails unless every migration is recorded exactly once.
func checkMigrated(t *testing.T, dsn string) {
	t.Helper()
	var versions []int64
	query(t, dsn, "SELECT coalesce(array_agg(version_id ORDER BY id), '{}') FROM goose_db_version WHERE version_id > 0 AND is_applied", &versions)
	if want := migrationVersions(t); !slices.Equal(versions, want) {
		t.Errorf("goose_db_version records %v, want %v", versions, want)
	}
}

// migrationVersions lists the versions of migrations.FS in order.
func migrationVersions(t testing.TB) []int64 {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, name := range names {
		v, err := strconv.ParseInt(name[:strings.IndexByte(name, '_')], 10, 64)
		if err != nil {
			t.Fatalf("migration %s: %v", name, err)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

func schemaVersion(t *testing.T, dsn string) int64 {
	t.Helper()
	var v int64
	query(t, dsn, "SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied", &v)
	return v
}

func latestVersion(t testing.TB) int64 {
	v := migrationVersions(t)
	return v[len(v)-1]
}

// Migrations 005 and 006 keep one copy of an order, its JSON. Their Downs
// restore the copies 006 dropped (deliveries, payments, items and seven
// columns) from that JSON, and Up again leaves the same orders, searchable
// by phone and transaction from orders alone.
func TestOneCopyDownAndUp(t *testing.T) {
	s, dsn := open(t)
	base := fixture(t)
	a := withItems(variant(base, "down-a", day(1)), 3)
	a.Delivery.Phone, a.SmID, a.Items[2].Brand = "+79990000002", 1<<40, "Brand «Три»"
	b := variant(base, "down-b", day(2))
	save(t, s, parsed(t, a), parsed(t, b))
	ctx := t.Context()

	const before = 4
	if _, err := postgres.MigrateTo(ctx, dsn, before); err != nil {
		t.Fatalf("down to %d: %v", before, err)
	}
	var (
		phone, transaction, brand string
		items, smID               int64
	)
	query(t, dsn, `SELECT d.phone, p.transaction, o.sm_id,
		(SELECT count(*) FROM items WHERE order_uid = o.order_uid), (SELECT brand FROM items WHERE order_uid = o.order_uid AND position = 2)
		FROM orders o JOIN deliveries d USING (order_uid) JOIN payments p USING (order_uid) WHERE o.order_uid = 'down-a'`,
		&phone, &transaction, &smID, &items, &brand)
	if phone != a.Delivery.Phone || transaction != a.Payment.Transaction || smID != a.SmID || items != 3 || brand != a.Items[2].Brand {
		t.Errorf("down to %d: phone %q, transaction %q, sm_id %d, %d items, the third of %q; want %q, %q, %d, 3, %q",
			before, phone, transaction, smID, items, brand, a.Delivery.Phone, a.Payment.Transaction, a.SmID, a.Items[2].Brand)
	}

	if _, err := postgres.MigrateTo(ctx, dsn, latestVersion(t)); err != nil {
		t.Fatalf("up again: %v", err)
	}
	again := openAt(t, dsn)
	for _, f := range []order.Filter{{Phone: a.Delivery.Phone}, {Transaction: a.Payment.Transaction}} {
		f.Limit = 10
		page, err := again.Search(ctx, f)
		if err != nil || len(page.Records) != 1 || page.Records[0].UID != a.OrderUID {
			t.Errorf("search %+v after down and up: %v (%v), want %s", f, page.Records, err, a.OrderUID)
		}
	}
	if orders, items := count(t, dsn); orders != 2 || items != 4 {
		t.Errorf("after down and up: %d orders, %d items; want 2, 4", orders, items)
	}
}

// Migration 007 moves the search keys to order_search, by month. Its Down
// puts them back as columns of orders, filled from order_search and
// searchable as version 6 searched, and Up again moves them back.
func TestSearchByMonthDownAndUp(t *testing.T) {
	s, dsn := open(t)
	base := fixture(t)
	a := variant(base, "month-down-a", day(1))
	a.TrackNumber, a.CustomerID, a.Delivery.Phone = "TRACK-DOWN", "customer-down", "+79990000003"
	b := variant(base, "month-down-b", time.Now())
	save(t, s, parsed(t, a), parsed(t, b))
	ctx := t.Context()

	if _, err := postgres.MigrateTo(ctx, dsn, 6); err != nil {
		t.Fatalf("down to 6: %v", err)
	}
	var (
		track, customer, phone, transaction string
		found                               int
	)
	query(t, dsn, `SELECT track_number, customer_id, phone, transaction,
		(SELECT count(*) FROM orders WHERE phone = $$+79990000003$$ AND transaction = $$month-down-a$$)
		FROM orders WHERE order_uid = 'month-down-a'`, &track, &customer, &phone, &transaction, &found)
	if got := []string{track, customer, phone, transaction}; !slices.Equal(got,
		[]string{a.TrackNumber, a.CustomerID, a.Delivery.Phone, a.Payment.Transaction}) || found != 1 {
		t.Errorf("down to 6: orders holds %q, found %d by phone and transaction; want %q, %q, %q, %q and 1",
			got, found, a.TrackNumber, a.CustomerID, a.Delivery.Phone, a.Payment.Transaction)
	}

	if _, err := postgres.MigrateTo(ctx, dsn, latestVersion(t)); err != nil {
		t.Fatalf("up again: %v", err)
	}
	again := openAt(t, dsn)
	for _, f := range []order.Filter{{TrackNumber: a.TrackNumber}, {CustomerID: a.CustomerID}, {Phone: a.Delivery.Phone},
		{Transaction: b.Payment.Transaction}} {
		want := a.OrderUID
		if f.Transaction != "" {
			want = b.OrderUID
		}
		f.Limit = 10
		page, err := again.Search(ctx, f)
		if err != nil || len(page.Records) != 1 || page.Records[0].UID != want {
			t.Errorf("search %+v after down and up: %v (%v), want %s", f, page.Records, err, want)
		}
	}
}
