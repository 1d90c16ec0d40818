//go:build growth

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/order/fake"
	"github.com/marketplace/orders/modules/postgres/pgtest"
)

// BenchmarkGrowth measures how the service holds up as the stored orders
// grow. It fills a private PostgreSQL with generated orders, COPYed with
// pgx straight into the service's own schema (migrated by the service
// binary first), up to each size of BENCH_GROWTH_SIZES (default 100,000
// and 5,000,000), and at each size measures, in this one run:
//   - bytes on disk per order: each table with its indexes and TOAST, each
//     index, against the order's JSON;
//   - start-up of the service binary with BENCH_GROWTH_BATCH orders to warm
//     (default 100,000), from exec until /readyz answers 200, three times;
//   - cache-miss GET /api/orders/{uid} (cache of 1,000, uids spread over the
//     whole table) and the searches by track_number, customer_id, phone and
//     transaction: the first page of an ordinary value, and the first page
//     and page 50 of a value that 1,050 orders share, with 1 and with 8
//     connections, BENCH_GROWTH_READ each (default 5s);
//   - ingest of BENCH_GROWTH_BATCH more orders pre-loaded in a 3-partition
//     topic, from exec until the service's metrics count them stored, and
//     the same orders COPYed with pgx by 3 connections in batches of the
//     consumer's size: the same-schema bound. BENCH_GROWTH_ROUNDS rounds
//     (default 5) of both, the side that goes first alternating, the orders
//     deleted and vacuumed away before each side; medians;
//   - CREATE INDEX CONCURRENTLY on orders (stored_at) while the service ingests
//     a paced flow of new orders and answers paced reads, with the same load
//     for BENCH_GROWTH_BASELINE (default 20s) before as the reference.
//
// The private cluster runs with shared_buffers of BENCH_GROWTH_SHARED_BUFFERS
// (default a quarter of the machine's memory, as a database server of this
// size is set up; 128MB is PostgreSQL's default). Every figure is printed
// next to the same figure at the first size. It is
// not part of CI or task bench: build tag growth, go tool task bench:growth.
// Progress goes to stderr as it happens. Run with -benchtime 1x.
func BenchmarkGrowth(b *testing.B) {
	set := growthSettingsFrom(b)
	for range b.N {
		g := newGrowth(b, set)
		var all []*sizeFigures
		for s, size := range set.sizes {
			have := g.count()
			if have >= size {
				b.Fatalf("the database holds %d orders already, more than the next size %d", have, size)
			}
			fill := g.fill(s, size-have)
			all = append(all, g.measure(s, fill))
		}
		g.report(all)
	}
}

const (
	hotGroups    = 5     // values per search field that many orders share
	hotPerGroup  = 1_050 // orders sharing one such value: page 50 (orders 981-1,000 at 20 a page) and more
	fillBatch    = 1_000 // orders per COPY transaction while filling
	fillConns    = 3     // connections COPYing at once while filling
	fillMakers   = 2     // goroutines generating orders while filling
	sampleSize   = 20_000
	historySpan  = 3 * 365 * 24 * time.Hour // filled orders are dated over the three years before the run
	readCapacity = 1_000                    // the cache while reads are measured: nearly every read misses
	flowRate     = 500                      // orders a second sent while the index is built
	getRate      = 200                      // cache-miss GETs a second while the index is built
	searchRate   = 20                       // first pages a second while the index is built
	fillSeed     = 1 << 40                  // far from the seeds of the ingested and flowing orders
)

// growthSettings are the benchmark's environment settings.
type growthSettings struct {
	sizes    []int         // BENCH_GROWTH_SIZES: stored orders at each measurement
	batch    int           // BENCH_GROWTH_BATCH: orders ingested at each size, and warmed at start-up
	read     time.Duration // BENCH_GROWTH_READ: load per read target and connection count
	baseline time.Duration // BENCH_GROWTH_BASELINE: load before the index build
	buffers  string        // BENCH_GROWTH_SHARED_BUFFERS: the private cluster's shared_buffers
	rounds   int           // BENCH_GROWTH_ROUNDS: rounds of ingest, service and COPY in turn
}

func growthSettingsFrom(b *testing.B) growthSettings {
	s := growthSettings{sizes: []int{100_000, 5_000_000}, batch: 100_000, read: 5 * time.Second, baseline: 20 * time.Second,
		buffers: quarterOfMemory(), rounds: 5}
	if v := os.Getenv("BENCH_GROWTH_SHARED_BUFFERS"); v != "" {
		if !memSetting.MatchString(v) {
			b.Fatalf("BENCH_GROWTH_SHARED_BUFFERS: want a size such as 128MB or 4GB, got %q", v)
		}
		s.buffers = v
	}
	if v := os.Getenv("BENCH_GROWTH_SIZES"); v != "" {
		s.sizes = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			least := 2 * hotGroups * hotPerGroup
			if err != nil || n < least || (len(s.sizes) > 0 && n <= s.sizes[len(s.sizes)-1]) {
				b.Fatalf("BENCH_GROWTH_SIZES: want growing sizes of at least %d, got %q", least, v)
			}
			s.sizes = append(s.sizes, n)
		}
	}
	if v := os.Getenv("BENCH_GROWTH_BATCH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("BENCH_GROWTH_BATCH: want at least 1000, got %q", v)
		}
		s.batch = n
	}
	if v := os.Getenv("BENCH_GROWTH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("BENCH_GROWTH_ROUNDS: want a positive count, got %q", v)
		}
		s.rounds = n
	}
	for name, d := range map[string]*time.Duration{"BENCH_GROWTH_READ": &s.read, "BENCH_GROWTH_BASELINE": &s.baseline} {
		if v := os.Getenv(name); v != "" {
			var err error
			if *d, err = time.ParseDuration(v); err != nil || *d <= 0 {
				b.Fatalf("%s: want a positive duration, got %q", name, v)
			}
		}
	}
	return s
}

// growth is the benchmark's state: one database that only grows.
type growth struct {
	b       *testing.B
	set     growthSettings
	log     *slog.Logger
	bin     string
	brokers []string
	cfg     config.Config // the database, an idle topic and group
	db      *pgxpool.Pool
	admin   string // the cluster's superuser (CHECKPOINT)
	adminDB string // the superuser in this database (pgstattuple)
	dataDir string // the cluster's data directory; "" when unknown

	first time.Time     // date_created of fill order 0
	step  time.Duration // between the dates of consecutive fill orders
	next  int           // the next fill order's index

	hot     [][hotGroups]hotValue // the shared values of each fill
	samples []sample              // orders read back, spread over every fill
	seed    int64                 // the next seed of ingested or flowing orders
	began   time.Time             // ingested and flowing orders are dated after it
}

// hotValue is what hotPerGroup orders of one fill share.
type hotValue struct{ track, customer, phone, transaction string }

func (h hotValue) field(name string) string {
	switch name {
	case "track_number":
		return h.track
	case "customer_id":
		return h.customer
	case "phone":
		return h.phone
	}
	return h.transaction
}

// sample is one filled order read back: i is its fill index.
type sample struct {
	i                                    int
	uid, track, customer, phone, payment string
	hot                                  bool
}

