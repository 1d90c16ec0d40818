package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretFile writes content to a new file and returns its path.
func secretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// saslOn is what kafka.sasl_password needs beside it to be accepted.
var saslOn = []string{"APP_KAFKA_SASL_MECHANISM=scram-sha-512", "APP_KAFKA_SASL_USERNAME=orders"}

func TestSecretFromFile(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		give    string // the file's content
		environ []string
		got     func(Config) string
		want    string
	}{
		{"dsn, trailing newline", "postgres.dsn", "postgres://orders:S3cr3t@db:5432/orders\n", nil,
			func(c Config) string { return c.Postgres.DSN }, "postgres://orders:S3cr3t@db:5432/orders"},
		{"dsn, trailing CRLF", "postgres.dsn", "postgres://orders:S3cr3t@db:5432/orders\r\n", nil,
			func(c Config) string { return c.Postgres.DSN }, "postgres://orders:S3cr3t@db:5432/orders"},
		{"dsn, no newline", "postgres.dsn", "host=db password=S3cr3t", nil,
			func(c Config) string { return c.Postgres.DSN }, "host=db password=S3cr3t"},
		{"direct dsn", "postgres.direct_dsn", "postgres://orders:S3cr3t@primary:5432/orders\n", nil,
			func(c Config) string { return c.Postgres.DirectDSN }, "postgres://orders:S3cr3t@primary:5432/orders"},
		{"sasl password, only one newline dropped and spaces kept", "kafka.sasl_password", " S3cr3t \n\n", saslOn,
			func(c Config) string { return c.Kafka.SASLPassword }, " S3cr3t \n"},
		{"basic auth users, one a line", "http.basic_auth_users", "alice:$2y$10$abc\nbob:$2a$10$def\n", nil,
			func(c Config) string { return fmt.Sprint(c.HTTP.BasicAuthUsers) }, "map[alice:$2y$10$abc bob:$2a$10$def]"},
		{"basic auth users, comma-separated", "http.basic_auth_users", "alice:$2y$10$abc,bob:$2a$10$def\r\n", nil,
			func(c Config) string { return fmt.Sprint(c.HTTP.BasicAuthUsers) }, "map[alice:$2y$10$abc bob:$2a$10$def]"},
	}
	for _, tt := range tests {
		path := secretFile(t, tt.give)
		t.Run(tt.name+", env", func(t *testing.T) {
			c, err := Load("", append([]string{EnvName(tt.key+"_file") + "=" + path}, tt.environ...))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(c); got != tt.want {
				t.Fatalf("%s = %q, want %q", tt.key, got, tt.want)
			}
		})
		t.Run(tt.name+", file", func(t *testing.T) {
			section, key, _ := strings.Cut(tt.key, ".")
			conf := writeFile(t, fmt.Sprintf("[%s]\n%s_file = '%s'\n", section, key, path))
			c, err := Load(conf, tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(c); got != tt.want {
				t.Fatalf("%s = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

// defaults < file < environment, whatever the form; only the winning file is
// read.
func TestSecretFilePrecedence(t *testing.T) {
	fromFile := secretFile(t, "postgres://u:from-file@h/db\n")
	missing := filepath.Join(t.TempDir(), "absent")
	tests := []struct {
		name    string
		file    string
		environ []string
		want    string
	}{
		{"env _FILE beats file value", "[postgres]\ndsn = 'postgres://u:plain@h/db'\n",
			[]string{"APP_POSTGRES_DSN_FILE=" + fromFile}, "postgres://u:from-file@h/db"},
		{"env value beats file _file, which is not read", "[postgres]\ndsn_file = '" + missing + "'\n",
			[]string{"APP_POSTGRES_DSN=postgres://u:env@h/db"}, "postgres://u:env@h/db"},
		{"file _file beats default", "[postgres]\ndsn_file = '" + fromFile + "'\n",
			nil, "postgres://u:from-file@h/db"},
		{"env _FILE beats file _file, which is not read", "[postgres]\ndsn_file = '" + missing + "'\n",
			[]string{"APP_POSTGRES_DSN_FILE=" + fromFile}, "postgres://u:from-file@h/db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(writeFile(t, tt.file), tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if c.Postgres.DSN != tt.want {
				t.Fatalf("dsn = %q, want %q", c.Postgres.DSN, tt.want)
			}
		})
	}
}

func TestSecretBothFormsIsAnError(t *testing.T) {
	path := secretFile(t, "S3cr3t-in-file\n")
	for _, key := range secretKeys() {
		t.Run(key+", env", func(t *testing.T) {
			_, err := Load("", []string{EnvName(key) + "=S3cr3t-plain", EnvName(key+"_file") + "=" + path})
			want := fmt.Sprintf("config: %s (env %s): both %s and %s are set; set one",
				key, EnvName(key), EnvName(key), EnvName(key+"_file"))
			if err == nil || err.Error() != want {
				t.Fatalf("error %v, want %q", err, want)
			}
		})
		t.Run(key+", file", func(t *testing.T) {
			section, name, _ := strings.Cut(key, ".")
			conf := writeFile(t, fmt.Sprintf("[%s]\n%s = 'S3cr3t-plain'\n%s_file = '%s'\n", section, name, name, path))
			_, err := Load(conf, nil)
			want := fmt.Sprintf("config: %s (env %s): %s sets both %s and %s_file; set one", key, EnvName(key), conf, key, key)
			if err == nil || err.Error() != want {
				t.Fatalf("error %v, want %q", err, want)
			}
		})
	}
}

func TestSecretFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "absent")
	empty := secretFile(t, "\n")
	unreadable := secretFile(t, "S3cr3t")
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	type row struct {
		give    string
		wantKey string
		want    string
	}
	tests := []row{
		{"APP_POSTGRES_DSN_FILE=" + missing, "postgres.dsn_file", fmt.Sprintf("cannot read %q: no such file or directory", missing)},
		{"APP_POSTGRES_DIRECT_DSN_FILE=" + missing, "postgres.direct_dsn_file", fmt.Sprintf("cannot read %q", missing)},
		{"APP_KAFKA_SASL_PASSWORD_FILE=" + missing, "kafka.sasl_password_file", fmt.Sprintf("cannot read %q", missing)},
		{"APP_HTTP_BASIC_AUTH_USERS_FILE=" + missing, "http.basic_auth_users_file", fmt.Sprintf("cannot read %q", missing)},
		{"APP_POSTGRES_DSN_FILE=" + dir, "postgres.dsn_file", fmt.Sprintf("cannot read %q: is a directory", dir)},
		{"APP_POSTGRES_DSN_FILE=", "postgres.dsn_file", "is empty; want the path of a file"},
		// An empty users file must not turn sign-in off without a word.
		{"APP_HTTP_BASIC_AUTH_USERS_FILE=" + empty, "http.basic_auth_users_file", fmt.Sprintf("%q is empty", empty)},
	}
	if os.Geteuid() != 0 { // root reads a file whatever its mode
		tests = append(tests, row{"APP_POSTGRES_DSN_FILE=" + unreadable, "postgres.dsn_file", fmt.Sprintf("cannot read %q: permission denied", unreadable)})
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			_, err := Load("", []string{tt.give})
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.Key != tt.wantKey {
				t.Fatalf("error %v, want a *config.Error for %s", err, tt.wantKey)
			}
			if msg := err.Error(); !strings.Contains(msg, EnvName(tt.wantKey)) || !strings.Contains(msg, tt.want) {
				t.Fatalf("message %q should name %s and say %q", msg, EnvName(tt.wantKey), tt.want)
			}
		})
	}
}

func TestDirectIsDSNUnlessSet(t *testing.T) {
	c, err := Load("", []string{"APP_POSTGRES_DSN=postgres://u@bouncer:6432/db"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Postgres.DirectDSN != "" || c.Postgres.Direct() != "postgres://u@bouncer:6432/db" {
		t.Fatalf("direct_dsn unset: DirectDSN %q, Direct() %q; want empty and the dsn", c.Postgres.DirectDSN, c.Postgres.Direct())
	}
	c, err = Load("", []string{"APP_POSTGRES_DSN=postgres://u@bouncer:6432/db", "APP_POSTGRES_DIRECT_DSN=postgres://u@primary:5432/db"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Postgres.Direct() != "postgres://u@primary:5432/db" {
		t.Fatalf("Direct() = %q, want the direct_dsn", c.Postgres.Direct())
	}
}
