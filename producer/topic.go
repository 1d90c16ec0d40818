package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/IBM/sarama"

	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/kafka"
)

// ensureTopic makes sure kafka.topic exists before the first message. A
// broker that does not create topics on first use (Apache Kafka with
// auto.create.topics.enable=false) would otherwise fail every message with
// sarama's "topic or partition that does not exist". The producer creates it
// as the service does (kafka.partitions partitions) and says so; the DLQ
// topic it leaves to the service, which alone writes to it. When the broker
// refuses, the error says what is missing and how to get it.
func ensureTopic(k config.Kafka, stdout io.Writer) error {
	sec := security(k)
	cfg, err := sec.SaramaConfig("orders-producer-admin")
	if err != nil {
		return err
	}
	brokers := strings.Join(k.Brokers, ",")
	admin, err := sarama.NewClusterAdmin(k.Brokers, cfg)
	if err != nil {
		return fmt.Errorf("connect to kafka at %s: %w", brokers, kafka.Explain(cfg, err))
	}
	// Listing every topic, not asking for this one: a metadata request for
	// a missing topic may create it with the broker's defaults.
	topics, err := admin.ListTopics()
	_ = admin.Close()
	if err != nil {
		return fmt.Errorf("list the topics on %s: %w", brokers, kafka.Explain(cfg, err))
	}
	if _, ok := topics[k.Topic]; ok {
		return nil
	}
	if err := sec.EnsureTopics(k.Brokers, k.Partitions, k.Topic); err != nil {
		return fmt.Errorf("topic %s does not exist on %s, and the broker refused to create it (%w); "+
			"start the service once (it creates %s and %s), or have %s created with %d partitions",
			k.Topic, brokers, err, k.Topic, k.DLQTopic, k.Topic, k.Partitions)
	}
	fmt.Fprintf(stdout, "topic %s did not exist on %s: created it with %d partitions (kafka.partitions), as the service does\n",
		k.Topic, brokers, k.Partitions)
	return nil
}
