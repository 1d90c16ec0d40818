//go:build fault

package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// broker is a broker the test owns and can restart.
type broker interface {
	addrs() []string
	restart(ctx context.Context) error
	kind() string
	// down stops the broker, keeping its data; up starts it again.
	down() error
	up(ctx context.Context) error
}

// restartableBroker is kfake persisting to a data dir (restarted on the same
// port), or, with TEST_KAFKA_LOCAL=1, an Apache Kafka the test runs from jars.
func restartableBroker(t *testing.T) broker {
	t.Helper()
	if os.Getenv("TEST_KAFKA_LOCAL") == "1" {
		return apacheBroker(t)
	}
	dir := t.TempDir()
	k := &kfakeBroker{dir: filepath.Join(dir, "kafka")}
	c, err := k.start(0)
	if err != nil {
		t.Fatal(err)
	}
	k.c = c
	addr := c.ListenAddrs()[0]
	k.port, _ = strconv.Atoi(addr[strings.LastIndex(addr, ":")+1:])
	t.Cleanup(func() { k.c.Close() })
	return k
}

type kfakeBroker struct {
	dir  string
	port int
	c    *kfake.Cluster
}

func (k *kfakeBroker) start(port int) (*kfake.Cluster, error) {
	return kfake.NewCluster(kfake.Ports(port), kfake.DataDir(k.dir), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
}

func (k *kfakeBroker) addrs() []string { return k.c.ListenAddrs() }
func (k *kfakeBroker) kind() string    { return "kfake" }

func (k *kfakeBroker) restart(context.Context) error {
	k.c.Close()
	c, err := k.start(k.port)
	if err != nil {
		return err
	}
	k.c = c
	return nil
}

func (k *kfakeBroker) down() error {
	k.c.Close()
	return nil
}

func (k *kfakeBroker) up(context.Context) error {
	c, err := k.start(k.port)
	if err != nil {
		return err
	}
	k.c = c
	return nil
}
