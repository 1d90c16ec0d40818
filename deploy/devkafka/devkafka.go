// Package devkafka starts the in-process Kafka-protocol broker (kfake) that
// development mode uses instead of Apache Kafka.
package devkafka

import (
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Start runs a kfake cluster on 127.0.0.1:port with the topics seeded. A
// non-empty dataDir keeps messages and offsets across restarts.
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
