// Command kafka runs Apache Kafka (one KRaft node, from Maven Central jars,
// no Docker) in the background for CI, the fault suites and anyone who wants
// the real broker rather than kfake (tasks kafka:up and kafka:down):
//
//	kafka up      start it unless it runs; print its address when it answers
//	kafka down    stop it (-clean also deletes its data)
//
// With -sasl-ssl-port (when the data is new) it also listens for SASL_SSL:
// TLS with a CA made on the spot and one SCRAM-SHA-512 user, and it writes
// the service's settings for that listener to <dir>/sasl-ssl.env (the
// password to <dir>/sasl-password), for `set -a; . <dir>/sasl-ssl.env`.
//
// It needs java 17+, and mvn the first time, to fetch the jars.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/marketplace/orders/modules/kafka/kafkatest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], log); err != nil {
		log.Error("kafka", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, log *slog.Logger) error {
	if len(args) == 0 || (args[0] != "up" && args[0] != "down") {
		return errors.New("usage: kafka up|down [flags]; kafka up -h lists the flags")
	}
	fs := flag.NewFlagSet("kafka "+args[0], flag.ContinueOnError)
	dir := fs.String("dir", ".data/kafka", "configuration, data and server.log, kept between runs")
	port := fs.Int("port", 9092, "client port on 127.0.0.1 (when the data is new)")
	ctrlPort := fs.Int("controller-port", 9093, "KRaft controller port on 127.0.0.1 (when the data is new)")
	securePort := fs.Int("sasl-ssl-port", 0, "also a SASL_SSL listener (TLS and SCRAM users) on this port on 127.0.0.1 (when the data is new); 0 = none")
	clean := fs.Bool("clean", false, "down: also delete the data")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	began := time.Now()
	if args[0] == "down" {
		pid := kafkatest.ApachePID(*dir)
		if err := kafkatest.StopApache(ctx, *dir, log); err != nil {
			return err
		}
		if pid > 0 {
			log.Info("Apache Kafka stopped", "pid", pid, "took", time.Since(began).Round(time.Millisecond))
		}
		if *clean {
			return os.RemoveAll(*dir)
		}
		return nil
	}
	if pid := kafkatest.ApachePID(*dir); pid > 0 {
		log.Info("Apache Kafka is already running; go tool task kafka:down stops it", "pid", pid, "dir", *dir)
		return nil
	}
	opts := kafkatest.ApacheOptions{Dir: *dir, Port: *port, ControllerPort: *ctrlPort, Detach: true, Logger: log}
	if *securePort != 0 {
		opts.SASLSSL = &kafkatest.ApacheSASLSSL{Port: *securePort}
	}
	k, err := kafkatest.StartApache(ctx, opts)
	if err != nil {
		return err
	}
	log.Info("Apache Kafka runs in the background; go tool task kafka:down stops it",
		"addr", k.Addr(), "pid", kafkatest.ApachePID(*dir), "log", *dir+"/server.log", "took", time.Since(began).Round(time.Millisecond))
	if s := k.Secure(); s != nil {
		env, err := writeSecureEnv(*dir, s)
		if err != nil {
			return err
		}
		log.Info("SASL_SSL listener", "addr", s.Brokers[0], "user", s.Username, "mechanism", s.Mechanism, "settings", env)
	}
	fmt.Println(k.Addr()) // alone on stdout, for scripts
	return nil
}

// writeSecureEnv writes the service's settings for the SASL_SSL listener,
// the password in a file of its own as a container secret would be.
func writeSecureEnv(dir string, s *kafkatest.Secure) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	pwFile := filepath.Join(abs, "sasl-password")
	if err := os.WriteFile(pwFile, []byte(s.Password+"\n"), 0o600); err != nil {
		return "", err
	}
	var env strings.Builder
	for _, kv := range s.Environ() {
		if strings.HasPrefix(kv, "APP_KAFKA_SASL_PASSWORD=") {
			kv = "APP_KAFKA_SASL_PASSWORD_FILE=" + pwFile
		}
		fmt.Fprintln(&env, kv)
	}
	path := filepath.Join(abs, "sasl-ssl.env")
	return path, os.WriteFile(path, []byte(env.String()), 0o600)
}
