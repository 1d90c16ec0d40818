// Package kafka consumes orders from the orders topic in a consumer group,
// hands each batch to an Ingester, parks what cannot be stored in the DLQ
// topic, and marks offsets only once every message of a batch is durable
// somewhere.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v5"
)

// Version is the protocol version spoken to the broker; Apache Kafka 3.6+ and
// kfake accept it.
var Version = sarama.V3_6_0_0

// SaramaConfig is the client configuration shared by the consumer, the DLQ
// publisher and the producer, over PLAINTEXT; Security.SaramaConfig adds TLS
// and SASL to it.
func SaramaConfig(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = clientID
	c.Version = Version
	c.Net.DialTimeout = 5 * time.Second
	c.Metadata.Retry.Max = 3
	c.Metadata.Retry.Backoff = 250 * time.Millisecond

	// A new group starts from the oldest message: an order published before the
	// service first ran is still an order.
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Enable = true
	c.Consumer.Offsets.AutoCommit.Interval = time.Second
	c.Consumer.Return.Errors = true
	c.Consumer.Fetch.Default = 4 << 20
	// How long the coordinator waits for members to rejoin a rebalance: a member
	// that died without leaving holds its partitions this long (kfake) or
	// until its 10 s session expires (Kafka). A batch in flight must fit in it,
	// which attemptTimeout guarantees.
	c.Consumer.Group.Rebalance.Timeout = 15 * time.Second
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 3 * time.Second

	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Retry.Max = 5
	c.Producer.MaxMessageBytes = 4 << 20
	return c
}

// dlqMaxMessageBytes is the DLQ topic's max.message.bytes: a message the
// orders topic took at the broker's default limit (1,048,588 bytes) comes back
// with a few hundred bytes of our headers, which the DLQ must still accept, or
// the copy would be refused on every try and the partition would stop.
const dlqMaxMessageBytes = 1048588 + 64<<10

// EnsureTopics creates the topics when they are missing, over PLAINTEXT; see
// Security.EnsureTopics.
func EnsureTopics(brokers []string, partitions int32, topics ...string) error {
	return Security{}.EnsureTopics(brokers, partitions, topics...)
}

// EnsureServiceTopics is Security.EnsureServiceTopics over PLAINTEXT.
func EnsureServiceTopics(brokers []string, partitions int32, topic, dlqTopic string) error {
	return Security{}.EnsureServiceTopics(brokers, partitions, topic, dlqTopic)
}

// EnsureTopics creates the topics when they are missing. A broker that
// refuses the creation returns its error, and the consumer retries the whole
// session with backoff until the topic exists (created by an operator).
func (s Security) EnsureTopics(brokers []string, partitions int32, topics ...string) error {
	return s.ensureTopics(brokers, partitions, topics, nil)
}

// EnsureServiceTopics creates the orders topic and the DLQ topic, the latter
// with headroom for a parked copy of the largest message the former takes.
func (s Security) EnsureServiceTopics(brokers []string, partitions int32, topic, dlqTopic string) error {
	if err := s.EnsureTopics(brokers, partitions, topic); err != nil {
		return err
	}
	limit := strconv.Itoa(dlqMaxMessageBytes)
	return s.ensureTopics(brokers, partitions, []string{dlqTopic}, map[string]*string{"max.message.bytes": &limit})
}

func (s Security) ensureTopics(brokers []string, partitions int32, topics []string, configs map[string]*string) error {
	cfg, err := s.SaramaConfig("orders-admin")
	if err != nil {
		return err
	}
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return fmt.Errorf("connect admin: %w", Explain(cfg, err))
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return fmt.Errorf("connect admin: %w", Explain(cfg, err))
	}
	defer admin.Close() // closes the client too
	existing, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %w", Explain(cfg, err))
	}
	var created []string
	for _, t := range topics {
		if _, ok := existing[t]; ok {
			continue
		}
		// -1 takes the broker's default replication factor.
		detail := &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: -1, ConfigEntries: configs}
		if err := admin.CreateTopic(t, detail, false); err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
		created = append(created, t)
	}
	return waitServed(client, created, 10*time.Second)
}

// waitServed returns once every partition of the topics answers an offset
// request, or after timeout. Apache Kafka acknowledges a new topic when its
// controller has recorded it, a moment before the broker serves the
// partitions, and a reader that comes first gets NOT_LEADER.
func waitServed(client sarama.Client, topics []string, timeout time.Duration) error {
	if len(topics) == 0 {
		return nil
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 50*time.Millisecond, time.Second
	_, err := backoff.Retry(context.Background(), func() (struct{}, error) {
		return struct{}{}, served(client, topics)
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(timeout))
	if err != nil {
		return fmt.Errorf("new topics not served after %s: %w", timeout, err)
	}
	return nil
}

func served(client sarama.Client, topics []string) error {
	if err := client.RefreshMetadata(topics...); err != nil {
		return err
	}
	for _, t := range topics {
		parts, err := client.Partitions(t)
		if err != nil {
			return err
		}
		if len(parts) == 0 {
			return fmt.Errorf("topic %s has no partitions yet", t)
		}
		for _, p := range parts {
			if _, err := client.GetOffset(t, p, sarama.OffsetNewest); err != nil {
				return fmt.Errorf("%s/%d: %w", t, p, err)
			}
		}
	}
	return nil
}
