// Package pglocal runs a private PostgreSQL server from the installed
// binaries: a throwaway cluster for tests, or a persistent one for local
// development, with no Docker and no system service.
package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/deploy/internal/logtail"
	"github.com/marketplace/orders/deploy/internal/proc"
)

// ErrNoBinaries means no PostgreSQL server installation was found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries not found (install postgresql-15, or set APP_POSTGRES_DSN to a reachable server)")

// The role and database every cluster gets, matching the service's default DSN.
const (
	AppUser     = "orders"
	AppPassword = "orders"
	AppDatabase = "orders"
	adminUser   = "postgres"
)

// readyTimeout bounds a start when the caller's context has no deadline: a
// server that is not up by then is not coming up.
const readyTimeout = 60 * time.Second

// Options say where and how the cluster runs.
type Options struct {
	// Dir is the data directory. Empty means a new temporary directory that
	// Stop removes; otherwise it is created and initialised if needed and
	// reused as it is when it already holds a cluster.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Log receives the server's own log output; nil discards it (the last
	// lines still appear in start errors).
	Log io.Writer
}

// Cluster is one running (or paused) server. Its methods are safe for
// concurrent use.
type Cluster struct {
	bin        string // directory holding initdb, pg_ctl and postgres
	dataDir    string
	runDir     string // socket directory, and the data directory's parent for a temporary cluster
	temporary  bool
	port       int
	cred       *syscall.Credential // the postgres account when we run as root
	out        io.Writer
	tail       *logtail.Buffer
	deathOnEnd syscall.Signal

	mu      sync.Mutex
	server  *proc.Process // nil while paused or stopped
	stopped bool
}

// Start initialises the data directory when needed, starts the server, waits
// until it accepts connections and makes sure the orders role and database
// exist.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	runDir, err := os.MkdirTemp("", "pglocal-")
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	c := &Cluster{
		bin:       bin,
		runDir:    runDir,
		temporary: opts.Dir == "",
		cred:      cred,
		tail:      logtail.New(4 << 10),
	}
	c.out = c.tail
	if opts.Log != nil {
		c.out = io.MultiWriter(opts.Log, c.tail)
	}
	// A persistent cluster gets a fast (clean) shutdown if this process dies;
	// a temporary one holds nothing worth a checkpoint.
	c.deathOnEnd = syscall.SIGQUIT
	if !c.temporary {
		c.deathOnEnd = syscall.SIGINT
	}
	if err := c.start(ctx, opts); err != nil {
		_ = os.RemoveAll(runDir)
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, opts Options) error {
	if err := c.own(c.runDir); err != nil {
		return err
	}
	if c.temporary {
		c.dataDir = filepath.Join(c.runDir, "data")
	} else {
		dir, err := filepath.Abs(opts.Dir)
		if err != nil {
			return fmt.Errorf("pglocal: data dir: %w", err)
		}
		c.dataDir = dir
	}
	if err := c.initdb(ctx); err != nil {
		return err
	}

	ctx, cancel := proc.WithDefaultTimeout(ctx, readyTimeout)
	defer cancel()
	// A picked port can be taken by someone else before the server binds it;
	// picking again is cheap. A port the caller chose is theirs to fix.
	attempts := 1
	if opts.Port == 0 {
		attempts = 3
	}
	var err error
	for range attempts {
		c.port = opts.Port
		if c.port == 0 {
			if c.port, err = freePort(); err != nil {
				return err
			}
		}
		if err = c.launch(ctx); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	if err := c.bootstrap(ctx); err != nil {
		_ = c.Stop()
		return err
	}
	return nil
}

// DSN is a connection string for db as the orders role.
func (c *Cluster) DSN(db string) string {
	return c.url(url.UserPassword(AppUser, AppPassword), db)
}

// AdminDSN is a connection string for the superuser, to the postgres database.
func (c *Cluster) AdminDSN() string {
	return c.url(url.User(adminUser), "postgres")
}

func (c *Cluster) url(u *url.Userinfo, db string) string {
	return (&url.URL{
		Scheme:   "postgres",
		User:     u,
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}).String()
}

// Port is the TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// DataDir is the cluster's data directory.
func (c *Cluster) DataDir() string { return c.dataDir }

// CreateDatabase creates an empty database owned by the orders role and
// returns its DSN.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, c.AdminDSN())
	if err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" OWNER "+pgx.Identifier{AppUser}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return c.DSN(name), nil
}

