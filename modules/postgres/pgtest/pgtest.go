// Package pgtest gives each test a fresh, empty PostgreSQL database: on the
// server named by APP_POSTGRES_DSN when it is reachable, otherwise on one
// private Server per test binary, started on first use. Server is also the
// PostgreSQL that task dev runs.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names an external server to use instead of a private cluster. Its
// user needs CREATEDB.
const EnvDSN = "APP_POSTGRES_DSN"

// server is where this test binary's databases live.
type server struct {
	once     sync.Once
	err      error
	cluster  *Server // nil when external
	adminDSN string  // creates databases
	external bool
}

// shared is the one server per test binary. It has to be package state: DSN
// is called from many tests and Main must stop what they started.
var shared server

// Main runs the tests, then stops the private cluster if one was started.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared.cluster != nil {
		if err := shared.cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop cluster: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// DSN creates an empty database for this test and returns its DSN.
func DSN(t testing.TB) string {
	t.Helper()
	s := shared.get()
	if s.err != nil {
		t.Fatalf("pgtest: no PostgreSQL for tests: %v", s.err)
	}
	name := dbName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.cluster != nil {
		dsn, err := s.cluster.CreateDatabase(ctx, name)
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		return dsn
	}
	if err := run(ctx, s.adminDSN, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s on %s (its user needs CREATEDB): %v", name, EnvDSN, err)
	}
	// A shared server outlives the test binary, so passing tests clean up;
	// a failing test's database is kept for a look.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: kept database %s", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := run(ctx, s.adminDSN, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(s.adminDSN, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// AdminDSN reaches the tests' server as its most privileged user known here:
// the private cluster's superuser, or APP_POSTGRES_DSN's user.
func AdminDSN(t testing.TB) string {
	t.Helper()
	s := shared.get()
	if s.err != nil {
		t.Fatalf("pgtest: no PostgreSQL for tests: %v", s.err)
	}
	if s.cluster != nil {
		return s.cluster.AdminDSN()
	}
	return s.adminDSN
}

// Cluster returns the private server, for tests that stop and start it
// (Pause, Resume). It skips the test when an external server is in use.
func Cluster(t testing.TB) *Server {
	t.Helper()
	s := shared.get()
	if s.err != nil {
		t.Fatalf("pgtest: no PostgreSQL for tests: %v", s.err)
	}
	if s.external {
		t.Skipf("pgtest: %s names an external server; this test needs a private cluster", EnvDSN)
	}
	return s.cluster
}

func (s *server) get() *server {
	s.once.Do(func() {
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := run(ctx, dsn, "SELECT 1")
			if err == nil {
				s.adminDSN, s.external = dsn, true
				return
			}
			// Say why the named server was passed over, without the DSN:
			// it carries a password.
			fmt.Fprintf(os.Stderr, "pgtest: %s is not reachable (%v); starting a private cluster\n", EnvDSN, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.cluster, s.err = Start(ctx, Options{})
	})
	return s
}

func run(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9]+`)

// dbName is unique across test binaries sharing a server and readable enough
// to find a kept database by its test.
func dbName(test string) string {
	base := strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(test), "_"), "_")
	if len(base) > 40 {
		base = base[:40]
	}
	var suffix [5]byte
	_, _ = rand.Read(suffix[:])
	return "t_" + base + "_" + hex.EncodeToString(suffix[:])
}

// withDatabase points dsn, in URL or key=value form, at database db.
func withDatabase(dsn, db string) (string, error) {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("%s is not a valid URL", EnvDSN)
		}
		u.Path = "/" + db
		u.RawPath = ""
		return u.String(), nil
	}
	// Later keys win in key=value form.
	return dsn + " dbname=" + db, nil
}
