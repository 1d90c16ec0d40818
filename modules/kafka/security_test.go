package kafka_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
)

// securityOf is the service's settings for the test's secure broker.
func securityOf(s *kafkatest.Secure) kafka.Security {
	sec := kafka.Security{TLS: true, CAFile: s.CAFile,
		SASLMechanism: s.Mechanism, SASLUsername: s.Username, SASLPassword: s.Password}
	if s.MutualTLS {
		sec.CertFile, sec.KeyFile = s.CertFile, s.KeyFile
	}
	return sec
}

// roundTrip creates a topic with sec, publishes one message with sec's
// configuration, reads it back with sec's configuration, and lists it as
// the DLQ view would.
func roundTrip(t *testing.T, brokers []string, sec kafka.Security) {
	t.Helper()
	topic := kafkatest.Name("orders.dlq")
	if err := sec.EnsureTopics(brokers, 3, topic); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	cfg, err := sec.SaramaConfig("test-secure")
	if err != nil {
		t.Fatal(err)
	}
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatalf("producer: %v", kafka.Explain(cfg, err))
	}
	defer p.Close()
	want := "secret order " + kafkatest.Name("x")
	part, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder(want),
		Headers: []sarama.RecordHeader{{Key: []byte(kafka.HeaderErrorKind), Value: []byte("validation")}}})
	if err != nil {
		t.Fatalf("send: %v", err)
	}

	c, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, part, off)
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	defer pc.AsyncClose()
	select {
	case m := <-pc.Messages():
		if string(m.Value) != want {
			t.Fatalf("read %q, want %q", m.Value, want)
		}
	case err := <-pc.Errors():
		t.Fatalf("consume: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
	}

	view := sec.NewParked(kafka.Config{Brokers: brokers, DLQTopic: topic})
	defer view.Close()
	page, err := view.ListParked(t.Context(), 10, "")
	if err != nil {
		t.Fatalf("ListParked: %v", err)
	}
	if len(page.Items) != 1 || string(page.Items[0].Body) != want {
		t.Fatalf("ListParked = %+v, want the one message", page.Items)
	}
}

func TestSecureRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		give   string
		mutual bool
	}{
		{give: kafkatest.SCRAMSHA512},
		{give: kafkatest.SCRAMSHA256},
		{give: kafkatest.PLAIN},
		{give: kafkatest.SCRAMSHA512, mutual: true},
	} {
		t.Run(fmt.Sprintf("%s mutual=%v", tt.give, tt.mutual), func(t *testing.T) {
			t.Parallel()
			s := kafkatest.SecureBrokers(t, kafkatest.SecureOptions{Mechanism: tt.give, MutualTLS: tt.mutual})
			roundTrip(t, s.Brokers, securityOf(s))
		})
	}
}

// A wrong password fails every client with an error that says so and never
// shows the password.
func TestWrongPasswordSaysAuthenticationFailed(t *testing.T) {
	for _, mech := range []string{kafkatest.SCRAMSHA512, kafkatest.SCRAMSHA256} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			s := kafkatest.SecureBrokers(t, kafkatest.SecureOptions{Mechanism: mech})
			sec := securityOf(s)
			sec.SASLPassword = "wrong-" + kafkatest.Password()
			began := time.Now()
			err := sec.EnsureTopics(s.Brokers, 3, kafkatest.Name("orders"))
			t.Logf("failed after %s: %v", time.Since(began).Round(time.Millisecond), err)
			checkAuthFailed(t, err, sec.SASLPassword)

			_, err = sec.NewParked(kafka.Config{Brokers: s.Brokers, DLQTopic: "orders.dlq"}).ListParked(t.Context(), 10, "")
			checkAuthFailed(t, err, sec.SASLPassword)

			// The right password still works after a refusal.
			roundTrip(t, s.Brokers, securityOf(s))
		})
	}
}

func checkAuthFailed(t *testing.T, err error, password string) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatal("no error with a wrong password")
	case !errors.Is(err, kafka.ErrAuthFailed) || !strings.Contains(err.Error(), "authentication failed"):
		t.Fatalf("error does not say authentication failed: %v", err)
	case strings.Contains(err.Error(), password):
		t.Fatalf("error shows the password: %v", err)
	}
}

