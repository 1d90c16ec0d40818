// Command dev runs the whole product on one machine with no Docker and no
// set-up: a private PostgreSQL (data in .data/pg), the embedded
// Kafka-protocol broker kfake (.data/broker), the service and a producer, all
// built from this checkout. It sends the reference order first, then one
// generated order a second. Ctrl-C stops everything it started, in order,
// and exits 0.
//
// With -only db or -only broker it runs just that server until Ctrl-C
// (tasks run:db and run:broker).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/marketplace/orders/modules/postgres/pgtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A second Ctrl-C ends dev at once; its children follow (Pdeathsig).
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var usage usageError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

// usageError is a start that the flags can fix, told in one line.
type usageError string

func (e usageError) Error() string { return string(e) }

type options struct {
	data, only, order            string
	httpPort, brokerPort, pgPort int
	interval, remind             time.Duration
	verbose                      bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.data, "data", ".data", "directory for the database, the broker's state and the binaries")
	fs.StringVar(&o.only, "only", "", "run only the database (db) or only the broker (broker)")
	fs.StringVar(&o.order, "order", "modules/order/testdata/model.json", "the reference order, sent first")
	fs.IntVar(&o.httpPort, "http-port", 9090, "port of the service's HTTP server")
	fs.IntVar(&o.brokerPort, "broker-port", 9092, "port of the kfake broker")
	fs.IntVar(&o.pgPort, "pg-port", 55432, "port of the private PostgreSQL")
	fs.DurationVar(&o.interval, "interval", time.Second, "pause between generated orders")
	fs.DurationVar(&o.remind, "remind", time.Minute, "how often to print the URLs again (0: never)")
	fs.BoolVar(&o.verbose, "v", false, "log every wait")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return usageError(err.Error())
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	con := newConsole(stdout)
	// dev's own log shares the terminal with the status line: it scrolls
	// above it like the children's lines.
	logTo := stderr
	if f, ok := stderr.(*os.File); ok && con.live() && termWidth(f) > 0 {
		logTo = con.scrolling("")
	}
	log := slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: level}))

	ports := []port{{"-pg-port", o.pgPort}, {"-broker-port", o.brokerPort}, {"-http-port", o.httpPort}}
	switch o.only {
	case "db":
		ports = ports[:1]
	case "broker":
		ports = ports[1:2]
	case "":
	default:
		return usageError(fmt.Sprintf("-only %q: want db or broker", o.only))
	}
	if err := portsFree(ports); err != nil {
		return err
	}
	err := runAll(ctx, o, con, log)
	if ctx.Err() != nil { // Ctrl-C is how dev is meant to end
		log.Info("stopped")
		return nil
	}
	return err
}

// port is a port dev needs and the flag that moves it.
type port struct {
	flag string
	n    int
}

// portsFree fails, in one line naming the flag that moves it, on the first
// port that something else holds, before anything starts.
func portsFree(ports []port) error {
	for _, p := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p.n))
		if err != nil {
			return usageError(fmt.Sprintf("port %d is taken; choose another with %s, e.g. go tool task dev -- %s %d",
				p.n, p.flag, p.flag, p.n+100))
		}
		_ = l.Close()
	}
	return nil
}

func runAll(ctx context.Context, o options, con *console, log *slog.Logger) error {
	var dsn, brokers string
	if o.only != "broker" {
		var stop func()
		var err error
		if dsn, stop, err = startDB(ctx, o, log); err != nil {
			return err
		}
		defer stop()
	}
	if o.only != "db" {
		var stop func()
		var err error
		if brokers, stop, err = startBroker(o, log); err != nil {
			return err
		}
		defer stop()
	}
	if o.only != "" {
		con.println(dsn + brokers) // alone on stdout, for scripts
		log.Info("Ctrl-C stops it")
		<-ctx.Done()
		return nil
	}
	return runStack(ctx, o, con, log, dsn, brokers)
}

