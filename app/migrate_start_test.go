package main

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/postgres"
)

// A start waits out another instance's migrations for as long as
// postgres.migrate_timeout allows, not only postgres.connect_timeout and a
// margin: migrating a large table takes minutes (about one per million
// orders for version 6). The other instance here is a session that holds
// the migrations' advisory lock for 20 s, past 1 s of connect_timeout and
// the 15 s margin that once bounded the whole start.
func TestStartWaitsForAnotherInstancesMigrations(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	cfg := testConfig(t, brokers)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, cfg.Postgres.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", postgres.MigrationLock); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, buildBinary(t), append(env(cfg), "APP_POSTGRES_CONNECT_TIMEOUT=1s", "APP_POSTGRES_MIGRATE_TIMEOUT=2m"))
	select {
	case <-c.exited:
		t.Fatalf("the service gave up while another instance was migrating:\n%s", c.out)
	case <-time.After(20 * time.Second):
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", postgres.MigrationLock); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ready once the other instance's migrations ended", 30*time.Second, func() bool {
		code, _, _, err := tryGet("http://" + cfg.HTTP.Addr + "/readyz")
		return err == nil && code == 200
	})
}
