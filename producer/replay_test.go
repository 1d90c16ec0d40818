package main

import (
	"bytes"
	"context"
	"encoding/json"
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

// orderWith is the fixture under uid, changed by edit (nil: unchanged), as
// compact JSON.
func orderWith(t *testing.T, uid string, edit func(o map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	var o map[string]any
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	o["order_uid"] = uid
	if edit != nil {
		edit(o)
	}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// badAmount makes the order's amount one more than its parts.
func badAmount(o map[string]any) { o["payment"].(map[string]any)["amount"] = 1818 }

// threeParked are orders the service takes now, once rejected: one with
// headers of its own, one under another uid, and one without a key.
func threeParked(t *testing.T) []parkedMsg {
	return []parkedMsg{
		{
			key: []byte("b563feb7b2b84b6test"), value: orderWith(t, "b563feb7b2b84b6test", nil), kind: "validation",
			reason: "payment.amount: is 1818, want 1817 = goods_total + delivery_cost + custom_fee",
			headers: []sarama.RecordHeader{
				{Key: []byte("traceparent"), Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")},
				{Key: []byte("binary"), Value: []byte{0, 0xff, '\n'}},
			},
		},
		{key: []byte("second"), value: orderWith(t, "second", nil), kind: "decode", reason: "payment.payment_dt: is a string, want an integer"},
		{key: nil, value: orderWith(t, "no-key", nil), kind: "decode", reason: "order_uid: is required"},
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

// wantSummary fails the test unless the replay's last line says want after
// "done in <time>: ".
func wantSummary(t *testing.T, res result, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	last := lines[len(lines)-1]
	_, got, _ := strings.Cut(last, ": ")
	if !strings.HasPrefix(last, "done in ") || got != want {
		t.Errorf("summary %q, want %q; stdout:\n%s", got, want, res.stdout)
	}
}

// replayOf maps x-replay-of to the record replayed.
func replayOf(t *testing.T, k testKafka) map[string]*sarama.ConsumerMessage {
	t.Helper()
	out := map[string]*sarama.ConsumerMessage{}
	for _, m := range readTopic(t, k.brokers, k.topic) {
		from := ""
		for _, h := range m.Headers {
			if string(h.Key) == kafka.HeaderReplayOf {
				if from != "" {
					t.Errorf("%s/%d has two %s headers", m.Topic, m.Offset, kafka.HeaderReplayOf)
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

// count is how many records topic holds.
func count(t *testing.T, k testKafka, topic string) int {
	t.Helper()
	client, err := sarama.NewClient(k.brokers, kafka.SaramaConfig("test-count"))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer client.Close()
	return stored(t, client, topic)
}

func TestReplayDryRunListsAndPublishesNothing(t *testing.T) {
	k := startKafka(t)
	msgs := append(threeParked(t),
		parkedMsg{key: []byte("k-decode"), value: []byte("{not json \xff"), kind: "decode", reason: "message is not valid UTF-8"},
		parkedMsg{key: []byte("k-conflict"), value: orderWith(t, "k-conflict", nil), kind: "conflict", reason: "order_uid: a different order is already stored"},
	)
	at := park(t, k, msgs...)

	res := replay(t, k, "-dry-run")
	for i, m := range msgs[:3] {
		key := "(none)"
		if m.key != nil {
			key = strconv.Quote(string(m.key))
		}
		want := fmt.Sprintf("partition %d offset %d key %s kind %s error %q", at[i].partition, at[i].offset, key, m.kind, m.reason)
		if !strings.Contains(res.stdout, want) {
			t.Errorf("dry run does not list %q:\n%s", want, res.stdout)
		}
	}
	for _, want := range []string{
		fmt.Sprintf("held back: partition %d offset %d key \"k-decode\" kind decode: still fails: decode: ", at[3].partition, at[3].offset),
		fmt.Sprintf("held back: partition %d offset %d key \"k-conflict\" kind conflict: a conflict cannot be checked without the database; "+
			"once the stored order is fixed, replay with -kind conflict", at[4].partition, at[4].offset),
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("dry run does not say %q:\n%s", want, res.stdout)
		}
	}
	wantSummary(t, res, "would replay 3 (decode 2, validation 1); held back 2 (still failing 1, conflict 1); skipped 0; failed 0")
	if got := readTopic(t, k.brokers, k.topic); len(got) != 0 {
		t.Fatalf("dry run published %d messages", len(got))
	}
	// Nor did it commit: a real run still has all three to replay.
	wantSummary(t, replay(t, k), "replayed 3 (decode 2, validation 1); held back 2 (still failing 1, conflict 1); skipped 0; failed 0")
}

func TestReplayRepublishesOnceWithKeyBytesAndHeaders(t *testing.T) {
	k := startKafka(t)
	msgs := threeParked(t)
	at := park(t, k, msgs...)

	wantSummary(t, replay(t, k), "replayed 3 (decode 2, validation 1); held back 0; skipped 0; failed 0")
	got := replayOf(t, k)
	if len(got) != len(msgs) {
		t.Fatalf("orders has %d replayed messages (%v), want %d", len(got), slices.Collect(maps.Keys(got)), len(msgs))
	}
	for i, want := range msgs {
		from := fmt.Sprintf("%s/%d@%d", at[i].topic, at[i].partition, at[i].offset)
		m, ok := got[from]
		if !ok {
			t.Errorf("%s was not replayed", from)
			continue
		}
		if !bytes.Equal(m.Key, want.key) || (m.Key == nil) != (want.key == nil) {
			t.Errorf("%s: key %q, want %q", from, m.Key, want.key)
		}
		if !bytes.Equal(m.Value, want.value) {
			t.Errorf("%s: value is not the parked one", from)
		}
		var wantHeaders []string
		for _, h := range want.headers {
			wantHeaders = append(wantHeaders, fmt.Sprintf("%s=%q", h.Key, h.Value))
		}
		wantHeaders = append(wantHeaders, fmt.Sprintf("%s=%q", kafka.HeaderReplayOf, from))
		var gotHeaders []string
		for _, h := range m.Headers {
			gotHeaders = append(gotHeaders, fmt.Sprintf("%s=%q", h.Key, h.Value))
		}
		if !slices.Equal(gotHeaders, wantHeaders) {
			t.Errorf("%s: headers\n%v\nwant\n%v", from, gotHeaders, wantHeaders)
		}
	}

	// A second run has nothing to do; a message parked since is replayed alone.
	wantSummary(t, replay(t, k), "replayed 0; held back 0; skipped 0; failed 0")
	if n := count(t, k, k.topic); n != 3 {
		t.Fatalf("orders has %d messages after a second replay, want 3", n)
	}
	later := park(t, k, parkedMsg{key: []byte("later"), value: orderWith(t, "later", nil), kind: "decode", reason: "message is JSON array, want an object"})
	wantSummary(t, replay(t, k), "replayed 1 (decode 1); held back 0; skipped 0; failed 0")
	if _, ok := replayOf(t, k)[fmt.Sprintf("%s/%d@%d", later[0].topic, later[0].partition, later[0].offset)]; !ok {
		t.Errorf("%s, parked after the first replay, was not replayed", later[0])
	}
}

func TestReplayKindFilters(t *testing.T) {
	k := startKafka(t)
	// One key, so one partition, with the kinds interleaved.
	key := []byte("one-key")
	msgs := []parkedMsg{
		{key: key, value: orderWith(t, "d1", nil), kind: "decode", reason: "not JSON"},
		{key: key, value: orderWith(t, "v1", nil), kind: "validation", reason: "order_uid: is required"},
		{key: key, value: orderWith(t, "c1", nil), kind: "conflict", reason: "order_uid: a different order is already stored"},
		{key: key, value: orderWith(t, "v2", nil), kind: "validation", reason: "items: must have at least one item"},
		{key: key, value: orderWith(t, "n1", nil), kind: "", reason: "parked by something else"},
	}
	at := park(t, k, msgs...)
	uids := func() []string {
		var out []string
		for _, m := range readTopic(t, k.brokers, k.topic) {
			var o struct {
				UID string `json:"order_uid"`
			}
			if err := json.Unmarshal(m.Value, &o); err != nil {
				t.Fatal(err)
			}
			out = append(out, o.UID)
		}
		slices.Sort(out)
		return out
	}

	wantSummary(t, replay(t, k, "-kind", "validation"),
		"replayed 2 (validation 2); held back 0; skipped 3 (replayed once and parked again 0, another kind 3); failed 0")
	if got := uids(); !slices.Equal(got, []string{"v1", "v2"}) {
		t.Fatalf("orders holds %v after -kind validation, want v1 and v2", got)
	}
	wantSummary(t, replay(t, k, "-kind", "validation"), "replayed 0; held back 0; skipped 0; failed 0")
	res := replay(t, k, "-dry-run")
	for i, m := range msgs {
		listed := strings.Contains(res.stdout, fmt.Sprintf("\npartition %d offset %d key", at[i].partition, at[i].offset))
		if want := m.kind == "decode" || m.kind == ""; listed != want {
			t.Errorf("dry run lists %s (%s) to replay: %v, want %v:\n%s", at[i], m.kind, listed, want, res.stdout)
		}
	}
	// Without -kind every kind but conflict: conflicts wait for -kind conflict.
	wantSummary(t, replay(t, k),
		"replayed 2 ((no kind) 1, decode 1); held back 1 (still failing 0, conflict 1); skipped 0; failed 0")
	if got := uids(); !slices.Equal(got, []string{"d1", "n1", "v1", "v2"}) {
		t.Fatalf("orders holds %v, want every parked message but the conflict once", got)
	}
	// ... and are listed again, each run, until then.
	wantSummary(t, replay(t, k),
		"replayed 0; held back 1 (still failing 0, conflict 1); skipped 0; failed 0")
	wantSummary(t, replay(t, k, "-kind", "conflict"),
		"replayed 1 (conflict 1); held back 0; skipped 4 (replayed once and parked again 0, another kind 4); failed 0")
	if got := uids(); !slices.Equal(got, []string{"c1", "d1", "n1", "v1", "v2"}) {
		t.Fatalf("orders holds %v, want every parked message once", got)
	}
	wantSummary(t, replay(t, k), "replayed 0; held back 0; skipped 0; failed 0")
	wantSummary(t, replay(t, k, "-kind", "decode", "-from-start"),
		"replayed 1 (decode 1); held back 0; skipped 4 (replayed once and parked again 0, another kind 4); failed 0")
	// ... which leaves the progress of the other kinds alone.
	wantSummary(t, replay(t, k), "replayed 0; held back 0; skipped 0; failed 0")
	wantSummary(t, replay(t, k, "-from-start"),
		"replayed 4 ((no kind) 1, decode 1, validation 2); held back 1 (still failing 0, conflict 1); skipped 0; failed 0")
}

// Replay sends only what the service's rules take now, from the same
// settings; the rest is listed with the reason and stays parked.
func TestReplayHoldsBackWhatTheRulesStillReject(t *testing.T) {
	k := startKafka(t)
	future := time.Now().Add(10 * 24 * time.Hour).UTC().Format(time.RFC3339)
	msgs := []parkedMsg{
		{key: []byte("sums"), value: orderWith(t, "sums", badAmount), kind: "validation", reason: "payment.amount: is 1818, want 1817"},
		{key: []byte("future"), value: orderWith(t, "future", func(o map[string]any) { o["date_created"] = future }), kind: "validation",
			reason: "date_created: more than 1h ahead"},
	}
	at := park(t, k, msgs...)

	res := replay(t, k)
	wantSummary(t, res, "replayed 0; held back 2 (still failing 2, conflict 0); skipped 0; failed 0")
	for i, want := range []string{"still fails: validation: payment.amount: ", "still fails: validation: date_created: "} {
		line := fmt.Sprintf("held back: partition %d offset %d key %q kind validation: %s", at[i].partition, at[i].offset, msgs[i].key, want)
		if !strings.Contains(res.stdout, line) {
			t.Errorf("replay does not say %q:\n%s", line, res.stdout)
		}
	}
	if n := count(t, k, k.topic); n != 0 {
		t.Fatalf("replay sent %d messages the rules reject", n)
	}

	// Held back means looked at: a second run does not list them again...
	wantSummary(t, replay(t, k), "replayed 0; held back 0; skipped 0; failed 0")
	// ... -from-start does, and with the sums off the first one passes.
	k.env = []string{"APP_VALIDATION_TOTALS=off"}
	wantSummary(t, replay(t, k, "-from-start"), "replayed 1 (validation 1); held back 1 (still failing 1, conflict 0); skipped 0; failed 0")
	k.env = []string{"APP_VALIDATION_MAX_FUTURE=720h"}
	wantSummary(t, replay(t, k, "-from-start"), "replayed 1 (validation 1); held back 1 (still failing 1, conflict 0); skipped 0; failed 0")
	if got := replayOf(t, k); len(got) != 2 {
		t.Errorf("orders holds %d replays, want the two, once each", len(got))
	}
}

// The loop: replay run again and again with nothing fixed. Each
// failure is parked once by the service, and replayed again only when asked
// for, one copy at a time.
func TestReplayTwiceNeverMultipliesAFailure(t *testing.T) {
	k := startKafka(t)
	store := &flakyStore{conflict: map[string]bool{"taken": true}, stored: map[string]bool{}}
	cfg := kafka.Config{Rules: order.DefaultRules(), Brokers: k.brokers, Topic: k.topic, Group: k.group, DLQTopic: k.dlqTopic,
		Partitions: 3, BatchSize: 100, BatchWait: 20 * time.Millisecond}
	consumer := kafka.NewConsumer(cfg, slog.New(slog.DiscardHandler), store, nil)
	consumer.Start()
	t.Cleanup(func() { _ = consumer.Stop(context.Background()) })

	p, err := sarama.NewSyncProducer(k.brokers, kafka.SaramaConfig("test-orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, m := range []struct{ key, value []byte }{
		{[]byte("sums-1"), orderWith(t, "sums-1", badAmount)},
		{[]byte("sums-2"), orderWith(t, "sums-2", badAmount)},
		{[]byte("junk"), []byte("{not json")},
		{[]byte("taken"), orderWith(t, "taken", nil)},
		{[]byte("fine"), orderWith(t, "fine", nil)},
	} {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: k.topic, Key: sarama.ByteEncoder(m.key), Value: sarama.ByteEncoder(m.value)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "4 parked", func() bool { return count(t, k, k.dlqTopic) == 4 })
	sent := func() int { return count(t, k, k.topic) - 5 }

	for range 2 {
		replay(t, k, "-kind", "validation")
		replay(t, k)
	}
	if n := sent(); n != 0 {
		t.Fatalf("four runs with nothing fixed sent %d messages", n)
	}

	// A conflict is only checked by the service: sent when asked for by
	// name, it fails again and is parked again, with where it came from.
	wantSummary(t, replay(t, k, "-kind", "conflict"),
		"replayed 1 (conflict 1); held back 0; skipped 3 (replayed once and parked again 0, another kind 3); failed 0")
	waitFor(t, "the conflict parked again", func() bool { return count(t, k, k.dlqTopic) == 5 })
	dlq := readTopic(t, k.brokers, k.dlqTopic)
	first, again := parkedCopies(t, dlq, "taken")
	if len(again) != 1 || kafkaHeader(again[0], kafka.HeaderReplayOf) != dlqPosition(first) {
		t.Fatalf("the conflict parked again carries %s %q, want %q", kafka.HeaderReplayOf, kafkaHeader(again[0], kafka.HeaderReplayOf), dlqPosition(first))
	}

	// Run again, it is not sent, and says how to send it.
	for _, args := range [][]string{{"-kind", "conflict"}, {}, {"-kind", "conflict", "-from-start"}} {
		res := replay(t, k, args...)
		if n := sent(); n != 1 {
			t.Fatalf("replay %v sent the conflict again (%d sent in all):\n%s", args, n, res.stdout)
		}
		// The first run to look at the copy says why it is not sent.
		if len(args) == 2 && !strings.Contains(res.stdout, "replayed once already (a replay of "+dlqPosition(first)+") and parked again; -again sends it once more") {
			t.Errorf("replay %v does not say why the copy is skipped:\n%s", args, res.stdout)
		}
	}

	// -again sends it once more: the newest copy only, whichever run.
	for i, args := range [][]string{{"-kind", "conflict", "-again"}, {"-kind", "conflict", "-again", "-from-start"}} {
		if res := replay(t, k, args...); !strings.Contains(res.stdout, ": replayed 1 (conflict 1); ") {
			t.Fatalf("replay %v, want the newest copy sent:\n%s", args, res.stdout)
		}
		waitFor(t, "the conflict parked again", func() bool { return count(t, k, k.dlqTopic) == 6+i })
	}
	_, again = parkedCopies(t, readTopic(t, k.brokers, k.dlqTopic), "taken")
	for i := 1; i < len(again); i++ {
		if from := kafkaHeader(again[i], kafka.HeaderReplayOf); from != dlqPosition(again[i-1]) {
			t.Errorf("copy %d is a replay of %s, want of the copy before it, %s", i, from, dlqPosition(again[i-1]))
		}
	}

	// Fixed at last: the newest copy is stored, and nothing more is parked.
	store.fix("taken")
	replay(t, k, "-kind", "conflict", "-again")
	waitFor(t, "the conflict stored", func() bool { return store.isStored("taken") })
	if n := count(t, k, k.dlqTopic); n != 7 {
		t.Errorf("DLQ holds %d, want 7: 4 first failures and 3 copies", n)
	}
}

// parkedCopies are the DLQ records of key: the first parking, and the copies
// parked again after replays, in the order parked.
func parkedCopies(t *testing.T, dlq []*sarama.ConsumerMessage, key string) (first *sarama.ConsumerMessage, again []*sarama.ConsumerMessage) {
	t.Helper()
	var all []*sarama.ConsumerMessage
	for _, m := range dlq {
		if string(m.Key) == key {
			all = append(all, m)
		}
	}
	slices.SortFunc(all, func(a, b *sarama.ConsumerMessage) int { return int(a.Offset - b.Offset) })
	if len(all) == 0 || kafkaHeader(all[0], kafka.HeaderReplayOf) != "" {
		t.Fatalf("no first parking of %s among %d records", key, len(all))
	}
	return all[0], all[1:]
}

func kafkaHeader(m *sarama.ConsumerMessage, name string) string { return header(m, name) }

func dlqPosition(m *sarama.ConsumerMessage) string {
	return fmt.Sprintf("%s/%d@%d", m.Topic, m.Partition, m.Offset)
}

// Copies left by replays before x-replay-of (x-replayed-from:
// "<topic>/<partition>/<offset>") count as replays too.
func TestReplayReadsTheOldHeader(t *testing.T) {
	k := startKafka(t)
	key := []byte("one-key")
	at := park(t, k, parkedMsg{key: key, value: orderWith(t, "o1", nil), kind: "validation", reason: "r"})
	old := fmt.Sprintf("%s/%d/%d", at[0].topic, at[0].partition, at[0].offset)
	park(t, k, parkedMsg{key: key, value: orderWith(t, "o1", nil), kind: "validation", reason: "r",
		headers: []sarama.RecordHeader{{Key: []byte("x-replayed-from"), Value: []byte(old)}}})

	wantSummary(t, replay(t, k, "-dry-run"),
		"would replay 0; held back 0; skipped 2 (replayed once and parked again 2, another kind 0); failed 0")
	wantSummary(t, replay(t, k, "-again"),
		"replayed 1 (validation 1); held back 0; skipped 1 (replayed once and parked again 1, another kind 0); failed 0")
	got := replayOf(t, k)
	if _, ok := got[fmt.Sprintf("%s/%d@%d", at[0].topic, at[0].partition, at[0].offset+1)]; !ok || len(got) != 1 {
		t.Errorf("replayed %v, want the copy alone", slices.Collect(maps.Keys(got)))
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
	every := replayOptions{}.readKeys()
	p = parseProgress(p.base, p.metadata()).advance(every, 7)
	if p.base != 7 || p.metadata() != "validation=10" || p.next("validation") != 10 || p.next("decode") != 7 {
		t.Fatalf("after every kind to 7: base %d, metadata %q", p.base, p.metadata())
	}
	p = p.advance(every, 12)
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
		res := replay(t, k, "-dry-run", "-kind", "conflict")
		return strings.Contains(res.stdout, "would replay 1 (conflict 1)")
	})
	store.fix("b563feb7b2b84b6test")
	replay(t, k, "-kind", "conflict")
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
