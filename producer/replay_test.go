package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/order"
)

// parkedMsg is a message as the service parks it.
type parkedMsg struct {
	key, value []byte // nil = none
	kind       string
	reason     string
	headers    []sarama.RecordHeader // the original message's
}

// dlqPos is where a parked message sits in the DLQ topic.
type dlqPos struct {
	topic     string
	partition int32
	offset    int64
}

func (p dlqPos) String() string { return fmt.Sprintf("%s/%d/%d", p.topic, p.partition, p.offset) }

// park writes msgs to k's DLQ topic the way modules/kafka does: its headers
// first, the original ones after.
func park(t *testing.T, k testKafka, msgs ...parkedMsg) []dlqPos {
	t.Helper()
	p, err := sarama.NewSyncProducer(k.brokers, kafka.SaramaConfig("test-park"))
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	out := make([]dlqPos, len(msgs))
	for i, m := range msgs {
		pm := &sarama.ProducerMessage{Topic: k.dlqTopic, Headers: []sarama.RecordHeader{
			{Key: []byte(kafka.HeaderError), Value: []byte(m.reason)},
			{Key: []byte(kafka.HeaderErrorKind), Value: []byte(m.kind)},
			{Key: []byte(kafka.HeaderSourceTopic), Value: []byte(k.topic)},
			{Key: []byte(kafka.HeaderSourcePartition), Value: []byte("0")},
			{Key: []byte(kafka.HeaderSourceOffset), Value: []byte(strconv.Itoa(100 + i))},
		}}
		pm.Headers = append(pm.Headers, m.headers...)
		if m.key != nil {
			pm.Key = sarama.ByteEncoder(m.key)
		}
		if m.value != nil {
			pm.Value = sarama.ByteEncoder(m.value)
		}
		part, off, err := p.SendMessage(pm)
		if err != nil {
			t.Fatalf("park message %d: %v", i, err)
		}
		out[i] = dlqPos{k.dlqTopic, part, off}
	}
	return out
}

