package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/kafka/kafkatest"
)

// The database password must not reach the logs, neither when the database is
// unreachable (start fails) nor in a normal run at debug level.
func TestDatabasePasswordIsNeverLogged(t *testing.T) {
	bin := buildBinary(t)
	const secret = "Pw-n0t-in-logs-7731"

	t.Run("unreachable database", func(t *testing.T) {
		cfg := testConfig(t, kafkatest.Brokers(t))
		cfg.Postgres.DSN = "postgres://orders:" + secret + "@127.0.0.1:1/orders?sslmode=disable"
		environ := append(env(cfg), "APP_POSTGRES_CONNECT_TIMEOUT=2s", "APP_LOG_LEVEL=debug")
		c := startChild(t, bin, environ)
		select {
		case err := <-c.done:
			if err == nil {
				t.Fatal("service started without its database")
			}
		case <-time.After(60 * time.Second):
			t.Fatal("service neither started nor gave up on an unreachable database")
		}
		out := c.out.String()
		if !strings.Contains(out, "127.0.0.1:1") {
			t.Errorf("the failure does not say which database it could not reach:\n%s", out)
		}
		if strings.Contains(out, secret) {
			t.Fatalf("password in the output:\n%s", out)
		}
	})

	t.Run("normal run at debug level", func(t *testing.T) {
		brokers := kafkatest.Brokers(t)
		cfg := testConfig(t, brokers)
		// Log in with a password of ours: as is where the server trusts local
		// logins, else by setting the role's password, put back afterwards.
		u, err := url.Parse(cfg.Postgres.DSN)
		if err != nil {
			t.Fatal(err)
		}
		original, _ := u.User.Password()
		role := u.User.Username()
		u.User = url.UserPassword(role, secret)
		if !canLogin(u.String()) {
			setPassword(t, cfg.Postgres.DSN, role, secret)
			t.Cleanup(func() { setPassword(t, u.String(), role, original) })
		}
		cfg.Postgres.DSN = u.String()
		c := startChild(t, bin, append(env(cfg), "APP_LOG_LEVEL=debug"))
		kafkatest.Produce(t, brokers, cfg.Kafka.Topic, kafkatest.Message{Key: []byte(fixtureUID), Value: fixture(t)})
		eventually(t, "the fixture to be served", 60*time.Second, func() bool {
			status, _, _, err := tryGet("http://" + cfg.HTTP.Addr + "/api/orders/" + fixtureUID)
			return err == nil && status == 200
		})
		_, _, body, _ := tryGet("http://" + cfg.HTTP.Addr + "/readyz")
		if strings.Contains(string(body), secret) {
			t.Fatalf("password in /readyz: %s", body)
		}
		if strings.Contains(c.out.String(), secret) {
			t.Fatalf("password in the logs:\n%s", c.out)
		}
	})
}

// The service's role is an ordinary role: no superuser, and of the tables it
// can see it owns exactly those its migrations created.
func TestServiceRoleOwnsOnlyItsTables(t *testing.T) {
	cfg := testConfig(t, kafkatest.Brokers(t))
	startService(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, cfg.Postgres.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var super bool
	if err := conn.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
		t.Fatal(err)
	}
	if super {
		t.Fatal("the service's role is a superuser")
	}
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
		WHERE r.rolname = current_user AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname`)
	if err != nil {
		t.Fatal(err)
	}
	var owned []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		owned = append(owned, name)
	}
	want := "goose_db_version,order_search,orders" // and order_search's monthly partitions
	if got := strings.Join(owned, ","); got != want {
		t.Fatalf("the service's role owns tables %s, want %s", got, want)
	}
}

func canLogin(dsn string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return false
	}
	conn.Close(ctx)
	return true
}

func setPassword(t *testing.T, dsn, role, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	q := "ALTER ROLE " + pgx.Identifier{role}.Sanitize() + " PASSWORD " + quoteLiteral(password)
	if _, err := conn.Exec(ctx, q); err != nil {
		t.Fatalf("set the role's password: %v", err)
	}
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
