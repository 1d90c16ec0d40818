package kafka_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order"
)

// orderJSON is the fixture under another uid.
func orderJSON(t testing.TB, uid string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../order/testdata/model.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["order_uid"] = uid
	m["payment"].(map[string]any)["transaction"] = uid
	b, _ := json.Marshal(m)
	return b
}

// fakeStore is an Ingester that keeps orders in a map and can be told to fail.
type fakeStore struct {
	mu       sync.Mutex
	orders   map[string][]byte
	calls    int
	failures int // fail this many calls first; -1 fails forever
}

func newFakeStore() *fakeStore { return &fakeStore{orders: map[string][]byte{}} }

func (f *fakeStore) Ingest(_ context.Context, batch []order.Parsed) ([]order.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failures < 0 || f.calls <= f.failures {
		return nil, errors.New("database unreachable")
	}
	out := make([]order.Outcome, len(batch))
	for i, p := range batch {
		switch old, ok := f.orders[p.Order.OrderUID]; {
		case !ok:
			f.orders[p.Order.OrderUID] = p.JSON
			out[i] = order.Stored
		case string(old) == string(p.JSON):
			out[i] = order.Duplicate
		default:
			out[i] = order.Conflict
		}
	}
	return out, nil
}

func (f *fakeStore) stored() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.orders)
}

func (f *fakeStore) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) Ingested(o order.Outcome, n int) {
	outcome := o.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[outcome] += n
}

func (c *counts) IngestDelay(time.Duration) {}

func (c *counts) get(outcome string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[outcome]
}

type rig struct {
	brokers []string
	cfg     kafka.Config
	store   *fakeStore
	counts  *counts
}

func newRig(t *testing.T) *rig {
	brokers := kafkatest.Brokers(t)
	cfg := kafka.Config{Rules: order.DefaultRules(),
		Brokers: brokers, Topic: kafkatest.Name("orders"), Group: kafkatest.Name("bank"),
		Partitions: 3, BatchSize: 100, BatchWait: 20 * time.Millisecond,
	}
	cfg.DLQTopic = cfg.Topic + ".dlq"
	kafkatest.CreateTopics(t, brokers, 3, cfg.Topic, cfg.DLQTopic)
	return &rig{brokers: brokers, cfg: cfg, store: newFakeStore(), counts: &counts{m: map[string]int{}}}
}

