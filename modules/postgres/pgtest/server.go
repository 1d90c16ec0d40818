package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
)

// The role and database every server gets, as in the service's default DSN.
const (
	appUser     = "orders"
	appPassword = "orders"
	appDatabase = "orders"
)

// Options say where and how a Server runs.
type Options struct {
	// Dir is the data directory, created and initialised when needed and kept
	// between runs. Empty means a temporary one that Stop removes.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Logger gets the waits of a start; nil discards them.
	Logger *slog.Logger
	// Durable keeps fsync and synchronous commit on in a temporary directory
	// too, for benchmarks of what a real server pays per commit. A kept
	// directory (Dir) is always durable.
	Durable bool
	// TLS, when set, turns ssl on with this certificate and key, and TCP
	// connections without TLS are refused; DSN and AdminDSN then ask for
	// sslmode=require.
	TLS *TLS
}

// Server is a PostgreSQL server run from the installed binaries as a child of
// this process: no Docker, no system service. Its server log is the file
// LogFile. Its methods are safe for concurrent use.
//
// A library such as fergusstrange/embedded-postgres does most of this, but
// its released versions run initdb and pg_ctl as the caller, and both refuse
// to run as root, which is how tests and CI run here.
type Server struct {
	bin, dataDir, sockDir string
	temporary, durable    bool
	tls                   bool
	port                  int
	cred                  *syscall.Credential // the postgres account when we are root
	log                   *slog.Logger

	mu      sync.Mutex
	cmd     *exec.Cmd     // nil while paused or stopped
	done    chan struct{} // closed once cmd has been reaped
	stopped bool
}

