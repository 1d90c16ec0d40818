package pglocal_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/deploy/pglocal"
)

func start(t *testing.T, opts pglocal.Options) *pglocal.Cluster {
	t.Helper()
	c, err := pglocal.Start(t.Context(), opts)
	if errors.Is(err, pglocal.ErrNoBinaries) {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return c
}

func query(ctx context.Context, dsn, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var s string
	err = conn.QueryRow(ctx, sql).Scan(&s)
	return s, err
}

func exec(ctx context.Context, dsn, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func TestTemporaryCluster(t *testing.T) {
	ctx := t.Context()
	c := start(t, pglocal.Options{})

	tests := []struct {
		name string
		give string // SQL run through the orders DSN
		want string
	}{
		{"connects as the app role", "SELECT current_user", "orders"},
		{"to the app database", "SELECT current_database()", "orders"},
		{"which the app role owns", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'orders'", "orders"},
		{"listening on loopback only", "SHOW listen_addresses", "127.0.0.1"},
		{"with byte-order collation", "SELECT datcollate FROM pg_database WHERE datname = 'orders'", "C"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := query(ctx, c.DSN("orders"), tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("%s = %q, want %q", tt.give, got, tt.want)
			}
		})
	}

	t.Run("creates databases owned by the app role", func(t *testing.T) {
		dsn, err := c.CreateDatabase(ctx, "extra_db")
		if err != nil {
			t.Fatal(err)
		}
		got, err := query(ctx, dsn, "SELECT current_database() || ':' || pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
		if err != nil {
			t.Fatal(err)
		}
		if want := "extra_db:orders"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})

	t.Run("admin DSN is a superuser", func(t *testing.T) {
		got, err := query(ctx, c.AdminDSN(), "SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user")
		if err != nil {
			t.Fatal(err)
		}
		if got != "true" {
			t.Errorf("rolsuper = %s", got)
		}
	})
}

func TestPauseResume(t *testing.T) {
	ctx := t.Context()
	c := start(t, pglocal.Options{})
	dsn, err := c.CreateDatabase(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if err := exec(ctx, dsn, "CREATE TABLE marker AS SELECT 'still here'::text AS v"); err != nil {
		t.Fatal(err)
	}
	port := c.Port()

	if err := c.Pause(ctx); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if _, err := query(ctx, dsn, "SELECT 1::text"); err == nil {
		t.Fatal("query succeeded while paused")
	}
	if err := c.Resume(ctx); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if c.Port() != port {
		t.Errorf("port after resume = %d, want %d", c.Port(), port)
	}
	got, err := query(ctx, dsn, "SELECT v FROM marker")
	if err != nil {
		t.Fatalf("after resume: %v", err)
	}
	if got != "still here" {
		t.Errorf("marker = %q", got)
	}
}

func TestStopRemovesTemporaryFiles(t *testing.T) {
	c, err := pglocal.Start(t.Context(), pglocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := c.DataDir()
	if err := c.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir %s still there after stop (stat: %v)", dir, err)
	}
	if _, err := query(t.Context(), c.DSN("orders"), "SELECT 1::text"); err == nil {
		t.Error("server still answers after stop")
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

func TestPersistentDirIsReused(t *testing.T) {
	dir := sharedTempDir(t) + "/data/pg"
	ctx := t.Context()

	first, err := pglocal.Start(ctx, pglocal.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := exec(ctx, first.DSN("orders"), "CREATE TABLE survives (v text); INSERT INTO survives VALUES ('yes')"); err != nil {
		t.Fatal(err)
	}
	got, _ := query(ctx, first.DSN("orders"), "SHOW fsync")
	if got != "on" {
		t.Errorf("fsync = %q on a persistent cluster, want on", got)
	}
	if err := first.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := os.Stat(dir + "/PG_VERSION"); err != nil {
		t.Fatalf("persistent data dir removed by stop: %v", err)
	}

	second := start(t, pglocal.Options{Dir: dir})
	got, err = query(ctx, second.DSN("orders"), "SELECT v FROM survives")
	if err != nil {
		t.Fatalf("reused cluster lost its table: %v", err)
	}
	if got != "yes" {
		t.Errorf("survives.v = %q", got)
	}
}

func TestFixedPort(t *testing.T) {
	first := start(t, pglocal.Options{})
	second, err := pglocal.Start(t.Context(), pglocal.Options{Port: first.Port()})
	if err == nil {
		second.Stop()
		t.Fatal("second cluster started on a port already in use")
	}
	if !strings.Contains(err.Error(), "another PostgreSQL server") && !strings.Contains(err.Error(), "in use") {
		t.Errorf("error does not say the port is taken: %v", err)
	}
	if got, err := query(t.Context(), first.DSN("orders"), "SELECT current_database()"); err != nil || got != "orders" {
		t.Errorf("first cluster after the clash: %q, %v", got, err)
	}
}

// A second session on a data directory that a running server owns (two `task
// dev` at once) must fail, and must leave the first server running.
func TestSecondStartOnABusyDirLeavesTheFirstAlone(t *testing.T) {
	ctx := t.Context()
	dir := sharedTempDir(t) + "/data/pg"
	first := start(t, pglocal.Options{Dir: dir})
	for _, port := range []int{first.Port(), 0} {
		second, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Port: port})
		if err == nil {
			_ = second.Stop()
			t.Fatalf("second Start on a busy data dir (port %d) succeeded", port)
		}
		if _, err := query(ctx, first.DSN(pglocal.AppDatabase), "SELECT 'alive'"); err != nil {
			t.Fatalf("first server gone after a second Start on port %d: %v", port, err)
		}
	}
}

// sharedTempDir is a temp dir the postgres account can enter (t.TempDir's
// parent is private to root).
func sharedTempDir(t *testing.T) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "pglocal-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	return parent
}