// startDB starts the private PostgreSQL and returns its DSN and how to stop
// it. Alone (-only db), it also writes the DSN for task run:consumer.
func startDB(ctx context.Context, o options, log *slog.Logger) (string, func(), error) {
	pg, err := pgtest.Start(ctx, pgtest.Options{Dir: filepath.Join(o.data, "pg"), Port: o.pgPort, Logger: log})
	if err != nil {
		return "", nil, err
	}
	stop := func() {
		if err := pg.Stop(); err != nil {
			log.Warn("stop PostgreSQL", "err", err)
		}
	}
	dsn := pg.DSN("orders")
	log.Info("PostgreSQL", "dsn", dsn, "log", pg.LogFile())
	if o.only == "db" {
		remove, err := writeDSN(filepath.Join(o.data, dsnFile), dsn)
		if err != nil {
			stop()
			return "", nil, err
		}
		log.Info("go tool task run:consumer uses this database (APP_POSTGRES_DSN unset)", "file", filepath.Join(o.data, dsnFile))
		return dsn, func() { remove(); stop() }, nil
	}
	return dsn, stop, nil
}

// startBroker starts kfake with its state under the data folder and returns
// its addresses and how to stop it.
func startBroker(o options, log *slog.Logger) (string, func(), error) {
	dir := filepath.Join(o.data, "broker")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	broker, err := kfake.NewCluster(kfake.Ports(o.brokerPort), kfake.DataDir(dir),
		kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		return "", nil, fmt.Errorf("kfake on port %d: %w", o.brokerPort, err)
	}
	brokers := strings.Join(broker.ListenAddrs(), ",")
	log.Info("kfake broker", "addrs", brokers, "state", dir)
	return brokers, broker.Close, nil
}

// runStack builds and runs the service and, once it is ready, the reference
// order and the producer, until Ctrl-C or one of them exits.
func runStack(ctx context.Context, o options, con *console, log *slog.Logger, dsn, brokers string) error {
	bin, err := filepath.Abs(filepath.Join(o.data, "bin"))
	if err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin+"/", "./app", "./producer")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	env := append(os.Environ(), "APP_POSTGRES_DSN="+dsn, "APP_KAFKA_BROKERS="+brokers,
		"APP_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(o.httpPort), "APP_LOG_FORMAT=text")
	base := "http://localhost:" + strconv.Itoa(o.httpPort)

	service, err := startChild("service", filepath.Join(bin, "app"), env, con.scrolling("[service] "), con.scrolling("[service] "))
	if err != nil {
		return err
	}
	defer service.stop(log)
	if err := waitReady(ctx, base+"/readyz", service, log); err != nil {
		return err
	}
	uid, err := sendOrder(ctx, filepath.Join(bin, "producer"), o.order, env)
	if err != nil {
		return err
	}
	log.Info("sent the reference order", "order_uid", uid, "file", o.order)
	// The producer's stdout is its progress, a line a second: the status
	// line. What it says on stderr (failures) scrolls.
	producer, err := startChild("producer", filepath.Join(bin, "producer"), env, con.statusOf("[producer] "), con.scrolling("[producer] "),
		"-interval", o.interval.String())
	if err != nil {
		return err
	}
	producer.exited = con.endStatus // its summary stays, above what follows
	defer producer.stop(log)

	con.println(urlBlock(base, uid, o.interval, con.live()))
	return watch(ctx, o.remind, con, service, producer, base, uid)
}

// watch waits for Ctrl-C or a child's exit, printing the URLs again every
// remind (0: never).
func watch(ctx context.Context, remind time.Duration, con *console, service, producer *child, base, uid string) error {
	var tick <-chan time.Time
	if remind > 0 {
		ticker := time.NewTicker(remind)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-service.done:
			return fmt.Errorf("the service exited: %v", service.err)
		case <-producer.done:
			return fmt.Errorf("the producer exited: %v", producer.err)
		case <-tick:
			line := fmt.Sprintf("[dev] running: %s/  (reference order %s/orders/%s; Ctrl-C stops)", base, base, uid)
			if !con.live() && con.lastStatus() != "" {
				line += "\n" + con.lastStatus()
			}
			con.println(line)
		}
	}
}

