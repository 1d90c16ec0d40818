// Package postgres is the durable home of orders: a store over PostgreSQL
// that implements order.Store, lists orders for searches, and migrates its
// schema (goose, migrations/) at start. One pool serves all: the bulk paths
// (SaveBatch, Newest) and Get speak pgx on a connection taken from it, and
// Search builds its filters with GORM. A Follower keeps the cache in step
// with what other instances store, on a connection of its own.
package postgres

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"go.uber.org/fx"
	gormpg "gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/marketplace/orders/modules/order"
)

var _ order.Store = (*Store)(nil)

// Config is what the store needs to know; app fills it from its settings.
type Config struct {
	// DSN is a PostgreSQL connection string (URL or key=value form). It may
	// name a transaction pooler (PgBouncer with pool_mode = transaction) when
	// DirectDSN names the server itself.
	DSN string
	// DirectDSN reaches the server itself, keeping a session: migrations and
	// their advisory lock, and the listener that follows stored orders, use
	// it. Empty means DSN. When it differs from DSN, DSN is taken for a
	// transaction pooler and no statement outlives its transaction (no named
	// prepared statements).
	DirectDSN string
	// MaxConns is the pool's size; 0 chooses 2 × cores + 2 (4 to 32).
	MaxConns int
	// ConnectTimeout bounds how long start waits for the database to answer;
	// zero leaves only the start context's deadline.
	ConnectTimeout time.Duration
	// MigrateTimeout bounds how long start waits for another instance's
	// migrations to end (the advisory lock); zero means 10 minutes. The
	// start context must leave room for the migrations themselves.
	MigrateTimeout time.Duration
}

// Direct is the DSN of a session-keeping connection to the server.
func (c Config) Direct() string {
	if c.DirectDSN != "" {
		return c.DirectDSN
	}
	return c.DSN
}

// pooled reports whether DSN is taken for a transaction pooler.
func (c Config) pooled() bool { return c.DirectDSN != "" && c.DirectDSN != c.DSN }

// Store keeps orders in PostgreSQL. It is safe for concurrent use once open.
type Store struct {
	log  *slog.Logger
	conn atomic.Pointer[conn] // nil until open, and again after Close
	// instance names this process in the notifications it sends, so that
	// its own follower skips the orders it cached as it stored them.
	instance string
}

// conn is an open pool, seen through database/sql and through GORM.
type conn struct {
	gorm   *gorm.DB
	sql    *sql.DB
	months *monthKeeper
}

var errNotOpen = errors.New("postgres: store is not open")

// New returns a store that connects and migrates when the application starts
// and closes its pool when it stops.
func New(lc fx.Lifecycle, cfg Config, log *slog.Logger) *Store {
	s := newStore(log)
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error { return s.open(ctx, cfg) },
		OnStop:  func(context.Context) error { return s.Close() },
	})
	return s
}

func newStore(log *slog.Logger) *Store {
	return &Store{log: log.With("component", "postgres"), instance: newInstanceID()}
}

func (s *Store) open(ctx context.Context, cfg Config) error {
	pgcfg, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		// The parse error may quote the DSN, password and all.
		return errors.New("postgres: the DSN is not a valid PostgreSQL connection string")
	}
	// Every statement the store sends has a fixed text (limits and filters
	// are parameters; a listing has at most 32 shapes), so each is prepared
	// once per connection and then runs without being parsed and planned
	// again: a cache-miss read costs half as much as unprepared.
	pgcfg.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	pgcfg.StatementCacheCapacity = 128
	if cfg.pooled() {
		// A transaction pooler hands each transaction whichever server
		// connection is free: a statement prepared in one is unknown in the
		// next. Descriptions are still cached, so a query stays one round
		// trip; the server plans it each time.
		pgcfg.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
		pgcfg.DescriptionCacheCapacity = 128
	}
	target := net.JoinHostPort(pgcfg.Host, strconv.Itoa(int(pgcfg.Port))) + "/" + pgcfg.Database

	sqlDB := stdlib.OpenDB(*pgcfg)
	// Connections ≈ cores × 2 + 2 is where PostgreSQL throughput stops
	// growing; more would only queue inside the server.
	poolSize := min(max(2*runtime.GOMAXPROCS(0)+2, 4), 32)
	if cfg.MaxConns > 0 {
		poolSize = cfg.MaxConns
	}
	sqlDB.SetMaxOpenConns(poolSize)
	sqlDB.SetMaxIdleConns(poolSize)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	sqlDB.SetConnMaxLifetime(30 * time.Minute)

	if err := s.waitReachable(ctx, sqlDB, cfg.ConnectTimeout, target); err != nil {
		_ = sqlDB.Close()
		return err
	}
	gdb, err := gorm.Open(gormpg.New(gormpg.Config{Conn: sqlDB}), &gorm.Config{
		SkipDefaultTransaction: true,
		DisableAutomaticPing:   true,
		Logger:                 gormLog{log: s.log, slow: 500 * time.Millisecond},
	})
	if err != nil {
		_ = sqlDB.Close()
		return fmt.Errorf("postgres: %w", err)
	}
	applied, err := s.migrateDirect(ctx, cfg, sqlDB)
	if err != nil {
		_ = sqlDB.Close()
		return fmt.Errorf("postgres: %w", poolerHint(err))
	}
	c := &conn{gorm: gdb, sql: sqlDB}
	s.conn.Store(c)
	if _, err := s.addMonths(ctx); err != nil {
		s.conn.Store(nil)
		_ = sqlDB.Close()
		return fmt.Errorf("postgres: %w", poolerHint(err))
	}
	c.months = s.keepMonths()
	s.log.Info("postgres ready", "target", target, "migrations_applied", applied, "pool", poolSize)
	return nil
}

