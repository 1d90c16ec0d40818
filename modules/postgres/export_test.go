package postgres

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/marketplace/orders/migrations"
)

// Open is what New's start hook does, without Fx, for tests that open many
// stores.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	s := newStore(log)
	if err := s.open(ctx, cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// MigrateTo moves the schema at dsn up or down to version, as goose does
// with the service's migrations, and returns how long that took.
func MigrateTo(ctx context.Context, dsn string, version int64) (time.Duration, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return 0, err
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if version < current {
		_, err = p.DownTo(ctx, version)
	} else {
		_, err = p.UpTo(ctx, version)
	}
	return time.Since(start), err
}