// urlBlock is what dev prints once everything runs: where to look, and what
// the producer's line says.
func urlBlock(base, uid string, interval time.Duration, live bool) string {
	where := "is the last line, rewritten in place"
	if !live {
		where = "is printed with the reminder"
	}
	return fmt.Sprintf("\n  The order service is running. The reference order %[2]s was sent.\n\n"+
		"  Search page:     %[1]s/\n  Reference order: %[1]s/api/getOrder?OrderUID=%[2]s\n"+
		"  Page of it:      %[1]s/orders/%[2]s\n  Metrics:         %[1]s/metrics\n\n"+
		"  A producer sends a generated order every %[3]s. Its progress %[4]s:\n"+
		"  orders sent, acknowledged by the broker, failed, per second, and \"try order_uid X\":\n"+
		"  X is the newest order the broker took, stored a moment later; open %[1]s/orders/X\n"+
		"  or search for X.\n\n"+
		"  Ctrl-C stops the producer, the service, the broker and PostgreSQL.\n",
		base, uid, interval, where)
}

// dsnFile is where -only db writes the DSN of its database, in the data
// directory, for task run:consumer; it is removed when dev stops.
const dsnFile = "run-db.dsn"

// writeDSN writes dsn to path and returns what removes it again.
func writeDSN(path, dsn string) (remove func(), err error) {
	if err := os.WriteFile(path, []byte(dsn+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write the DSN for run:consumer: %w", err)
	}
	return func() { _ = os.Remove(path) }, nil
}

// sendOrder publishes the orders in file with the producer and returns the
// uid of the first.
func sendOrder(ctx context.Context, producer, file string, env []string) (string, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	var first struct {
		UID string `json:"order_uid"`
	}
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&first); err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	cmd := exec.CommandContext(ctx, producer, "-file", file)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("send %s: %w\n%s", file, err, out)
	}
	return first.UID, nil
}

// waitReady polls url until it answers 200, the child exits, or a minute
// passes.
func waitReady(ctx context.Context, url string, c *child, log *slog.Logger) error {
	began := time.Now()
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		select {
		case <-c.done:
			return struct{}{}, backoff.Permanent(fmt.Errorf("the service exited before it was ready: %v", c.err))
		default:
		}
		resp, err := http.Get(url)
		if err != nil {
			return struct{}{}, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return struct{}{}, fmt.Errorf("%s: %s", url, resp.Status)
		}
		return struct{}{}, nil
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond,
		RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: 2 * time.Second}),
		backoff.WithMaxElapsedTime(time.Minute),
		backoff.WithNotify(func(err error, wait time.Duration) {
			log.Debug("waiting for the service", "retry_in", wait, "err", err)
		}))
	if err == nil {
		log.Info("the service is ready", "took", time.Since(began).Round(time.Millisecond))
	}
	return err
}

// child is a program dev runs.
type child struct {
	name   string
	cmd    *exec.Cmd
	done   chan struct{} // closed once it has exited; err says how
	err    error
	exited func() // called by stop once it has exited; nil: none
}

func startChild(name, path string, env []string, stdout, stderr io.Writer, args ...string) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group: a terminal's Ctrl-C reaches it only through
	// stop, in order. The parent-death signal stops it if dev dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	return c, nil
}

// stop sends SIGTERM and waits; after 15 s it kills the child.
func (c *child) stop(log *slog.Logger) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	killed := false
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		killed = true
	}
	// Wait has copied all its output by now.
	if c.exited != nil {
		c.exited()
	}
	if killed {
		log.Warn("killed after 15 s", "child", c.name)
		return
	}
	log.Info("stopped", "child", c.name, "exit", c.cmd.ProcessState.String())
}
