package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order"
)

const fixturePath = "../modules/order/testdata/model.json"

// testKafka is a broker and the topics and group one test uses on it.
type testKafka struct {
	brokers         []string
	topic, dlqTopic string
	group           string
	env             []string // more of the environment, e.g. APP_VALIDATION_TOTALS=off
}

// startKafka gives the test kafkatest's broker (TEST_KAFKA_BROKERS, or an
// in-process kfake) with a topic and a DLQ topic of 3 partitions and a group,
// all named for this test alone.
func startKafka(t testing.TB) testKafka {
	t.Helper()
	k := testKafka{
		brokers:  kafkatest.Brokers(t),
		topic:    kafkatest.Name("orders"),
		dlqTopic: kafkatest.Name("orders.dlq"),
		group:    kafkatest.Name("bank"),
	}
	kafkatest.CreateTopics(t, k.brokers, 3, k.topic, k.dlqTopic)
	return k
}

// startStrictKafka starts an in-process broker that, unlike kafkatest's,
// refuses to create a topic a client asks for, so that producing to a
// missing topic fails. It holds orders and orders.dlq, of 3 partitions.
func startStrictKafka(t *testing.T) testKafka {
	t.Helper()
	_, k := startStrictCluster(t)
	return k
}

// startStrictCluster is startStrictKafka with the cluster, to control.
func startStrictCluster(t *testing.T) (*kfake.Cluster, testKafka) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.Ports(0), kfake.SeedTopics(3, "orders", "orders.dlq"))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c, testKafka{brokers: c.ListenAddrs(), topic: "orders", dlqTopic: "orders.dlq", group: "bank"}
}

// environ is the environment that points the program at k.
func (k testKafka) environ() []string {
	return append([]string{
		"APP_KAFKA_BROKERS=" + strings.Join(k.brokers, ","),
		"APP_KAFKA_TOPIC=" + k.topic,
		"APP_KAFKA_DLQ_TOPIC=" + k.dlqTopic,
		"APP_KAFKA_GROUP=" + k.group,
		"PATH=/usr/bin",
	}, k.env...)
}

type result struct {
	stdout, stderr string
	err            error
}

// runProducer runs the program against k, with no config file, so only the
// environment given here counts.
func runProducer(ctx context.Context, t *testing.T, k testKafka, args ...string) result {
	t.Helper()
	args = append([]string{"-config", filepath.Join(t.TempDir(), "none.toml")}, args...)
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, k.environ(), &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// stored is how many records topic holds, summed over its partitions.
func stored(t testing.TB, client sarama.Client, topic string) int {
	t.Helper()
	partitions, err := client.Partitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	n := int64(0)
	for _, p := range partitions {
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("start of %s/%d: %v", topic, p, err)
		}
		hwm, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("high watermark of %s/%d: %v", topic, p, err)
		}
		n += hwm - oldest
	}
	return int(n)
}

// readTopic returns every record in topic: each partition from the oldest
// offset up to its high watermark as of the call.
func readTopic(t testing.TB, brokers []string, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	client, err := sarama.NewClient(brokers, kafka.SaramaConfig("test-reader"))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	n := stored(t, client, topic)
	client.Close()
	if n == 0 {
		return nil
	}
	const timeout = 30 * time.Second
	out := kafkatest.ReadN(t, brokers, topic, n, timeout)
	if len(out) < n {
		t.Fatalf("%s: read %d of its %d records in %s", topic, len(out), n, timeout)
	}
	return out
}

func TestRunSendsCountOrders(t *testing.T) {
	k := startKafka(t)
	res := runProducer(t.Context(), t, k, "-count", "500", "-interval", "0", "-seed", "1")
	if res.err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", res.err, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "sent 500, acked 500, failed 0") {
		t.Errorf("summary does not report 500 acked:\n%s", res.stdout)
	}

	records := readTopic(t, k.brokers, k.topic)
	if len(records) != 500 {
		t.Fatalf("topic has %d records, want 500", len(records))
	}
	uids := map[string]bool{}
	partitions := map[int32]int{}
	for _, m := range records {
		p, err := order.DefaultRules().Parse(m.Value)
		if err != nil {
			t.Fatalf("record %s/%d does not parse: %v", m.Topic, m.Offset, err)
		}
		if string(m.Key) != p.Order.OrderUID {
			t.Errorf("record key %q, order_uid %q", m.Key, p.Order.OrderUID)
		}
		uids[p.Order.OrderUID] = true
		partitions[m.Partition]++
	}
	if len(uids) != 500 {
		t.Errorf("%d distinct uids in 500 records", len(uids))
	}
	if len(partitions) != 3 {
		t.Errorf("records spread over partitions %v, want all 3", partitions)
	}
	if dlq := readTopic(t, k.brokers, k.dlqTopic); len(dlq) != 0 {
		t.Errorf("producer wrote %d records to the DLQ topic", len(dlq))
	}
}

