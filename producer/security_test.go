package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/kafka/kafkatest"
)

// secureRun runs the program with the Kafka settings of env (a secure
// broker's) on the topics, with no config file.
func secureRun(t *testing.T, env []string, topic, dlqTopic string, args ...string) result {
	t.Helper()
	env = append(env, "APP_KAFKA_TOPIC="+topic, "APP_KAFKA_DLQ_TOPIC="+dlqTopic,
		"APP_KAFKA_GROUP="+kafkatest.Name("bank"), "PATH=/usr/bin")
	args = append([]string{"-config", filepath.Join(t.TempDir(), "none.toml")}, args...)
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, env, &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// The producer and the replay publish over TLS with SCRAM-SHA-512, the
// password read from a file as a container secret is.
func TestRunOverTLSAndSCRAM(t *testing.T) {
	s := kafkatest.SecureBrokers(t, kafkatest.SecureOptions{MutualTLS: true})
	topic, dlqTopic := kafkatest.Name("orders"), kafkatest.Name("orders.dlq")
	s.CreateTopics(t, 3, topic, dlqTopic)
	pwFile := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(pwFile, []byte(s.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range s.Environ() {
		if strings.HasPrefix(kv, "APP_KAFKA_SASL_PASSWORD=") {
			kv = "APP_KAFKA_SASL_PASSWORD_FILE=" + pwFile
		}
		env = append(env, kv)
	}
	run := func(args ...string) result {
		t.Helper()
		res := secureRun(t, env, topic, dlqTopic, args...)
		if res.err != nil {
			t.Fatalf("run %v: %v\nstdout:\n%s\nstderr:\n%s", args, res.err, res.stdout, res.stderr)
		}
		return res
	}

	res := run("-count", "20", "-seed", "1")
	if !strings.Contains(res.stdout, "acked 20, failed 0") || !strings.Contains(res.stdout, "SASL_SSL") {
		t.Errorf("summary does not report 20 acked over SASL_SSL:\n%s", res.stdout)
	}
	if got := s.ReadN(t, topic, 20, 10*time.Second); len(got) != 20 {
		t.Fatalf("read %d of 20 back", len(got))
	}

	s.Produce(t, dlqTopic, kafkatest.Message{Key: []byte("parked"), Value: orderWith(t, "parked", nil)})
	res = run("-replay-dlq")
	if !strings.Contains(res.stdout, "replayed 1") {
		t.Fatalf("replay did not replay the parked message:\n%s", res.stdout)
	}
	if got := s.ReadN(t, topic, 21, 10*time.Second); len(got) != 21 {
		t.Fatalf("read %d of 21 back after the replay", len(got))
	}
}

// A wrong password fails the producer and the replay with "authentication
// failed", and the password shows nowhere.
func TestRunWrongPasswordSaysAuthenticationFailed(t *testing.T) {
	s := kafkatest.SecureBrokers(t, kafkatest.SecureOptions{})
	topic, dlqTopic := kafkatest.Name("orders"), kafkatest.Name("orders.dlq")
	s.CreateTopics(t, 3, topic, dlqTopic)
	wrong := *s
	wrong.Password = "wrong-" + kafkatest.Password()
	for _, args := range [][]string{{"-count", "5"}, {"-replay-dlq"}, {"-replay-dlq", "-dry-run"}} {
		res := secureRun(t, wrong.Environ(), topic, dlqTopic, args...)
		t.Logf("%v: %v", args, res.err)
		switch {
		case res.err == nil:
			t.Fatalf("%v: run succeeded with a wrong password:\n%s", args, res.stdout)
		case !strings.Contains(res.err.Error(), "authentication failed"):
			t.Fatalf("%v: error does not say authentication failed: %v", args, res.err)
		case strings.Contains(res.err.Error()+res.stdout+res.stderr, wrong.Password):
			t.Fatalf("%v: the password shows:\n%v\n%s\n%s", args, res.err, res.stdout, res.stderr)
		case exitCode(res.err) != 1:
			t.Fatalf("%v: exit code %d, want 1", args, exitCode(res.err))
		}
	}
	if got := s.ReadN(t, topic, 1, time.Second); len(got) != 0 {
		t.Fatalf("%d messages reached the topic with a wrong password", len(got))
	}
}
