package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/marketplace/orders/modules/order"
)

// Every instance's cache follows every stored order. The transaction that
// stores orders also sends a NOTIFY naming them (PostgreSQL delivers it only
// at commit, so a listener never hears of an order that is not durable), and
// each instance LISTENs on a session of its own to DirectDSN, reads the
// orders it would cache and puts them in its cache. A notification can be
// missed while the listening connection is down; the follower then catches
// up from the database before it says ready again: one query for the newest
// orders stored since the last point it saw.
//
// The point is a snapshot's xmin: every transaction with a smaller id has
// ended, so any order committed later has stored_xid at or above it, in
// whatever order transactions commit. The follower takes a new point every
// probeEvery on its listening connection and trusts it one probe later, by
// when every notification of a transaction below it has long arrived.

// channel is the notification channel of stored orders.
const channel = "orders_stored"

// ListenerName is the application_name of every listening connection.
const ListenerName = "orders-follower"

// maxPayload is the longest notification payload: PostgreSQL refuses 8,000
// bytes and more.
const maxPayload = 7999

// probeEvery is how often the listener checks its connection and takes a new
// catch-up point.
const probeEvery = 5 * time.Second

// Sink is the cache a follower fills.
type Sink interface {
	// Admits reports whether Put would keep a record with this key.
	Admits(order.Key) bool
	Put(order.Record) bool
	Capacity() int
}

// FollowObserver hears how long after its commit by another instance an
// order was cached here.
type FollowObserver interface {
	Followed(delay time.Duration)
}

func newInstanceID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// payloads are the notifications of one transaction's stored orders: each
// starts with the storing instance and the time it was sent, then one line
// per order, "<date_created> <uid>" (a uid has no spaces or line breaks),
// as many as fit.
func payloads(instance string, sent time.Time, stored []*order.Parsed) []string {
	head := instance + " " + strconv.FormatInt(sent.UnixMicro(), 10)
	var (
		out []string
		b   strings.Builder
	)
	b.WriteString(head)
	for _, p := range stored {
		line := "\n" + p.Order.DateCreated.UTC().Format(time.RFC3339Nano) + " " + p.Order.OrderUID
		if b.Len()+len(line) > maxPayload {
			out = append(out, b.String())
			b.Reset()
			b.WriteString(head)
		}
		b.WriteString(line)
	}
	return append(out, b.String())
}

// notice is one notification read back.
type notice struct {
	instance string
	sent     time.Time
	keys     []order.Key
}

func parseNotice(payload string) (notice, error) {
	head, body, _ := strings.Cut(payload, "\n")
	instance, micros, ok := strings.Cut(head, " ")
	us, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil {
		return notice{}, fmt.Errorf("notification %.40q: no instance and time", payload)
	}
	n := notice{instance: instance, sent: time.UnixMicro(us)}
	for line := range strings.SplitSeq(body, "\n") {
		created, uid, ok := strings.Cut(line, " ")
		t, err := time.Parse(time.RFC3339Nano, created)
		if !ok || err != nil || uid == "" {
			return notice{}, fmt.Errorf("notification line %.80q is not <date_created> <uid>", line)
		}
		n.keys = append(n.keys, order.Key{DateCreated: t, UID: uid})
	}
	return n, nil
}

// notifyStored tells every listener, at commit, which orders tx stored.
func (s *Store) notifyStored(ctx context.Context, tx pgx.Tx, stored []*order.Parsed) error {
	if len(stored) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
		channel, payloads(s.instance, time.Now(), stored))
	if err != nil {
		return fmt.Errorf("notify stored orders: %w", err)
	}
	return nil
}

// Follower keeps a cache in step with the orders every instance stores.
type Follower struct {
	store *Store
	cfg   Config
	sink  Sink
	obs   FollowObserver
	log   *slog.Logger

	mu    sync.Mutex
	point string // xmin (xid8 as text) the next catch-up starts from; "" before warm-up
	live  atomic.Bool

	cancel context.CancelFunc
	done   chan struct{}
}

// NewFollower returns a follower that does nothing until Warm and Start.
func NewFollower(store *Store, cfg Config, sink Sink, obs FollowObserver, log *slog.Logger) *Follower {
	return &Follower{store: store, cfg: cfg, sink: sink, obs: obs, log: log.With("component", "follower")}
}

