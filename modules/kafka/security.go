package kafka

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// The SASL mechanisms Security takes, spelt as the settings spell them.
const (
	SASLPlain       = "PLAIN"
	SASLSCRAMSHA256 = "SCRAM-SHA-256"
	SASLSCRAMSHA512 = "SCRAM-SHA-512"
)

// ErrAuthFailed is what an error wraps when the broker refused the SASL
// credentials.
var ErrAuthFailed = errors.New("authentication failed")

// Security says how every client reaches the brokers: TLS (checked against
// the system roots, or against CAFile alone; CertFile and KeyFile present a
// client certificate for mutual TLS) and SASL. The zero value is PLAINTEXT.
//
// Its String and LogValue never show the password.
type Security struct {
	TLS                        bool
	CAFile, CertFile, KeyFile  string // PEM files
	SASLMechanism              string // "", SASLPlain, SASLSCRAMSHA256 or SASLSCRAMSHA512
	SASLUsername, SASLPassword string
}

// Protocol is Kafka's name for the security protocol: PLAINTEXT, SSL,
// SASL_PLAINTEXT or SASL_SSL.
func (s Security) Protocol() string {
	switch {
	case s.TLS && s.SASLMechanism != "":
		return "SASL_SSL"
	case s.TLS:
		return "SSL"
	case s.SASLMechanism != "":
		return "SASL_PLAINTEXT"
	default:
		return "PLAINTEXT"
	}
}

func (s Security) String() string {
	if s.SASLMechanism == "" {
		return s.Protocol()
	}
	return fmt.Sprintf("%s (%s as %q)", s.Protocol(), s.SASLMechanism, s.SASLUsername)
}

// GoString keeps the password out of %#v.
func (s Security) GoString() string { return "kafka.Security{" + s.String() + "}" }

// LogValue keeps the password out of structured logs.
func (s Security) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("protocol", s.Protocol())}
	if s.CAFile != "" {
		attrs = append(attrs, slog.String("ca_file", s.CAFile))
	}
	if s.CertFile != "" {
		attrs = append(attrs, slog.String("cert_file", s.CertFile))
	}
	if s.SASLMechanism != "" {
		attrs = append(attrs, slog.String("sasl_mechanism", s.SASLMechanism), slog.String("sasl_username", s.SASLUsername))
	}
	return slog.GroupValue(attrs...)
}

// SaramaConfig is the shared client configuration (the package's
// SaramaConfig) with s applied.
func (s Security) SaramaConfig(clientID string) (*sarama.Config, error) {
	c := SaramaConfig(clientID)
	if err := s.Apply(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Apply sets c's TLS and SASL from s. The files are read now, so a
// certificate renewed on disk is taken by the next configuration made.
func (s Security) Apply(c *sarama.Config) error {
	if s.TLS {
		tc, err := s.tlsConfig()
		if err != nil {
			return err
		}
		c.Net.TLS.Enable, c.Net.TLS.Config = true, tc
	} else if s.CAFile != "" || s.CertFile != "" || s.KeyFile != "" {
		return errors.New("kafka: a TLS file is set but kafka.tls is false")
	}

	switch s.SASLMechanism {
	case "":
		if s.SASLUsername != "" || s.SASLPassword != "" {
			return errors.New("kafka: kafka.sasl_username or kafka.sasl_password is set but kafka.sasl_mechanism is empty")
		}
		return nil
	case SASLPlain:
		c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case SASLSCRAMSHA256:
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		c.Net.SASL.SCRAMClientGeneratorFunc = newSCRAMClient(sha256.New)
	case SASLSCRAMSHA512:
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		c.Net.SASL.SCRAMClientGeneratorFunc = newSCRAMClient(sha512.New)
	default:
		return fmt.Errorf("kafka: kafka.sasl_mechanism %q: want %s, %s or %s", s.SASLMechanism, SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512)
	}
	if s.SASLUsername == "" {
		return fmt.Errorf("kafka: kafka.sasl_mechanism is %s but kafka.sasl_username is empty", s.SASLMechanism)
	}
	c.Net.SASL.Enable = true
	c.Net.SASL.Handshake = true
	c.Net.SASL.User, c.Net.SASL.Password = s.SASLUsername, s.SASLPassword
	return nil
}

func (s Security) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: kafka.tls_ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: kafka.tls_ca_file %s: no PEM certificate in it", s.CAFile)
		}
	}
	switch {
	case s.CertFile != "" && s.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: kafka.tls_cert_file and kafka.tls_key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case s.CertFile != "" || s.KeyFile != "":
		return nil, errors.New("kafka: mutual TLS needs both kafka.tls_cert_file and kafka.tls_key_file")
	}
	return tc, nil
}

// Explain returns err, wrapped to say "authentication failed" when it came
// from a broker that refused the SASL credentials of c. The password is
// never part of it.
//
// Apache Kafka answers a wrong password with SASL_AUTHENTICATION_FAILED;
// kfake closes the connection instead, which only the SCRAM conversation
// itself can tell from a network failure: it saw its proof sent and never
// answered.
func Explain(c *sarama.Config, err error) error {
	if err == nil || errors.Is(err, ErrAuthFailed) || c == nil || !c.Net.SASL.Enable {
		return err
	}
	refused := errors.Is(err, sarama.ErrSASLAuthenticationFailed)
	if gen := c.Net.SASL.SCRAMClientGeneratorFunc; !refused && gen != nil {
		if sc, ok := gen().(*scramClient); ok {
			refused = sc.unanswered.Load()
		}
	}
	if !refused {
		return err
	}
	return fmt.Errorf("%w: the brokers refused %s for user %q (check kafka.sasl_username and kafka.sasl_password): %w",
		ErrAuthFailed, c.Net.SASL.Mechanism, c.Net.SASL.User, err)
}

// scramClient is sarama's SCRAMClient on xdg-go/scram, as in sarama's
// examples/sasl_scram_client. The clients made from one configuration share
// a record of whether the last proof sent is still unanswered: sarama calls
// no client again once its connection fails, so a proof that was sent and
// never answered is how a refusal by kfake shows.
type scramClient struct {
	hash       scram.HashGeneratorFcn
	unanswered *atomic.Bool
	conv       *scram.ClientConversation
}

// newSCRAMClient returns a generator of clients that share one record.
func newSCRAMClient(hash scram.HashGeneratorFcn) func() sarama.SCRAMClient {
	unanswered := new(atomic.Bool)
	return func() sarama.SCRAMClient { return &scramClient{hash: hash, unanswered: unanswered} }
}

func (x *scramClient) Begin(user, password, authzID string) error {
	client, err := x.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	x.conv = client.NewConversation()
	return nil
}

func (x *scramClient) Step(challenge string) (string, error) {
	resp, err := x.conv.Step(challenge)
	switch {
	case x.conv.Done():
		// The server proved it knows the password, or it did not (then the
		// record stays set: a server that cannot is as good as a refusal).
		if x.conv.Valid() {
			x.unanswered.Store(false)
		}
	case err == nil && challenge != "":
		x.unanswered.Store(true) // resp is the proof
	}
	return resp, err
}

func (x *scramClient) Done() bool { return x.conv != nil && x.conv.Done() }
