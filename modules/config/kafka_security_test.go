package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pems are PEM files made for a test: a CA, a client certificate it signed
// with its key, a key of another pair, and a file that is not PEM.
type pems struct {
	ca, cert, key, otherKey, notPEM string
}

func makePEMs(t *testing.T) pems {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() (*ecdsa.PrivateKey, *pem.Block) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return k, &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	caKey, _ := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	clientKey, clientKeyPEM := newKey()
	clientTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "orders"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	clientDER, err := x509.CreateCertificate(rand.Reader, clientTmpl, caTmpl, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKeyPEM := newKey()
	p := pems{
		ca:       write("ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		cert:     write("client.pem", &pem.Block{Type: "CERTIFICATE", Bytes: clientDER}),
		key:      write("client-key.pem", clientKeyPEM),
		otherKey: write("other-key.pem", otherKeyPEM),
		notPEM:   filepath.Join(dir, "not.pem"),
	}
	if err := os.WriteFile(p.notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKafkaTLSAndSASL(t *testing.T) {
	p := makePEMs(t)
	c, err := Load("", []string{
		"APP_KAFKA_TLS=TRUE",
		"APP_KAFKA_TLS_CA_FILE=" + p.ca,
		"APP_KAFKA_TLS_CERT_FILE=" + p.cert,
		"APP_KAFKA_TLS_KEY_FILE=" + p.key,
		"APP_KAFKA_SASL_MECHANISM=scram-sha-512",
		"APP_KAFKA_SASL_USERNAME=orders",
		"APP_KAFKA_SASL_PASSWORD=S3cr3t",
	})
	if err != nil {
		t.Fatal(err)
	}
	k := c.Kafka
	if !k.TLS || k.TLSCAFile != p.ca || k.TLSCertFile != p.cert || k.TLSKeyFile != p.key {
		t.Errorf("TLS settings = %v %q %q %q", k.TLS, k.TLSCAFile, k.TLSCertFile, k.TLSKeyFile)
	}
	if k.SASLMechanism != "SCRAM-SHA-512" || k.SASLUsername != "orders" || k.SASLPassword != "S3cr3t" {
		t.Errorf("SASL settings = %q %q (password %v)", k.SASLMechanism, k.SASLUsername, k.SASLPassword == "S3cr3t")
	}
	tc, err := k.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	if tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("TLSConfig = %+v, want the CA pool, one client certificate and TLS 1.2 or later", tc)
	}
}

func TestKafkaTLSOptions(t *testing.T) {
	p := makePEMs(t)
	tests := []struct {
		name      string
		give      []string
		wantTLS   bool // a *tls.Config at all
		wantRoots bool // RootCAs set (else the system roots)
		wantCerts int
	}{
		{"off by default", nil, false, false, 0},
		{"system roots", []string{"APP_KAFKA_TLS=true"}, true, false, 0},
		{"own CA", []string{"APP_KAFKA_TLS=true", "APP_KAFKA_TLS_CA_FILE=" + p.ca}, true, true, 0},
		{"mutual TLS with system roots", []string{"APP_KAFKA_TLS=true", "APP_KAFKA_TLS_CERT_FILE=" + p.cert, "APP_KAFKA_TLS_KEY_FILE=" + p.key}, true, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("", tt.give)
			if err != nil {
				t.Fatal(err)
			}
			tc, err := c.Kafka.TLSConfig()
			if err != nil {
				t.Fatal(err)
			}
			if (tc != nil) != tt.wantTLS {
				t.Fatalf("TLSConfig = %v, want TLS %v", tc, tt.wantTLS)
			}
			if tc != nil && ((tc.RootCAs != nil) != tt.wantRoots || len(tc.Certificates) != tt.wantCerts) {
				t.Fatalf("TLSConfig roots %v certs %d, want roots %v certs %d", tc.RootCAs != nil, len(tc.Certificates), tt.wantRoots, tt.wantCerts)
			}
		})
	}
}

func TestSASLMechanisms(t *testing.T) {
	for _, give := range []string{"plain", "PLAIN", "Scram-Sha-256", "SCRAM-SHA-512", " scram-sha-512 "} {
		c, err := Load("", []string{"APP_KAFKA_SASL_MECHANISM=" + give, "APP_KAFKA_SASL_USERNAME=u", "APP_KAFKA_SASL_PASSWORD=p"})
		if err != nil {
			t.Fatalf("%q: %v", give, err)
		}
		if want := strings.ToUpper(strings.TrimSpace(give)); c.Kafka.SASLMechanism != want {
			t.Errorf("%q stored as %q, want %q", give, c.Kafka.SASLMechanism, want)
		}
	}
}

func TestBadKafkaSecurityNamesTheKey(t *testing.T) {
	p := makePEMs(t)
	missing := filepath.Join(t.TempDir(), "absent.pem")
	tests := []struct {
		give    []string
		wantKey string
		wantMsg string
	}{
		{[]string{"APP_KAFKA_TLS=yes"}, "kafka.tls", `"yes" is not one of true, false`},
		{[]string{"APP_KAFKA_TLS_CA_FILE=" + p.ca}, "kafka.tls_ca_file", "is set but kafka.tls is false"},
		{[]string{"APP_KAFKA_TLS=false", "APP_KAFKA_TLS_CERT_FILE=" + p.cert, "APP_KAFKA_TLS_KEY_FILE=" + p.key}, "kafka.tls_cert_file", "is set but kafka.tls is false"},
		{[]string{"APP_KAFKA_TLS_KEY_FILE=" + p.key}, "kafka.tls_key_file", "is set but kafka.tls is false"},
		{[]string{"APP_KAFKA_TLS=true", "APP_KAFKA_TLS_CERT_FILE=" + p.cert}, "kafka.tls_key_file", "is empty but kafka.tls_cert_file is set"},
		{[]string{"APP_KAFKA_TLS=true", "APP_KAFKA_TLS_KEY_FILE=" + p.key}, "kafka.tls_cert_file", "is empty but kafka.tls_key_file is set"},
		{[]string{"APP_KAFKA_TLS=true", "APP_KAFKA_TLS_CA_FILE=" + missing}, "kafka.tls_ca_file", `cannot read "` + missing + `": no such file or directory`},
		{[]string{"APP_KAFKA_TLS=true", "APP_KAFKA_TLS_CA_FILE=" + p.notPEM}, "kafka.tls_ca_file", "holds no PEM certificate"},
		{[]string{"APP_KAFKA_TLS=true", "APP_KAFKA_TLS_CERT_FILE=" + missing, "APP_KAFKA_TLS_KEY_FILE=" + p.key}, "kafka.tls_cert_file", "cannot read"},
		{[]string{"APP_KAFKA_TLS=true", "APP_KAFKA_TLS_CERT_FILE=" + p.cert, "APP_KAFKA_TLS_KEY_FILE=" + missing}, "kafka.tls_key_file", "cannot read"},
		{[]string{"APP_KAFKA_TLS=true", "APP_KAFKA_TLS_CERT_FILE=" + p.cert, "APP_KAFKA_TLS_KEY_FILE=" + p.otherKey}, "kafka.tls_cert_file", "private key does not match public key"},
		{[]string{"APP_KAFKA_TLS=true", "APP_KAFKA_TLS_CERT_FILE=" + p.key, "APP_KAFKA_TLS_KEY_FILE=" + p.cert}, "kafka.tls_cert_file", "with kafka.tls_key_file"},
		{[]string{"APP_KAFKA_SASL_MECHANISM=GSSAPI", "APP_KAFKA_SASL_USERNAME=u", "APP_KAFKA_SASL_PASSWORD=p"}, "kafka.sasl_mechanism", `"GSSAPI" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{[]string{"APP_KAFKA_SASL_MECHANISM=scram", "APP_KAFKA_SASL_USERNAME=u", "APP_KAFKA_SASL_PASSWORD=p"}, "kafka.sasl_mechanism", `"SCRAM" is not one of`},
		{[]string{"APP_KAFKA_SASL_MECHANISM=PLAIN", "APP_KAFKA_SASL_PASSWORD=p"}, "kafka.sasl_username", "is empty but kafka.sasl_mechanism is PLAIN"},
		{[]string{"APP_KAFKA_SASL_MECHANISM=SCRAM-SHA-256", "APP_KAFKA_SASL_USERNAME=u"}, "kafka.sasl_password", "is empty but kafka.sasl_mechanism is SCRAM-SHA-256"},
		{[]string{"APP_KAFKA_SASL_USERNAME=u"}, "kafka.sasl_username", "is set but kafka.sasl_mechanism is empty"},
		{[]string{"APP_KAFKA_SASL_PASSWORD=p"}, "kafka.sasl_password", "is set but kafka.sasl_mechanism is empty"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.give, " "), func(t *testing.T) {
			_, err := Load("", tt.give)
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.Key != tt.wantKey {
				t.Fatalf("error %v, want a *config.Error for %s", err, tt.wantKey)
			}
			if msg := err.Error(); !strings.Contains(msg, EnvName(tt.wantKey)) || !strings.Contains(msg, tt.wantMsg) {
				t.Fatalf("message %q should name %s and say %q", msg, EnvName(tt.wantKey), tt.wantMsg)
			}
		})
	}
}