// Warm fills the sink with the newest orders and takes the first catch-up
// point, in one snapshot. It returns how many orders it read.
func (f *Follower) Warm(ctx context.Context) (int, error) {
	c, err := f.store.db()
	if err != nil {
		return 0, err
	}
	var n int
	err = c.withPgx(ctx, func(conn *pgx.Conn) error {
		var err error
		n, err = f.catchUp(ctx, conn)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("warm cache: %w", err)
	}
	return n, nil
}

// catchUp reads the newest orders stored since the point (all of them before
// the first point), as many as the sink holds, puts them in the sink and
// moves the point to the snapshot's xmin.
func (f *Follower) catchUp(ctx context.Context, conn *pgx.Conn) (int, error) {
	f.mu.Lock()
	since := f.point
	f.mu.Unlock()
	recs, xmin, err := newestSince(ctx, conn, since, f.sink.Capacity())
	if err != nil {
		return 0, err
	}
	for _, r := range recs {
		f.sink.Put(r)
	}
	f.setPoint(xmin)
	return len(recs), nil
}

func (f *Follower) setPoint(xmin string) {
	f.mu.Lock()
	f.point = xmin
	f.mu.Unlock()
}

// Start listens in the background until Stop.
func (f *Follower) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.done = make(chan struct{})
	go func() {
		defer close(f.done)
		b := backoff.NewExponentialBackOff()
		b.InitialInterval, b.MaxInterval = 100*time.Millisecond, 5*time.Second
		_, _ = backoff.Retry(ctx, func() (struct{}, error) {
			err := f.listen(ctx)
			if ctx.Err() != nil {
				return struct{}{}, backoff.Permanent(ctx.Err())
			}
			return struct{}{}, err
		}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0), backoff.WithNotify(func(err error, wait time.Duration) {
			f.log.Warn("not following stored orders; reconnecting", "err", err, "retry_in", wait)
		}))
	}()
}

// Stop ends listening and waits for it, or for ctx.
func (f *Follower) Stop(ctx context.Context) error {
	if f.cancel == nil {
		return nil
	}
	f.cancel()
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop follower: %w", ctx.Err())
	}
}

// ReadyCheck fails while the follower is not listening or has not caught up
// since it last was.
func (f *Follower) ReadyCheck(context.Context) error {
	if !f.live.Load() {
		return errors.New("not following orders stored by other instances (listening connection down or catching up)")
	}
	return nil
}

var errListenerLost = errors.New("listening connection lost")

// listen is one listening connection's life: LISTEN, catch up, then cache
// what each notification names until the connection fails or ctx ends.
func (f *Follower) listen(ctx context.Context) error {
	pgcfg, err := pgx.ParseConfig(f.cfg.Direct())
	if err != nil {
		return errors.New("the direct DSN is not a valid PostgreSQL connection string")
	}
	if pgcfg.ConnectTimeout == 0 {
		pgcfg.ConnectTimeout = 5 * time.Second
	}
	// Operators find the listener in pg_stat_activity by this name.
	pgcfg.RuntimeParams["application_name"] = ListenerName
	conn, err := pgx.ConnectConfig(ctx, pgcfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Listening first, then reading: an order committed in between is both
	// read and announced, and putting it twice changes nothing.
	n, err := f.catchUp(ctx, conn)
	if err != nil {
		return fmt.Errorf("catch up: %w", err)
	}
	f.live.Store(true)
	defer f.live.Store(false)
	f.log.Info("following stored orders", "caught_up", n)

	var candidate string // a point taken at the last probe, trusted at the next
	lastProbe := time.Now()
	for {
		if time.Since(lastProbe) >= probeEvery {
			var xmin string
			if err := conn.QueryRow(ctx, xminQuery).Scan(&xmin); err != nil {
				return fmt.Errorf("probe: %w", err)
			}
			if candidate != "" {
				f.setPoint(candidate)
			}
			candidate, lastProbe = xmin, time.Now()
		}
		notes, err := wait(ctx, conn, time.Until(lastProbe.Add(probeEvery)))
		if err != nil {
			return err
		}
		if err := f.apply(ctx, conn, notes); err != nil {
			return err
		}
	}
}

// wait returns the notifications that arrive within d (none when d passes),
// gathering those that come in a burst, up to 256.
func wait(ctx context.Context, conn *pgx.Conn, d time.Duration) ([]*pgconn.Notification, error) {
	var out []*pgconn.Notification
	for len(out) < 256 {
		if len(out) > 0 {
			d = 2 * time.Millisecond // only what is already on its way
		}
		wctx, cancel := context.WithTimeout(ctx, max(d, time.Millisecond))
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if wctx.Err() != nil && !conn.IsClosed() {
				return out, nil
			}
			return nil, fmt.Errorf("%w: %w", errListenerLost, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// apply caches the orders the notifications name that the sink would keep,
// reading them in one query on the listening connection.
func (f *Follower) apply(ctx context.Context, conn *pgx.Conn, notes []*pgconn.Notification) error {
	var (
		uids []string
		sent = map[string]time.Time{}
	)
	for _, n := range notes {
		if n.Channel != channel {
			continue
		}
		nt, err := parseNotice(n.Payload)
		if err != nil {
			f.log.Warn("notification ignored", "err", err)
			continue
		}
		if nt.instance == f.store.instance {
			continue // cached as this instance stored it
		}
		for _, k := range nt.keys {
			if f.sink.Admits(k) {
				uids = append(uids, k.UID)
				sent[k.UID] = nt.sent
			}
		}
	}
	if len(uids) == 0 {
		return nil
	}
	rows, err := conn.Query(ctx, "SELECT order_uid, date_created, raw FROM orders WHERE order_uid = ANY($1)", uids)
	if err != nil {
		return fmt.Errorf("read followed orders: %w", err)
	}
	var (
		uid     string
		created time.Time
		raw     []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&uid, &created, &raw}, func() error {
		if f.sink.Put(record(uid, created, raw)) && f.obs != nil {
			f.obs.Followed(time.Since(sent[uid]))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read followed orders: %w", err)
	}
	return nil
}