func (s sample) field(name string) string {
	switch name {
	case "track_number":
		return s.track
	case "customer_id":
		return s.customer
	case "phone":
		return s.phone
	}
	return s.payment
}

var searchFields = []string{"track_number", "customer_id", "phone", "transaction"}

func newGrowth(b *testing.B, set growthSettings) *growth {
	g := &growth{b: b, set: set, seed: 1}
	g.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.String("t", a.Value.Time().Format("15:04:05"))
		}
		if a.Key == slog.LevelKey {
			return slog.Attr{}
		}
		return a
	}})).With("bench", "growth")
	g.bin = buildBinary(b)
	sizeServer(b, set.buffers, g.log)
	g.brokers = kafkatest.Brokers(b)
	g.cfg = testConfig(b, g.brokers)
	kafkatest.CreateTopics(b, g.brokers, 3, g.cfg.Kafka.Topic, g.cfg.Kafka.DLQTopic)
	g.db = openStore(b, g.cfg.Postgres.DSN)
	pc, err := pgx.ParseConfig(g.cfg.Postgres.DSN)
	if err != nil {
		b.Fatal(err)
	}
	g.admin = pgtest.AdminDSN(b)
	u, err := url.Parse(g.admin)
	if err != nil {
		b.Fatalf("admin DSN is no URL: %v", err)
	}
	u.Path = "/" + pc.Database
	g.adminDB = u.String()
	if conn, err := pgx.Connect(b.Context(), g.admin); err == nil {
		_ = conn.QueryRow(b.Context(), "SELECT setting FROM pg_settings WHERE name = 'data_directory'").Scan(&g.dataDir)
		conn.Close(b.Context())
	}
	last := set.sizes[len(set.sizes)-1]
	if g.dataDir != "" {
		// About 3 KB an order was measured; the WAL and the index build
		// under load take a few GB more.
		need := uint64(last)*4096 + 4<<30
		if free := freeBytes(g.dataDir); free < need {
			b.Fatalf("%s has %d GB free; %d orders need about %d GB", g.dataDir, free>>30, last, need>>30)
		}
	}
	g.began = time.Now()
	g.first = g.began.Add(-historySpan - 24*time.Hour).UTC()
	g.step = historySpan / time.Duration(last)
	// The service's own migrations make the schema.
	svc, took := g.start(g.cfg, true)
	g.stop(svc)
	g.log.Info("schema migrated by the service binary", "ready_after", took.Round(time.Millisecond),
		"database", pc.Database, "data_dir", g.dataDir, "sizes", fmt.Sprint(set.sizes))
	return g
}

// freeBytes is the space free on dir's file system, 0 if unknown.
func freeBytes(dir string) uint64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0
	}
	return st.Bavail * uint64(st.Bsize)
}

// running is a service binary started by the benchmark.
type running struct {
	c    *child
	base string
}

