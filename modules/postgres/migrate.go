package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// migrationLock is the advisory lock key that serialises migrations between
// service instances starting at the same moment.
const migrationLock int64 = 0x6f_72_64_65_72_73_01 // "orders" + 1

// migrate applies, in name order, each *.sql file of fsys not yet recorded in
// schema_migrations, one transaction per file. It returns the versions it
// applied; running it again applies nothing.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS) ([]string, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	slices.Sort(names)

	err = locked(ctx, db, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    text PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: schema_migrations: %w", err)
	}

	var applied []string
	for _, name := range names {
		version := strings.TrimSuffix(name, ".sql")
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", version, err)
		}
		var done bool
		err = locked(ctx, db, func(tx *sql.Tx) error {
			// Checked under the lock: another instance may have applied it
			// while we waited.
			if err := tx.QueryRowContext(ctx,
				"SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", version).Scan(&done); err != nil || done {
				return err
			}
			// No arguments: the driver sends the file as one simple-protocol
			// query, so a file may hold many statements.
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", version)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", version, err)
		}
		if !done {
			applied = append(applied, version)
		}
	}
	return applied, nil
}

// locked runs fn in a transaction holding the migration lock, which the
// server releases at commit or rollback, even if this process dies.
func locked(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
