package kafkatest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/xdg-go/scram"

	"github.com/marketplace/orders/modules/certtest"
)

// The SASL mechanisms, as the service's settings spell them.
const (
	PLAIN       = "PLAIN"
	SCRAMSHA256 = "SCRAM-SHA-256"
	SCRAMSHA512 = "SCRAM-SHA-512"
)

// SecureOptions shape the brokers SecureBrokers starts.
type SecureOptions struct {
	// Mechanism is the one Secure's Config and Environ use; the brokers take
	// all three for the same user. Empty means SCRAM-SHA-512.
	Mechanism string
	// MutualTLS makes the brokers refuse a client without a certificate
	// signed by the CA.
	MutualTLS bool
}

// Secure is a broker that takes TLS connections only, with a certificate
// for 127.0.0.1 signed by a CA made for the test, and SASL users. Its files
// are in a temporary directory of the test.
type Secure struct {
	Brokers []string
	CAFile  string // the CA's certificate, PEM
	// CertFile and KeyFile are a client certificate signed by the CA, for
	// mutual TLS.
	CertFile, KeyFile string
	MutualTLS         bool // the brokers require the client certificate

	Mechanism, Username, Password string
}

// SecureBrokers starts an in-process kfake cluster that requires TLS and
// SASL (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for one user with a random
// password), closed when the test ends. No certificate outlives the test.
func SecureBrokers(t testing.TB, opts SecureOptions) *Secure {
	t.Helper()
	dir := t.TempDir()
	ca, err := certtest.NewCA("kafkatest CA")
	if err != nil {
		t.Fatalf("make CA: %v", err)
	}
	s := &Secure{CAFile: filepath.Join(dir, "ca.pem"), MutualTLS: opts.MutualTLS, Mechanism: opts.Mechanism,
		Username: "orders", Password: Password()}
	if s.Mechanism == "" {
		s.Mechanism = SCRAMSHA512
	}
	if err := os.WriteFile(s.CAFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	brokerCert, brokerKey, err := ca.IssueFiles(dir, "broker", "kafkatest broker", "127.0.0.1", "localhost")
	if err != nil {
		t.Fatalf("issue broker certificate: %v", err)
	}
	if s.CertFile, s.KeyFile, err = ca.IssueFiles(dir, "client", "kafkatest client"); err != nil {
		t.Fatalf("issue client certificate: %v", err)
	}
	pair, err := tls.LoadX509KeyPair(brokerCert, brokerKey)
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if opts.MutualTLS {
		tc.ClientAuth, tc.ClientCAs = tls.RequireAndVerifyClientCert, ca.Pool()
	}
	c, err := kfake.NewCluster(kfake.Ports(0), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3),
		kfake.TLS(tc), kfake.EnableSASL(),
		kfake.Superuser(PLAIN, s.Username, s.Password),
		kfake.Superuser(SCRAMSHA256, s.Username, s.Password),
		kfake.Superuser(SCRAMSHA512, s.Username, s.Password))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	s.Brokers = c.ListenAddrs()
	return s
}

// Password is a random password, for a test user.
func Password() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Environ is the service's and the producer's settings for s (the APP_
// variables of the contract).
func (s *Secure) Environ() []string {
	env := []string{
		"APP_KAFKA_BROKERS=" + strings.Join(s.Brokers, ","),
		"APP_KAFKA_TLS=true",
		"APP_KAFKA_TLS_CA_FILE=" + s.CAFile,
		"APP_KAFKA_SASL_MECHANISM=" + s.Mechanism,
		"APP_KAFKA_SASL_USERNAME=" + s.Username,
		"APP_KAFKA_SASL_PASSWORD=" + s.Password,
	}
	if s.MutualTLS {
		env = append(env, "APP_KAFKA_TLS_CERT_FILE="+s.CertFile, "APP_KAFKA_TLS_KEY_FILE="+s.KeyFile)
	}
	return env
}

// Config is a test client's configuration for s: its CA, its client
// certificate when the brokers require one, and its SASL user.
func (s *Secure) Config(clientID string) *sarama.Config {
	c := config(clientID)
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		panic(err) // the test's own file
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c.Net.TLS.Enable = true
	c.Net.TLS.Config = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if s.MutualTLS {
		pair, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			panic(err)
		}
		c.Net.TLS.Config.Certificates = []tls.Certificate{pair}
	}
	c.Net.SASL.Enable, c.Net.SASL.Handshake = true, true
	c.Net.SASL.User, c.Net.SASL.Password = s.Username, s.Password
	switch s.Mechanism {
	case PLAIN:
		c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case SCRAMSHA256:
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha256.New} }
	default:
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha512.New} }
	}
	return c
}

// CreateTopics is the package's CreateTopics on s.
func (s *Secure) CreateTopics(t testing.TB, partitions int32, topics ...string) {
	t.Helper()
	if err := createTopics(s.Brokers, s.Config("test-admin"), partitions, topics); err != nil {
		t.Fatalf("create topics %v: %v", topics, err)
	}
}

// Produce is the package's Produce on s.
func (s *Secure) Produce(t testing.TB, topic string, msgs ...Message) {
	t.Helper()
	produce(t, s.Brokers, s.Config("test-producer"), topic, msgs)
}

// ReadN is the package's ReadN on s.
func (s *Secure) ReadN(t testing.TB, topic string, n int, timeout time.Duration) []*sarama.ConsumerMessage {
	t.Helper()
	return readN(t, s.Brokers, s.Config("test-reader"), topic, n, timeout)
}

// scramClient is sarama's SCRAMClient on xdg-go/scram, the test's own copy
// so that tests do not lean on the service's.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (x *scramClient) Begin(user, password, authzID string) error {
	c, err := x.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	x.conv = c.NewConversation()
	return nil
}

func (x *scramClient) Step(challenge string) (string, error) { return x.conv.Step(challenge) }
func (x *scramClient) Done() bool                            { return x.conv.Done() }