// Start initialises the data directory when needed, starts the server, waits
// until it answers, and creates the orders role and database if missing.
func Start(ctx context.Context, opts Options) (*Server, error) {
	s := &Server{temporary: opts.Dir == "", durable: opts.Durable || opts.Dir != "", port: opts.Port, log: opts.Logger,
		tls: opts.TLS != nil}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if s.bin, err = findBinaries(); err != nil {
		return nil, err
	}
	if s.cred, err = credential(); err != nil {
		return nil, err
	}
	if s.sockDir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return nil, err
	}
	s.dataDir = filepath.Join(s.sockDir, "data")
	if !s.temporary {
		if s.dataDir, err = filepath.Abs(opts.Dir); err != nil {
			return nil, err
		}
	}
	if s.port == 0 {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if err = s.start(ctx, opts.TLS); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, tls *TLS) error {
	if err := s.chown(s.sockDir); err != nil {
		return err
	}
	if tls != nil {
		if err := s.writeTLS(tls); err != nil {
			return err
		}
	}
	if err := s.initdb(ctx); err != nil {
		return err
	}
	if err := s.Resume(ctx); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, s.socketDSN())
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// CREATEDB lets tests make a database each.
	_, err = conn.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN
			CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s';
		END IF; END $$`, appUser, appUser, appPassword))
	if err != nil {
		return fmt.Errorf("postgres: create role: %w", err)
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", appDatabase).Scan(&exists); err != nil || exists {
		return err
	}
	_, err = s.CreateDatabase(ctx, appDatabase)
	return err
}

// DSN is a connection string for database db as the orders role.
func (s *Server) DSN(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(appUser, appPassword),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), Path: "/" + db, RawQuery: "sslmode=" + s.sslmode()}
	return u.String()
}

// AdminDSN is a connection string for the superuser, to the postgres
// database.
func (s *Server) AdminDSN() string {
	return "postgres://postgres@" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) + "/postgres?sslmode=" + s.sslmode()
}

func (s *Server) sslmode() string {
	if s.tls {
		return "require"
	}
	return "disable"
}

// socketDSN reaches the superuser through this server's own socket directory,
// where no other server can answer in its place.
func (s *Server) socketDSN() string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", s.sockDir, s.port)
}

// Port is the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// DataDir is the server's data directory.
func (s *Server) DataDir() string { return s.dataDir }

// LogFile is where the server writes its log.
func (s *Server) LogFile() string { return s.dataDir + ".log" }

// CreateDatabase creates an empty database owned by the orders role and
// returns its DSN.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, s.socketDSN())
	if err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	q := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " OWNER " + pgx.Identifier{appUser}.Sanitize()
	if _, err := conn.Exec(ctx, q); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.DSN(name), nil
}

// Pause stops the server, as an outage would, keeping its data and port.
func (s *Server) Pause(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown()
}

// Resume starts the server (again) and waits until it accepts connections.
func (s *Server) Resume(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("postgres: server is stopped")
	}
	if s.cmd != nil {
		return nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)))
	if err != nil {
		return fmt.Errorf("postgres: port %d is taken", s.port)
	}
	_ = l.Close()
	logFile, err := os.OpenFile(s.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer logFile.Close() // the server has its own copy
	logStart, _ := logFile.Seek(0, io.SeekEnd)
	args := []string{"-D", s.dataDir, "-k", s.sockDir, "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"}
	if s.tls {
		args = append(args, s.tlsArgs()...)
	}
	if !s.durable { // durability buys nothing for data deleted at the end
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := s.command(context.Background(), "postgres", args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group keeps a terminal's Ctrl-C for us to handle in
	// order; the parent-death signal ends it if this process dies first (the
	// kernel sends it when the forking thread ends, and Go ends a thread only
	// when a goroutine locked to it exits, which nothing here does).
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done

	began := time.Now()
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		select {
		case <-done:
			return struct{}{}, backoff.Permanent(errors.New("exited"))
		default:
		}
		conn, err := pgx.Connect(ctx, s.socketDSN())
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, conn.Close(ctx)
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 20 * time.Millisecond,
		RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: 500 * time.Millisecond}),
		backoff.WithMaxElapsedTime(time.Minute),
		backoff.WithNotify(func(err error, wait time.Duration) {
			s.log.Debug("waiting for PostgreSQL", "port", s.port, "retry_in", wait, "err", err)
		}))
	if err != nil {
		_ = s.shutdown()
		return fmt.Errorf("postgres on port %d did not start: %w\n%s", s.port, err, tail(s.LogFile(), logStart))
	}
	s.log.Info("PostgreSQL is up", "port", s.port, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// Stop shuts the server down and removes a temporary one's files. Stopping
// twice is a no-op.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	return errors.Join(s.shutdown(), os.RemoveAll(s.sockDir))
}

// shutdown asks for a fast shutdown (SIGINT) and waits for the server to
// exit; after a minute it kills it. Called with s.mu held.
func (s *Server) shutdown() error {
	if s.cmd == nil {
		return nil
	}
	cmd, done := s.cmd, s.done
	s.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
		return nil
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("postgres: no shutdown within a minute of SIGINT; killed")
	}
}

// initdb creates the cluster unless the data directory holds one already.
func (s *Server) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(s.dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	// Parents stay searchable: as root, the server runs as another account.
	if err := os.MkdirAll(filepath.Dir(s.dataDir), 0o755); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := s.chown(s.dataDir); err != nil {
		return err
	}
	// Byte-order collation (C) is the same on every machine and is how the
	// domain compares uids.
	out, err := s.command(ctx, "initdb", "-D", s.dataDir, "-A", "trust", "-U", "postgres",
		"--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput()
	if err != nil {
		return fmt.Errorf("postgres: initdb: %w\n%s", err, out)
	}
	return nil
}

// command runs a PostgreSQL program as the account that owns the cluster,
// without libpq's PG* variables, which would steer it elsewhere.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PG") })
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

func (s *Server) chown(dir string) error {
	if s.cred == nil {
		return nil
	}
	return os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid))
}

// credential is nil unless we are root, whom PostgreSQL refuses; then it is
// the postgres account's.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres: as root, the server runs as the postgres account: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// findBinaries prefers the newest Debian-style installation, then PATH.
func findBinaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return major(b) - major(a) })
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("postgres: server binaries not found (install postgresql-15, or set APP_POSTGRES_DSN)")
}

func major(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail is the last lines of what path holds from offset on.
func tail(path string, offset int64) string {
	b, _ := os.ReadFile(path)
	b = b[min(offset, int64(len(b))):]
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}
