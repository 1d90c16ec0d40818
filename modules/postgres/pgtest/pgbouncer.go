package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvRequirePgBouncer set to 1 makes a missing pgbouncer binary fail the
// tests that need it rather than skip them: CI installs it, so there a
// skip would hide a broken set-up.
const EnvRequirePgBouncer = "CI_REQUIRE_PGBOUNCER"

// BouncerOptions shape a PgBouncer.
type BouncerOptions struct {
	// PoolSize is default_pool_size: server connections per database and
	// user. 0 means 2, so that transactions of different clients really
	// share server connections, which is what exposes state a client left
	// on one.
	PoolSize int
	// MaxClients is max_client_conn; 0 means 1000.
	MaxClients int
}

// Bouncer is Debian's pgbouncer run as a child of this process, in
// transaction mode (pool_mode = transaction) in front of one database:
// each transaction gets whichever server connection is free.
type Bouncer struct {
	dir  string
	port int
	dsn  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// PgBouncer puts a PgBouncer in transaction mode in front of the database
// direct names and returns the DSN through it; the test's end stops it. It
// skips the test when pgbouncer is not installed, unless
// CI_REQUIRE_PGBOUNCER=1, which makes that a failure.
func PgBouncer(t testing.TB, direct string, opts BouncerOptions) string {
	t.Helper()
	bin := bouncerBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := startBouncer(ctx, bin, direct, opts)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: pgbouncer log (last lines):\n%s", tail(b.LogFile(), 0))
		}
		if err := b.Stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return b.DSN()
}

// Pooled creates an empty database for this test, as DSN does, puts a
// PgBouncer in transaction mode in front of it, and returns the DSN through
// the pooler and the DSN straight to the server.
func Pooled(t testing.TB, opts BouncerOptions) (pooled, direct string) {
	t.Helper()
	bouncerBinary(t) // before making a database for nothing
	direct = DSN(t)
	return PgBouncer(t, direct, opts), direct
}

// bouncerBinary is pgbouncer's path; without one the test is skipped, or
// fails when CI_REQUIRE_PGBOUNCER=1.
func bouncerBinary(t testing.TB) string {
	t.Helper()
	bin, err := findBouncer()
	if err != nil {
		if os.Getenv(EnvRequirePgBouncer) == "1" {
			t.Fatalf("pgtest: %v (%s=1 requires it)", err, EnvRequirePgBouncer)
		}
		t.Skipf("pgtest: %v; skipping a test through a transaction pooler", err)
	}
	return bin
}

func findBouncer() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	// Debian puts it in /usr/sbin, which a non-root PATH may lack.
	const debian = "/usr/sbin/pgbouncer"
	if _, err := os.Stat(debian); err == nil {
		return debian, nil
	}
	return "", errors.New("pgbouncer is not installed (apt-get install pgbouncer)")
}

// startBouncer writes a configuration for a pooler in front of direct's
// database on a free 127.0.0.1 port, starts pgbouncer and waits until a
// query passes through it.
func startBouncer(ctx context.Context, bin, direct string, opts BouncerOptions) (*Bouncer, error) {
	target, err := pgconn.ParseConfig(direct)
	if err != nil {
		return nil, errors.New("pgbouncer: the direct DSN is not a valid PostgreSQL connection string")
	}
	cred, err := credential() // pgbouncer refuses to run as root
	if err != nil {
		return nil, err
	}
	b := &Bouncer{}
	if b.port, err = freePort(); err != nil {
		return nil, err
	}
	if b.dir, err = os.MkdirTemp("", "pgbouncer-"); err != nil {
		return nil, err
	}
	if err := b.writeConfig(target, opts, cred); err != nil {
		_ = os.RemoveAll(b.dir)
		return nil, err
	}
	u := url.URL{Scheme: "postgres", User: url.User(target.User),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)), Path: "/" + target.Database,
		RawQuery: "sslmode=disable"}
	if target.Password != "" {
		u.User = url.UserPassword(target.User, target.Password)
	}
	b.dsn = u.String()
	if err := b.start(ctx, bin, cred); err != nil {
		_ = b.Stop()
		return nil, err
	}
	return b, nil
}

