package pgtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLS is a server certificate and its key, PEM files.
type TLS struct {
	CertFile, KeyFile string
}

// writeTLS copies the certificate and key where the server account owns
// them (PostgreSQL refuses a key that others may read), and writes an
// pg_hba.conf that takes TCP connections only over TLS: the superuser with
// no password, everyone else with a SCRAM password.
func (s *Server) writeTLS(t *TLS) error {
	files := []struct{ from, to string }{
		{t.CertFile, filepath.Join(s.sockDir, "server.crt")},
		{t.KeyFile, filepath.Join(s.sockDir, "server.key")},
	}
	for _, f := range files {
		b, err := os.ReadFile(f.from)
		if err != nil {
			return fmt.Errorf("postgres: tls: %w", err)
		}
		if err := os.WriteFile(f.to, b, 0o600); err != nil {
			return fmt.Errorf("postgres: tls: %w", err)
		}
		if err := s.chown(f.to); err != nil {
			return err
		}
	}
	hba := "local all all trust\n" +
		"hostssl all postgres 127.0.0.1/32 trust\n" +
		"hostssl all all 127.0.0.1/32 scram-sha-256\n"
	path := filepath.Join(s.sockDir, "pg_hba.conf")
	if err := os.WriteFile(path, []byte(hba), 0o600); err != nil {
		return fmt.Errorf("postgres: tls: %w", err)
	}
	return s.chown(path)
}

// tlsArgs are the server options of a TLS server: the files writeTLS wrote,
// in place of the data directory's pg_hba.conf, which stays as initdb made
// it.
func (s *Server) tlsArgs() []string {
	return []string{"-c", "ssl=on",
		"-c", "ssl_cert_file=" + filepath.Join(s.sockDir, "server.crt"),
		"-c", "ssl_key_file=" + filepath.Join(s.sockDir, "server.key"),
		"-c", "hba_file=" + filepath.Join(s.sockDir, "pg_hba.conf"),
		"-c", "password_encryption=scram-sha-256",
	}
}

// TLSCluster starts a private cluster of this test's own with ssl on, a
// certificate for 127.0.0.1 and localhost signed by a CA made here, and TCP
// connections refused unless they use TLS. It returns the server and the
// CA's certificate file, to name as sslrootcert. Nothing of the CA outlives
// the test (t.TempDir). The test's end stops the cluster.
func TLSCluster(t testing.TB) (*Server, string) {
	t.Helper()
	if _, err := findBinaries(); err != nil && os.Getenv(EnvDSN) != "" {
		t.Skipf("pgtest: %v; a TLS cluster needs the server binaries even with %s set", err, EnvDSN)
	}
	dir := t.TempDir()
	ca, err := NewCA("pgtest CA")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	certFile, keyFile, err := ca.IssueFiles(dir, "server", "127.0.0.1", "localhost")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := Start(ctx, Options{TLS: &TLS{CertFile: certFile, KeyFile: keyFile}})
	if err != nil {
		t.Fatalf("pgtest: start a cluster with TLS: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: server log (last lines):\n%s", tail(srv.LogFile(), 0))
		}
		if err := srv.Stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return srv, caFile
}

// CA is a certificate authority made on the spot for one test; nothing of
// it is ever committed.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA's certificate, what clients trust.
	PEM []byte
}

// NewCA makes a CA valid for a day.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	return &CA{cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// IssueFiles signs a server certificate for hosts (IP addresses or DNS
// names) and writes it to dir as <file>.pem (the leaf, then the CA) and its
// key as <file>-key.pem (PKCS #8, readable by its owner only).
func (ca *CA) IssueFiles(dir, file string, hosts ...string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("issue: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return "", "", fmt.Errorf("issue: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("issue: %w", err)
	}
	certPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.PEM...)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	certFile, keyFile = filepath.Join(dir, file+".pem"), filepath.Join(dir, file+"-key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120)) // crypto/rand does not fail
	return n
}