func TestRunSendsFile(t *testing.T) {
	fixture, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var fixtureCompact bytes.Buffer
	if err := json.Compact(&fixtureCompact, fixture); err != nil {
		t.Fatalf("compact fixture: %v", err)
	}
	second := bytes.Replace(fixtureCompact.Bytes(), []byte("b563feb7b2b84b6test"), []byte("second-order"), 2)
	noUID := []byte(`{"note": "no uid here",  "n": 1.50}`)

	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name     string
		give     string
		wantKeys []string
		want     [][]byte
	}{
		{
			name:     "the fixture, one indented object",
			give:     fixturePath,
			wantKeys: []string{"b563feb7b2b84b6test"},
			want:     [][]byte{fixtureCompact.Bytes()},
		},
		{
			name:     "an array of two",
			give:     write("array.json", []byte("[\n"+string(fixture)+",\n  "+string(second)+"\n]\n")),
			wantKeys: []string{"b563feb7b2b84b6test", "second-order"},
			want:     [][]byte{fixtureCompact.Bytes(), second},
		},
		{
			name:     "JSON lines, one without a uid",
			give:     write("lines.jsonl", []byte(string(fixtureCompact.Bytes())+"\n"+string(second)+"\n"+string(noUID)+"\n")),
			wantKeys: []string{"b563feb7b2b84b6test", "second-order", ""},
			want:     [][]byte{fixtureCompact.Bytes(), second, []byte(`{"note":"no uid here","n":1.50}`)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := startKafka(t)
			res := runProducer(t.Context(), t, k, "-file", tt.give)
			if res.err != nil {
				t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", res.err, res.stdout, res.stderr)
			}
			records := readTopic(t, k.brokers, k.topic)
			if len(records) != len(tt.want) {
				t.Fatalf("topic has %d records, want %d", len(records), len(tt.want))
			}
			got := map[string][]byte{}
			for _, m := range records {
				got[string(m.Value)] = m.Key
			}
			for i, want := range tt.want {
				key, ok := got[string(want)]
				if !ok {
					t.Errorf("no record with the bytes of object %d:\n%s", i, want)
					continue
				}
				if string(key) != tt.wantKeys[i] || (tt.wantKeys[i] == "" && key != nil) {
					t.Errorf("object %d: key %q, want %q", i, key, tt.wantKeys[i])
				}
			}
		})
	}
}

func TestRunFixtureBytesAreTheFileObjectCompacted(t *testing.T) {
	k := startKafka(t)
	if res := runProducer(t.Context(), t, k, "-file", fixturePath); res.err != nil {
		t.Fatalf("run: %v\n%s", res.err, res.stderr)
	}
	fixture, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := json.Compact(&want, fixture); err != nil {
		t.Fatal(err)
	}
	records := readTopic(t, k.brokers, k.topic)
	if len(records) != 1 {
		t.Fatalf("topic has %d records, want 1", len(records))
	}
	if !bytes.Equal(records[0].Value, want.Bytes()) {
		t.Errorf("sent\n%s\nwant\n%s", records[0].Value, want.Bytes())
	}
	if _, err := order.DefaultRules().Parse(records[0].Value); err != nil {
		t.Errorf("the fixture as sent does not parse: %v", err)
	}
}

func TestRunInvalidShare(t *testing.T) {
	k := startKafka(t)
	res := runProducer(t.Context(), t, k, "-count", "200", "-invalid", "0.5", "-seed", "9")
	if res.err != nil {
		t.Fatalf("run: %v\n%s", res.err, res.stderr)
	}
	records := readTopic(t, k.brokers, k.topic)
	if len(records) != 200 {
		t.Fatalf("topic has %d records, want 200", len(records))
	}
	kinds := map[order.Kind]int{}
	for _, m := range records {
		_, err := order.DefaultRules().Parse(m.Value)
		var rej *order.RejectError
		switch {
		case err == nil:
			kinds["valid"]++
		case errors.As(err, &rej):
			kinds[rej.Kind]++
		default:
			t.Fatalf("Parse: %v", err)
		}
		if !order.ValidUID(string(m.Key)) {
			t.Errorf("record %d/%d has key %q, want an order uid", m.Partition, m.Offset, m.Key)
		}
	}
	invalid := kinds[order.KindDecode] + kinds[order.KindValidation]
	if invalid < 40 || invalid > 160 {
		t.Errorf("%d of 200 invalid (%v), want about half", invalid, kinds)
	}
	if kinds[order.KindDecode] == 0 || kinds[order.KindValidation] == 0 {
		t.Errorf("kinds %v, want both decode and validation", kinds)
	}
	if want := "(" + strconv.Itoa(invalid) + " sent deliberately broken)"; !strings.Contains(res.stdout, want) {
		t.Errorf("summary does not say %q:\n%s", want, res.stdout)
	}
}

