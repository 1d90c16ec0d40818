package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/IBM/sarama"

	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order"
)

// TestListParkedPagesNewestFirst parks messages on three partitions and reads
// them back in pages: newest first, every message once, headers decoded.
func TestListParkedPagesNewestFirst(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	cfg := kafka.Config{Brokers: brokers, Topic: kafkatest.Name("orders")}
	cfg.DLQTopic = cfg.Topic + ".dlq"
	kafkatest.CreateTopics(t, brokers, 3, cfg.DLQTopic)

	p, err := sarama.NewSyncProducer(brokers, kafka.SaramaConfig("test-dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const total = 7
	for i := 0; i < total; i++ {
		_, _, err := p.SendMessage(&sarama.ProducerMessage{
			Topic: cfg.DLQTopic, Key: sarama.StringEncoder(fmt.Sprintf("key-%d", i)),
			Value: sarama.StringEncoder(fmt.Sprintf(`{"n":%d}<b>`, i)),
			Headers: []sarama.RecordHeader{
				{Key: []byte(kafka.HeaderError), Value: []byte("order_uid: is required")},
				{Key: []byte(kafka.HeaderErrorKind), Value: []byte("validation")},
				{Key: []byte(kafka.HeaderSourceTopic), Value: []byte(cfg.Topic)},
				{Key: []byte(kafka.HeaderSourcePartition), Value: []byte(strconv.Itoa(i % 3))},
				{Key: []byte(kafka.HeaderSourceOffset), Value: []byte(strconv.Itoa(100 + i))},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	lister := kafka.NewParked(cfg)
	defer lister.Close()
	var got []order.Parked
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > total {
			t.Fatalf("more than %d pages", total)
		}
		page, err := lister.ListParked(context.Background(), 3, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) > 3 {
			t.Fatalf("page of %d, want at most 3", len(page.Items))
		}
		got = append(got, page.Items...)
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if len(got) != total {
		t.Fatalf("listed %d messages, want %d", len(got), total)
	}
	seen := map[string]bool{}
	for i, m := range got {
		if seen[string(m.Key)] {
			t.Fatalf("%s listed twice", m.Key)
		}
		seen[string(m.Key)] = true
		if i > 0 && m.Time.After(got[i-1].Time) {
			t.Errorf("%s (%s) listed after the older %s", m.Key, m.Time, got[i-1].Key)
		}
		if m.Kind != order.KindValidation || m.Reason != "order_uid: is required" || m.Topic != cfg.Topic || m.Offset < 100 {
			t.Errorf("parked %+v: headers not decoded", m)
		}
		if m.Size != len(m.Body) {
			t.Errorf("size %d, body %d bytes", m.Size, len(m.Body))
		}
	}

	if _, err := lister.ListParked(context.Background(), 3, "not a cursor!"); !errors.Is(err, order.ErrBadCursor) {
		t.Errorf("bad cursor: err = %v, want order.ErrBadCursor", err)
	}
}
