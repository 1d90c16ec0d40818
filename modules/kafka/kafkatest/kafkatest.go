// Package kafkatest gives tests a Kafka-protocol broker: the one named by
// TEST_KAFKA_BROKERS (for example a local Apache Kafka), or else an in-process
// kfake cluster on a free port, closed when the test ends. StartApache runs
// Apache Kafka itself, for the fault tests and task kafka:up.
//
// It speaks to brokers through sarama directly, not through the service's
// kafka package, so that the tests check the service from outside and dev
// tooling can use this package without the service's modules.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v5"
	"github.com/twmb/franz-go/pkg/kfake"
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

// config is a client configuration for tests: every broker here (kfake,
// Apache Kafka 3.6+) speaks this protocol version.
func config(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = clientID
	c.Version = sarama.V3_6_0_0
	c.Net.DialTimeout = 5 * time.Second
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.MaxMessageBytes = 4 << 20
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	return c
}

// CreateTopics creates the topics with the given partitions, unless they
// exist, and returns once the broker serves every partition.
func CreateTopics(t testing.TB, brokers []string, partitions int32, topics ...string) {
	t.Helper()
	if err := createTopics(brokers, config("test-admin"), partitions, topics); err != nil {
		t.Fatalf("create topics %v: %v", topics, err)
	}
}

func createTopics(brokers []string, cfg *sarama.Config, partitions int32, topics []string) error {
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return err
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return err
	}
	defer admin.Close() // and the client
	for _, topic := range topics {
		detail := &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: -1}
		if err := admin.CreateTopic(topic, detail, false); err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return err
		}
	}
	// Apache Kafka acknowledges a new topic a moment before it serves its
	// partitions; a reader that comes first would get NOT_LEADER.
	_, err = backoff.Retry(context.Background(), func() (struct{}, error) {
		if err := client.RefreshMetadata(topics...); err != nil {
			return struct{}{}, err
		}
		for _, topic := range topics {
			parts, err := client.Partitions(topic)
			if err == nil && len(parts) == 0 {
				err = fmt.Errorf("%s has no partitions yet", topic)
			}
			for _, p := range parts {
				if err == nil {
					_, err = client.GetOffset(topic, p, sarama.OffsetNewest)
				}
			}
			if err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	}, backoff.WithBackOff(backoff.NewConstantBackOff(50*time.Millisecond)), backoff.WithMaxElapsedTime(10*time.Second))
	return err
}

// Message is a key and value to produce.
type Message struct {
	Key, Value []byte
}

// Produce sends the messages and waits until the broker acknowledged all.
func Produce(t testing.TB, brokers []string, topic string, msgs ...Message) {
	t.Helper()
	produce(t, brokers, config("test-producer"), topic, msgs)
}

func produce(t testing.TB, brokers []string, cfg *sarama.Config, topic string, msgs []Message) {
	t.Helper()
	p, err := sarama.NewSyncProducer(brokers, cfg)
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
	return readN(t, brokers, config("test-reader"), topic, n, timeout)
}

func readN(t testing.TB, brokers []string, cfg *sarama.Config, topic string, n int, timeout time.Duration) []*sarama.ConsumerMessage {
	t.Helper()
	c, err := sarama.NewConsumer(brokers, cfg)
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
	admin, err := sarama.NewClusterAdmin(brokers, config("test-admin"))
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

// Produced sums the topic's newest offsets over its partitions: how many
// messages it has taken (on a new topic, nothing having been deleted).
func Produced(t testing.TB, brokers []string, topic string) int64 {
	t.Helper()
	client, err := sarama.NewClient(brokers, config("test-offsets"))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	var sum int64
	for _, p := range parts {
		off, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("newest offset of %s/%d: %v", topic, p, err)
		}
		sum += off
	}
	return sum
}
