package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/certtest"
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
	ca, err := certtest.NewCA("pgtest CA")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	certFile, keyFile, err := ca.IssueFiles(dir, "server", "127.0.0.1", "127.0.0.1", "localhost")
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