// start runs the service binary with cfg on a free port and, when ready is
// set, waits until /readyz answers 200 and says how long that took from exec.
func (g *growth) start(cfg config.Config, ready bool) (*running, time.Duration) {
	cfg.HTTP.Addr = freeAddr(g.b)
	t0 := time.Now()
	r := &running{c: startChild(g.b, g.bin, env(cfg)), base: "http://" + cfg.HTTP.Addr}
	if !ready {
		return r, 0
	}
	for {
		resp, err := http.Get(r.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, time.Since(t0)
			}
		}
		g.alive(r)
		if time.Since(t0) > 5*time.Minute {
			g.b.Fatalf("service not ready after 5 minutes\n%s", r.c.out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// alive fails the benchmark if the service has exited.
func (g *growth) alive(r *running) {
	select {
	case <-r.c.exited:
		g.b.Fatalf("the service exited\n%s", r.c.out)
	default:
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (g *growth) stop(r *running) {
	if err := r.c.stop(g.b, syscall.SIGTERM, time.Minute); err != nil {
		g.b.Fatalf("service exit: %v\n%s", err, r.c.out)
	}
}

// count is how many orders are stored (an index-only scan once vacuumed).
func (g *growth) count() int {
	var n int
	if err := g.db.QueryRow(g.b.Context(), "SELECT count(*) FROM orders").Scan(&n); err != nil {
		g.b.Fatal(err)
	}
	return n
}

// dateOf is fill order i's date_created: the fills spread over historySpan,
// oldest first, as orders arrive.
func (g *growth) dateOf(i int) time.Time { return g.first.Add(time.Duration(i) * g.step) }

// fillFigures is what one fill took.
type fillFigures struct {
	orders int
	took   time.Duration
	vacuum time.Duration
}

// fill COPYs n generated orders into the schema (fill number s), with
// fillConns connections, fillBatch orders a transaction, then vacuums and
// analyses the tables and checkpoints. hotPerGroup orders of each of
// hotGroups groups, spread evenly over the fill, share their group's
// track_number (also of their items), customer_id, phone and transaction.
func (g *growth) fill(s, n int) fillFigures {
	b := g.b
	lo := g.next
	spacing := n / (hotGroups * hotPerGroup)
	if spacing < 2 {
		b.Fatalf("fill %d of %d orders is too small for %d orders sharing values", s, n, hotGroups*hotPerGroup)
	}
	var hot [hotGroups]hotValue
	for k := range hot {
		hot[k] = hotValue{
			track:       fmt.Sprintf("GROWTHHOT%dG%d", s, k),
			customer:    fmt.Sprintf("growth-customer-%d-%d", s, k),
			phone:       fmt.Sprintf("+1555%03d%04d", s, k),
			transaction: fmt.Sprintf("growth-transaction-%d-%d", s, k),
		}
	}
	g.hot = append(g.hot, hot)
	sampleEvery := max(1, g.set.sizes[s]/sampleSize)
	g.log.Info("filling", "fill", s, "orders", n, "from_index", lo, "connections", fillConns, "batch", fillBatch)

	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	nb := (n + fillBatch - 1) / fillBatch
	batches := make(chan []order.Parsed, 2*fillConns)
	errs := make(chan error, fillConns+fillMakers)
	var (
		handed, stored atomic.Int64
		mu             sync.Mutex
		samples        []sample
		makers         sync.WaitGroup
		writers        sync.WaitGroup
	)
	for range fillMakers {
		makers.Add(1)
		go func() {
			defer makers.Done()
			for {
				k := int(handed.Add(1) - 1)
				if k >= nb {
					return
				}
				batch, smp, err := g.makeBatch(hot, lo, spacing, sampleEvery, lo+k*fillBatch, lo+min((k+1)*fillBatch, n))
				if err != nil {
					errs <- err
					cancel()
					return
				}
				mu.Lock()
				samples = append(samples, smp...)
				mu.Unlock()
				select {
				case batches <- batch:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { makers.Wait(); close(batches) }()
	for range fillConns {
		writers.Add(1)
		go func() {
			defer writers.Done()
			conn, err := g.db.Acquire(ctx)
			if err != nil {
				errs <- err
				cancel()
				return
			}
			defer conn.Release()
			for batch := range batches {
				err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return pgtest.CopyOrders(ctx, tx, batch) })
				if err != nil {
					errs <- fmt.Errorf("copy: %w", err)
					cancel()
					return
				}
				stored.Add(int64(len(batch)))
			}
		}()
	}
	t0 := time.Now()
	done := make(chan struct{})
	go func() { writers.Wait(); close(done) }()
	tick := time.NewTicker(30 * time.Second)
	last, lastAt := int64(0), t0
progress:
	for {
		select {
		case <-done:
			break progress
		case now := <-tick.C:
			got := stored.Load()
			g.log.Info("filling", "fill", s, "stored", got, "of", n, "orders_per_s", int(float64(got-last)/now.Sub(lastAt).Seconds()),
				"free_GB", freeBytes(g.dataDir)>>30)
			last, lastAt = got, now
		}
	}
	tick.Stop()
	took := time.Since(t0)
	// Every goroutine has ended; the first error is the cause.
	select {
	case err := <-errs:
		b.Fatalf("fill: %v", err)
	default:
	}
	g.next = lo + n
	slices.SortFunc(samples, func(a, b sample) int { return a.i - b.i })
	g.samples = append(g.samples, samples...)
	g.log.Info("filled", "fill", s, "orders", n, "took", took.Round(time.Second), "orders_per_s", int(float64(n)/took.Seconds()))

	// A long-lived database has been vacuumed and analysed (autovacuum does
	// it after so many inserts); the measures start from that state.
	t1 := time.Now()
	if _, err := g.db.Exec(b.Context(), "VACUUM (ANALYZE) orders, order_search"); err != nil {
		b.Fatalf("vacuum: %v", err)
	}
	vacuum := time.Since(t1)
	checkpoint(b, g.admin)
	g.log.Info("vacuumed and analysed", "took", vacuum.Round(time.Second))
	return fillFigures{orders: n, took: took, vacuum: vacuum}
}

// makeBatch generates fill orders from up to to, canonical JSON and all, and
// the samples among them.
func (g *growth) makeBatch(hot [hotGroups]hotValue, lo, spacing, sampleEvery, from, to int) ([]order.Parsed, []sample, error) {
	var at time.Time
	gen := fake.New(fillSeed+int64(from), fake.WithClock(func() time.Time { return at }))
	rules := order.DefaultRules()
	out := make([]order.Parsed, 0, to-from)
	var smp []sample
	for i := from; i < to; i++ {
		at = g.dateOf(i)
		o := gen.Order()
		j := i - lo
		isHot := j%spacing == 0 && j/spacing < hotGroups*hotPerGroup
		if isHot {
			h := hot[(j/spacing)%hotGroups]
			o.TrackNumber, o.CustomerID, o.Delivery.Phone, o.Payment.Transaction = h.track, h.customer, h.phone, h.transaction
			for k := range o.Items {
				o.Items[k].TrackNumber = h.track
			}
		}
		raw, err := json.Marshal(o)
		if err != nil {
			return nil, nil, err
		}
		p, err := rules.Parse(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("generated order %d: %w", i, err)
		}
		out = append(out, p)
		if i%sampleEvery == 0 {
			smp = append(smp, sample{i: i, uid: o.OrderUID, track: o.TrackNumber, customer: o.CustomerID,
				phone: o.Delivery.Phone, payment: o.Payment.Transaction, hot: isHot})
		}
	}
	return out, smp, nil
}

// sizeFigures is everything measured at one size.
type sizeFigures struct {
	stored  int
	fill    fillFigures
	rows    []figure
	explain []string
}

// figure is one measured value: num is what ratios compare.
type figure struct {
	name, text string
	num        float64
}

func (f *sizeFigures) add(name string, num float64, format string) {
	f.rows = append(f.rows, figure{name: name, text: fmt.Sprintf(format, num), num: num})
}

func (f *sizeFigures) addText(name, text string) {
	f.rows = append(f.rows, figure{name: name, text: text})
}

// addLoad adds a load's p50 and p99 (ms) and, with more than one
// connection, its rate.
func (f *sizeFigures) addLoad(name string, l load, conns int) {
	f.add(name+": p50 ms", ms(l.pct(0.50)), "%.2f")
	f.add(name+": p99 ms", ms(l.pct(0.99)), "%.2f")
	if conns > 1 {
		f.add(name+": req/s", l.rps(), "%.0f")
	}
	if l.errors > 0 {
		f.add(name+": errors", float64(l.errors), "%.0f")
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// measure takes every figure at the size just filled.
func (g *growth) measure(s int, fill fillFigures) *sizeFigures {
	f := &sizeFigures{stored: g.count(), fill: fill}
	g.log.Info("measuring", "stored", f.stored)
	f.add("fill: pgx COPY into the schema, orders/s", float64(fill.orders)/fill.took.Seconds(), "%.0f")
	f.add("fill: VACUUM (ANALYZE) afterwards, s", fill.vacuum.Seconds(), "%.1f")
	var sharedBuffers, workMem string
	if err := g.db.QueryRow(g.b.Context(), "SELECT current_setting('shared_buffers'), current_setting('maintenance_work_mem')").
		Scan(&sharedBuffers, &workMem); err != nil {
		g.b.Fatal(err)
	}
	f.addText("server: shared_buffers, maintenance_work_mem", sharedBuffers+", "+workMem)
	g.disk(f)
	g.startups(f)
	g.reads(s, f)
	g.ingest(f)
	g.indexUnderLoad(s, f)
	g.log.Info("measured", "stored", f.stored, "now", g.count())
	return f
}

// disk records bytes on disk per order: each table with its TOAST and
// indexes, each index with its leaf density, and the order's JSON.
func (g *growth) disk(f *sizeFigures) {
	b, ctx := g.b, g.b.Context()
	var (
		orders                  int64
		jsonAvg, rawAvg, rowAvg float64
	)
	err := g.db.QueryRow(ctx, `SELECT count(*), avg(octet_length(raw::text)), avg(pg_column_size(raw)), avg(pg_column_size(o.*))
		FROM orders o`).Scan(&orders, &jsonAvg, &rawAvg, &rowAvg)
	if err != nil {
		b.Fatal(err)
	}
	per := func(n int64) float64 { return float64(n) / float64(orders) }
	f.add("order JSON, bytes (avg length of raw)", jsonAvg, "%.0f")
	f.add("raw as stored, bytes (pg_column_size, after TOAST compression)", rawAvg, "%.0f")
	f.add("orders row, bytes (pg_column_size of the row)", rowAvg, "%.0f")
	// A partitioned table (order_search) is the sum of its partitions:
	// leaves are the tables with storage, each with its table's name t and
	// place n in tables.
	tables := []string{"orders", "order_search"}
	const leaves = `WITH leaves AS MATERIALIZED (
			SELECT u.t, u.n, c.oid AS relid, c.reltoastrelid AS toast
			FROM unnest($1::text[]) WITH ORDINALITY AS u (t, n)
				JOIN pg_class c ON c.oid IN (SELECT u.t::regclass UNION SELECT relid FROM pg_partition_tree(u.t::regclass))
			WHERE c.relkind = 'r') `
	rows, err := g.db.Query(ctx, leaves+`SELECT t, sum(pg_total_relation_size(relid)), sum(pg_relation_size(relid)),
			sum(COALESCE(pg_total_relation_size(NULLIF(toast, 0)), 0)), sum(pg_indexes_size(relid))
		FROM leaves GROUP BY t, n ORDER BY n`, tables)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	var name string
	var all, heap, toast, idx int64
	_, err = pgx.ForEachRow(rows, []any{&name, &all, &heap, &toast, &idx}, func() error {
		total += all
		f.add("disk per order: "+name+" in all, B", per(all), "%.0f")
		f.add("disk per order: "+name+" heap, B", per(heap), "%.0f")
		if per(toast) >= 1 {
			f.add("disk per order: "+name+" TOAST, B", per(toast), "%.0f")
		}
		f.add("disk per order: "+name+" indexes, B", per(idx), "%.0f")
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	f.add("disk per order: every table in all, B", per(total), "%.0f")
	f.add("disk per order / JSON", per(total)/jsonAvg, "%.2fx")

	// pgstattuple reads each index whole for its leaf density; it is
	// installed for the look and dropped again, so the schema stays the
	// service's own.
	admin, err := pgx.Connect(ctx, g.adminDB)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pgstattuple"); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if _, err := admin.Exec(context.WithoutCancel(ctx), "DROP EXTENSION IF EXISTS pgstattuple"); err != nil {
			b.Error(err)
		}
	}()
	// Each index of each table and partition that holds orders.
	rows, err = admin.Query(ctx, leaves+`, idx AS MATERIALIZED (
			SELECT i.indexrelid FROM leaves l JOIN pg_index i ON i.indrelid = l.relid WHERE pg_relation_size(l.relid) > 0)
		SELECT indexrelid::regclass::text, pg_relation_size(indexrelid), s.avg_leaf_density
		FROM idx, LATERAL pgstatindex(indexrelid::regclass) s ORDER BY 2 DESC`, tables)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	var density float64
	_, err = pgx.ForEachRow(rows, []any{&name, &size, &density}, func() error {
		f.add("disk per order: index "+name+", B", per(size), "%.0f")
		f.add("leaf density: index "+name+", %", density, "%.0f")
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var database, wal int64
	if err := g.db.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&database); err != nil {
		b.Fatal(err)
	}
	f.add("database (pg_database_size), GB", float64(database)/(1<<30), "%.2f")
	if err := admin.QueryRow(ctx, "SELECT COALESCE(sum(size), 0) FROM pg_ls_waldir()").Scan(&wal); err == nil {
		f.add("WAL (pg_wal), GB", float64(wal)/(1<<30), "%.2f")
	}
	if g.dataDir != "" {
		var du int64
		_ = filepath.WalkDir(g.dataDir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if info, err := d.Info(); err == nil {
					du += info.Size()
				}
			}
			return nil
		})
		f.add("cluster data directory, GB", float64(du)/(1<<30), "%.2f")
	}
	g.log.Info("disk", "orders", orders, "json_avg", int(jsonAvg), "per_order", int(per(total)), "database_GB", database>>30)
}

// startups times three starts of the service binary with room in its cache
// for set.batch orders, from exec until /readyz answers 200.
func (g *growth) startups(f *sizeFigures) {
	cfg := g.cfg
	cfg.Cache.Capacity = g.set.batch
	cfg.Log.Level = "info" // for the line that says how long warming took
	var (
		took, warms []time.Duration
		misses      []string
	)
	for range 3 {
		u0 := g.buffers()
		svc, d := g.start(cfg, true)
		cached := metric(g.b, svc.base, "orders_cache_entries")
		g.stop(svc)
		// Pages of the tables the start read from outside shared buffers.
		missed := g.buffers().minus(u0).read
		warm := warmTook(svc.c.out.String())
		g.log.Info("start-up", "warm", g.set.batch, "ready_after", d.Round(time.Millisecond), "cached", cached,
			"warming_took", warm, "buffer_misses", missed)
		took, warms = append(took, d), append(warms, warm)
		misses = append(misses, strconv.FormatInt(missed, 10))
	}
	ms := make([]string, len(took))
	for i, d := range took {
		ms[i] = strconv.FormatInt(d.Milliseconds(), 10)
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	f.add(fmt.Sprintf("start-up with %d to warm, exec to ready, median of 3 (ms)", g.set.batch), float64(sorted[1].Milliseconds()), "%.0f")
	f.addText("start-up: the three runs (ms)", strings.Join(ms, ", "))
	for i, d := range warms {
		ms[i] = strconv.FormatInt(d.Milliseconds(), 10)
	}
	f.addText("start-up: of which warming the cache, as the service logs it (ms)", strings.Join(ms, ", "))
	f.addText("start-up: pages read from outside shared buffers, each run", strings.Join(misses, ", "))
}

// warmTook is how long warming the cache took, from the service's log line
// "cache warmed"; 0 when it is not there.
func warmTook(log string) time.Duration {
	for line := range strings.SplitSeq(log, "\n") {
		var l struct {
			Msg  string          `json:"msg"`
			Took json.RawMessage `json:"took"` // slog writes a duration in nanoseconds
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "cache warmed" {
			ns, _ := strconv.ParseInt(string(l.Took), 10, 64)
			return time.Duration(ns)
		}
	}
	return 0
}

// sampleFor is the filled orders read at fill s, spread evenly over every
// fill so far, shuffled.
func (g *growth) sampleFor(s int) []sample {
	every := max(1, g.set.sizes[s]/sampleSize)
	var out []sample
	for _, x := range g.samples {
		if x.i%every == 0 {
			out = append(out, x)
		}
	}
	r := rand.New(rand.NewPCG(uint64(s), 1))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func searchPath(field, value, cursor string) string {
	q := url.Values{field: {value}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	return "/api/orders?" + q.Encode()
}

// deepCursor follows next_cursor from the first page of field=value to the
// cursor of page 50, and checks that page is full.
func (g *growth) deepCursor(base, field, value string) string {
	cursor := ""
	for page := 1; page < 50; page++ {
		cursor = g.page(base, field, value, cursor, page)
		if cursor == "" {
			g.b.Fatalf("%s=%s has only %d pages", field, value, page)
		}
	}
	g.page(base, field, value, cursor, 50)
	return cursor
}

// page reads one page and returns its next_cursor; the page must hold 20.
func (g *growth) page(base, field, value, cursor string, n int) string {
	status, _, body := get(g.b, base+searchPath(field, value, cursor))
	var p struct {
		Orders     []json.RawMessage `json:"orders"`
		NextCursor string            `json:"next_cursor"`
	}
	if status != 200 || json.Unmarshal(body, &p) != nil || len(p.Orders) != 20 {
		g.b.Fatalf("page %d of %s=%s: status %d, %d orders: %.200s", n, field, value, status, len(p.Orders), body)
	}
	return p.NextCursor
}

// readTarget is one kind of read and the paths it cycles through.
type readTarget struct {
	name  string
	paths []string
}

// reads measures cache-miss GETs and the searches with 1 and 8 connections,
// then records the plans of the queries behind them.
func (g *growth) reads(s int, f *sizeFigures) {
	cfg := g.cfg
	cfg.Cache.Capacity = readCapacity
	svc, _ := g.start(cfg, true)
	defer g.stop(svc)
	samples := g.sampleFor(s)
	var gets []string
	for _, x := range samples {
		gets = append(gets, "/api/orders/"+x.uid)
	}
	targets := []readTarget{{"cache-miss GET /api/orders/{uid}", gets}}
	for _, field := range searchFields {
		var typical []string
		for _, x := range samples {
			if !x.hot && len(typical) < 2000 {
				typical = append(typical, searchPath(field, x.field(field), ""))
			}
		}
		var first, deep []string
		for _, h := range g.hot[s] {
			first = append(first, searchPath(field, h.field(field), ""))
			deep = append(deep, searchPath(field, h.field(field), g.deepCursor(svc.base, field, h.field(field))))
		}
		targets = append(targets,
			readTarget{"search " + field + ", page 1, an ordinary value", typical},
			readTarget{fmt.Sprintf("search %s, page 1, a value of %d orders", field, hotPerGroup), first},
			readTarget{fmt.Sprintf("search %s, page 50, a value of %d orders", field, hotPerGroup), deep})
		if s > 0 {
			// The values of the first fill, for the same query on the same
			// rows in the bigger table.
			var old []string
			for _, h := range g.hot[0] {
				old = append(old, searchPath(field, h.field(field), g.deepCursor(svc.base, field, h.field(field))))
			}
			targets = append(targets, readTarget{fmt.Sprintf("search %s, page 50, a value of %d orders of the first fill", field, hotPerGroup), old})
		}
	}
	addr := strings.TrimPrefix(svc.base, "http://")
	for i, t := range targets {
		var hits0, misses0 float64
		if i == 0 {
			hits0, misses0 = metric(g.b, svc.base, "orders_cache_hits_total"), metric(g.b, svc.base, "orders_cache_misses_total")
		}
		for _, conns := range []int{1, 8} {
			l := hammer(target{addr: addr, paths: t.paths}, conns, g.set.read)
			slices.Sort(l.latencies)
			f.addLoad(fmt.Sprintf("%s, %d conn", t.name, conns), l, conns)
			g.log.Info("read", "target", t.name, "conns", conns, "result", l.String())
		}
		if i == 0 {
			hits, misses := metric(g.b, svc.base, "orders_cache_hits_total")-hits0, metric(g.b, svc.base, "orders_cache_misses_total")-misses0
			f.add("cache-miss GET: share of reads that missed, %", 100*misses/(hits+misses), "%.1f")
		}
	}
	g.explain(s, samples[0].uid, f)
}

// explain records EXPLAIN (ANALYZE, BUFFERS) of the queries behind a
// cache miss and each search, as read.go writes them, for a value of
// hotPerGroup orders, page 1 and page 50: with the values in the query (a
// custom plan, what the first executions of a prepared statement get) and
// as a generic plan (what a prepared statement settles on when its plans
// cost alike, as the store's cached statements do).
func (g *growth) explain(s int, uid string, f *sizeFigures) {
	ctx := g.b.Context()
	type q struct {
		name, sql string
		types     string
		args      []any
	}
	qs := []q{{"get", "SELECT date_created, raw FROM orders WHERE order_uid = $1", "text", []any{uid}}}
	for _, field := range searchFields {
		// As Store.Search asks: the page's keys, then their orders.
		keys := "SELECT order_uid, date_created FROM order_search WHERE " + field + " = $1"
		page := func(cond string) string {
			return "SELECT k.order_uid, k.date_created, o.raw FROM (" + keys + cond +
				" ORDER BY date_created DESC, order_uid DESC LIMIT 21) AS k JOIN orders AS o ON o.order_uid = k.order_uid" +
				" ORDER BY k.date_created DESC, k.order_uid DESC"
		}
		for k, set := range g.hot[:s+1] {
			value := set[0].field(field)
			name := field
			if k < s {
				name += " (a value of the first fill)"
			}
			// Page 50 starts after the 980 newest of the value.
			var after time.Time
			var afterUID string
			err := g.db.QueryRow(ctx, keys+" ORDER BY date_created DESC, order_uid DESC OFFSET 979 LIMIT 1", value).
				Scan(&afterUID, &after)
			if err != nil {
				g.b.Fatal(err)
			}
			qs = append(qs, q{name + " page 1", page(""), "text", []any{value}},
				q{name + " page 50", page(" AND date_created <= $2 AND (date_created, order_uid) < ($2, $3)"),
					"text, timestamptz, text", []any{value, after, afterUID}})
		}
	}
	conn, err := g.db.Acquire(ctx)
	if err != nil {
		g.b.Fatal(err)
	}
	defer conn.Release()
	simple := pgx.QueryExecModeSimpleProtocol
	explain := func(name, sql string, args ...any) {
		rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
		if err != nil {
			g.b.Fatalf("explain %s: %v", name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			g.b.Fatalf("explain %s: %v", name, err)
		}
		plan := strings.Join(lines, "\n")
		f.explain = append(f.explain, name+":\n"+plan)
		g.log.Info("plan", "query", name, "plan", "\n"+plan)
	}
	for i, x := range qs {
		explain(x.name+", custom plan", x.sql, x.args...)
		literals := make([]string, len(x.args))
		for j, a := range x.args {
			switch v := a.(type) {
			case time.Time:
				literals[j] = quoteLiteral(v.Format(time.RFC3339Nano)) + "::timestamptz"
			default:
				literals[j] = quoteLiteral(fmt.Sprint(v))
			}
		}
		stmt := fmt.Sprintf("growth_plan_%d", i)
		for _, sql := range []string{"SET plan_cache_mode = force_generic_plan",
			fmt.Sprintf("PREPARE %s(%s) AS %s", stmt, x.types, x.sql)} {
			if _, err := conn.Exec(ctx, sql, simple); err != nil {
				g.b.Fatalf("%s: %v", sql, err)
			}
		}
		explain(x.name+", generic plan", fmt.Sprintf("EXECUTE %s(%s)", stmt, strings.Join(literals, ", ")), simple)
		for _, sql := range []string{"DEALLOCATE " + stmt, "RESET plan_cache_mode"} {
			if _, err := conn.Exec(ctx, sql, simple); err != nil {
				g.b.Fatalf("%s: %v", sql, err)
			}
		}
	}
}

// ingest stores set.batch more orders through the service binary, from a
// 3-partition topic loaded beforehand, from exec until its metrics count
// them all stored; then deletes them, vacuums, and COPYs the same orders
// back with pgx (3 connections, batches of the consumer's size): the bound.
func (g *growth) ingest(f *sizeFigures) {
	b, ctx := g.b, g.b.Context()
	n := g.set.batch
	cfg := g.cfg
	cfg.Kafka.Topic = kafkatest.Name("orders-growth")
	cfg.Kafka.DLQTopic = cfg.Kafka.Topic + ".dlq"
	const partitions = 3
	kafkatest.CreateTopics(b, g.brokers, partitions, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	gen := fake.New(g.seed)
	g.seed++
	msgs := make([]kafkatest.Message, n)
	uids := make([]string, n)
	for j := range msgs {
		uid, raw := gen.OrderJSON()
		msgs[j], uids[j] = kafkatest.Message{Key: []byte(uid), Value: raw}, uid
	}
	kafkatest.Produce(b, g.brokers, cfg.Kafka.Topic, msgs...)
	batches := consumerBatches(b, msgs, cfg.Kafka.BatchSize)

	// One side stores the n orders into a database without them, timed, with
	// the machine's idle time and the tables' buffer and WAL counts.
	type side struct {
		took   time.Duration
		idle   float64
		counts bufferUse
	}
	timed := func(store func()) side {
		checkpoint(b, g.admin)
		buf0, idle0, t0 := g.buffers(), idleSecs(), time.Now()
		store()
		took, idle := time.Since(t0), idleSecs()-idle0
		return side{took: took, idle: idle, counts: g.buffers().minus(buf0)}
	}
	service := func() {
		// A new group each time reads the topic from its start.
		cfg := cfg
		cfg.Kafka.Group = kafkatest.Name("growth")
		t0 := time.Now()
		svc, _ := g.start(cfg, false)
		for metricOrZero(svc.base, `orders_ingested_total{outcome="stored"}`) < float64(n) {
			g.alive(svc)
			if time.Since(t0) > 30*time.Minute {
				b.Fatalf("not all %d orders stored after 30 minutes", n)
			}
			time.Sleep(50 * time.Millisecond)
		}
		g.stop(svc)
	}
	bound := func() {
		if err := copyBatches(ctx, g.db, batches, partitions); err != nil {
			b.Fatalf("copy: %v", err)
		}
	}

	// The sides alternate, each round starting with the other one, so that
	// neither always runs on the machine the other left.
	var svcRuns, copyRuns []side
	var ratios []string
	for r := range g.set.rounds {
		var sv, cp side
		if r%2 == 0 {
			sv = timed(service)
			g.deleteAgain(uids)
			cp = timed(bound)
		} else {
			cp = timed(bound)
			g.deleteAgain(uids)
			sv = timed(service)
		}
		if r < g.set.rounds-1 {
			g.deleteAgain(uids)
		}
		svcRuns, copyRuns = append(svcRuns, sv), append(copyRuns, cp)
		ratio := cp.took.Seconds() / sv.took.Seconds()
		ratios = append(ratios, fmt.Sprintf("%.2f", ratio))
		g.log.Info("ingest round", "round", r+1, "orders", n, "service", sv.took.Round(time.Millisecond),
			"copy", cp.took.Round(time.Millisecond), "service_over_copy", fmt.Sprintf("%.2f", ratio))
	}
	// The orders are stored once more, as the bound left them or the service.

	bare, rebuild := g.boundWithoutSearchIndexes(uids, batches, partitions)

	median := func(runs []side) side {
		sorted := slices.Clone(runs)
		slices.SortFunc(sorted, func(a, b side) int { return cmp.Compare(a.took, b.took) })
		return sorted[len(sorted)/2]
	}
	sum := func(runs []side) (total side) {
		for _, r := range runs {
			total.idle += r.idle
			total.counts.read += r.counts.read
			total.counts.hit += r.counts.hit
			total.counts.walBytes += r.counts.walBytes
		}
		return total
	}
	rates := func(runs []side) string {
		out := make([]string, len(runs))
		for i, r := range runs {
			out[i] = fmt.Sprintf("%.0f", float64(n)/r.took.Seconds())
		}
		return strings.Join(out, ", ")
	}
	rate, copyRate := float64(n)/median(svcRuns).took.Seconds(), float64(n)/median(copyRuns).took.Seconds()
	all := float64(n * len(svcRuns))
	svcSum, copySum := sum(svcRuns), sum(copyRuns)
	f.add("ingest bound without the four search indexes (uid, newest and stored_xid only), orders/s", float64(n)/bare.Seconds(), "%.0f")
	f.add("ingest: rebuilding the four search indexes afterwards, s", rebuild.Seconds(), "%.1f")
	f.add(fmt.Sprintf("ingest of %d more through the service, orders/s, median of %d rounds", n, len(svcRuns)), rate, "%.0f")
	f.add(fmt.Sprintf("ingest bound: the same orders by pgx COPY, orders/s, median of %d rounds", len(copyRuns)), copyRate, "%.0f")
	f.add("ingest: service / COPY, of the medians", rate/copyRate, "%.2fx")
	f.addText("ingest: each round's service, orders/s", rates(svcRuns))
	f.addText("ingest: each round's COPY, orders/s", rates(copyRuns))
	f.addText("ingest: each round's service / COPY", strings.Join(ratios, ", "))
	f.add("ingest: machine idle during the service's runs, core-s a run", svcSum.idle/float64(len(svcRuns)), "%.1f")
	f.add("ingest: machine idle during COPY, core-s a run", copySum.idle/float64(len(copyRuns)), "%.1f")
	f.add("ingest: shared-buffer misses per order, service", float64(svcSum.counts.read)/all, "%.1f")
	f.add("ingest: shared-buffer misses per order, COPY", float64(copySum.counts.read)/all, "%.1f")
	f.add("ingest: shared-buffer hits per order, service", float64(svcSum.counts.hit)/all, "%.0f")
	f.add("ingest: shared-buffer hits per order, COPY", float64(copySum.counts.hit)/all, "%.0f")
	f.add("ingest: WAL bytes per order, service", float64(svcSum.counts.walBytes)/all, "%.0f")
	f.add("ingest: WAL bytes per order, COPY", float64(copySum.counts.walBytes)/all, "%.0f")
}

// deleteAgain deletes the orders stored under uids, vacuums them away and
// checkpoints, so that the same orders can be written once more.
func (g *growth) deleteAgain(uids []string) {
	b, ctx := g.b, g.b.Context()
	tag, err := g.db.Exec(ctx, "DELETE FROM orders WHERE order_uid = ANY($1)", uids)
	if err != nil {
		b.Fatal(err)
	}
	if tag.RowsAffected() != int64(len(uids)) {
		b.Fatalf("%d of the %d orders were stored", tag.RowsAffected(), len(uids))
	}
	// Their keys are in the months since the run began (they are dated as
	// generated); order_search has no index by uid alone.
	tag, err = g.db.Exec(ctx, "DELETE FROM order_search WHERE date_created >= $1 AND order_uid = ANY($2)",
		g.began.Add(-time.Hour), uids)
	if err != nil {
		b.Fatal(err)
	}
	if tag.RowsAffected() != int64(len(uids)) {
		b.Fatalf("%d of the %d orders had their search keys stored", tag.RowsAffected(), len(uids))
	}
	t1 := time.Now()
	if _, err := g.db.Exec(ctx, "VACUUM orders, order_search"); err != nil {
		b.Fatal(err)
	}
	g.log.Info("deleted the ingested orders and vacuumed", "vacuum", time.Since(t1).Round(time.Second))
	checkpoint(b, g.admin)
}

// searchIndexes are the indexes only the four searches read.
var searchIndexes = []string{"order_search_track_number_idx", "order_search_customer_id_idx", "order_search_phone_idx",
	"order_search_transaction_idx"}

// boundWithoutSearchIndexes is what the search indexes cost ingest: the
// bound's COPY once more with them dropped, then the indexes built again,
// so the schema is the service's own afterwards.
func (g *growth) boundWithoutSearchIndexes(uids []string, batches [][]order.Parsed, writers int) (took, rebuild time.Duration) {
	b, ctx := g.b, g.b.Context()
	g.deleteAgain(uids)
	var defs []string
	if err := g.db.QueryRow(ctx, "SELECT array_agg(indexdef) FROM pg_indexes WHERE indexname = ANY($1)", searchIndexes).
		Scan(&defs); err != nil || len(defs) != len(searchIndexes) {
		b.Fatalf("the search indexes: %v (%d of %d)", err, len(defs), len(searchIndexes))
	}
	for _, name := range searchIndexes {
		if _, err := g.db.Exec(ctx, "DROP INDEX "+name); err != nil {
			b.Fatal(err)
		}
	}
	checkpoint(b, g.admin)
	t0 := time.Now()
	if err := copyBatches(ctx, g.db, batches, writers); err != nil {
		b.Fatalf("copy: %v", err)
	}
	took = time.Since(t0)
	g.log.Info("ingest bound without the search indexes", "orders", len(uids), "took", took.Round(time.Millisecond))
	t1 := time.Now()
	for _, def := range defs {
		// A partitioned index's definition reads ON ONLY: built so, it
		// would cover no partition.
		def = strings.Replace(def, " ON ONLY ", " ON ", 1)
		if _, err := g.db.Exec(ctx, def); err != nil {
			b.Fatal(err)
		}
	}
	rebuild = time.Since(t1)
	g.log.Info("search indexes built again", "took", rebuild.Round(time.Second))
	return took, rebuild
}

// bufferUse is what pg_statio_user_tables counts for the schema's tables,
// their indexes and TOAST: blocks found in shared buffers and blocks read
// into them (from the OS).
type bufferUse struct{ hit, read, walBytes int64 }

func (u bufferUse) minus(v bufferUse) bufferUse {
	return bufferUse{u.hit - v.hit, u.read - v.read, u.walBytes - v.walBytes}
}

// buffers reads the counters once every connection of the pool is closed:
// a backend reports its counts when it exits (an idle one only seconds
// later), and the service's backends exited with it.
func (g *growth) buffers() bufferUse {
	g.db.Reset()
	time.Sleep(500 * time.Millisecond)
	var u bufferUse
	err := g.db.QueryRow(g.b.Context(), `SELECT
			COALESCE(sum(heap_blks_hit + COALESCE(idx_blks_hit, 0) + COALESCE(toast_blks_hit, 0) + COALESCE(tidx_blks_hit, 0)), 0),
			COALESCE(sum(heap_blks_read + COALESCE(idx_blks_read, 0) + COALESCE(toast_blks_read, 0) + COALESCE(tidx_blks_read, 0)), 0)
		FROM pg_statio_user_tables`).Scan(&u.hit, &u.read)
	if err == nil {
		// The whole cluster's WAL: nothing else writes meanwhile. (Full-page
		// images are not counted: the test cluster runs with
		// full_page_writes off.)
		err = g.db.QueryRow(g.b.Context(), "SELECT wal_bytes::bigint FROM pg_stat_wal").Scan(&u.walBytes)
	}
	if err != nil {
		g.b.Fatal(err)
	}
	return u
}

// timed is one paced read: when it was sent, how long it took, whether it
// was answered 200.
type timed struct {
	kind int
	at   time.Time
	took time.Duration
	ok   bool
}

type timedLog struct {
	mu  sync.Mutex
	all []timed
}

func (l *timedLog) add(t timed) {
	l.mu.Lock()
	l.all = append(l.all, t)
	l.mu.Unlock()
}

// window is the reads of kind sent in [from, to).
func (l *timedLog) window(kind int, from, to time.Time) load {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := load{elapsed: to.Sub(from)}
	for _, t := range l.all {
		if t.kind != kind || t.at.Before(from) || !t.at.Before(to) {
			continue
		}
		out.latencies = append(out.latencies, t.took)
		if !t.ok {
			out.errors++
		}
	}
	slices.Sort(out.latencies)
	return out
}

// pace sends perSecond GETs a second over paths in turn, each on its own
// (open loop: a slow answer does not hold the next request back), until
// ctx ends, and waits for those in flight. With 64 in flight a request is
// counted as an error instead.
func pace(ctx context.Context, client *http.Client, base string, perSecond int, paths []string, kind int, out *timedLog) {
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	slots := make(chan struct{}, 64)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case slots <- struct{}{}:
		default:
			out.add(timed{kind: kind, at: time.Now()})
			continue
		}
		inflight.Add(1)
		go func(path string) {
			defer inflight.Done()
			defer func() { <-slots }()
			t0 := time.Now()
			resp, err := client.Get(base + path)
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			out.add(timed{kind: kind, at: t0, took: time.Since(t0), ok: ok})
		}(paths[i%len(paths)])
	}
}

// sendFlow sends perSecond new orders a second, each created as it is
// sent, until ctx ends, and returns how many were acknowledged.
func (g *growth) sendFlow(ctx context.Context, topic string, perSecond int, seed int64) (int, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer(g.brokers, cfg)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	gen := fake.New(seed)
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return n, nil
		case <-tick.C:
		}
		o := gen.Order()
		o.DateCreated = time.Now().UTC()
		raw, err := json.Marshal(o)
		if err != nil {
			return n, err
		}
		msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(o.OrderUID), Value: sarama.ByteEncoder(raw)}
		if _, _, err := p.SendMessage(msg); err != nil {
			return n, err
		}
		n++
	}
}

// storedAfter is, in ms and sorted, how long after its creation each
// order created in [from, to) and stored since since was stored.
func (g *growth) storedAfter(from, to, since time.Time) []float64 {
	rows, err := g.db.Query(g.b.Context(), `SELECT extract(epoch FROM stored_at - date_created) * 1000 FROM orders
		WHERE date_created >= $1 AND date_created < $2 AND stored_at >= $3`, from, to, since)
	if err != nil {
		g.b.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[float64])
	if err != nil {
		g.b.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// indexUnderLoad builds a new index with CREATE INDEX CONCURRENTLY, as a
// migration outside a transaction would, while the service ingests
// flowRate new orders a second and answers getRate cache-miss GETs and
// searchRate first pages a second; the same load for set.baseline before
// the build is the reference.
func (g *growth) indexUnderLoad(s int, f *sizeFigures) {
	b := g.b
	cfg := g.cfg
	cfg.Cache.Capacity = readCapacity
	cfg.Kafka.Topic, cfg.Kafka.Group = kafkatest.Name("orders-growth-flow"), kafkatest.Name("growth-flow")
	cfg.Kafka.DLQTopic = cfg.Kafka.Topic + ".dlq"
	kafkatest.CreateTopics(b, g.brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	svc, _ := g.start(cfg, true)
	samples := g.sampleFor(s)
	var gets, searches []string
	for i, x := range samples {
		gets = append(gets, "/api/orders/"+x.uid)
		if !x.hot {
			field := searchFields[i%len(searchFields)]
			searches = append(searches, searchPath(field, x.field(field), ""))
		}
	}

	const (
		kindGet = iota
		kindSearch
	)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
	defer client.CloseIdleConnections()
	reads := &timedLog{}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pace(ctx, client, svc.base, getRate, gets, kindGet, reads) }()
	go func() { defer wg.Done(); pace(ctx, client, svc.base, searchRate, searches, kindSearch, reads) }()
	type flowResult struct {
		n   int
		err error
	}
	sent := make(chan flowResult, 1)
	seed := g.seed
	g.seed++
	go func() {
		n, err := g.sendFlow(ctx, cfg.Kafka.Topic, flowRate, seed)
		sent <- flowResult{n, err}
	}()
	phase := time.Now()
	const settle = 5 * time.Second // the first seconds of load are not measured
	time.Sleep(settle + g.set.baseline)
	g.alive(svc)
	g.log.Info("building an index concurrently under load", "rate_orders", flowRate, "rate_get", getRate, "rate_search", searchRate)
	buildStart := time.Now()
	_, err := g.db.Exec(b.Context(), "CREATE INDEX CONCURRENTLY growth_stored_at_idx ON orders (stored_at)")
	buildEnd := time.Now()
	if err != nil {
		b.Fatalf("create index: %v", err)
	}
	time.Sleep(5 * time.Second)
	cancel()
	wg.Wait()
	res := <-sent
	if res.err != nil {
		b.Fatalf("flow: %v", res.err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for metricOrZero(svc.base, `orders_ingested_total{outcome="stored"}`) < float64(res.n) {
		if time.Now().After(deadline) {
			b.Fatalf("the %d orders sent were not all stored after 10 minutes", res.n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	g.stop(svc)
	var size int64
	if err := g.db.QueryRow(b.Context(), "SELECT pg_relation_size('growth_stored_at_idx')").Scan(&size); err != nil {
		b.Fatal(err)
	}
	if _, err := g.db.Exec(b.Context(), "DROP INDEX CONCURRENTLY growth_stored_at_idx"); err != nil {
		b.Fatal(err)
	}
	took := buildEnd.Sub(buildStart)
	g.log.Info("index built", "took", took.Round(time.Millisecond), "size_MB", size>>20, "orders_sent", res.n)

	f.add("index build under load: CREATE INDEX CONCURRENTLY on orders (stored_at), s", took.Seconds(), "%.2f")
	f.add("index build under load: the index, MB", float64(size)/(1<<20), "%.1f")
	windows := []struct {
		name     string
		from, to time.Time
	}{
		{"before the build", phase.Add(settle), buildStart},
		{"during the build", buildStart, buildEnd},
	}
	for _, w := range windows {
		get, search := reads.window(kindGet, w.from, w.to), reads.window(kindSearch, w.from, w.to)
		after := g.storedAfter(w.from, w.to, phase)
		f.addLoad(fmt.Sprintf("index build under load, %s: cache-miss GET at %d/s", w.name, getRate), get, 1)
		f.addLoad(fmt.Sprintf("index build under load, %s: search page 1 at %d/s", w.name, searchRate), search, 1)
		f.add(fmt.Sprintf("index build under load, %s: orders sent a second, each stored (%d/s asked)", w.name, flowRate), float64(len(after))/w.to.Sub(w.from).Seconds(), "%.0f")
		if len(after) > 0 {
			f.add(fmt.Sprintf("index build under load, %s: stored after creation, p50 ms", w.name), quantile(after, 0.5), "%.1f")
			f.add(fmt.Sprintf("index build under load, %s: stored after creation, p99 ms", w.name), quantile(after, 0.99), "%.1f")
			f.add(fmt.Sprintf("index build under load, %s: stored after creation, max ms", w.name), after[len(after)-1], "%.1f")
		}
		g.log.Info("under load", "window", w.name, "get", get.String(), "search", search.String(), "stored", len(after))
	}
}

// report prints every figure at each size side by side, with the ratio of
// the last size's to the first's.
func (g *growth) report(all []*sizeFigures) {
	b := g.b
	var names []string
	seen := map[string]bool{}
	for _, f := range all {
		for _, r := range f.rows {
			if !seen[r.name] {
				seen[r.name] = true
				names = append(names, r.name)
			}
		}
	}
	var sb strings.Builder
	sb.WriteString("| figure |")
	for _, f := range all {
		fmt.Fprintf(&sb, " %d stored |", f.stored)
	}
	sb.WriteString(" last / first |\n|---|" + strings.Repeat("---|", len(all)+1) + "\n")
	for _, name := range names {
		sb.WriteString("| " + name + " |")
		for _, f := range all {
			cell := "–"
			if r, ok := f.row(name); ok {
				cell = r.text
			}
			sb.WriteString(" " + cell + " |")
		}
		ratio := ""
		if a, ok := all[0].row(name); ok && a.num > 0 {
			if z, ok := all[len(all)-1].row(name); ok && z.num > 0 {
				ratio = fmt.Sprintf("%.2f", z.num/a.num)
			}
		}
		sb.WriteString(" " + ratio + " |\n")
	}
	b.Logf("growth, every figure at each size:\n%s", sb.String())
	// go test clips a benchmark's long log; the progress stream keeps the
	// table whole, as it reads.
	fmt.Fprintf(os.Stderr, "growth, every figure at each size:\n%s", sb.String())
	for _, f := range all {
		b.Logf("plans at %d stored:\n%s", f.stored, strings.Join(f.explain, "\n\n"))
	}
	last := all[len(all)-1]
	for name, unit := range map[string]string{
		fmt.Sprintf("ingest of %d more through the service, orders/s, median of %d rounds", g.set.batch, g.set.rounds): "ingest-orders/s",
		"ingest: service / COPY, of the medians":           "ingest-ratio",
		"cache-miss GET /api/orders/{uid}, 1 conn: p99 ms": "miss-p99-ms",
		"disk per order: every table in all, B":            "disk-B/order",
	} {
		if r, ok := last.row(name); ok {
			b.ReportMetric(r.num, unit)
		}
	}
}

func (f *sizeFigures) row(name string) (figure, bool) {
	for _, r := range f.rows {
		if r.name == name {
			return r, true
		}
	}
	return figure{}, false
}

// memSetting is a PostgreSQL memory size as the benchmark accepts it.
var memSetting = regexp.MustCompile(`^[1-9][0-9]*(kB|MB|GB)$`)

// quarterOfMemory is a quarter of the machine's memory in whole GB (at least
// 128MB): the shared_buffers a database server is commonly given.
func quarterOfMemory() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "128MB"
	}
	var kb int64
	for line := range strings.SplitSeq(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if gb := kb / 4 >> 20; gb >= 1 {
		return strconv.FormatInt(gb, 10) + "GB"
	}
	return "128MB"
}

// sizeServer sets the private cluster's shared_buffers and restarts it; a
// server named by pgtest.EnvDSN is used as it is set up.
func sizeServer(b *testing.B, buffers string, log *slog.Logger) {
	if os.Getenv(pgtest.EnvDSN) != "" {
		log.Info("using the server as it is set up", "env", pgtest.EnvDSN)
		return
	}
	srv := pgtest.Cluster(b)
	ctx := b.Context()
	conn, err := pgx.Connect(ctx, srv.AdminDSN())
	if err != nil {
		b.Fatal(err)
	}
	// ALTER SYSTEM takes no parameters; memSetting vetted the value.
	_, err = conn.Exec(ctx, "ALTER SYSTEM SET shared_buffers = '"+buffers+"'")
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Pause(ctx); err != nil {
		b.Fatal(err)
	}
	if err := srv.Resume(ctx); err != nil {
		b.Fatal(err)
	}
	log.Info("server restarted", "shared_buffers", buffers)
}
