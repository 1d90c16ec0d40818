// Package kafkatest gives tests a Kafka-protocol broker: the one named by
// TEST_KAFKA_BROKERS (for example a local Apache Kafka), or else an in-process
// kfake cluster on a free port, closed when the test ends.
package kafkatest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/marketplace/orders/modules/kafka"
)

// EnvBrokers names an external broker list for tests.
const EnvBrokers = "TEST_KAFKA_BROKERS"

// External reports whether tests run against a broker named by EnvBrokers.
func External() bool { return os.Getenv(EnvBrokers) != "" }

// Brokers returns a broker list for this test.
func Brokers(t testing.TB) []string {
	t.Helper()
	if v := os.Getenv(EnvBrokers); v != "" {
		return strings.Split(v, ",")
	}
	c, err := kfake.NewCluster(kfake.Ports(0), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// Name returns prefix with a random suffix, so tests sharing one broker never
// share a topic or a group.
func Name(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// CreateTopics creates the topics with the given partitions.
func CreateTopics(t testing.TB, brokers []string, partitions int32, topics ...string) {
	t.Helper()
	if err := kafka.EnsureTopics(brokers, partitions, topics...); err != nil {
		t.Fatalf("create topics %v: %v", topics, err)
	}
}

// Message is a key and value to produce.
type Message struct {
	Key, Value []byte
}

// Produce sends the messages and waits until the broker acknowledged all.
func Produce(t testing.TB, brokers []string, topic string, msgs ...Message) {
	t.Helper()
	p, err := sarama.NewSyncProducer(brokers, kafka.SaramaConfig("test-producer"))
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	const chunk = 1000
	for start := 0; start < len(msgs); start += chunk {
		end := min(start+chunk, len(msgs))
		pms := make([]*sarama.ProducerMessage, 0, end-start)
		for _, m := range msgs[start:end] {
			pm := &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(m.Value)}
			if m.Key != nil {
				pm.Key = sarama.ByteEncoder(m.Key)
			}
			pms = append(pms, pm)
		}
		if err := p.SendMessages(pms); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
}

// ReadN reads messages from every partition of topic, from the oldest, until
// it has n of them or the timeout passes, and returns what it read.
func ReadN(t testing.TB, brokers []string, topic string, n int, timeout time.Duration) []*sarama.ConsumerMessage {
	t.Helper()
	c, err := sarama.NewConsumer(brokers, kafka.SaramaConfig("test-reader"))
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	out := make(chan *sarama.ConsumerMessage, 1024)
	var pcs []sarama.PartitionConsumer
	for _, p := range parts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("consume %s/%d: %v", topic, p, err)
		}
		pcs = append(pcs, pc)
		go func() {
			for m := range pc.Messages() {
				out <- m
			}
		}()
	}
	defer func() {
		for _, pc := range pcs {
			pc.AsyncClose()
		}
	}()
	var got []*sarama.ConsumerMessage
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case m := <-out:
			got = append(got, m)
		case <-deadline:
			return got
		}
	}
	return got
}

// Header returns the value of the named header of m.
func Header(m *sarama.ConsumerMessage, name string) string {
	for _, h := range m.Headers {
		if string(h.Key) == name {
			return string(h.Value)
		}
	}
	return ""
}

// CommittedSum sums the group's committed offsets over the topic's partitions.
func CommittedSum(t testing.TB, brokers []string, group, topic string) int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, kafka.SaramaConfig("test-admin"))
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, nil)
	if err != nil {
		t.Fatalf("offsets of %s: %v", group, err)
	}
	var sum int64
	for _, b := range resp.Blocks[topic] {
		if b.Offset > 0 {
			sum += b.Offset
		}
	}
	return sum
}