// migrateDirect migrates on the pool when it reaches the server itself, else
// on a connection of its own to DirectDSN: goose's advisory lock is a
// session's, which a transaction pooler does not keep.
func (s *Store) migrateDirect(ctx context.Context, cfg Config, pool *sql.DB) (int, error) {
	if !cfg.pooled() {
		return migrate(ctx, pool, cfg.MigrateTimeout, s.log)
	}
	pgcfg, err := pgx.ParseConfig(cfg.DirectDSN)
	if err != nil {
		return 0, errors.New("the direct DSN is not a valid PostgreSQL connection string")
	}
	db := stdlib.OpenDB(*pgcfg)
	defer db.Close()
	db.SetMaxOpenConns(1)
	target := net.JoinHostPort(pgcfg.Host, strconv.Itoa(int(pgcfg.Port))) + "/" + pgcfg.Database
	if err := s.waitReachable(ctx, db, cfg.ConnectTimeout, target+" (direct)"); err != nil {
		return 0, err
	}
	return migrate(ctx, db, cfg.MigrateTimeout, s.log)
}

// poolerHint explains the errors a transaction pooler gives a client that
// keeps named prepared statements across transactions: postgres.dsn names a
// pooler and postgres.direct_dsn was not set.
func poolerHint(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P05" || pgErr.Code == "26000") {
		return fmt.Errorf("%w (postgres.dsn seems to reach a transaction pooler such as PgBouncer: set postgres.direct_dsn to the server itself)", err)
	}
	return err
}

// waitReachable pings until the server answers, backing off from 100 ms to
// 2 s, for at most timeout (when positive).
func (s *Store) waitReachable(ctx context.Context, db *sql.DB, timeout time.Duration, target string) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	wait := backoff.NewExponentialBackOff()
	wait.InitialInterval = 100 * time.Millisecond
	wait.MaxInterval = 2 * time.Second
	attempts := 0
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempts++
		last = db.PingContext(ctx)
		// A certificate the DSN's sslrootcert does not trust will not be
		// trusted on the next try either.
		var unknownCA x509.UnknownAuthorityError
		var hostname x509.HostnameError
		if errors.As(last, &unknownCA) || errors.As(last, &hostname) {
			return struct{}{}, backoff.Permanent(last)
		}
		return struct{}{}, last
	},
		backoff.WithBackOff(wait),
		backoff.WithMaxElapsedTime(max(timeout, 0)), // 0: no limit of its own
		backoff.WithNotify(func(err error, next time.Duration) {
			s.log.Warn("postgres not reachable, retrying", "target", target, "attempt", attempts, "retry_in", next, "err", err)
		}))
	if err != nil {
		// Retry returns the context's error when time runs out mid-wait;
		// the last ping's error says more.
		if last == nil {
			last = err
		}
		return fmt.Errorf("postgres %s not reachable after %d attempts: %w", target, attempts, last)
	}
	return nil
}

// Close closes the pool. Closing a store that is not open is a no-op.
func (s *Store) Close() error {
	c := s.conn.Swap(nil)
	if c == nil {
		return nil
	}
	if c.months != nil {
		c.months.stop()
	}
	if err := c.sql.Close(); err != nil {
		return fmt.Errorf("postgres: close: %w", err)
	}
	return nil
}

// Ping reports whether the database answers now.
func (s *Store) Ping(ctx context.Context) error {
	c := s.conn.Load()
	if c == nil {
		return errNotOpen
	}
	if err := c.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

func (s *Store) db() (*conn, error) {
	c := s.conn.Load()
	if c == nil {
		return nil, errNotOpen
	}
	return c, nil
}

// withPgx runs fn on a pgx connection taken from the pool, for what
// database/sql cannot do (COPY) or does slowly (streaming many rows).
func (c *conn) withPgx(ctx context.Context, fn func(*pgx.Conn) error) error {
	sc, err := c.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer sc.Close()
	return sc.Raw(func(dc any) error {
		return fn(dc.(*stdlib.Conn).Conn())
	})
}
