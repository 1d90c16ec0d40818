package kafka_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order"
)

// brokerMaxBatchBytes is Apache Kafka's default message.max.bytes (and
// kfake's): the largest record batch a topic takes unless configured.
const brokerMaxBatchBytes = 1048588

// maxErrorHeaderBytes is what the test accepts as a readable x-error.
const maxErrorHeaderBytes = 8 << 10

// hostileKey is the key of every message of the test, so all of them share a
// partition and a message that blocked it would hold up every later one.
const hostileKey = "hostile"

// editOrder is the fixture under uid with change applied to it as a map.
func editOrder(t *testing.T, uid string, change func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(orderJSON(t, uid), &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func payment(m map[string]any) map[string]any  { return m["payment"].(map[string]any) }
func delivery(m map[string]any) map[string]any { return m["delivery"].(map[string]any) }
func firstItem(m map[string]any) map[string]any {
	return m["items"].([]any)[0].(map[string]any)
}

// withMember appends `,"name":value` to the JSON object obj.
func withMember(obj []byte, name, value string) []byte {
	obj = bytes.TrimSpace(obj)
	out := append([]byte{}, obj[:len(obj)-1]...)
	return append(out, `,"`+name+`":`+value+`}`...)
}

type hostileCase struct {
	name     string
	give     []byte // nil is a tombstone
	headers  []sarama.RecordHeader
	wantKind order.Kind
}

func hostileCases(t *testing.T) []hostileCase {
	valid := orderJSON(t, "hostile-shape")
	bigBlob := `"` + strings.Repeat("b", 900<<10) + `"`
	manyBad := make([]any, 3000)
	for i := range manyBad {
		manyBad[i] = map[string]any{"price": -1, "sale": 101, "total_price": -1}
	}
	return []hostileCase{
		{name: "empty value", give: []byte{}, wantKind: order.KindDecode},
		{name: "tombstone", give: nil, wantKind: order.KindDecode},
		{name: "whitespace", give: []byte(" \t\r\n "), wantKind: order.KindDecode},
		{name: "not JSON", give: []byte("hello, orders"), wantKind: order.KindDecode},
		{name: "truncated JSON", give: valid[:len(valid)/2], wantKind: order.KindDecode},
		{name: "trailing garbage", give: append(append([]byte{}, valid...), "xyz"...), wantKind: order.KindDecode},
		{name: "two objects", give: append(append([]byte{}, valid...), valid...), wantKind: order.KindDecode},
		{name: "byte order mark", give: append([]byte("\xef\xbb\xbf"), valid...), wantKind: order.KindDecode},
		{name: "JSON array", give: []byte("[" + string(valid) + "]"), wantKind: order.KindDecode},
		{name: "JSON null", give: []byte("null"), wantKind: order.KindDecode},
		{name: "JSON number", give: []byte("42"), wantKind: order.KindDecode},
		{name: "JSON string", give: []byte(`"hostile-shape"`), wantKind: order.KindDecode},
		{name: "JSON true", give: []byte("true"), wantKind: order.KindDecode},
		{name: "empty object", give: []byte("{}"), wantKind: order.KindValidation},
		{name: "required fields missing", give: editOrder(t, "hostile-missing", func(m map[string]any) {
			delete(m, "order_uid")
			delete(m, "items")
			delete(m["delivery"].(map[string]any), "name")
		}), wantKind: order.KindValidation},
		{name: "uid a number", give: editOrder(t, "x", func(m map[string]any) { m["order_uid"] = 12345 }), wantKind: order.KindDecode},
		{name: "items an object", give: editOrder(t, "hostile-items", func(m map[string]any) { m["items"] = map[string]any{"0": firstItem(m)} }), wantKind: order.KindDecode},
		{name: "amount a string", give: editOrder(t, "hostile-amount", func(m map[string]any) { payment(m)["amount"] = "1817" }), wantKind: order.KindDecode},
		{name: "fractional price", give: editOrder(t, "hostile-price", func(m map[string]any) { firstItem(m)["price"] = 45.5 }), wantKind: order.KindDecode},
		{name: "amount 1e30", give: editOrder(t, "hostile-1e30", func(m map[string]any) { payment(m)["amount"] = 1e30 }), wantKind: order.KindDecode},
		{name: "number of 20000 digits", give: bytes.Replace(valid, []byte(`"sm_id":99`), []byte(`"sm_id":`+strings.Repeat("9", 20_000)), 1), wantKind: order.KindDecode},
		{name: "negative amount", give: editOrder(t, "hostile-neg", func(m map[string]any) { payment(m)["amount"] = -1817 }), wantKind: order.KindValidation},
		{name: "amount over MaxAmount", give: editOrder(t, "hostile-max", func(m map[string]any) { payment(m)["amount"] = order.MaxAmount + 1 }), wantKind: order.KindValidation},
		{name: "goods_total does not add up", give: editOrder(t, "hostile-sum", func(m map[string]any) { payment(m)["goods_total"] = 300 }), wantKind: order.KindValidation},
		{name: "total_price does not match sale", give: editOrder(t, "hostile-sale", func(m map[string]any) { firstItem(m)["total_price"] = 318 }), wantKind: order.KindValidation},
		{name: "300-character track_number", give: editOrder(t, "hostile-long", func(m map[string]any) { m["track_number"] = strings.Repeat("T", 300) }), wantKind: order.KindValidation},
		{name: "2000-character address", give: editOrder(t, "hostile-addr", func(m map[string]any) { delivery(m)["address"] = strings.Repeat("я", 2000) }), wantKind: order.KindValidation},
		{name: "invalid UTF-8 in a value", give: bytes.Replace(valid, []byte("Kiryat Mozkin"), []byte("Kiryat \xff\xfe Mozkin"), 1), wantKind: order.KindDecode},
		{name: "invalid UTF-8 in a key", give: withMember(valid, "\xc3\x28", "1"), wantKind: order.KindDecode},
		{name: "binary noise", give: []byte{0x00, 0x9f, 0x92, 0x96, 0xff, '{', 0x01, 0x80}, wantKind: order.KindDecode},
		{name: "100 levels deep in an unknown field", give: withMember(valid, "extra", strings.Repeat(`{"a":`, 100)+"1"+strings.Repeat("}", 100)), wantKind: order.KindDecode},
		{name: "900 KiB unknown field in an invalid order", give: withMember(editOrder(t, "hostile-big", func(m map[string]any) { payment(m)["amount"] = 1 }), "blob", bigBlob), wantKind: order.KindValidation},
		{name: "NUL escape in a field", give: bytes.Replace(valid, []byte("Kiryat Mozkin"), []byte(`Kiryat\u0000Mozkin`), 1), wantKind: order.KindValidation},
		{name: "NUL escape in the uid", give: bytes.ReplaceAll(valid, []byte("hostile-shape"), []byte(`hostile\u0000shape`)), wantKind: order.KindValidation},
		{name: "duplicated key, bare", give: []byte(`{"order_uid":"a","order_uid":"b"}`), wantKind: order.KindDecode},
		{name: "duplicated uid in a whole order", give: bytes.Replace(valid, []byte(`{"`), []byte(`{"order_uid":"someone-else","`), 1), wantKind: order.KindDecode},
		{name: "ORDER_UID in upper case", give: bytes.Replace(valid, []byte(`"order_uid"`), []byte(`"ORDER_UID"`), 1), wantKind: order.KindDecode},
		{name: "3000 broken items", give: editOrder(t, "hostile-items-3000", func(m map[string]any) { m["items"] = manyBad }), wantKind: order.KindValidation},
		{
			name: "original headers, one spoofing ours",
			give: []byte("not an order"),
			headers: []sarama.RecordHeader{
				{Key: []byte("traceparent"), Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")},
				{Key: []byte(kafka.HeaderErrorKind), Value: []byte("conflict")},
				{Key: []byte("binary"), Value: []byte{0, 0xff, '\n'}},
				{Key: []byte("empty"), Value: nil},
			},
			wantKind: order.KindDecode,
		},
	}
}

// producedAt is where a message landed.
type producedAt struct {
	partition int32
	offset    int64
}

// produceInOrder sends the messages one at a time, each acknowledged before
// the next, so their order on the partition is the order given, and returns
// where each landed.
func produceInOrder(t *testing.T, brokers []string, topic string, msgs []*sarama.ProducerMessage) []producedAt {
	t.Helper()
	p, err := sarama.NewSyncProducer(brokers, kafka.SaramaConfig("hostile-producer"))
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	at := make([]producedAt, len(msgs))
	for i, m := range msgs {
		m.Topic = topic
		part, off, err := p.SendMessage(m)
		if err != nil {
			t.Fatalf("produce message %d (%d bytes): %v", i, byteLen(m.Value), err)
		}
		at[i] = producedAt{part, off}
	}
	return at
}

func byteLen(e sarama.Encoder) int {
	if e == nil {
		return 0
	}
	return e.Length()
}

// recordBatchBytes is the size on the wire of a batch holding one record, as
// the broker measures it against message.max.bytes.
func recordBatchBytes(key, value []byte, headers []sarama.RecordHeader) int {
	varint := func(n int) int { return binary.PutVarint(make([]byte, binary.MaxVarintLen64), int64(n)) }
	bytesField := func(b []byte, null bool) int {
		if null {
			return varint(-1)
		}
		return varint(len(b)) + len(b)
	}
	body := 1 + varint(0) + varint(0) // attributes, timestamp delta, offset delta
	body += bytesField(key, key == nil) + bytesField(value, value == nil) + varint(len(headers))
	for _, h := range headers {
		body += bytesField(h.Key, false) + bytesField(h.Value, h.Value == nil)
	}
	const batchHeader = 61
	return batchHeader + varint(body) + body
}

func TestHostileMessagesAreParkedAndThePartitionKeepsFlowing(t *testing.T) {
	r := newRig(t)
	cases := hostileCases(t)

	// A valid order before every hostile one and one after the last; one of
	// them carries a 900 KiB unknown field, which is not stored.
	type sent struct {
		hostile *hostileCase
		uid     string // valid orders
	}
	var plan []sent
	var msgs []*sarama.ProducerMessage
	addValid := func(uid string, value []byte) {
		plan = append(plan, sent{uid: uid})
		msgs = append(msgs, &sarama.ProducerMessage{Key: sarama.StringEncoder(hostileKey), Value: sarama.ByteEncoder(value)})
	}
	for i := range cases {
		c := &cases[i]
		uid := fmt.Sprintf("flow-%02d", i)
		if i == len(cases)/2 {
			addValid(uid, withMember(orderJSON(t, uid), "blob", `"`+strings.Repeat("v", 900<<10)+`"`))
		} else {
			addValid(uid, orderJSON(t, uid))
		}
		pm := &sarama.ProducerMessage{Key: sarama.StringEncoder(hostileKey), Headers: c.headers}
		if c.give != nil {
			pm.Value = sarama.ByteEncoder(c.give)
		}
		plan = append(plan, sent{hostile: c})
		msgs = append(msgs, pm)
	}
	addValid("flow-last", orderJSON(t, "flow-last"))

	for _, c := range cases {
		if n := recordBatchBytes([]byte(hostileKey), c.give, c.headers); n > brokerMaxBatchBytes {
			t.Fatalf("%s: %d bytes on the wire, more than the broker's default %d: the test would not reach the consumer", c.name, n, brokerMaxBatchBytes)
		}
	}
	at := produceInOrder(t, r.brokers, r.cfg.Topic, msgs)
	partition := at[0].partition
	for i, a := range at {
		if a.partition != partition || (i > 0 && a.offset <= at[i-1].offset) {
			t.Fatalf("message %d landed at %d/%d; want every message on partition %d in order", i, a.partition, a.offset, partition)
		}
	}
	end := at[len(at)-1].offset + 1

	c := r.start(t)
	eventually(t, "every valid order stored", 60*time.Second, func() bool { return r.store.stored() == len(cases)+1 })
	dlq := kafkatest.ReadN(t, r.brokers, r.cfg.DLQTopic, len(cases), 60*time.Second)
	if len(dlq) != len(cases) {
		t.Fatalf("DLQ has %d messages, want %d", len(dlq), len(cases))
	}

	byOffset := map[string]int{}
	for i, p := range plan {
		if p.hostile != nil {
			byOffset[strconv.FormatInt(at[i].offset, 10)] = i
		}
	}
	seen := map[int]bool{}
	for _, m := range dlq {
		i, ok := byOffset[kafkatest.Header(m, kafka.HeaderSourceOffset)]
		if !ok {
			t.Errorf("DLQ message with x-source-offset %q, which is no hostile message's offset", kafkatest.Header(m, kafka.HeaderSourceOffset))
			continue
		}
		if seen[i] {
			t.Errorf("%s: parked twice", plan[i].hostile.name)
		}
		seen[i] = true
		checkParked(t, m, *plan[i].hostile, r.cfg.Topic, at[i])
		if n := recordBatchBytes(m.Key, m.Value, headersOf(m)); n > brokerMaxBatchBytes {
			t.Errorf("%s: the DLQ copy is %d bytes on the wire, more than the broker's default %d", plan[i].hostile.name, n, brokerMaxBatchBytes)
		}
	}

	for _, p := range plan {
		if p.uid == "" {
			continue
		}
		r.store.mu.Lock()
		got, ok := r.store.orders[p.uid]
		r.store.mu.Unlock()
		switch {
		case !ok:
			t.Errorf("valid order %s was not stored", p.uid)
		case bytes.Contains(got, []byte("blob")):
			t.Errorf("valid order %s was stored with its unknown field", p.uid)
		}
	}
	if got := r.counts.get("invalid"); got != len(cases) {
		t.Errorf("invalid count = %d, want %d", got, len(cases))
	}

	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := kafkatest.CommittedSum(t, r.brokers, r.cfg.Group, r.cfg.Topic); got != end {
		t.Fatalf("committed offset %d after stop, want %d, the end of the partition", got, end)
	}
}

// checkParked checks one DLQ message against the hostile message it copies.
func checkParked(t *testing.T, m *sarama.ConsumerMessage, c hostileCase, topic string, at producedAt) {
	t.Helper()
	name := c.name
	if string(m.Key) != hostileKey {
		t.Errorf("%s: DLQ key %q, want %q", name, m.Key, hostileKey)
	}
	if !bytes.Equal(m.Value, c.give) || (m.Value == nil) != (c.give == nil) {
		t.Errorf("%s: DLQ value (%d bytes, nil %v) is not the original (%d bytes, nil %v)",
			name, len(m.Value), m.Value == nil, len(c.give), c.give == nil)
	}
	if len(m.Headers) < 5 {
		t.Fatalf("%s: %d headers, want ours and the original ones", name, len(m.Headers))
	}
	ours := map[string]string{}
	for _, h := range m.Headers[:5] {
		ours[string(h.Key)] = string(h.Value)
	}
	reason := ours[kafka.HeaderError]
	switch {
	case reason == "":
		t.Errorf("%s: x-error is empty or not among the first headers", name)
	case len(reason) > maxErrorHeaderBytes:
		t.Errorf("%s: x-error is %d bytes, more than %d", name, len(reason), maxErrorHeaderBytes)
	case !utf8.ValidString(reason) || strings.ContainsFunc(reason, unicode.IsControl):
		t.Errorf("%s: x-error is not plain text: %q", name, reason)
	}
	if got := ours[kafka.HeaderErrorKind]; got != string(c.wantKind) {
		t.Errorf("%s: x-error-kind %q, want %q (x-error %q)", name, got, c.wantKind, reason)
	}
	if got := ours[kafka.HeaderSourceTopic]; got != topic {
		t.Errorf("%s: x-source-topic %q, want %q", name, got, topic)
	}
	if got, want := ours[kafka.HeaderSourcePartition], strconv.Itoa(int(at.partition)); got != want {
		t.Errorf("%s: x-source-partition %q, want %q", name, got, want)
	}
	if got, want := ours[kafka.HeaderSourceOffset], strconv.FormatInt(at.offset, 10); got != want {
		t.Errorf("%s: x-source-offset %q, want %q", name, got, want)
	}
	rest := m.Headers[5:]
	if len(rest) != len(c.headers) {
		t.Errorf("%s: %d original headers after ours, want %d", name, len(rest), len(c.headers))
		return
	}
	for i, h := range rest {
		if !bytes.Equal(h.Key, c.headers[i].Key) || !bytes.Equal(h.Value, c.headers[i].Value) {
			t.Errorf("%s: original header %d is %q=%q, want %q=%q", name, i, h.Key, h.Value, c.headers[i].Key, c.headers[i].Value)
		}
	}
}

func headersOf(m *sarama.ConsumerMessage) []sarama.RecordHeader {
	hs := make([]sarama.RecordHeader, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = *h
	}
	return hs
}

// rejectOfWireSize is an order failing validation, padded with an unknown
// field so that, keyed hostileKey and without headers, it takes exactly wire
// bytes in a record batch of its own.
func rejectOfWireSize(t *testing.T, wire int) []byte {
	t.Helper()
	base := editOrder(t, "near-limit", func(m map[string]any) { payment(m)["amount"] = 1 })
	build := func(pad int) []byte { return withMember(base, "pad", `"`+strings.Repeat("p", pad)+`"`) }
	pad := wire - recordBatchBytes([]byte(hostileKey), build(0), nil)
	for pad > 0 && recordBatchBytes([]byte(hostileKey), build(pad), nil) > wire {
		pad--
	}
	v := build(pad)
	if got := recordBatchBytes([]byte(hostileKey), v, nil); got != wire {
		t.Fatalf("cannot pad a reject to %d bytes on the wire (got %d)", wire, got)
	}
	return v
}

// A reject the broker took at its size limit gets a few hundred bytes of our
// headers in the DLQ, so the DLQ topic needs headroom over the orders topic's
// message.max.bytes; without it the copy is refused on every try and the
// partition stops. The consumer creates the DLQ topic with that headroom.
func TestNearLimitRejectIsParked(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	cfg := kafka.Config{Rules: order.DefaultRules(),
		Brokers: brokers, Topic: kafkatest.Name("orders"), Group: kafkatest.Name("bank"),
		Partitions: 3, BatchSize: 100, BatchWait: 20 * time.Millisecond,
	}
	cfg.DLQTopic = cfg.Topic + ".dlq"
	kafkatest.CreateTopics(t, brokers, 3, cfg.Topic)
	r := &rig{brokers: brokers, cfg: cfg, store: newFakeStore(), counts: &counts{m: map[string]int{}}}

	big := rejectOfWireSize(t, brokerMaxBatchBytes)
	at := produceInOrder(t, brokers, cfg.Topic, []*sarama.ProducerMessage{
		{Key: sarama.StringEncoder(hostileKey), Value: sarama.ByteEncoder(big)},
		{Key: sarama.StringEncoder(hostileKey), Value: sarama.ByteEncoder(orderJSON(t, "after-the-big-one"))},
	})
	c := r.start(t)
	eventually(t, "the order after it stored", 30*time.Second, func() bool { return r.store.stored() == 1 })
	dlq := kafkatest.ReadN(t, brokers, cfg.DLQTopic, 1, 30*time.Second)
	if len(dlq) != 1 {
		t.Fatalf("DLQ has %d messages, want 1", len(dlq))
	}
	checkParked(t, dlq[0], hostileCase{name: "reject at the size limit", give: big, wantKind: order.KindValidation}, cfg.Topic, at[0])
	if n := recordBatchBytes(dlq[0].Key, dlq[0].Value, headersOf(dlq[0])); n <= brokerMaxBatchBytes {
		t.Errorf("DLQ copy is %d bytes on the wire; the test wants one over the default limit %d", n, brokerMaxBatchBytes)
	}
	eventually(t, "the offset committed past both", 30*time.Second, func() bool {
		return kafkatest.CommittedSum(t, brokers, cfg.Group, cfg.Topic) == at[1].offset+1
	})
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// When the broker refuses some copies of a batch, the retry sends those
// only: the ones it took are not parked twice.
func TestDLQRetryParksEachMessageOnce(t *testing.T) {
	if kafkatest.External() {
		t.Skip("needs kfake's request control")
	}
	cluster, err := kfake.NewCluster(kfake.Ports(0), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()
	cfg := kafka.Config{Rules: order.DefaultRules(),
		Brokers: brokers, Topic: kafkatest.Name("orders"), Group: kafkatest.Name("bank"),
		Partitions: 3, BatchSize: 100, BatchWait: 200 * time.Millisecond,
	}
	cfg.DLQTopic = cfg.Topic + ".dlq"
	kafkatest.CreateTopics(t, brokers, 3, cfg.Topic, cfg.DLQTopic)
	r := &rig{brokers: brokers, cfg: cfg, store: newFakeStore(), counts: &counts{m: map[string]int{}}}

	var msgs []kafkatest.Message
	for i := range 6 {
		msgs = append(msgs, kafkatest.Message{Key: []byte(hostileKey), Value: []byte(fmt.Sprintf("not an order %d", i))})
	}
	kafkatest.Produce(t, brokers, cfg.Topic, msgs...)

	// Refuse the first produce to the DLQ topic with an error sarama does
	// not retry itself.
	refused := make(chan struct{})
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		preq := req.(*kmsg.ProduceRequest)
		if len(preq.Topics) == 0 || preq.Topics[0].Topic != cfg.DLQTopic {
			return nil, nil, false
		}
		resp := preq.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range preq.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = 10 // MESSAGE_TOO_LARGE
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		close(refused)
		return resp, nil, true
	})
	c := r.start(t)
	select {
	case <-refused:
	case <-time.After(30 * time.Second):
		t.Fatal("the consumer never published to the DLQ")
	}
	eventually(t, "all 6 counted invalid", 30*time.Second, func() bool { return r.counts.get("invalid") == len(msgs) })
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	dlq := kafkatest.ReadN(t, brokers, cfg.DLQTopic, len(msgs)+1, 5*time.Second)
	offsets := map[string]int{}
	for _, m := range dlq {
		offsets[kafkatest.Header(m, kafka.HeaderSourceOffset)]++
	}
	if len(dlq) != len(msgs) || len(offsets) != len(msgs) {
		t.Fatalf("DLQ has %d messages for source offsets %v, want each of the %d once", len(dlq), offsets, len(msgs))
	}
}
