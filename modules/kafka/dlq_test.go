package kafka_test

import (
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
)

// A replayed message that fails again is parked with its x-replay-of, so the
// next replay knows this failure was replayed once already. Stale copies of
// the DLQ's headers (a record copied out of the DLQ by hand) travel along
// too, behind ours, so what a reader takes is the new reason.
func TestParkedAgainKeepsReplayOf(t *testing.T) {
	r := newRig(t)
	p, err := sarama.NewSyncProducer(r.brokers, kafka.SaramaConfig("test-replay"))
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	from := r.cfg.DLQTopic + "/2@95"
	_, _, err = p.SendMessage(&sarama.ProducerMessage{
		Topic: r.cfg.Topic, Key: sarama.StringEncoder("k1"), Value: sarama.StringEncoder("{not json"),
		Headers: []sarama.RecordHeader{
			{Key: []byte("traceparent"), Value: []byte("00-1-2-01")},
			{Key: []byte(kafka.HeaderError), Value: []byte("stale reason")},
			{Key: []byte(kafka.HeaderErrorKind), Value: []byte("conflict")},
			{Key: []byte(kafka.HeaderSourceOffset), Value: []byte("7")},
			{Key: []byte(kafka.HeaderReplayOf), Value: []byte(from)},
		},
	})
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	r.start(t)

	dlq := kafkatest.ReadN(t, r.brokers, r.cfg.DLQTopic, 1, 20*time.Second)
	if len(dlq) != 1 {
		t.Fatalf("DLQ has %d messages, want 1", len(dlq))
	}
	var got []string
	for _, h := range dlq[0].Headers {
		got = append(got, string(h.Key))
	}
	want := []string{kafka.HeaderError, kafka.HeaderErrorKind, kafka.HeaderSourceTopic,
		kafka.HeaderSourcePartition, kafka.HeaderSourceOffset,
		"traceparent", kafka.HeaderError, kafka.HeaderErrorKind, kafka.HeaderSourceOffset, kafka.HeaderReplayOf}
	if !slices.Equal(got, want) {
		t.Errorf("parked copy has headers %v, want %v", got, want)
	}
	if v := kafkatest.Header(dlq[0], kafka.HeaderReplayOf); v != from {
		t.Errorf("%s = %q, want %q", kafka.HeaderReplayOf, v, from)
	}
	if v := kafkatest.Header(dlq[0], kafka.HeaderErrorKind); v != "decode" {
		t.Errorf("%s = %q, want decode", kafka.HeaderErrorKind, v)
	}
	// The only message of the orders topic is at offset 0.
	if v := kafkatest.Header(dlq[0], kafka.HeaderSourceOffset); v != "0" {
		t.Errorf("%s = %q, want 0", kafka.HeaderSourceOffset, v)
	}
}
