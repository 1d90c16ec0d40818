package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/marketplace/orders/migrations"
)

// MigrationLock is the advisory lock key that serialises migrations between
// service instances starting at the same moment. It is the key the
// hand-written runner before goose took, so an old and a new instance
// starting together also wait for each other.
const MigrationLock int64 = 0x6f_72_64_65_72_73_01 // "orders" + 1

// migrate applies the migrations of migrations.FS not yet recorded in
// goose_db_version, each in its own transaction, while holding a session
// advisory lock: a second instance waits for the first and then finds
// nothing to do. It returns how many versions it applied.
func migrate(ctx context.Context, db *sql.DB, wait time.Duration, log *slog.Logger) (int, error) {
	// goose polls pg_try_advisory_lock every second, for as long as another
	// instance's migrations may take.
	if wait <= 0 {
		wait = 10 * time.Minute
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(MigrationLock), lock.WithLockTimeout(1, uint64(wait/time.Second)))
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(log),
	)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	return len(results), nil
}