// TLS is checked: a broker whose CA is not trusted, or that wants a client
// certificate not given, is refused, and not as an authentication failure.
func TestTLSRefusals(t *testing.T) {
	s := kafkatest.SecureBrokers(t, kafkatest.SecureOptions{MutualTLS: true})
	other := kafkatest.SecureBrokers(t, kafkatest.SecureOptions{})
	for _, tt := range []struct {
		name string
		give func(kafka.Security) kafka.Security
	}{
		{"system roots only", func(sec kafka.Security) kafka.Security { sec.CAFile = ""; return sec }},
		{"another CA", func(sec kafka.Security) kafka.Security { sec.CAFile = other.CAFile; return sec }},
		{"no client certificate", func(sec kafka.Security) kafka.Security { sec.CertFile, sec.KeyFile = "", ""; return sec }},
		{"no TLS", func(sec kafka.Security) kafka.Security {
			sec.TLS, sec.CAFile, sec.CertFile, sec.KeyFile = false, "", "", ""
			return sec
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sec := tt.give(securityOf(s))
			err := sec.EnsureTopics(s.Brokers, 3, kafkatest.Name("orders"))
			if err == nil || errors.Is(err, kafka.ErrAuthFailed) {
				t.Fatalf("EnsureTopics = %v, want a connection error", err)
			}
		})
	}
}

func TestApplyRefusesIncompleteSettings(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		give kafka.Security
		want string
	}{
		{kafka.Security{SASLMechanism: "scram-sha-512", SASLUsername: "u"}, "kafka.sasl_mechanism"},
		{kafka.Security{SASLMechanism: "GSSAPI", SASLUsername: "u"}, "kafka.sasl_mechanism"},
		{kafka.Security{SASLMechanism: kafka.SASLSCRAMSHA512}, "kafka.sasl_username"},
		{kafka.Security{SASLUsername: "u", SASLPassword: "p"}, "kafka.sasl_mechanism"},
		{kafka.Security{CAFile: notPEM}, "kafka.tls"},
		{kafka.Security{TLS: true, CAFile: filepath.Join(dir, "missing.pem")}, "kafka.tls_ca_file"},
		{kafka.Security{TLS: true, CAFile: notPEM}, "kafka.tls_ca_file"},
		{kafka.Security{TLS: true, CertFile: notPEM}, "kafka.tls_key_file"},
		{kafka.Security{TLS: true, CertFile: notPEM, KeyFile: notPEM}, "kafka.tls_cert_file"},
	} {
		t.Run(fmt.Sprint(tt.give), func(t *testing.T) {
			err := tt.give.Apply(sarama.NewConfig())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Apply = %v, want an error naming %s", err, tt.want)
			}
		})
	}
	for _, ok := range []kafka.Security{{}, {TLS: true}, {SASLMechanism: kafka.SASLPlain, SASLUsername: "u"}} {
		if err := ok.Apply(sarama.NewConfig()); err != nil {
			t.Errorf("%v: Apply = %v", ok, err)
		}
	}
}

func TestSecurityNeverShowsThePassword(t *testing.T) {
	sec := kafka.Security{TLS: true, SASLMechanism: kafka.SASLSCRAMSHA512, SASLUsername: "orders", SASLPassword: "hunter2-secret"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("kafka", "security", sec)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("kafka", "security", sec)
	for _, s := range []string{fmt.Sprint(sec), fmt.Sprintf("%v %+v %s %#v", sec, sec, sec, sec), logged.String()} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("password shown: %s", s)
		}
		if !strings.Contains(s, "SASL_SSL") {
			t.Fatalf("protocol not shown: %s", s)
		}
	}
}

// Apache Kafka with a SASL_SSL listener and SCRAM users added when its
// storage is formatted: the service's clients round-trip with the right
// password and say authentication failed with a wrong one.
func TestApacheSASLSSL(t *testing.T) {
	if os.Getenv("TEST_KAFKA_LOCAL") != "1" {
		t.Skip("set TEST_KAFKA_LOCAL=1 to run Apache Kafka (java 17+, mvn)")
	}
	began := time.Now()
	a, err := kafkatest.StartApache(t.Context(), kafkatest.ApacheOptions{SASLSSL: &kafkatest.ApacheSASLSSL{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	t.Logf("Apache Kafka with SASL_SSL up in %s", time.Since(began).Round(time.Millisecond))
	s := a.Secure()
	for _, mech := range []string{kafkatest.SCRAMSHA512, kafkatest.SCRAMSHA256, kafkatest.PLAIN} {
		s.Mechanism = mech
		roundTrip(t, s.Brokers, securityOf(s))
	}

	s.Mechanism = kafkatest.SCRAMSHA512
	sec := securityOf(s)
	sec.SASLPassword = "wrong-" + kafkatest.Password()
	err = sec.EnsureTopics(s.Brokers, 3, kafkatest.Name("orders"))
	t.Logf("wrong password: %v", err)
	checkAuthFailed(t, err, sec.SASLPassword)
	if !errors.Is(err, sarama.ErrSASLAuthenticationFailed) {
		t.Fatalf("error is not Kafka's SASL_AUTHENTICATION_FAILED: %v", err)
	}
	// The PLAINTEXT listener stays for everything else.
	kafkatest.CreateTopics(t, []string{a.Addr()}, 1, kafkatest.Name("plain"))
	t.Logf("whole test %s", time.Since(began).Round(time.Millisecond))
}
