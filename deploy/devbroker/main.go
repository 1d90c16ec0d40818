// Command devbroker runs an in-process Kafka-protocol broker (kfake) on
// 127.0.0.1 for development: the topics orders and orders.dlq with 3
// partitions, kept on disk under -data so a restart keeps messages and offsets.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/marketplace/orders/deploy/devkafka"
	"github.com/marketplace/orders/modules/gorun"
)

func main() {
	port := flag.Int("port", 9092, "port to listen on (127.0.0.1)")
	data := flag.String("data", ".data/kafka", "directory that keeps the broker's state; empty keeps it in memory")
	partitions := flag.Int("partitions", 3, "partitions of each seeded topic")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	gorun.FollowParent()
	c, err := devkafka.Start(*port, *data, int32(*partitions), "orders", "orders.dlq")
	if err != nil {
		log.Error("start broker", "err", err)
		os.Exit(1)
	}
	log.Info("dev broker listening", "addrs", c.ListenAddrs(), "data", *data)
	<-ctx.Done()
	c.Close()
	log.Info("dev broker stopped")
}
