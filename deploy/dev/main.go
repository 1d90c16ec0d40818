// Command dev runs the whole product on one machine with no Docker and no
// set-up: a private PostgreSQL in .data/pg, the kfake broker on
// 127.0.0.1:9092, the service, and a producer sending one order a second
// (after the reference order in model.json). Ctrl-C stops everything it
// started.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/marketplace/orders/deploy/devkafka"
	"github.com/marketplace/orders/deploy/pglocal"
	"github.com/marketplace/orders/modules/gorun"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

type options struct {
	data       string
	httpPort   int
	pgPort     int
	brokerPort int
	interval   time.Duration
}

func run() error {
	var o options
	flag.StringVar(&o.data, "data", ".data", "directory for the database, the broker's log and the binaries")
	flag.IntVar(&o.httpPort, "http-port", 9090, "port of the service's HTTP server")
	flag.IntVar(&o.pgPort, "pg-port", 55432, "port of the private PostgreSQL (127.0.0.1)")
	flag.IntVar(&o.brokerPort, "broker-port", 9092, "port of the kfake broker (127.0.0.1)")
	flag.DurationVar(&o.interval, "interval", time.Second, "pause between generated orders")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	gorun.FollowParent()

	log.Info("starting PostgreSQL", "dir", filepath.Join(o.data, "pg"), "port", o.pgPort)
	pg, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(o.data, "pg"), Port: o.pgPort})
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	defer func() {
		if err := pg.Stop(); err != nil {
			log.Warn("stop PostgreSQL", "err", err)
		}
		log.Info("PostgreSQL stopped")
	}()

	broker, err := devkafka.Start(o.brokerPort, filepath.Join(o.data, "kafka"), 3, "orders", "orders.dlq")
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	defer func() { broker.Close(); log.Info("broker stopped") }()
	brokers := strings.Join(broker.ListenAddrs(), ",")
	log.Info("broker listening", "addrs", brokers)

	bin := filepath.Join(o.data, "bin")
	for _, pkg := range []string{"app", "producer"} {
		log.Info("building", "package", "./"+pkg)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, pkg), "./"+pkg)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build ./%s: %w", pkg, err)
		}
	}
	environ := append(os.Environ(),
		"APP_POSTGRES_DSN="+pg.DSN(pglocal.AppDatabase),
		"APP_KAFKA_BROKERS="+brokers,
		fmt.Sprintf("APP_HTTP_ADDR=127.0.0.1:%d", o.httpPort),
		"APP_LOG_FORMAT=text",
	)
	// One local user on loopback: the per-client rate limit would only get in
	// the way of trying the API (or loading it with wrk). Set it to keep it.
	if _, set := os.LookupEnv("APP_HTTP_RATE_LIMIT"); !set {
		environ = append(environ, "APP_HTTP_RATE_LIMIT=0")
	}
	base := fmt.Sprintf("http://localhost:%d", o.httpPort)

	service, err := startChild("service", filepath.Join(bin, "app"), environ, "-config", "config.toml")
	if err != nil {
		return err
	}
	defer service.stop(log)
	if err := waitReady(ctx, base+"/readyz", service); err != nil {
		return err
	}

	send := exec.CommandContext(ctx, filepath.Join(bin, "producer"), "-config", "config.toml", "-file", "modules/order/testdata/model.json")
	send.Env = environ
	if fixture, err := send.CombinedOutput(); err != nil {
		return fmt.Errorf("send the reference order: %w\n%s", err, fixture)
	}
	producer, err := startChild("producer", filepath.Join(bin, "producer"), environ, "-config", "config.toml", "-interval", o.interval.String())
	if err != nil {
		return err
	}
	defer producer.stop(log)

	fmt.Printf("\n  The order service is running.\n\n"+
		"  Search page:     %s/\n"+
		"  Reference order: %s/api/getOrder?OrderUID=b563feb7b2b84b6test\n"+
		"  Page of it:      %s/orders/b563feb7b2b84b6test\n"+
		"  Metrics:         %s/metrics\n\n"+
		"  Ctrl-C stops the producer, the service, the broker and PostgreSQL.\n\n", base, base, base, base)

	select {
	case <-ctx.Done():
		log.Info("stopping")
		return nil
	case err := <-service.exited:
		return fmt.Errorf("service exited: %v", err)
	case err := <-producer.exited:
		return fmt.Errorf("producer exited: %v", err)
	}
}

type child struct {
	name   string
	cmd    *exec.Cmd
	exited chan error    // the exit, for run's select
	gone   chan struct{} // closed once the process has been reaped
}

// startChild runs a program with its output prefixed by its name. Children get
// their own process group so Ctrl-C reaches them only through stop.
func startChild(name, path string, environ []string, args ...string) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = environ
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Printf("[%s] %s\n", name, sc.Text())
		}
		// A line over the scanner's limit ends the loop; keep draining so the
		// child never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, pr)
	}()
	c := &child{name: name, cmd: cmd, exited: make(chan error, 1), gone: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		pw.Close()
		<-pumped
		c.exited <- err
		close(c.gone)
	}()
	return c, nil
}

// stop sends SIGTERM to the child's PID and waits; after 15 s it kills it.
func (c *child) stop(log *slog.Logger) {
	select {
	case <-c.gone:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.gone:
		log.Info("stopped", "child", c.name, "exit", exitText(c.cmd.ProcessState))
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.gone
		log.Warn("killed after 15 s", "child", c.name)
	}
}

// exitText describes how a reaped process ended.
func exitText(state *os.ProcessState) string {
	if state == nil {
		return "unknown"
	}
	return state.String()
}

// waitReady polls url until it answers 200, the child exits, or a minute passes.
func waitReady(ctx context.Context, url string, c *child) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-c.exited:
			return fmt.Errorf("service exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("service not ready after a minute at %s", url)
}