func (b *Bouncer) writeConfig(target *pgconn.Config, opts BouncerOptions, cred *syscall.Credential) error {
	poolSize := opts.PoolSize
	if poolSize == 0 {
		poolSize = 2
	}
	maxClients := opts.MaxClients
	if maxClients == 0 {
		maxClients = 1000
	}
	// A name in [databases] is a bare ini key: no quoting.
	if !plainName.MatchString(target.Database) {
		return fmt.Errorf("pgbouncer: database name %q is not letters, digits and _", target.Database)
	}
	server := fmt.Sprintf("host=%s port=%d dbname=%s", quoteConn(target.Host), target.Port, quoteConn(target.Database))
	serverTLS := "disable"
	if target.TLSConfig != nil {
		serverTLS = "require"
	}
	// Clients sign in as the direct DSN's user with its password; PgBouncer
	// signs in to the server with the same pair. With no password, trust.
	auth := "scram-sha-256"
	if target.Password == "" {
		auth = "trust"
	}
	ini := strings.Join([]string{
		"[databases]",
		target.Database + " = " + server,
		"",
		"[pgbouncer]",
		"listen_addr = 127.0.0.1",
		"listen_port = " + strconv.Itoa(b.port),
		"unix_socket_dir =",
		"auth_type = " + auth,
		"auth_file = " + filepath.Join(b.dir, "userlist.txt"),
		"pool_mode = transaction",
		"default_pool_size = " + strconv.Itoa(poolSize),
		"min_pool_size = 0",
		"reserve_pool_size = 0",
		"max_client_conn = " + strconv.Itoa(maxClients),
		"server_tls_sslmode = " + serverTLS,
		"ignore_startup_parameters = extra_float_digits",
		// Seconds, not the default two minutes: a test that waits on a
		// starved pool fails while its output still says why.
		"query_wait_timeout = 30",
		"log_connections = 0",
		"log_disconnections = 0",
		"",
	}, "\n")
	userlist := fmt.Sprintf("%s %s\n", quoteUserlist(target.User), quoteUserlist(target.Password))
	for name, body := range map[string]string{"pgbouncer.ini": ini, "userlist.txt": userlist} {
		path := filepath.Join(b.dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			return fmt.Errorf("pgbouncer: %w", err)
		}
		if err := chownTo(path, cred); err != nil {
			return err
		}
	}
	return chownTo(b.dir, cred)
}

var plainName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// quoteConn quotes a value of a libpq-style key=value string.
func quoteConn(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// quoteUserlist quotes a field of PgBouncer's auth_file, where a double quote
// is doubled.
func quoteUserlist(v string) string { return `"` + strings.ReplaceAll(v, `"`, `""`) + `"` }

func chownTo(path string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("pgbouncer: %w", err)
	}
	return nil
}

func (b *Bouncer) start(ctx context.Context, bin string, cred *syscall.Credential) error {
	logFile, err := os.OpenFile(b.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgbouncer: %w", err)
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(bin, filepath.Join(b.dir, "pgbouncer.ini"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// As for the server: its own process group, ended if this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgbouncer: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.mu.Lock()
	b.cmd, b.done = cmd, done
	b.mu.Unlock()

	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		select {
		case <-done:
			return struct{}{}, backoff.Permanent(errors.New("exited"))
		default:
		}
		conn, err := pgx.Connect(ctx, b.dsn)
		if err != nil {
			return struct{}{}, err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, err = conn.Exec(ctx, "SELECT 1", pgx.QueryExecModeSimpleProtocol)
		return struct{}{}, err
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 20 * time.Millisecond,
		RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: 500 * time.Millisecond}),
		backoff.WithMaxElapsedTime(30*time.Second))
	if err != nil {
		return fmt.Errorf("pgbouncer on port %d did not pass a query through: %w\n%s", b.port, err, tail(b.LogFile(), 0))
	}
	return nil
}

// DSN reaches the database through the pooler.
func (b *Bouncer) DSN() string { return b.dsn }

// Port is the pooler's TCP port on 127.0.0.1.
func (b *Bouncer) Port() int { return b.port }

// LogFile is where pgbouncer writes its log.
func (b *Bouncer) LogFile() string { return filepath.Join(b.dir, "pgbouncer.log") }

// Stop ends pgbouncer at once (SIGTERM, its immediate shutdown; killed if it
// has not exited after 10 s) and removes its files. Stopping twice is a
// no-op.
func (b *Bouncer) Stop() error {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	var err error
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			err = errors.New("pgbouncer: no exit within 10 s of SIGTERM; killed")
		}
	}
	if b.dir != "" {
		err = errors.Join(err, os.RemoveAll(b.dir))
		b.dir = ""
	}
	return err
}