// Pause stops the server, as an outage would, keeping its data and port.
func (c *Cluster) Pause(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("pglocal: pause: cluster is stopped")
	}
	if c.server == nil {
		return nil
	}
	return c.shutdown(ctx)
}

// Resume starts a paused server again on the same port and data directory
// and waits until it accepts connections.
func (c *Cluster) Resume(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("pglocal: resume: cluster is stopped")
	}
	if c.server != nil {
		return nil
	}
	ctx, cancel := proc.WithDefaultTimeout(ctx, readyTimeout)
	defer cancel()
	return c.launchLocked(ctx)
}

// Stop shuts the server down and, for a temporary cluster, removes its
// files. Stopping twice is a no-op.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	var errs []error
	if c.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		errs = append(errs, c.shutdown(ctx))
		cancel()
	}
	errs = append(errs, os.RemoveAll(c.runDir))
	return errors.Join(errs...)
}

// initdb creates the cluster unless the data directory already holds one.
func (c *Cluster) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	// Parents stay searchable: when we run as root the server runs as another
	// account that must reach the data directory.
	if err := os.MkdirAll(filepath.Dir(c.dataDir), 0o755); err != nil {
		return fmt.Errorf("pglocal: data dir: %w", err)
	}
	if err := os.Mkdir(c.dataDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pglocal: data dir: %w", err)
	}
	if entries, err := os.ReadDir(c.dataDir); err != nil {
		return fmt.Errorf("pglocal: data dir: %w", err)
	} else if len(entries) > 0 {
		return fmt.Errorf("pglocal: data dir %s is not empty and holds no cluster", c.dataDir)
	}
	if err := c.own(c.dataDir); err != nil {
		return err
	}
	cmd := c.command(ctx, "initdb",
		"-D", c.dataDir, "-A", "trust", "-U", adminUser, "--no-sync", "-E", "UTF8",
		// Byte order collation is the same on every machine and is how the
		// domain compares uids.
		"--locale=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pglocal: initdb: %w\n%s", err, logtail.LastLines(out, 20))
	}
	return nil
}

func (c *Cluster) launch(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.launchLocked(ctx)
}

// launchLocked runs postgres in the foreground as our child, so its log
// reaches c.out and a crash of this process takes the server with it.
func (c *Cluster) launchLocked(ctx context.Context) error {
	args := []string{
		"-D", c.dataDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(c.port),
		"-c", "unix_socket_directories=" + c.runDir,
		"-c", "logging_collector=off",
	}
	if c.temporary {
		// Durability buys nothing for data that is deleted at the end.
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
			"-c", "max_connections=200",
		)
	}
	c.tail.Reset()
	p, err := c.spawn(args)
	if err != nil {
		return err
	}
	if err := c.waitReady(ctx, p); err != nil {
		p.Kill()
		<-p.Done()
		return err
	}
	c.server = p
	return nil
}

// waitReady polls until the server answers a connection, the server exits,
// or ctx ends.
func (c *Cluster) waitReady(ctx context.Context, p *proc.Process) error {
	delay := 10 * time.Millisecond
	var last error
	for {
		mine, err := c.answers(ctx, p.PID())
		if err == nil {
			if mine {
				return nil
			}
			return fmt.Errorf("pglocal: port %d is taken by another PostgreSQL server", c.port)
		}
		last = err
		timer := time.NewTimer(delay)
		select {
		case <-p.Done():
			timer.Stop()
			return fmt.Errorf("pglocal: postgres exited during start (%v)\n%s", p.Err(), c.tail.String())
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("pglocal: postgres not ready on port %d: %w (last: %v)\n%s", c.port, ctx.Err(), last, c.tail.String())
		case <-timer.C:
		}
		delay = min(delay*2, 250*time.Millisecond)
	}
}

