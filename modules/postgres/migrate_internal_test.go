package postgres

import (
	"database/sql"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/marketplace/orders/modules/postgres/pgtest"
)

func TestMigrateAppliesInOrderAndOnce(t *testing.T) {
	db := sqlDB(t)
	files := fstest.MapFS{
		"002_more.sql": {Data: []byte("INSERT INTO t VALUES (2);")},
		"001_init.sql": {Data: []byte("CREATE TABLE t (v int); INSERT INTO t VALUES (1);")},
		"README.md":    {Data: []byte("not a migration")},
	}
	tests := []struct {
		name string
		want []string
	}{
		{"first run applies every file in name order", []string{"001_init", "002_more"}},
		{"second run applies nothing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := migrate(t.Context(), db, files)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("applied %v, want %v", got, tt.want)
			}
		})
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Errorf("t has %d rows (%v), want 2", n, err)
	}
}

func TestMigrateFailureLeavesNoTrace(t *testing.T) {
	db := sqlDB(t)
	files := fstest.MapFS{
		"001_ok.sql":     {Data: []byte("CREATE TABLE ok (v int);")},
		"002_broken.sql": {Data: []byte("CREATE TABLE half (v int); SELECT no_such_function();")},
	}
	applied, err := migrate(t.Context(), db, files)
	if err == nil {
		t.Fatal("broken migration reported success")
	}
	if !slices.Equal(applied, []string{"001_ok"}) {
		t.Errorf("applied %v, want [001_ok]", applied)
	}
	var half, recorded bool
	if err := db.QueryRow("SELECT to_regclass('half') IS NOT NULL, EXISTS (SELECT 1 FROM schema_migrations WHERE version = '002_broken')").Scan(&half, &recorded); err != nil {
		t.Fatal(err)
	}
	if half || recorded {
		t.Errorf("after a failed migration: table created %v, recorded %v; want neither", half, recorded)
	}
}

func sqlDB(t *testing.T) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	return db
}
