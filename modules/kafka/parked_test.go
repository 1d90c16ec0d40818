package kafka_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order"
)

// parkedMsg is one message to put on a DLQ topic as the consumer would.
type parkedMsg struct {
	key, value string
	kind       order.Kind
	part       int
	extra      []sarama.RecordHeader
}

func dlqTopic(t *testing.T, brokers []string) kafka.Config {
	t.Helper()
	cfg := kafka.Config{Brokers: brokers, Topic: kafkatest.Name("orders")}
	cfg.DLQTopic = cfg.Topic + ".dlq"
	kafkatest.CreateTopics(t, brokers, 3, cfg.DLQTopic)
	return cfg
}

func park(t *testing.T, cfg kafka.Config, msgs ...parkedMsg) {
	t.Helper()
	sc := kafka.SaramaConfig("test-dlq")
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i, m := range msgs {
		headers := append([]sarama.RecordHeader{
			{Key: []byte(kafka.HeaderError), Value: []byte("order_uid: is required")},
			{Key: []byte(kafka.HeaderErrorKind), Value: []byte(m.kind)},
			{Key: []byte(kafka.HeaderSourceTopic), Value: []byte(cfg.Topic)},
			{Key: []byte(kafka.HeaderSourcePartition), Value: []byte(strconv.Itoa(m.part))},
			{Key: []byte(kafka.HeaderSourceOffset), Value: []byte(strconv.Itoa(100 + i))},
		}, m.extra...)
		_, _, err := p.SendMessage(&sarama.ProducerMessage{
			Topic: cfg.DLQTopic, Partition: int32(m.part), Key: sarama.StringEncoder(m.key),
			Value: sarama.StringEncoder(m.value), Headers: headers,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// listAll pages through the listing of kind, limit at a time.
func listAll(t *testing.T, lister *kafka.Parked, kind order.Kind, limit int) ([]order.Parked, map[order.Kind]int) {
	t.Helper()
	var got []order.Parked
	var counts map[order.Kind]int
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 50 {
			t.Fatal("more than 50 pages")
		}
		page, err := lister.ListParkedKind(context.Background(), kind, limit, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) > limit {
			t.Fatalf("page of %d, want at most %d", len(page.Items), limit)
		}
		if len(page.Items) < limit && page.Next != "" {
			t.Errorf("page of %d below the limit %d, yet a next cursor", len(page.Items), limit)
		}
		if len(page.Items) == 0 && cursor != "" {
			t.Errorf("an empty page after cursor %q: the cursor before promised more", cursor)
		}
		got = append(got, page.Items...)
		counts = page.Counts
		if page.Next == "" {
			return got, counts
		}
		cursor = page.Next
	}
}

// TestListParkedPagesNewestFirst parks messages on three partitions and reads
// them back in pages: newest first, every message once, headers decoded,
// the kinds counted, a kind on its own, replays marked with their origin.
func TestListParkedPagesNewestFirst(t *testing.T) {
	cfg := dlqTopic(t, kafkatest.Brokers(t))
	kinds := []order.Kind{order.KindValidation, order.KindDecode, order.KindValidation, order.KindConflict, order.KindValidation, order.KindDecode, order.KindValidation}
	var msgs []parkedMsg
	for i, k := range kinds {
		msgs = append(msgs, parkedMsg{key: fmt.Sprintf("key-%d", i), value: fmt.Sprintf(`{"n":%d}<b>`, i), kind: k, part: i % 3})
	}
	msgs[5].extra = []sarama.RecordHeader{{Key: []byte(kafka.HeaderReplayOf), Value: []byte(cfg.DLQTopic + "/1@0")}}
	msgs[6].extra = []sarama.RecordHeader{{Key: []byte("x-replayed-from"), Value: []byte(cfg.DLQTopic + "/0/3")}}
	park(t, cfg, msgs...)

	lister := kafka.NewParked(cfg)
	defer lister.Close()
	wantCounts := map[order.Kind]int{order.KindDecode: 2, order.KindValidation: 4, order.KindConflict: 1}
	for _, limit := range []int{1, 3, 100} {
		got, counts := listAll(t, lister, "", limit)
		if len(got) != len(kinds) {
			t.Fatalf("limit %d: listed %d messages, want %d", limit, len(got), len(kinds))
		}
		if fmt.Sprint(counts) != fmt.Sprint(wantCounts) {
			t.Errorf("counts %v, want %v", counts, wantCounts)
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
			if m.Reason != "order_uid: is required" || m.Topic != cfg.Topic || m.Offset < 100 {
				t.Errorf("parked %+v: headers not decoded", m)
			}
			if m.Size != len(m.Body) {
				t.Errorf("size %d, body %d bytes", m.Size, len(m.Body))
			}
			want := ""
			switch string(m.Key) {
			case "key-5":
				want = cfg.DLQTopic + "/1@0"
			case "key-6":
				want = cfg.DLQTopic + "/0@3"
			}
			if m.ReplayOf != want {
				t.Errorf("%s: replay of %q, want %q", m.Key, m.ReplayOf, want)
			}
		}
	}

	for _, kind := range []order.Kind{order.KindValidation, order.KindDecode, order.KindConflict} {
		for _, limit := range []int{1, 2, 20} {
			got, counts := listAll(t, lister, kind, limit)
			if len(got) != wantCounts[kind] {
				t.Errorf("%s, limit %d: listed %d, want %d", kind, limit, len(got), wantCounts[kind])
			}
			for _, m := range got {
				if m.Kind != kind {
					t.Errorf("%s listing holds %s of kind %s", kind, m.Key, m.Kind)
				}
			}
			if counts[order.KindValidation] != 4 {
				t.Errorf("%s listing counts %v, want the whole topic's", kind, counts)
			}
		}
	}

	// New messages are counted on the next listing.
	park(t, cfg, parkedMsg{key: "late", value: "x", kind: order.KindConflict, part: 2})
	page, err := lister.ListParked(context.Background(), 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if string(page.Items[0].Key) != "late" || page.Counts[order.KindConflict] != 2 {
		t.Errorf("after one more: first %s, counts %v", page.Items[0].Key, page.Counts)
	}

	cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, c := range map[string]string{
		"not a cursor":      "not a cursor!",
		"past the end":      cursor("0:3,1:2,2:999"),
		"no such partition": cursor("0:1,7:1"),
	} {
		if _, err := lister.ListParked(context.Background(), 3, c); !errors.Is(err, order.ErrBadCursor) {
			t.Errorf("%s: err = %v, want order.ErrBadCursor", name, err)
		}
	}
}

// TestListParkedClipsWhatItKeeps parks a large body and key: a page keeps
// their first bytes and the whole size.
func TestListParkedClipsWhatItKeeps(t *testing.T) {
	cfg := dlqTopic(t, kafkatest.Brokers(t))
	big := bytes.Repeat([]byte("x"), 600<<10)
	park(t, cfg, parkedMsg{key: string(big[:200<<10]), value: string(big), kind: order.KindDecode})
	lister := kafka.NewParked(cfg)
	defer lister.Close()
	page, err := lister.ListParked(context.Background(), 10, "")
	if err != nil {
		t.Fatal(err)
	}
	m := page.Items[0]
	if len(m.Body) > 4<<10 || len(m.Key) > 1<<10 || m.Size != len(big) {
		t.Errorf("kept a body of %d bytes, a key of %d, size %d", len(m.Body), len(m.Key), m.Size)
	}
}

// TestListParkedSlowBrokerIsAnError holds the broker's answers to reads: the
// listing fails with the context's deadline, rather than returning the
// messages that came in time and no cursor to the rest.
func TestListParkedSlowBrokerIsAnError(t *testing.T) {
	if kafkatest.External() {
		t.Skip("needs kfake's request control")
	}
	cluster, err := kfake.NewCluster(kfake.Ports(0), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release); cluster.Close() })
	cfg := dlqTopic(t, cluster.ListenAddrs())
	var msgs []parkedMsg
	for i := range 20 {
		msgs = append(msgs, parkedMsg{key: fmt.Sprint(i), value: "{}", kind: order.KindValidation, part: i % 3})
	}
	park(t, cfg, msgs[:8]...)
	lister := kafka.NewParked(cfg)
	defer lister.Close()
	if page, err := lister.ListParked(context.Background(), 20, ""); err != nil || len(page.Items) != 8 {
		t.Fatalf("before the broker slows: %d messages, %v", len(page.Items), err)
	}

	park(t, cfg, msgs[8:]...)
	cluster.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		cluster.SleepControl(func() { <-release })
		return nil, nil, false
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	page, err := lister.ListParked(ctx, 20, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow broker: %d messages, next %q, err %v; want context.DeadlineExceeded", len(page.Items), page.Next, err)
	}
}