func (r *rig) start(t *testing.T) *kafka.Consumer {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	c := kafka.NewConsumer(r.cfg, log, r.store, r.counts)
	c.Start()
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGoodOrdersStoredBadOnesParkedWithHeaders(t *testing.T) {
	r := newRig(t)
	// The bad message shares its key, and so its partition, with good ones
	// before and after it: the partition must keep flowing.
	msgs := []kafkatest.Message{
		{Key: []byte("k1"), Value: orderJSON(t, "good-1")},
		{Key: []byte("k1"), Value: []byte("{not json")},
		{Key: []byte("k1"), Value: orderJSON(t, "good-2")},
		{Key: []byte("k2"), Value: orderJSON(t, "bad uid!")},
		{Key: []byte("k3"), Value: orderJSON(t, "good-3")},
	}
	kafkatest.Produce(t, r.brokers, r.cfg.Topic, msgs...)
	c := r.start(t)
	eventually(t, "3 good orders stored", 20*time.Second, func() bool { return r.store.stored() == 3 })

	dlq := kafkatest.ReadN(t, r.brokers, r.cfg.DLQTopic, 2, 20*time.Second)
	if len(dlq) != 2 {
		t.Fatalf("DLQ has %d messages, want 2", len(dlq))
	}
	byKey := map[string]int{"k1": 1, "k2": 3}
	for _, m := range dlq {
		i, ok := byKey[string(m.Key)]
		if !ok {
			t.Fatalf("DLQ message with unexpected key %q", m.Key)
		}
		if string(m.Value) != string(msgs[i].Value) {
			t.Errorf("DLQ value for %s = %q, want the original bytes %q", m.Key, m.Value, msgs[i].Value)
		}
		wantKind := map[string]string{"k1": "decode", "k2": "validation"}[string(m.Key)]
		if got := kafkatest.Header(m, kafka.HeaderErrorKind); got != wantKind {
			t.Errorf("x-error-kind = %q, want %q", got, wantKind)
		}
		if kafkatest.Header(m, kafka.HeaderError) == "" {
			t.Error("x-error is empty")
		}
		if got := kafkatest.Header(m, kafka.HeaderSourceTopic); got != r.cfg.Topic {
			t.Errorf("x-source-topic = %q, want %q", got, r.cfg.Topic)
		}
		if _, err := strconv.Atoi(kafkatest.Header(m, kafka.HeaderSourcePartition)); err != nil {
			t.Errorf("x-source-partition not a decimal number: %v", err)
		}
		if _, err := strconv.ParseInt(kafkatest.Header(m, kafka.HeaderSourceOffset), 10, 64); err != nil {
			t.Errorf("x-source-offset not a decimal number: %v", err)
		}
	}
	for _, m := range dlq {
		if string(m.Key) == "k2" {
			if got := kafkatest.Header(m, kafka.HeaderError); !strings.Contains(got, "order_uid") {
				t.Errorf("x-error %q does not name the field order_uid", got)
			}
		}
	}
	if got := r.counts.get("invalid"); got != 2 {
		t.Errorf("invalid count = %d, want 2", got)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := kafkatest.CommittedSum(t, r.brokers, r.cfg.Group, r.cfg.Topic); got != int64(len(msgs)) {
		t.Fatalf("committed offsets sum to %d after stop, want %d", got, len(msgs))
	}
}

func TestStoreFailuresAreRetriedNotSkipped(t *testing.T) {
	r := newRig(t)
	r.store.failures = 3
	var msgs []kafkatest.Message
	for i := 0; i < 50; i++ {
		uid := fmt.Sprintf("retry-%d", i)
		msgs = append(msgs, kafkatest.Message{Key: []byte(uid), Value: orderJSON(t, uid)})
	}
	kafkatest.Produce(t, r.brokers, r.cfg.Topic, msgs...)
	r.start(t)
	eventually(t, "all 50 orders stored after failures", 30*time.Second, func() bool { return r.store.stored() == 50 })
	if got := r.counts.get("invalid"); got != 0 {
		t.Fatalf("a failing store sent %d messages to the DLQ, want 0", got)
	}
}

func TestNothingCommittedPastAnUnstoredOrder(t *testing.T) {
	r := newRig(t)
	r.store.failures = -1
	kafkatest.Produce(t, r.brokers, r.cfg.Topic, kafkatest.Message{Key: []byte("x"), Value: orderJSON(t, "never-stored")})
	c := r.start(t)
	eventually(t, "the store to be tried", 20*time.Second, func() bool { return r.store.callCount() >= 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("stop during an outage: %v", err)
	}
	if got := kafkatest.CommittedSum(t, r.brokers, r.cfg.Group, r.cfg.Topic); got != 0 {
		t.Fatalf("committed offset %d past an order that was never stored", got)
	}
}

func TestDuplicateIsNoOpAndConflictIsParked(t *testing.T) {
	r := newRig(t)
	first := orderJSON(t, "same-uid")
	var m map[string]any
	_ = json.Unmarshal(first, &m)
	m["customer_id"] = "someone else"
	different, _ := json.Marshal(m)
	kafkatest.Produce(t, r.brokers, r.cfg.Topic,
		kafkatest.Message{Key: []byte("same-uid"), Value: first},
		kafkatest.Message{Key: []byte("same-uid"), Value: first},
		kafkatest.Message{Key: []byte("same-uid"), Value: different},
	)
	r.start(t)
	dlq := kafkatest.ReadN(t, r.brokers, r.cfg.DLQTopic, 1, 20*time.Second)
	if len(dlq) != 1 || kafkatest.Header(dlq[0], kafka.HeaderErrorKind) != "conflict" || string(dlq[0].Value) != string(different) {
		t.Fatalf("want the different order parked as a conflict, got %d messages", len(dlq))
	}
	eventually(t, "outcome counts", 10*time.Second, func() bool {
		return r.counts.get("stored") == 1 && r.counts.get("duplicate") == 1 && r.counts.get("conflict") == 1
	})
}

// Lag counts the messages of owned partitions not yet stored or parked, also
// while every store fails and before any batch was stored, and readiness
// does not depend on storing.
func TestLagWhileStoringFails(t *testing.T) {
	r := newRig(t)
	r.store.mu.Lock()
	r.store.failures = -1
	r.store.mu.Unlock()
	c := r.start(t)
	const n = 7
	msgs := make([]kafkatest.Message, n)
	for i := range msgs {
		msgs[i] = kafkatest.Message{Key: []byte(strconv.Itoa(i)), Value: orderJSON(t, fmt.Sprintf("lag-%d", i))}
	}
	kafkatest.Produce(t, r.brokers, r.cfg.Topic, msgs...)
	eventually(t, "lag to count every unstored message", 30*time.Second, func() bool { return c.Lag() == n })
	if err := c.ReadyCheck(context.Background()); err != nil {
		t.Fatalf("not ready while a member with a reachable broker: %v", err)
	}
	if got := r.store.stored(); got != 0 {
		t.Fatalf("stored %d while failing", got)
	}
	r.store.mu.Lock()
	r.store.failures = 0
	r.store.mu.Unlock()
	eventually(t, "every message stored", 30*time.Second, func() bool { return r.store.stored() == n })
	eventually(t, "lag back to 0", 10*time.Second, func() bool { return c.Lag() == 0 })
}

// Readiness names the broker while none answers, and the consumer is ready
// again once one does.
func TestReadyFollowsBroker(t *testing.T) {
	if kafkatest.External() {
		t.Skip("stops the broker: runs on kfake only (the fault suite restarts Apache Kafka)")
	}
	start := func(port int) *kfake.Cluster {
		c, err := kfake.NewCluster(kfake.Ports(port), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
		if err != nil {
			t.Fatalf("start kfake: %v", err)
		}
		return c
	}
	cluster := start(0)
	brokers := cluster.ListenAddrs()
	_, portText, _ := strings.Cut(brokers[0], ":")
	port, _ := strconv.Atoi(portText)
	t.Cleanup(func() { cluster.Close() })
	r := newRig(t)
	r.brokers = brokers
	r.cfg.Brokers = brokers
	kafkatest.CreateTopics(t, brokers, 3, r.cfg.Topic, r.cfg.DLQTopic)
	c := r.start(t)
	eventually(t, "ready", 30*time.Second, func() bool { return c.ReadyCheck(context.Background()) == nil })
	cluster.Close()
	eventually(t, "not ready with the broker gone", 40*time.Second, func() bool {
		err := c.ReadyCheck(context.Background())
		return err != nil && strings.Contains(err.Error(), "broker")
	})
	cluster = start(port)
	kafkatest.CreateTopics(t, brokers, 3, r.cfg.Topic, r.cfg.DLQTopic)
	eventually(t, "ready again with the broker back", 40*time.Second, func() bool { return c.ReadyCheck(context.Background()) == nil })
}
