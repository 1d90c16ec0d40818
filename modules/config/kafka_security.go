package config

import (
	"crypto/tls"
	"crypto/x509"
	"strings"

	"github.com/knadh/koanf/v2"
)

// kafkaSecurity reads and checks the TLS and SASL settings into c. A file is
// named by its path in a message, never by its content.
func kafkaSecurity(k *koanf.Koanf, c *Kafka) error {
	str := func(key string) string { return strings.TrimSpace(k.String(key)) }

	switch v := strings.ToLower(str("kafka.tls")); v {
	case "true":
		c.TLS = true
	case "false":
	default:
		return bad("kafka.tls", "%q is not one of true, false", v)
	}
	c.TLSCAFile, c.TLSCertFile, c.TLSKeyFile = str("kafka.tls_ca_file"), str("kafka.tls_cert_file"), str("kafka.tls_key_file")
	files := []struct{ key, path string }{
		{"kafka.tls_ca_file", c.TLSCAFile},
		{"kafka.tls_cert_file", c.TLSCertFile},
		{"kafka.tls_key_file", c.TLSKeyFile},
	}
	for _, f := range files {
		// Without this a certificate given for mutual TLS would be ignored
		// and the connection made in plain text.
		if f.path != "" && !c.TLS {
			return bad(f.key, "is set but kafka.tls is false; set kafka.tls = true (%s=true) to use it", EnvName("kafka.tls"))
		}
	}
	switch {
	case c.TLSCertFile != "" && c.TLSKeyFile == "":
		return bad("kafka.tls_key_file", "is empty but kafka.tls_cert_file is set; mutual TLS needs both or neither")
	case c.TLSKeyFile != "" && c.TLSCertFile == "":
		return bad("kafka.tls_cert_file", "is empty but kafka.tls_key_file is set; mutual TLS needs both or neither")
	}
	if _, err := c.TLSConfig(); err != nil {
		return err
	}

	c.SASLMechanism = strings.ToUpper(str("kafka.sasl_mechanism"))
	switch c.SASLMechanism {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return bad("kafka.sasl_mechanism", "%q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (or empty for none)", c.SASLMechanism)
	}
	c.SASLUsername = str("kafka.sasl_username")
	// Spaces may be part of a password: it is taken as given.
	c.SASLPassword = k.String("kafka.sasl_password")
	for _, f := range []struct{ key, value string }{
		{"kafka.sasl_username", c.SASLUsername},
		{"kafka.sasl_password", c.SASLPassword},
	} {
		switch {
		case c.SASLMechanism != "" && f.value == "":
			return bad(f.key, "is empty but kafka.sasl_mechanism is %s", c.SASLMechanism)
		case c.SASLMechanism == "" && f.value != "":
			return bad(f.key, "is set but kafka.sasl_mechanism is empty (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
	}
	return nil
}

// TLSConfig is the client TLS the settings ask for, or nil when kafka.tls is
// false: TLS 1.2 or later, the system roots unless TLSCAFile is set, and the
// client certificate when TLSCertFile and TLSKeyFile are. The files are read
// on each call; an error is an *Error naming the key and the path.
func (c Kafka) TLSConfig() (*tls.Config, error) {
	if !c.TLS {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLSCAFile != "" {
		pem, err := readFile("kafka.tls_ca_file", c.TLSCAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, bad("kafka.tls_ca_file", "%q holds no PEM certificate", c.TLSCAFile)
		}
		cfg.RootCAs = pool
	}
	if c.TLSCertFile != "" && c.TLSKeyFile != "" {
		certPEM, err := readFile("kafka.tls_cert_file", c.TLSCertFile)
		if err != nil {
			return nil, err
		}
		keyPEM, err := readFile("kafka.tls_key_file", c.TLSKeyFile)
		if err != nil {
			return nil, err
		}
		// crypto/tls's messages name what is wrong ("private key does not
		// match public key"), never the key itself.
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, bad("kafka.tls_cert_file", "%q with kafka.tls_key_file %q: %v", c.TLSCertFile, c.TLSKeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