// threeParked are a validation reject with headers of its own, a decode
// reject, and a tombstone without a key.
func threeParked(t *testing.T) []parkedMsg {
	fixture, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	return []parkedMsg{
		{
			key: []byte("b563feb7b2b84b6test"), value: fixture, kind: "validation",
			reason: "payment.amount: is 1818, want 1817 = goods_total + delivery_cost + custom_fee",
			headers: []sarama.RecordHeader{
				{Key: []byte("traceparent"), Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")},
				{Key: []byte("x-replayed-from"), Value: []byte("orders.dlq/2/7")}, // from an earlier replay: replaced
				{Key: []byte("binary"), Value: []byte{0, 0xff, '\n'}},
			},
		},
		{key: []byte("k-decode"), value: []byte("{not json \xff"), kind: "decode", reason: "message is not valid UTF-8"},
		{key: nil, value: nil, kind: "decode", reason: "message is empty, want a JSON object"},
	}
}

func replay(t *testing.T, k testKafka, args ...string) result {
	t.Helper()
	res := runProducer(t.Context(), t, k, append([]string{"-replay-dlq"}, args...)...)
	if res.err != nil {
		t.Fatalf("replay %v: %v\nstdout:\n%s\nstderr:\n%s", args, res.err, res.stdout, res.stderr)
	}
	return res
}

// replayedFrom maps x-replayed-from to the record replayed.
func replayedFrom(t *testing.T, k testKafka) map[string]*sarama.ConsumerMessage {
	t.Helper()
	out := map[string]*sarama.ConsumerMessage{}
	for _, m := range readTopic(t, k.brokers, k.topic) {
		from := ""
		for _, h := range m.Headers {
			if string(h.Key) == headerReplayedFrom {
				if from != "" {
					t.Errorf("%s/%d has two %s headers", m.Topic, m.Offset, headerReplayedFrom)
				}
				from = string(h.Value)
			}
		}
		if _, dup := out[from]; dup {
			t.Errorf("%s replayed twice", from)
		}
		out[from] = m
	}
	return out
}

func TestReplayDryRunListsAndPublishesNothing(t *testing.T) {
	k := startKafka(t)
	msgs := threeParked(t)
	at := park(t, k, msgs...)

	res := replay(t, k, "-dry-run")
	for i, m := range msgs {
		key := "(none)"
		if m.key != nil {
			key = strconv.Quote(string(m.key))
		}
		want := fmt.Sprintf("partition %d offset %d key %s kind %s error %q", at[i].partition, at[i].offset, key, m.kind, m.reason)
		if !strings.Contains(res.stdout, want) {
			t.Errorf("dry run does not list %q:\n%s", want, res.stdout)
		}
	}
	if !strings.Contains(res.stdout, "would replay 3 (decode 2, validation 1)") {
		t.Errorf("dry run does not summarise by kind:\n%s", res.stdout)
	}
	if got := readTopic(t, k.brokers, k.topic); len(got) != 0 {
		t.Fatalf("dry run published %d messages", len(got))
	}
	// Nor did it commit: a real run still has all three to replay.
	if res := replay(t, k); !strings.Contains(res.stdout, "replayed 3 ") {
		t.Errorf("replay after a dry run:\n%s", res.stdout)
	}
}

func TestReplayRepublishesOnceWithKeyBytesAndHeaders(t *testing.T) {
	k := startKafka(t)
	msgs := threeParked(t)
	at := park(t, k, msgs...)

	res := replay(t, k)
	if !strings.Contains(res.stdout, "replayed 3 (decode 2, validation 1), skipped 0") {
		t.Errorf("summary:\n%s", res.stdout)
	}
	got := replayedFrom(t, k)
	if len(got) != len(msgs) {
		t.Fatalf("orders has %d replayed messages (%v), want %d", len(got), slices.Collect(maps.Keys(got)), len(msgs))
	}
	for i, want := range msgs {
		m, ok := got[at[i].String()]
		if !ok {
			t.Errorf("%s was not replayed", at[i])
			continue
		}
		if !bytes.Equal(m.Key, want.key) || (m.Key == nil) != (want.key == nil) {
			t.Errorf("%s: key %q, want %q", at[i], m.Key, want.key)
		}
		if !bytes.Equal(m.Value, want.value) || (m.Value == nil) != (want.value == nil) {
			t.Errorf("%s: value (%d bytes, nil %v) is not the parked one (%d bytes, nil %v)",
				at[i], len(m.Value), m.Value == nil, len(want.value), want.value == nil)
		}
		var wantHeaders []string
		for _, h := range want.headers {
			if !strings.HasPrefix(string(h.Key), "x-") {
				wantHeaders = append(wantHeaders, fmt.Sprintf("%s=%q", h.Key, h.Value))
			}
		}
		wantHeaders = append(wantHeaders, fmt.Sprintf("%s=%q", headerReplayedFrom, at[i].String()))
		var gotHeaders []string
		for _, h := range m.Headers {
			gotHeaders = append(gotHeaders, fmt.Sprintf("%s=%q", h.Key, h.Value))
		}
		if !slices.Equal(gotHeaders, wantHeaders) {
			t.Errorf("%s: headers\n%v\nwant\n%v", at[i], gotHeaders, wantHeaders)
		}
	}

	// A second run has nothing to do; a message parked since is replayed alone.
	if res := replay(t, k); !strings.Contains(res.stdout, "replayed 0, skipped 0") {
		t.Errorf("second replay:\n%s", res.stdout)
	}
	if n := len(readTopic(t, k.brokers, k.topic)); n != 3 {
		t.Fatalf("orders has %d messages after a second replay, want 3", n)
	}
	later := park(t, k, parkedMsg{key: []byte("later"), value: []byte("[]"), kind: "decode", reason: "message is JSON array, want an object"})
	if res := replay(t, k); !strings.Contains(res.stdout, "replayed 1 (decode 1)") {
		t.Errorf("replay of one parked since:\n%s", res.stdout)
	}
	if _, ok := replayedFrom(t, k)[later[0].String()]; !ok {
		t.Errorf("%s, parked after the first replay, was not replayed", later[0])
	}
}

func TestReplayKindFilters(t *testing.T) {
	k := startKafka(t)
	// One key, so one partition, with the kinds interleaved.
	key := []byte("one-key")
	msgs := []parkedMsg{
		{key: key, value: []byte("d1"), kind: "decode", reason: "not JSON"},
		{key: key, value: []byte("v1"), kind: "validation", reason: "order_uid: is required"},
		{key: key, value: []byte("c1"), kind: "conflict", reason: "order_uid: a different order is already stored"},
		{key: key, value: []byte("v2"), kind: "validation", reason: "items: must have at least one item"},
		{key: key, value: []byte("n1"), kind: "", reason: "parked by something else"},
	}
	at := park(t, k, msgs...)
	values := func() []string {
		var out []string
		for _, m := range readTopic(t, k.brokers, k.topic) {
			out = append(out, string(m.Value))
		}
		slices.Sort(out)
		return out
	}

	if res := replay(t, k, "-kind", "validation"); !strings.Contains(res.stdout, "replayed 2 (validation 2), skipped 3") {
		t.Errorf("-kind validation:\n%s", res.stdout)
	}
	if got := values(); !slices.Equal(got, []string{"v1", "v2"}) {
		t.Fatalf("orders holds %v after -kind validation, want v1 and v2", got)
	}
	if res := replay(t, k, "-kind", "validation"); !strings.Contains(res.stdout, "replayed 0") {
		t.Errorf("-kind validation again:\n%s", res.stdout)
	}
	res := replay(t, k, "-dry-run")
	for i, m := range msgs {
		listed := strings.Contains(res.stdout, fmt.Sprintf("offset %d key", at[i].offset))
		if want := m.kind != "validation"; listed != want {
			t.Errorf("dry run lists %s (%s): %v, want %v:\n%s", at[i], m.value, listed, want, res.stdout)
		}
	}
	if res := replay(t, k); !strings.Contains(res.stdout, "replayed 3 ((no kind) 1, conflict 1, decode 1)") {
		t.Errorf("replay of the rest:\n%s", res.stdout)
	}
	if got := values(); !slices.Equal(got, []string{"c1", "d1", "n1", "v1", "v2"}) {
		t.Fatalf("orders holds %v, want every parked message once", got)
	}
	if res := replay(t, k); !strings.Contains(res.stdout, "replayed 0") {
		t.Errorf("nothing left:\n%s", res.stdout)
	}
	if res := replay(t, k, "-kind", "decode", "-from-start"); !strings.Contains(res.stdout, "replayed 1 (decode 1)") {
		t.Errorf("-from-start -kind decode:\n%s", res.stdout)
	}
	// ... which leaves the progress of the other kinds alone.
	if res := replay(t, k); !strings.Contains(res.stdout, "replayed 0") {
		t.Errorf("after -from-start -kind decode:\n%s", res.stdout)
	}
	if res := replay(t, k, "-from-start"); !strings.Contains(res.stdout, "replayed 5 ") {
		t.Errorf("-from-start:\n%s", res.stdout)
	}
}

func TestReplayFailureCommitsNothingAndExitsOne(t *testing.T) {
	k := startStrictKafka(t)
	park(t, k, threeParked(t)...)
	missing := k
	missing.topic = "no-such-topic"
	res := runProducer(t.Context(), t, missing, "-replay-dlq")
	err := res.err
	if err == nil {
		t.Fatalf("replay to a missing topic succeeded:\n%s", res.stdout)
	}
	if exitCode(err) != 1 {
		t.Errorf("exit code %d, want 1", exitCode(err))
	}
	if !strings.Contains(err.Error(), "not acknowledged") {
		t.Errorf("error %q does not say messages were not acknowledged", err)
	}
	if res := replay(t, k); !strings.Contains(res.stdout, "replayed 3 ") {
		t.Errorf("after a failed replay, want all 3 still to replay:\n%s", res.stdout)
	}
}

func TestProgressPerKind(t *testing.T) {
	p := parseProgress(-1, "")
	p = p.advance([]string{"validation"}, 10)
	if p.base != 0 || p.metadata() != "validation=10" {
		t.Fatalf("after validation to 10: base %d, metadata %q", p.base, p.metadata())
	}
	p = parseProgress(p.base, p.metadata()).advance(replayOptions{}.keys(), 7)
	if p.base != 7 || p.metadata() != "validation=10" || p.next("validation") != 10 || p.next("decode") != 7 {
		t.Fatalf("after every kind to 7: base %d, metadata %q", p.base, p.metadata())
	}
	p = p.advance(replayOptions{}.keys(), 12)
	if p.base != 12 || p.metadata() != "" {
		t.Fatalf("after every kind to 12: base %d, metadata %q", p.base, p.metadata())
	}
	if got := parseProgress(5, "decode=x,validation=3,bogus=9,conflict=8"); got.next("conflict") != 8 || got.next("validation") != 5 || got.next("decode") != 5 {
		t.Fatalf("lenient parse: %+v", got)
	}
	p = parseProgress(12, "validation=20").forget([]string{"decode"})
	if p.next("decode") != 0 || p.next("validation") != 20 || p.next("conflict") != 12 || p.base != 0 {
		t.Fatalf("forget decode: %+v", p)
	}
}

// The whole loop: the service parks an order it cannot store yet; once the
// cause is gone, the replay brings it back and the service stores it.
func TestReplayedMessageIsConsumedAgain(t *testing.T) {
	k := startKafka(t)
	store := &flakyStore{conflict: map[string]bool{"b563feb7b2b84b6test": true}, stored: map[string]bool{}}
	cfg := kafka.Config{Rules: order.DefaultRules(), Brokers: k.brokers, Topic: k.topic, Group: k.group, DLQTopic: k.dlqTopic,
		Partitions: 3, BatchSize: 100, BatchWait: 20 * time.Millisecond}
	consumer := kafka.NewConsumer(cfg, slog.New(slog.DiscardHandler), store, nil)
	consumer.Start()
	t.Cleanup(func() { _ = consumer.Stop(context.Background()) })

	if res := runProducer(t.Context(), t, k, "-file", fixturePath); res.err != nil {
		t.Fatalf("produce: %v", res.err)
	}
	waitFor(t, "the order parked as a conflict", func() bool {
		res := replay(t, k, "-dry-run")
		return strings.Contains(res.stdout, "would replay 1 (conflict 1)")
	})
	store.fix("b563feb7b2b84b6test")
	replay(t, k)
	waitFor(t, "the replayed order stored", func() bool { return store.isStored("b563feb7b2b84b6test") })
}

type flakyStore struct {
	mu       sync.Mutex
	conflict map[string]bool
	stored   map[string]bool
}

func (s *flakyStore) Ingest(_ context.Context, batch []order.Parsed) ([]order.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]order.Outcome, len(batch))
	for i, p := range batch {
		if s.conflict[p.Order.OrderUID] {
			out[i] = order.Conflict
			continue
		}
		s.stored[p.Order.OrderUID] = true
		out[i] = order.Stored
	}
	return out, nil
}

func (s *flakyStore) fix(uid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conflict, uid)
}

func (s *flakyStore) isStored(uid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored[uid]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
