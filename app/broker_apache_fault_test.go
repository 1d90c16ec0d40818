//go:build fault

package main

import (
	"context"
	"testing"
	"time"

	"github.com/marketplace/orders/deploy/kafkalocal"
)

// apacheBroker runs an Apache Kafka (KRaft, from the jars of
// deploy/kafka-local) on free ports for this test.
func apacheBroker(t *testing.T) broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lib, err := kafkalocal.Fetch(ctx, "../deploy/kafka-local")
	if err != nil {
		t.Fatalf("fetch Kafka jars: %v", err)
	}
	b, err := kafkalocal.Start(ctx, kafkalocal.Options{LibDir: lib})
	if err != nil {
		t.Fatalf("start Apache Kafka: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Errorf("stop Apache Kafka: %v", err)
		}
	})
	return apache{b}
}

type apache struct{ b *kafkalocal.Broker }

func (a apache) addrs() []string                   { return []string{a.b.Addr()} }
func (a apache) restart(ctx context.Context) error { return a.b.Restart(ctx) }
func (a apache) kind() string                      { return "Apache Kafka" }