func TestRunUntilCancelledAcknowledgesEverySent(t *testing.T) {
	k := startKafka(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan result)
	go func() { done <- runProducer(ctx, t, k, "-count", "0") }()

	// Stop once the broker has some records, the way SIGINT would.
	client, err := sarama.NewClient(k.brokers, kafka.SaramaConfig("test-watcher"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; n < 1000; n = stored(t, client, k.topic) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d records stored in 30 s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	res := <-done
	if res.err != nil {
		t.Fatalf("run after cancel: %v\n%s", res.err, res.stderr)
	}
	m := regexp.MustCompile(`done in \S+: sent (\d+), acked (\d+), failed 0`).FindStringSubmatch(res.stdout)
	if m == nil || m[1] != m[2] {
		t.Fatalf("summary does not show every sent message acked:\n%s", res.stdout)
	}
	acked, _ := strconv.Atoi(m[2])
	if n := len(readTopic(t, k.brokers, k.topic)); n != acked {
		t.Errorf("topic has %d records, summary says %d acked", n, acked)
	}
}

func TestRunFailsWhenTheBrokerRejects(t *testing.T) {
	c, k := startStrictCluster(t)
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		preq := req.(*kmsg.ProduceRequest)
		resp := preq.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range preq.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = 10 // MESSAGE_TOO_LARGE, which sarama does not retry
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	res := runProducer(t.Context(), t, k, "-count", "3")
	err := res.err
	if err == nil {
		t.Fatalf("run succeeded with every message refused:\n%s", res.stdout)
	}
	if exitCode(err) != 1 {
		t.Errorf("exit code %d, want 1", exitCode(err))
	}
	if !regexp.MustCompile(`^[1-3] of [1-3] messages failed`).MatchString(err.Error()) {
		t.Errorf("error %q does not count the failures", err)
	}
}

// On a broker that does not create topics on first use (as Apache Kafka may
// be set up), the producer creates its topic as the service would.
func TestRunCreatesAMissingTopic(t *testing.T) {
	k := startStrictKafka(t)
	k.topic = "fresh-orders"
	res := runProducer(t.Context(), t, k, "-count", "3", "-seed", "1")
	if res.err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", res.err, res.stdout, res.stderr)
	}
	if want := "topic fresh-orders did not exist on " + k.brokers[0] + ": created it with 3 partitions"; !strings.Contains(res.stdout, want) {
		t.Errorf("stdout does not say %q:\n%s", want, res.stdout)
	}
	client, err := sarama.NewClient(k.brokers, kafka.SaramaConfig("test-topic"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if parts, err := client.Partitions(k.topic); err != nil || len(parts) != 3 {
		t.Errorf("partitions of %s: %v (%v), want 3", k.topic, parts, err)
	}
	if n := stored(t, client, k.topic); n != 3 {
		t.Errorf("%s holds %d records, want 3", k.topic, n)
	}
	// The second run finds it and says nothing about it.
	if res := runProducer(t.Context(), t, k, "-count", "1"); res.err != nil || strings.Contains(res.stdout, "did not exist") {
		t.Errorf("second run: %v\n%s", res.err, res.stdout)
	}
}

// When the broker refuses to create it, the error says the topic is missing
// and how to get it, in place of sarama's "does not exist" for each message.
func TestRunSaysHowToCreateAMissingTopic(t *testing.T) {
	c, k := startStrictCluster(t)
	c.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		creq := req.(*kmsg.CreateTopicsRequest)
		resp := creq.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, rt := range creq.Topics {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic = rt.Topic
			st.ErrorCode = 29 // TOPIC_AUTHORIZATION_FAILED
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	k.topic = "fresh-orders"
	res := runProducer(t.Context(), t, k, "-count", "3")
	if res.err == nil || exitCode(res.err) != 1 {
		t.Fatalf("run = %v, want exit 1:\n%s", res.err, res.stdout)
	}
	for _, want := range []string{"topic fresh-orders does not exist on " + k.brokers[0], "start the service once (it creates fresh-orders and orders.dlq)",
		"or have fresh-orders created with 3 partitions"} {
		if !strings.Contains(res.err.Error(), want) {
			t.Errorf("error %q does not say %q", res.err, want)
		}
	}
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		give []string
		want string // the flag the error must name
	}{
		{give: []string{"-invalid", "2"}, want: "-invalid"},
		{give: []string{"-invalid", "-0.1"}, want: "-invalid"},
		{give: []string{"-invalid", "half"}, want: "-invalid"},
		{give: []string{"-count", "-1"}, want: "-count"},
		{give: []string{"-count", "many"}, want: "-count"},
		{give: []string{"-interval", "-1s"}, want: "-interval"},
		{give: []string{"-interval", "5"}, want: "-interval"},
		{give: []string{"-seed", "x"}, want: "-seed"},
		{give: []string{"-file", fixturePath, "-count", "5"}, want: "-count"},
		{give: []string{"-file", fixturePath, "-invalid", "0.5"}, want: "-invalid"},
		{give: []string{"-replay-dlq", "-kind", "bogus"}, want: "-kind"},
		{give: []string{"-replay-dlq", "-kind", ""}, want: "-kind"},
		{give: []string{"-replay-dlq", "-count", "5"}, want: "-count"},
		{give: []string{"-replay-dlq", "-file", fixturePath}, want: "-file"},
		{give: []string{"-replay-dlq", "-seed", "1"}, want: "-seed"},
		{give: []string{"-dry-run"}, want: "-dry-run"},
		{give: []string{"-kind", "validation"}, want: "-kind"},
		{give: []string{"-from-start", "-count", "1"}, want: "-from-start"},
		{give: []string{"-nope"}, want: "-nope"},
		{give: []string{"extra"}, want: "extra"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.give, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			// No broker: a bad flag must stop the start before any connection.
			err := run(t.Context(), tt.give, []string{"APP_KAFKA_BROKERS=127.0.0.1:1"}, &stdout, &stderr)
			if err == nil {
				t.Fatal("run accepted the flags")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
			if got := exitCode(err); got != 2 {
				t.Errorf("exit code %d, want 2", got)
			}
		})
	}
}

func TestBadFileNamesTheFlag(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		give string // file content; "" = no file
		want string
	}{
		{name: "missing file", want: "no such file"},
		{name: "not JSON", give: "{\"order_uid\": \"a\"}\n{oops}\n", want: "line 2"},
		{name: "a string", give: `"an order"`, want: "JSON string, want an object"},
		{name: "array of numbers", give: `[{"order_uid": "a"}, 5]`, want: "element 1 is a JSON number"},
		{name: "empty", give: " \n", want: "no JSON objects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if tt.give != "" {
				if err := os.WriteFile(path, []byte(tt.give), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := run(t.Context(), []string{"-file", path}, []string{"APP_KAFKA_BROKERS=127.0.0.1:1"}, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), "-file") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming -file and saying %q", err, tt.want)
			}
		})
	}
}

func TestBadConfigNamesTheKey(t *testing.T) {
	err := run(t.Context(), []string{"-count", "1"}, []string{"APP_KAFKA_BROKERS=nohostport"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "kafka.brokers") {
		t.Errorf("error %v, want one naming kafka.brokers", err)
	}
}

func TestHelpExitsZero(t *testing.T) {
	var stdout bytes.Buffer
	err := run(t.Context(), []string{"-h"}, nil, &stdout, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("-h: %v", err)
	}
	for _, flag := range []string{"-config", "-count", "-interval", "-file", "-invalid", "-seed", "-replay-dlq", "-dry-run", "-kind", "-from-start", "-again", "x-replay-of"} {
		if !strings.Contains(stdout.String(), flag) {
			t.Errorf("usage does not mention %s:\n%s", flag, stdout.String())
		}
	}
}

func BenchmarkPublish(b *testing.B) {
	k := startKafka(b)
	args := []string{"-config", filepath.Join(b.TempDir(), "none.toml"), "-count", strconv.Itoa(b.N), "-seed", "1"}
	b.ResetTimer()
	if err := run(b.Context(), args, k.environ(), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		b.Fatal(err)
	}
}
