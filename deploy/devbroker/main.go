// Command devbroker runs an in-process Kafka-protocol broker (kfake) on
// 127.0.0.1 for development: the topics orders and orders.dlq with 3
// partitions, kept on disk under -data so a restart keeps messages and offsets.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 9092, "port to listen on (127.0.0.1)")
	data := flag.String("data", ".data/kafka", "directory that keeps the broker's state; empty keeps it in memory")
	partitions := flag.Int("partitions", 3, "partitions of each seeded topic")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := Start(*port, *data, int32(*partitions), "orders", "orders.dlq")
	if err != nil {
		log.Error("start broker", "err", err)
		os.Exit(1)
	}
	log.Info("dev broker listening", "addrs", c.ListenAddrs(), "data", *data)
	<-ctx.Done()
	c.Close()
	log.Info("dev broker stopped")
}

// Start runs a kfake cluster on port with the topics seeded.
func Start(port int, dataDir string, partitions int32, topics ...string) (*kfake.Cluster, error) {
	opts := []kfake.Opt{
		kfake.Ports(port),
		kfake.SeedTopics(partitions, topics...),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(int(partitions)),
	}
	if dataDir != "" {
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("kfake on port %d: %w", port, err)
	}
	return c, nil
}
