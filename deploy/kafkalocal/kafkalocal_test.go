package kafkalocal

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
)

// envLocal turns on the tests that run Apache Kafka itself.
const envLocal = "TEST_KAFKA_LOCAL"

// startBroker runs a broker on free ports in a temporary directory, stopped
// when the test ends. It fetches the jars on first use.
func startBroker(t *testing.T) *Broker {
	t.Helper()
	if os.Getenv(envLocal) != "1" {
		t.Skipf("set %s=1 to run Apache Kafka from its Maven jars (needs java 17+ and mvn or deploy/kafka-local/lib; about 30 s)", envLocal)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	lib, err := Fetch(ctx, "../kafka-local")
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	b, err := Start(ctx, Options{LibDir: lib})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return b
}

func TestBrokerKeepsMessagesAcrossRestart(t *testing.T) {
	b := startBroker(t)
	brokers := []string{b.Addr()}
	topic := kafkatest.Name("kafkalocal")
	if err := kafka.EnsureTopics(brokers, 3, topic); err != nil {
		t.Fatalf("ensure topics: %v", err)
	}
	kafkatest.Produce(t, brokers, topic, kafkatest.Message{Key: []byte("k1"), Value: []byte("before restart")})
	assertMessages(t, brokers, topic, "before restart")

	before := b.PID()
	if err := b.Restart(t.Context()); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if after := b.PID(); after == 0 || after == before {
		t.Fatalf("PID after restart = %d, before = %d: want a new running process", after, before)
	}
	assertMessages(t, brokers, topic, "before restart")

	dir := b.DataDir()
	if err := b.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if pid := b.PID(); pid != 0 {
		t.Errorf("PID after stop = %d, want 0", pid)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary data dir %s after stop: %v, want it removed", dir, err)
	}
	if _, err := Probe(t.Context(), b.Addr()); err == nil {
		t.Errorf("broker still answers on %s after stop", b.Addr())
	}
}

func TestBrokerRecoversFromKill(t *testing.T) {
	b := startBroker(t)
	brokers := []string{b.Addr()}
	topic := kafkatest.Name("kafkalocal-crash")
	kafkatest.CreateTopics(t, brokers, 3, topic)
	kafkatest.Produce(t, brokers, topic, kafkatest.Message{Key: []byte("k1"), Value: []byte("acknowledged")})

	if err := b.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if pid := b.PID(); pid != 0 {
		t.Fatalf("PID after kill = %d, want 0", pid)
	}
	if _, err := Probe(t.Context(), b.Addr()); err == nil {
		t.Fatalf("broker still answers on %s after kill", b.Addr())
	}
	if err := b.Restart(t.Context()); err != nil {
		t.Fatalf("restart after kill: %v", err)
	}
	kafkatest.Produce(t, brokers, topic, kafkatest.Message{Key: []byte("k2"), Value: []byte("after crash")})
	assertMessages(t, brokers, topic, "acknowledged", "after crash")
}

func TestStartReportsWhyKafkaExited(t *testing.T) {
	if os.Getenv(envLocal) != "1" {
		t.Skipf("set %s=1 to run Apache Kafka from its Maven jars", envLocal)
	}
	ctx := t.Context()
	lib, err := Fetch(ctx, "../kafka-local")
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	dir := t.TempDir()
	b, err := Start(ctx, Options{LibDir: lib, DataDir: dir})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := b.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// Storage formatted for another node: Kafka refuses it and exits.
	meta := filepath.Join(dir, logDirName, "meta.properties")
	raw, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, []byte(strings.Replace(string(raw), "node.id=1", "node.id=7", 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	_, err = Start(ctx, Options{LibDir: lib, DataDir: dir})
	if err == nil {
		t.Fatal("start on storage of node 7 succeeded, want an error")
	}
	t.Logf("start error, as a user sees it:\n%v", err)
	if !strings.Contains(err.Error(), "exited during start") || !strings.Contains(err.Error(), "node") {
		t.Errorf("error = %v\nwant it to say Kafka exited, with its last log lines", err)
	}
	if waited := time.Since(began); waited > readyTimeout/2 {
		t.Errorf("start took %s to fail, want it to notice the exit rather than wait out the timeout", waited)
	}
}

func TestFetchReusesLib(t *testing.T) {
	dir := t.TempDir()
	pom := []byte("<project/>\n")
	writeFile(t, filepath.Join(dir, "pom.xml"), pom)
	writeFile(t, filepath.Join(dir, "lib", "kafka.jar"), nil)
	// No mvn on PATH: a fetch that ran it would fail.
	t.Setenv("PATH", t.TempDir())
	t.Setenv("TMPDIR", t.TempDir()) // for the fetch lock

	if _, err := Fetch(t.Context(), dir); !errors.Is(err, ErrNoMaven) {
		t.Fatalf("fetch with jars but no stamp: err = %v, want ErrNoMaven (a fetch)", err)
	}

	// What a finished fetch leaves behind.
	writeFile(t, filepath.Join(dir, "lib", "kafka.jar"), nil)
	stamp, err := pomStamp(filepath.Join(dir, "pom.xml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "lib", stampFile), []byte(stamp+"\n"))
	lib, err := Fetch(t.Context(), dir)
	if err != nil {
		t.Fatalf("fetch with a complete lib: %v", err)
	}
	if want := filepath.Join(dir, "lib"); lib != want {
		t.Errorf("lib = %s, want %s", lib, want)
	}

	// Another pom.xml means other jars.
	writeFile(t, filepath.Join(dir, "pom.xml"), []byte("<project><!-- newer --></project>\n"))
	if _, err := Fetch(t.Context(), dir); !errors.Is(err, ErrNoMaven) {
		t.Fatalf("fetch after pom.xml changed: err = %v, want ErrNoMaven (a fetch)", err)
	}
}

func TestNewClusterID(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		id, err := newClusterID()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(raw) != 16 || len(id) != 22 {
			t.Fatalf("id %q: want 16 bytes in 22 base64url characters (err %v)", id, err)
		}
		if id[0] == '-' {
			t.Fatalf("id %q starts with '-', which Kafka's tools read as a flag", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
}

func TestProperties(t *testing.T) {
	b := &Broker{dataDir: "/d", port: 19092, ctrlPort: 19093}
	got := map[string]string{}
	for _, line := range strings.Split(b.properties(), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			if _, dup := got[k]; dup {
				t.Errorf("key %s set twice", k)
			}
			got[k] = v
		}
	}
	tests := []struct{ give, want string }{
		{"process.roles", "broker,controller"},
		{"controller.quorum.voters", "1@127.0.0.1:19093"},
		{"listeners", "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"},
		{"advertised.listeners", "PLAINTEXT://127.0.0.1:19092"},
		{"log.dirs", filepath.Join("/d", logDirName)},
		{"auto.create.topics.enable", "false"},
		{"num.partitions", "3"},
		{"offsets.topic.replication.factor", "1"},
		{"group.initial.rebalance.delay.ms", "0"},
	}
	for _, tt := range tests {
		if got[tt.give] != tt.want {
			t.Errorf("%s = %q, want %q", tt.give, got[tt.give], tt.want)
		}
	}
}

func TestIsBrokerCmdline(t *testing.T) {
	tests := []struct {
		give []string
		want bool
	}{
		{[]string{"/usr/bin/java", "-Xmx768m", "-cp", "lib/*", "kafka.Kafka", "server.properties"}, true},
		{[]string{"java", "kafka.Kafka", "server.properties"}, true},
		{[]string{"/usr/bin/java", "-cp", "lib/*", "kafka.tools.StorageTool", "format"}, false},
		{[]string{"/usr/bin/python3", "kafka.Kafka"}, false},
		{[]string{"/opt/javax", "kafka.Kafka"}, false},
		{[]string{"java"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := isBrokerCmdline(tt.give); got != tt.want {
			t.Errorf("isBrokerCmdline(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestStopPIDSparesOtherProcesses(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep to stand in for another process: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := StopPID(cmd.Process.Pid, time.Second); !errors.Is(err, ErrNotBroker) {
		t.Fatalf("StopPID(sleep) = %v, want ErrNotBroker", err)
	}
	if !alive(cmd.Process.Pid) {
		t.Fatal("StopPID signalled a process that is not a broker")
	}
}

// assertMessages reads the topic from the oldest offset and wants exactly
// these values, in any order across partitions.
func assertMessages(t *testing.T, brokers []string, topic string, want ...string) {
	t.Helper()
	got := kafkatest.ReadN(t, brokers, topic, len(want), 30*time.Second)
	values := map[string]int{}
	for _, m := range got {
		values[string(m.Value)]++
	}
	for _, w := range want {
		if values[w] != 1 {
			t.Errorf("topic %s: read %d messages %q, want 1 (all read: %v)", topic, values[w], w, values)
		}
	}
	if len(got) != len(want) {
		t.Errorf("topic %s: read %d messages, want %d", topic, len(got), len(want))
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
