// Command kafka runs Apache Kafka (one KRaft node, from Maven Central jars,
// no Docker) in the background for CI, the fault suites and anyone who wants
// the real broker rather than kfake (tasks kafka:up and kafka:down):
//
//	kafka up      start it unless it runs; print its address when it answers
//	kafka down    stop it (-clean also deletes its data)
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
	k, err := kafkatest.StartApache(ctx, kafkatest.ApacheOptions{
		Dir: *dir, Port: *port, ControllerPort: *ctrlPort, Detach: true, Logger: log})
	if err != nil {
		return err
	}
	log.Info("Apache Kafka runs in the background; go tool task kafka:down stops it",
		"addr", k.Addr(), "pid", kafkatest.ApachePID(*dir), "log", *dir+"/server.log", "took", time.Since(began).Round(time.Millisecond))
	fmt.Println(k.Addr()) // alone on stdout, for scripts
	return nil
}
