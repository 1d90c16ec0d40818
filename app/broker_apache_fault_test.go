//go:build fault

package main

import (
	"context"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/kafka/kafkatest"
)

// apacheBroker runs an Apache Kafka (KRaft, from Maven Central jars) on free
// ports for this test.
func apacheBroker(t *testing.T) broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	k, err := kafkatest.StartApache(ctx, kafkatest.ApacheOptions{})
	if err != nil {
		t.Fatalf("start Apache Kafka: %v", err)
	}
	t.Cleanup(func() {
		if err := k.Stop(); err != nil {
			t.Errorf("stop Apache Kafka: %v", err)
		}
	})
	return apache{k}
}

type apache struct{ k *kafkatest.Apache }

func (a apache) addrs() []string                   { return []string{a.k.Addr()} }
func (a apache) restart(ctx context.Context) error { return a.k.Restart(ctx) }
func (a apache) kind() string                      { return "Apache Kafka" }
func (a apache) down() error                       { return a.k.Down() }
func (a apache) up(ctx context.Context) error      { return a.k.Restart(ctx) }