// answers reports whether the server on our port is this cluster's postmaster,
// pid: until ours binds the port, or if it never can, another server may
// answer, even one running on this very data directory (a second dev session),
// which must then be left alone rather than adopted and later stopped.
func (c *Cluster) answers(ctx context.Context, pid int) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.AdminDSN())
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var dir string
	if err := conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
		// Not a superuser there, so certainly not our cluster.
		return false, nil
	}
	if filepath.Clean(dir) != filepath.Clean(c.dataDir) {
		return false, nil
	}
	return postmasterPID(c.dataDir) == pid, nil
}

// postmasterPID is the PID on the first line of the data directory's
// postmaster.pid, or 0 when it cannot be read.
func postmasterPID(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0
	}
	return pid
}

// bootstrap creates the orders role and database unless a reused data
// directory has them already.
func (c *Cluster) bootstrap(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.AdminDSN())
	if err != nil {
		return fmt.Errorf("pglocal: bootstrap: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", AppUser).Scan(&exists); err != nil {
		return fmt.Errorf("pglocal: bootstrap: %w", err)
	}
	if !exists {
		// CREATEDB lets test helpers pointed at this server make their own databases.
		q := fmt.Sprintf("CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'", pgx.Identifier{AppUser}.Sanitize(), AppPassword)
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("pglocal: create role: %w", err)
		}
	}
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", AppDatabase).Scan(&exists); err != nil {
		return fmt.Errorf("pglocal: bootstrap: %w", err)
	}
	if !exists {
		q := "CREATE DATABASE " + pgx.Identifier{AppDatabase}.Sanitize() + " OWNER " + pgx.Identifier{AppUser}.Sanitize()
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("pglocal: create database: %w", err)
		}
	}
	return nil
}

// shutdown asks pg_ctl for a fast shutdown of this data directory only and
// waits for our child to exit. Called with c.mu held.
func (c *Cluster) shutdown(ctx context.Context) error {
	p := c.server
	c.server = nil
	cmd := c.command(ctx, "pg_ctl", "stop", "-D", c.dataDir, "-m", "fast", "-w", "-t", "60")
	out, err := cmd.CombinedOutput()
	if err != nil {
		// pg_ctl refuses when postmaster.pid is gone; our child may still be
		// alive, and SIGINT is the same fast shutdown.
		p.Signal(syscall.SIGINT)
	}
	select {
	case <-p.Done():
		return nil
	case <-ctx.Done():
		p.Kill()
		<-p.Done()
		if err != nil {
			return fmt.Errorf("pglocal: pg_ctl stop: %w\n%s", err, logtail.LastLines(out, 10))
		}
		return fmt.Errorf("pglocal: stop: %w", ctx.Err())
	}
}

// spawn starts postgres, which dies with us (Pdeathsig).
func (c *Cluster) spawn(args []string) (*proc.Process, error) {
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), args...)
	cmd.Stdout = c.out
	cmd.Stderr = c.out
	cmd.Env = serverEnv()
	// Backends hold the log pipe too; after a kill they notice the
	// postmaster is gone within moments, and Wait need not outlast them.
	cmd.WaitDelay = 5 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: c.cred,
		Pdeathsig:  c.deathOnEnd,
		// A terminal's Ctrl-C goes to our process group; the server is
		// stopped by us, in order, not by the terminal.
		Setpgid: true,
	}
	p, err := proc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("pglocal: start postgres: %w", err)
	}
	return p, nil
}

// command runs a PostgreSQL tool as the account that owns the cluster.
func (c *Cluster) command(ctx context.Context, tool string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, tool), args...)
	cmd.Env = serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd
}

// serverEnv drops libpq's PG* variables, which would otherwise steer the
// tools to some other server or data directory.
func serverEnv() []string {
	env := os.Environ()
	return slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PG") })
}

// own hands dir to the postgres account when we run as root.
func (c *Cluster) own(dir string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	return nil
}

// credential is nil unless we run as root, which the server refuses; then it
// is the postgres account's.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pglocal: running as root needs a postgres account to run the server: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: postgres gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// findBinaries prefers the newest Debian-style installation, then PATH.
func findBinaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return majorOf(b) - majorOf(a) })
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, dir := range dirs {
		if hasTools(dir) {
			return dir, nil
		}
	}
	return "", ErrNoBinaries
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func hasTools(dir string) bool {
	for _, tool := range []string{"initdb", "pg_ctl", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, tool)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pglocal: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
