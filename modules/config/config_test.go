package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsWhenFileMissing(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "absent.toml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		HTTP:     HTTP{Addr: ":9090", RateLimit: 0, RateWindow: time.Minute},
		Postgres: Postgres{DSN: "postgres://orders:orders@localhost:5432/orders?sslmode=disable", ConnectTimeout: 30 * time.Second, MigrateTimeout: 30 * time.Minute},
		Kafka: Kafka{Brokers: []string{"localhost:9092"}, Topic: "orders", Group: "bank", DLQTopic: "orders.dlq",
			Partitions: 3, BatchSize: 500, BatchWait: 50 * time.Millisecond},
		Cache:      Cache{Capacity: 1000, MaxBytes: 256 << 20},
		Log:        Log{Level: "info", Format: "json"},
		Validation: Validation{Totals: true, MaxFuture: time.Hour},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestPrecedenceDefaultsFileEnv(t *testing.T) {
	path := writeFile(t, `
[http]
addr = ":8080"
rate_limit = 100
rate_window = "10s"
[kafka]
brokers = ["a:1", "b:2"]
dlq_topic = "from-file.dlq"
[cache]
capacity = 5
`)
	c, err := Load(path, []string{"APP_CACHE_CAPACITY=7", "APP_KAFKA_DLQ_TOPIC=from-env.dlq", "OTHER_VAR=x", "APP_LOG_FORMAT=text", "APP_HTTP_RATE_LIMIT=0"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"file beats default", c.HTTP.Addr, ":8080"},
		{"TOML array of brokers", c.Kafka.Brokers, []string{"a:1", "b:2"}},
		{"env beats file", c.Cache.Capacity, 7},
		{"env with underscore in key", c.Kafka.DLQTopic, "from-env.dlq"},
		{"env beats default", c.Log.Format, "text"},
		{"default kept", c.Kafka.Group, "bank"},
		{"env turns the rate limit off", c.HTTP.RateLimit, 0},
		{"rate window from file", c.HTTP.RateWindow, 10 * time.Second},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestBrokersFromEnvAreCommaSeparated(t *testing.T) {
	c, err := Load("", []string{"APP_KAFKA_BROKERS=h1:9092, h2:9093"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"h1:9092", "h2:9093"}; !reflect.DeepEqual(c.Kafka.Brokers, want) {
		t.Fatalf("brokers = %v, want %v", c.Kafka.Brokers, want)
	}
}

func TestBadValueNamesTheKey(t *testing.T) {
	tests := []struct {
		give    []string
		wantKey string
		wantMsg string
	}{
		{[]string{"APP_CACHE_CAPACITY=lots"}, "cache.capacity", `"lots" is not a whole number`},
		{[]string{"APP_CACHE_CAPACITY=-1"}, "cache.capacity", "out of range"},
		{[]string{"APP_CACHE_MAX_BYTES=lots"}, "cache.max_bytes", `"lots" is not a size`},
		{[]string{"APP_CACHE_MAX_BYTES=2TiB"}, "cache.max_bytes", "not a size"},
		{[]string{"APP_CACHE_MAX_BYTES=2048GiB"}, "cache.max_bytes", "out of range"},
		{[]string{"APP_HTTP_ADDR=9090"}, "http.addr", "not host:port"},
		{[]string{"APP_KAFKA_BROKERS="}, "kafka.brokers", "empty"},
		{[]string{"APP_KAFKA_BROKERS=nohost"}, "kafka.brokers", "not host:port"},
		{[]string{"APP_KAFKA_TOPIC=bad topic"}, "kafka.topic", "not a valid name"},
		{[]string{"APP_KAFKA_DLQ_TOPIC=orders"}, "kafka.dlq_topic", "same as kafka.topic"},
		{[]string{"APP_POSTGRES_DSN=mysql://u:secret@h/db"}, "postgres.dsn", "not postgres://"},
		{[]string{"APP_LOG_LEVEL=loud"}, "log.level", "not one of"},
		{[]string{"APP_LOG_FORMAT=xml"}, "log.format", "not one of"},
		{[]string{"APP_KAFKA_BATCH_WAIT=soon"}, "kafka.batch_wait", "not a duration"},
		{[]string{"APP_HTTP_RATE_LIMIT=many"}, "http.rate_limit", `"many" is not a whole number`},
		{[]string{"APP_HTTP_RATE_LIMIT=-1"}, "http.rate_limit", "out of range"},
		{[]string{"APP_HTTP_RATE_WINDOW=often"}, "http.rate_window", "not a duration"},
		{[]string{"APP_HTTP_RATE_WINDOW=0s"}, "http.rate_window", "out of range"},
		{[]string{"APP_HTTP_RATE_WINDOW=1500ms"}, "http.rate_window", "not a whole number of seconds"},
		{[]string{"APP_HTTP_TRUSTED_PROXIES=10.0.0.0/8,lan"}, "http.trusted_proxies", `"lan" is not a CIDR`},
		{[]string{"APP_HTTP_BASIC_AUTH_USERS=alice"}, "http.basic_auth_users", "not name:bcrypt-hash"},
		{[]string{"APP_HTTP_BASIC_AUTH_USERS=alice:secret"}, "http.basic_auth_users", `hash of user "alice" is not a bcrypt hash`},
		{[]string{"APP_VALIDATION_TOTALS=maybe"}, "validation.totals", "not one of check, off"},
		{[]string{"APP_VALIDATION_MAX_FUTURE=later"}, "validation.max_future", "not a duration"},
		{[]string{"APP_POSTGRES_DIRECT_DSN=mysql://u:secret@h/db"}, "postgres.direct_dsn", "not postgres://"},
		{[]string{"APP_POSTGRES_DIRECT_DSN=postgres://u:secret@/db"}, "postgres.direct_dsn", "has no host"},
		{[]string{"APP_POSTGRES_DIRECT_DSN=secret"}, "postgres.direct_dsn", "neither a postgres:// URL nor key=value pairs"},
		{[]string{"APP_POSTGRES_MAX_CONNS=many"}, "postgres.max_conns", `"many" is not a whole number`},
		{[]string{"APP_POSTGRES_MAX_CONNS=-1"}, "postgres.max_conns", "out of range 0 to 1000"},
		{[]string{"APP_POSTGRES_MAX_CONNS=1001"}, "postgres.max_conns", "out of range 0 to 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.wantKey+" "+tt.give[0], func(t *testing.T) {
			_, err := Load("", tt.give)
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load(%v) error = %v, want *config.Error", tt.give, err)
			}
			if cerr.Key != tt.wantKey {
				t.Fatalf("key = %q, want %q (err %v)", cerr.Key, tt.wantKey, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantKey) || !strings.Contains(msg, EnvName(tt.wantKey)) || !strings.Contains(msg, tt.wantMsg) {
				t.Fatalf("message %q should name %s, %s and say %q", msg, tt.wantKey, EnvName(tt.wantKey), tt.wantMsg)
			}
			if strings.Contains(msg, "secret") {
				t.Fatalf("message leaks the password: %q", msg)
			}
		})
	}
}

func TestBadFileIsAnError(t *testing.T) {
	path := writeFile(t, "[http\naddr=")
	if _, err := Load(path, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load of a broken file: err = %v, want one naming %s", err, path)
	}
}

func TestHTTPAndValidationSettings(t *testing.T) {
	c, err := Load("", []string{
		"APP_HTTP_TRUSTED_PROXIES=10.0.0.0/8, 192.168.1.1",
		"APP_HTTP_BASIC_AUTH_USERS=alice:$2y$10$abc,bob:$2a$10$def",
		"APP_VALIDATION_TOTALS=off",
		"APP_VALIDATION_MAX_FUTURE=24h",
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.0/8", "192.168.1.1"}; !reflect.DeepEqual(c.HTTP.TrustedProxies, want) {
		t.Errorf("trusted proxies = %v, want %v", c.HTTP.TrustedProxies, want)
	}
	if want := map[string]string{"alice": "$2y$10$abc", "bob": "$2a$10$def"}; !reflect.DeepEqual(c.HTTP.BasicAuthUsers, want) {
		t.Errorf("basic auth users = %v, want %v", c.HTTP.BasicAuthUsers, want)
	}
	if c.Validation.Totals || c.Validation.MaxFuture != 24*time.Hour {
		t.Errorf("validation = %+v, want totals off and 24h", c.Validation)
	}
}

func TestPostgresSettings(t *testing.T) {
	tests := []struct {
		give          []string
		wantDirect    string
		wantMaxConns  int
		wantEffective string
	}{
		{nil, "", 0, "postgres://orders:orders@localhost:5432/orders?sslmode=disable"},
		{[]string{"APP_POSTGRES_DIRECT_DSN= host=primary dbname=orders "}, "host=primary dbname=orders", 0, "host=primary dbname=orders"},
		{[]string{"APP_POSTGRES_DIRECT_DSN="}, "", 0, "postgres://orders:orders@localhost:5432/orders?sslmode=disable"},
		{[]string{"APP_POSTGRES_MAX_CONNS=1"}, "", 1, "postgres://orders:orders@localhost:5432/orders?sslmode=disable"},
		{[]string{"APP_POSTGRES_MAX_CONNS=1000"}, "", 1000, "postgres://orders:orders@localhost:5432/orders?sslmode=disable"},
	}
	for _, tt := range tests {
		c, err := Load("", tt.give)
		if err != nil {
			t.Fatalf("%v: %v", tt.give, err)
		}
		if c.Postgres.DirectDSN != tt.wantDirect || c.Postgres.MaxConns != tt.wantMaxConns || c.Postgres.Direct() != tt.wantEffective {
			t.Errorf("%v: direct %q, max conns %d, Direct() %q; want %q, %d, %q", tt.give,
				c.Postgres.DirectDSN, c.Postgres.MaxConns, c.Postgres.Direct(), tt.wantDirect, tt.wantMaxConns, tt.wantEffective)
		}
	}
}

// No message about a setting repeats a secret, whether the secret came from a
// variable, the file or a secret file, and whatever went wrong.
func TestNoErrorMessageContainsASecret(t *testing.T) {
	const secret = "Hunter2-S3cr3t"
	file := func(content string) string { return secretFile(t, content) }
	tests := []struct {
		name    string
		conf    string // config.toml, when not empty
		environ []string
	}{
		{"dsn with a bad scheme", "", []string{"APP_POSTGRES_DSN=mysql://u:" + secret + "@h/db"}},
		{"dsn with no host", "", []string{"APP_POSTGRES_DSN=postgres://u:" + secret + "@/db"}},
		{"dsn not a URL", "", []string{"APP_POSTGRES_DSN=postgres://u:" + secret + "@h:port/db"}},
		{"dsn neither form", "", []string{"APP_POSTGRES_DSN=" + secret}},
		{"dsn empty", "", []string{"APP_POSTGRES_DSN="}},
		{"direct dsn bad", "", []string{"APP_POSTGRES_DIRECT_DSN=mysql://u:" + secret + "@h/db"}},
		{"direct dsn neither form", "", []string{"APP_POSTGRES_DIRECT_DSN=" + secret}},
		{"dsn from a file, bad", "", []string{"APP_POSTGRES_DSN_FILE=" + file("mysql://u:"+secret+"@h/db\n")}},
		{"direct dsn from a file, bad", "", []string{"APP_POSTGRES_DIRECT_DSN_FILE=" + file(secret+"\n")}},
		{"users with a plain password", "", []string{"APP_HTTP_BASIC_AUTH_USERS=alice:" + secret}},
		{"users without a hash", "", []string{"APP_HTTP_BASIC_AUTH_USERS=" + secret}},
		{"users from a file, bad", "", []string{"APP_HTTP_BASIC_AUTH_USERS_FILE=" + file("alice:"+secret+"\n")}},
		{"password without a mechanism", "", []string{"APP_KAFKA_SASL_PASSWORD=" + secret}},
		{"password from a file without a mechanism", "", []string{"APP_KAFKA_SASL_PASSWORD_FILE=" + file(secret)}},
		{"password without a user", "", []string{"APP_KAFKA_SASL_MECHANISM=PLAIN", "APP_KAFKA_SASL_PASSWORD=" + secret}},
		{"password in both forms", "", []string{"APP_KAFKA_SASL_PASSWORD=" + secret, "APP_KAFKA_SASL_PASSWORD_FILE=" + file(secret)}},
		{"password in both forms in the file", "[kafka]\nsasl_password = '" + secret + "'\nsasl_password_file = '" + file(secret) + "'\n", nil},
		{"misspelt secret variable", "", []string{"APP_KAFKA_SASL_PASSWRD=" + secret}},
		{"misspelt secret key in the file", "[postgres]\ndns = 'postgres://u:" + secret + "@h/db'\n", nil},
		{"broken file around a secret", "[postgres]\ndsn = \"postgres://u:" + secret + "@h/db\n", nil},
		{"secret in the file, bad", "[postgres]\ndsn = 'mysql://u:" + secret + "@h/db'\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.conf != "" {
				path = writeFile(t, tt.conf)
			}
			_, err := Load(path, tt.environ)
			if err == nil {
				t.Fatal("Load accepted it")
			}
			t.Log(err)
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("message leaks the secret: %q", err)
			}
		})
	}
}

func TestCacheMaxBytes(t *testing.T) {
	tests := []struct {
		give string
		want int
	}{
		{"", 256 << 20},
		{"0", 0},
		{"1000", 1000},
		{"64KiB", 64 << 10},
		{"64 MiB", 64 << 20},
		{"1GiB", 1 << 30},
	}
	for _, tt := range tests {
		var environ []string
		if tt.give != "" {
			environ = []string{"APP_CACHE_MAX_BYTES=" + tt.give}
		}
		cfg, err := Load("", environ)
		if err != nil {
			t.Fatalf("%q: %v", tt.give, err)
		}
		if cfg.Cache.MaxBytes != tt.want {
			t.Errorf("%q: MaxBytes = %d, want %d", tt.give, cfg.Cache.MaxBytes, tt.want)
		}
	}
}
