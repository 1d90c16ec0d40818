package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"github.com/marketplace/orders/modules/logtest"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/certtest"
	"github.com/marketplace/orders/modules/postgres"
	"github.com/marketplace/orders/modules/postgres/pgtest"
)

// tlsDSN reaches the orders database of a TLS cluster at host, verifying
// the server's certificate against caFile and its name against host.
func tlsDSN(host string, port int, password, caFile string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("orders", password),
		Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: "/orders",
		RawQuery: url.Values{"sslmode": {"verify-full"}, "sslrootcert": {caFile}}.Encode()}
	return u.String()
}

// A DSN with sslmode=verify-full and sslrootcert is all the store needs to
// reach a server that takes TCP only over TLS, by IP address or by name:
// it migrates, stores, reads and follows; and a server whose certificate
// another CA signed is refused with an error that says so and never shows
// the password.
func TestTLSVerifyFull(t *testing.T) {
	srv, caFile := pgtest.TLSCluster(t)
	var pw [12]byte
	_, _ = rand.Read(pw[:])
	password := "pw-" + hex.EncodeToString(pw[:])
	admin, err := pgx.Connect(t.Context(), srv.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.WithoutCancel(t.Context()))
	if _, err := admin.Exec(t.Context(), "ALTER ROLE orders PASSWORD '"+password+"'"); err != nil {
		t.Fatal(err)
	}

	plain := strings.Replace(srv.DSN("orders"), "sslmode=require", "sslmode=disable", 1)
	if conn, err := pgx.Connect(t.Context(), plain); err == nil {
		conn.Close(t.Context())
		t.Fatal("the server took a connection without TLS; the test would prove nothing")
	}

	base := fixture(t)
	for i, host := range []string{"127.0.0.1", "localhost"} {
		t.Run(host, func(t *testing.T) {
			cfg := postgres.Config{DSN: tlsDSN(host, srv.Port(), password, caFile), ConnectTimeout: 10 * time.Second}
			s, err := postgres.Open(t.Context(), cfg, logger(t))
			if err != nil {
				t.Fatalf("open with verify-full: %v", err)
			}
			defer s.Close()
			p := parsed(t, variant(base, "tls-"+strconv.Itoa(i), day(i)))
			save(t, s, p)
			rec, err := s.Get(t.Context(), p.Order.OrderUID)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if !bytes.Equal(rec.JSON, p.JSON) {
				t.Fatalf("read back %s, want %s", rec.JSON, p.JSON)
			}

			f := postgres.NewFollower(s, cfg, newSink(10), nil, logger(t))
			if n, err := f.Warm(t.Context()); err != nil || n != i+1 {
				t.Fatalf("warm: %d orders, err %v; want %d", n, err, i+1)
			}
			f.Start()
			defer f.Stop(context.Background())
			waitFor(t, "the follower to listen over TLS", func() bool { return f.ReadyCheck(t.Context()) == nil })

			var plainConns int
			if err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity a
				JOIN pg_stat_ssl s USING (pid) WHERE a.usename = 'orders' AND NOT s.ssl`).Scan(&plainConns); err != nil {
				t.Fatal(err)
			}
			if plainConns != 0 {
				t.Fatalf("%d of the store's connections are not encrypted", plainConns)
			}
		})
	}

	t.Run("a certificate another CA signed", func(t *testing.T) {
		other, err := certtest.NewCA("another CA")
		if err != nil {
			t.Fatal(err)
		}
		otherFile := filepath.Join(t.TempDir(), "other-ca.pem")
		if err := os.WriteFile(otherFile, other.PEM, 0o644); err != nil {
			t.Fatal(err)
		}
		var logs logtest.Buffer
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg := postgres.Config{DSN: tlsDSN("localhost", srv.Port(), password, otherFile), ConnectTimeout: 2 * time.Second}
		s, err := postgres.Open(t.Context(), cfg, log)
		if err == nil {
			s.Close()
			t.Fatal("opened a server whose certificate the given CA did not sign")
		}
		msg := err.Error()
		t.Logf("error: %s", msg)
		if !strings.Contains(msg, "certificate") {
			t.Errorf("the error does not say the certificate was refused: %s", msg)
		}
		if strings.Contains(msg, password) {
			t.Errorf("the error shows the password: %s", msg)
		}
		if strings.Contains(logs.String(), password) {
			t.Errorf("the log shows the password:\n%s", logs.String())
		}
	})
}
