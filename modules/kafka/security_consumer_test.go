package kafka_test

import (
	"context"
	"github.com/marketplace/orders/modules/logtest"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order"
)

func secureConsumer(t *testing.T, s *kafkatest.Secure, sec kafka.Security) (*kafka.Consumer, kafka.Config, *fakeStore, *logtest.Buffer) {
	t.Helper()
	cfg := kafka.Config{Rules: order.DefaultRules(),
		Brokers: s.Brokers, Topic: kafkatest.Name("orders"), Group: kafkatest.Name("bank"),
		Partitions: 3, BatchSize: 100, BatchWait: 20 * time.Millisecond, Security: sec,
	}
	cfg.DLQTopic = cfg.Topic + ".dlq"
	logs := &logtest.Buffer{}
	store := newFakeStore()
	c := kafka.NewConsumer(cfg, slog.New(slog.NewTextHandler(logs, nil)), store, &counts{m: map[string]int{}})
	return c, cfg, store, logs
}

// The consumer stores and parks over TLS with SCRAM-SHA-512, and is ready.
func TestConsumerOverTLSAndSCRAM(t *testing.T) {
	s := kafkatest.SecureBrokers(t, kafkatest.SecureOptions{})
	c, cfg, store, _ := secureConsumer(t, s, securityOf(s))
	s.CreateTopics(t, 3, cfg.Topic, cfg.DLQTopic)
	s.Produce(t, cfg.Topic, kafkatest.Message{Key: []byte("k1"), Value: orderJSON(t, "good-1")},
		kafkatest.Message{Key: []byte("k2"), Value: []byte("{not json")})
	c.Start()
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	eventually(t, "the good order stored", 20*time.Second, func() bool { return store.stored() == 1 })
	if dlq := s.ReadN(t, cfg.DLQTopic, 1, 20*time.Second); len(dlq) != 1 {
		t.Fatalf("DLQ has %d messages, want 1", len(dlq))
	}
	eventually(t, "ready", 20*time.Second, func() bool { return c.Ready() == nil })
}

// With a wrong password the consumer keeps retrying, says authentication
// failed in its log without the password, and is not ready.
func TestConsumerWrongPasswordLogsAuthenticationFailed(t *testing.T) {
	s := kafkatest.SecureBrokers(t, kafkatest.SecureOptions{})
	sec := securityOf(s)
	sec.SASLPassword = "wrong-" + kafkatest.Password()
	c, _, _, logs := secureConsumer(t, s, sec)
	c.Start()
	eventually(t, "authentication failed in the log", 20*time.Second, func() bool {
		return strings.Count(logs.String(), "authentication failed") >= 2
	})
	eventually(t, "readiness to say authentication failed", 20*time.Second, func() bool {
		err := c.Ready()
		return err != nil && strings.Contains(err.Error(), "authentication failed")
	})
	if err := c.Ready(); strings.Contains(err.Error(), sec.SASLPassword) {
		t.Fatalf("readiness shows the password: %v", err)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), sec.SASLPassword) {
		t.Fatalf("the log shows the password:\n%s", logs.String())
	}
	t.Logf("log:\n%s", logs.String())
}
