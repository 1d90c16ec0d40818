// Package postgres is the durable home of orders: a GORM store over
// PostgreSQL that implements order.Store and migrates its schema at start.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"go.uber.org/fx"
	gormpg "gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/marketplace/orders/migrations"
	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/order"
)

var _ order.Store = (*Store)(nil)

// Store keeps orders in PostgreSQL. It is safe for concurrent use once open.
type Store struct {
	log  *slog.Logger
	conn atomic.Pointer[conn] // nil until open, and again after Close
}

// conn is an open pool and what was learned about the schema when opening it.
type conn struct {
	gorm   *gorm.DB
	sql    *sql.DB
	chunks chunkSizes
}

var errNotOpen = errors.New("postgres: store is not open")

// New returns a store that connects and migrates when the application starts
// and closes its pool when it stops.
func New(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) *Store {
	s := &Store{log: log.With("component", "postgres")}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			return s.open(ctx, cfg.Postgres.DSN, cfg.Postgres.ConnectTimeout)
		},
		OnStop: func(context.Context) error { return s.Close() },
	})
	return s
}

// Open connects to dsn, retrying until connectTimeout or ctx ends, and
// migrates the schema.
func Open(ctx context.Context, dsn string, connectTimeout time.Duration, log *slog.Logger) (*Store, error) {
	s := &Store{log: log.With("component", "postgres")}
	if err := s.open(ctx, dsn, connectTimeout); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) open(ctx context.Context, dsn string, connectTimeout time.Duration) error {
	pgcfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN, password and all.
		return errors.New("postgres: the DSN is not a valid PostgreSQL connection string")
	}
	// One round trip per query and no server-side prepared statements: a
	// batch insert has a different text for every batch length, and caching
	// each as a prepared statement would pile them up in every backend.
	pgcfg.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	pgcfg.DescriptionCacheCapacity = 128
	target := net.JoinHostPort(pgcfg.Host, strconv.Itoa(int(pgcfg.Port))) + "/" + pgcfg.Database

	sqlDB := stdlib.OpenDB(*pgcfg)
	// Connections ≈ cores × 2 + 2 is where PostgreSQL throughput stops
	// growing; more would only queue inside the server.
	poolSize := min(max(2*runtime.GOMAXPROCS(0)+2, 4), 32)
	sqlDB.SetMaxOpenConns(poolSize)
	sqlDB.SetMaxIdleConns(poolSize)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	sqlDB.SetConnMaxLifetime(30 * time.Minute)

	if err := s.waitReachable(ctx, sqlDB, connectTimeout, target); err != nil {
		_ = sqlDB.Close()
		return err
	}
	gdb, err := gorm.Open(gormpg.New(gormpg.Config{Conn: sqlDB}), &gorm.Config{
		// SaveBatch runs its own transaction; gorm's per-statement one would
		// only add savepoints.
		SkipDefaultTransaction: true,
		DisableAutomaticPing:   true,
		Logger:                 gormLog{log: s.log, slow: 500 * time.Millisecond},
	})
	if err != nil {
		_ = sqlDB.Close()
		return fmt.Errorf("postgres: %w", err)
	}
	chunks, err := newChunkSizes(gdb)
	if err != nil {
		_ = sqlDB.Close()
		return err
	}
	applied, err := migrate(ctx, sqlDB, migrations.FS)
	if err != nil {
		_ = sqlDB.Close()
		return fmt.Errorf("postgres: %w", err)
	}
	s.conn.Store(&conn{gorm: gdb, sql: sqlDB, chunks: chunks})
	s.log.Info("postgres ready", "target", target, "migrations_applied", len(applied), "pool", poolSize)
	return nil
}

// waitReachable pings until the server answers, backing off from 100 ms to
// 2 s, for at most timeout.
func (s *Store) waitReachable(ctx context.Context, db *sql.DB, timeout time.Duration, target string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := db.PingContext(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("postgres %s not reachable after %d attempts: %w", target, attempt, err)
		}
		s.log.Warn("postgres not reachable, retrying", "target", target, "attempt", attempt, "retry_in", delay, "err", err)
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("postgres %s not reachable after %d attempts: %w", target, attempt, err)
		case <-timer.C:
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// Close closes the pool. Closing a store that is not open is a no-op.
func (s *Store) Close() error {
	c := s.conn.Swap(nil)
	if c == nil {
		return nil
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

// Migrated reports whether the schema has been brought up to date: the
// connection is published only after the migrations ran.
func (s *Store) Migrated() bool { return s.conn.Load() != nil }

func (s *Store) db(ctx context.Context) (*conn, *gorm.DB, error) {
	c := s.conn.Load()
	if c == nil {
		return nil, nil, errNotOpen
	}
	return c, c.gorm.WithContext(ctx), nil
}
