package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestRunServesUntilCancelled(t *testing.T) {
	// Not t.TempDir: its parent is private to root, and the server may run
	// as the postgres account.
	parent, err := os.MkdirTemp("", "devdb-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "pg")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-dir", dir, "-port", "0"}, w, slog.New(slog.NewTextHandler(t.Output(), nil)))
		w.Close()
	}()

	dsn, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no DSN printed: %v (run: %v)", err, <-done)
	}
	go io.Copy(io.Discard, out)
	connCtx, connCancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer connCancel()
	conn, err := pgx.Connect(connCtx, dsn[:len(dsn)-1])
	if err != nil {
		t.Fatalf("connect to printed DSN: %v", err)
	}
	var db string
	if err := conn.QueryRow(connCtx, "SELECT current_database()").Scan(&db); err != nil || db != "orders" {
		t.Errorf("current_database = %q, %v", db, err)
	}
	conn.Close(connCtx)

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		t.Errorf("data dir not kept: %v", err)
	}
}
