// Command kafka-local runs Apache Kafka (one KRaft node) on this machine from
// its Maven Central jars, with no Docker, and leaves it running in the
// background for the service, the producer and TEST_KAFKA_BROKERS:
//
//	go run ./deploy/kafka-local up       fetch the jars if needed, start, wait until it answers
//	go run ./deploy/kafka-local status   is it running and answering?
//	go run ./deploy/kafka-local down     stop it (-clean also deletes its data)
//
// Run it from the repository root (deploy/kafka-local/kafka.sh does). Needs
// java 17+ and, for the first fetch, mvn.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/marketplace/orders/deploy/kafkalocal"
)

const pidFileName = "kafka.pid"

// exitStopped is status's exit code when no broker runs, as with LSB init
// scripts, so a script can test for it.
const exitStopped = 3

var errStopped = errors.New("kafka-local: not running")

// errUsage means the command line was wrong and the flag package has
// already said how.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	err := run(ctx, os.Args[1:], os.Stdout, log)
	switch {
	case errors.Is(err, errStopped):
		os.Exit(exitStopped)
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		log.Error("kafka-local failed", "err", err)
		os.Exit(1)
	}
}

type config struct {
	dir      string // holds pom.xml and lib/
	data     string
	port     int
	ctrlPort int
	clean    bool
	timeout  time.Duration
}

func (c config) pidFile() string { return filepath.Join(c.data, pidFileName) }
func (c config) addr() string    { return "127.0.0.1:" + strconv.Itoa(c.port) }

func run(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	usage := func(w io.Writer) {
		fmt.Fprintln(w, "usage: kafka-local up|down|status [flags]   (flags: kafka-local COMMAND -h)")
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		usage(os.Stderr)
		return errUsage
	}
	cmd := args[0]
	fs := flag.NewFlagSet("kafka-local "+cmd, flag.ContinueOnError)
	var c config
	fs.StringVar(&c.dir, "dir", "deploy/kafka-local", "folder with pom.xml; the jars go to its lib/")
	fs.StringVar(&c.data, "data", ".data/kafka-local", "data directory (configuration, Kafka's data, server.log, kafka.pid), kept between runs")
	fs.IntVar(&c.port, "port", 9092, "client port on 127.0.0.1")
	fs.IntVar(&c.ctrlPort, "controller-port", 9093, "KRaft controller port on 127.0.0.1")
	fs.DurationVar(&c.timeout, "timeout", 90*time.Second, "how long up waits for the broker to answer")
	if cmd == "down" {
		fs.BoolVar(&c.clean, "clean", false, "also delete the data directory")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return errUsage
	}
	switch cmd {
	case "up":
		return up(ctx, c, stdout, log)
	case "down":
		return down(c, stdout, log)
	case "status":
		return status(ctx, c, stdout)
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", cmd)
		usage(os.Stderr)
		return errUsage
	}
}

// up starts a detached broker unless ours already runs, and prints its
// address alone on stdout, so a script can capture it.
func up(ctx context.Context, c config, stdout io.Writer, log *slog.Logger) error {
	pid, err := readPID(c.pidFile())
	switch {
	case err == nil && kafkalocal.IsBroker(pid):
		if _, err := kafkalocal.Probe(ctx, c.addr()); err != nil {
			return fmt.Errorf("kafka (pid %d) runs but does not answer on %s (%v); try: go run ./deploy/kafka-local down", pid, c.addr(), err)
		}
		log.Info("kafka is already running", "addr", c.addr(), "pid", pid)
		_, err := fmt.Fprintln(stdout, c.addr())
		return err
	case err == nil:
		log.Info("removing stale pid file", "file", c.pidFile(), "pid", pid)
		_ = os.Remove(c.pidFile())
	case !errors.Is(err, os.ErrNotExist):
		return err
	}

	began := time.Now()
	lib, err := kafkalocal.Fetch(ctx, c.dir)
	if err != nil {
		return err
	}
	if took := time.Since(began); took > time.Second {
		log.Info("fetched the Kafka jars", "lib", lib, "took", took.Round(100*time.Millisecond))
	}

	began = time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	b, err := kafkalocal.Start(ctx, kafkalocal.Options{
		LibDir:         lib,
		DataDir:        c.data,
		Port:           c.port,
		ControllerPort: c.ctrlPort,
		Detach:         true,
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.pidFile(), []byte(strconv.Itoa(b.PID())+"\n"), 0o644); err != nil {
		_ = b.Stop()
		return fmt.Errorf("write pid file: %w", err)
	}
	log.Info("kafka is up; stop it with: go tool task kafka:down",
		"addr", b.Addr(), "pid", b.PID(), "cluster_id", b.ClusterID(),
		"log", filepath.Join(c.data, kafkalocal.ServerLog), "took", time.Since(began).Round(100*time.Millisecond))
	_, err = fmt.Fprintln(stdout, b.Addr())
	return err
}

// down stops the broker named by the pid file, and only a Kafka broker: a
// stale file may name a PID that now belongs to something else.
func down(c config, stdout io.Writer, log *slog.Logger) error {
	pid, err := readPID(c.pidFile())
	switch {
	case errors.Is(err, os.ErrNotExist):
		log.Info("kafka is not running (no pid file)", "file", c.pidFile())
	case err != nil:
		return err
	case !kafkalocal.IsBroker(pid):
		log.Info("kafka is not running; removing stale pid file", "file", c.pidFile(), "pid", pid)
		_ = os.Remove(c.pidFile())
	default:
		began := time.Now()
		if err := kafkalocal.StopPID(pid, 30*time.Second); err != nil {
			return err
		}
		_ = os.Remove(c.pidFile())
		log.Info("kafka stopped", "pid", pid, "took", time.Since(began).Round(100*time.Millisecond))
	}
	if c.clean {
		if err := os.RemoveAll(c.data); err != nil {
			return fmt.Errorf("clean: %w", err)
		}
		log.Info("data deleted", "dir", c.data)
	}
	_, err = fmt.Fprintln(stdout, "stopped")
	return err
}

// status prints "running ADDR pid N" and exits 0, or prints "stopped" and
// exits 3.
func status(ctx context.Context, c config, stdout io.Writer) error {
	pid, err := readPID(c.pidFile())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err != nil || !kafkalocal.IsBroker(pid) {
		fmt.Fprintln(stdout, "stopped")
		return errStopped
	}
	id, err := kafkalocal.Probe(ctx, c.addr())
	if err != nil {
		return fmt.Errorf("kafka (pid %d) runs but does not answer on %s: %w", pid, c.addr(), err)
	}
	_, err = fmt.Fprintf(stdout, "running %s pid %d cluster %s\n", c.addr(), pid, id)
	return err
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is not a pid", path, strings.TrimSpace(string(b)))
	}
	return pid, nil
}
