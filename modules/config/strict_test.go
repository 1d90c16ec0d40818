package config

import (
	"errors"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestUnknownEnvVariableIsRefused(t *testing.T) {
	tests := []struct {
		give string
		want string
	}{
		{"APP_HTTP_BASIC_AUTH_USER=alice:$2y$10$abc", "config: APP_HTTP_BASIC_AUTH_USER: no such setting; did you mean APP_HTTP_BASIC_AUTH_USERS?"},
		{"APP_HTTP_ADRESS=:8080", "config: APP_HTTP_ADRESS: no such setting; did you mean APP_HTTP_ADDR?"},
		{"APP_KAFKA_DLQTOPIC=x", "config: APP_KAFKA_DLQTOPIC: no such setting; did you mean APP_KAFKA_DLQ_TOPIC?"},
		{"APP_POSTGRES_DSNFILE=/run/secrets/dsn", "config: APP_POSTGRES_DSNFILE: no such setting; did you mean APP_POSTGRES_DSN_FILE?"},
		// No underscore after the prefix: the section cannot even be found.
		{"APP_FOO=1", "config: APP_FOO: no such setting"},
		{"APP_=1", "config: APP_: no such setting"},
		{"APP_BROKERS=h:1", "config: APP_BROKERS: no such setting; did you mean APP_KAFKA_BROKERS?"},
		{"APP_POSTGRES_TOPIC=x", "config: APP_POSTGRES_TOPIC: no such setting; did you mean APP_KAFKA_TOPIC?"},
		// Names are upper case, as documented.
		{"APP_http_addr=:8080", "config: APP_http_addr: no such setting; did you mean APP_HTTP_ADDR?"},
		{"APP_METRICS_PORT=9100", "config: APP_METRICS_PORT: no such setting"},
		// The value is never part of the message.
		{"APP_KAFKA_SASL_PASSWRD=Hunter2-secret", "config: APP_KAFKA_SASL_PASSWRD: no such setting; did you mean APP_KAFKA_SASL_PASSWORD?"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			_, err := Load("", []string{"PATH=/bin", "APPLE=1", tt.give, "APP_LOG_LEVEL=info"})
			var uerr *UnknownError
			if !errors.As(err, &uerr) {
				t.Fatalf("Load error = %v, want *config.UnknownError", err)
			}
			if err.Error() != tt.want {
				t.Fatalf("message\n got %q\nwant %q", err.Error(), tt.want)
			}
		})
	}
}

func TestFirstUnknownEnvVariableInOrderIsNamed(t *testing.T) {
	_, err := Load("", []string{"APP_ZZZ=1", "APP_HTTP_ADRES=:1", "APP_CACHE_CAPACITY=5"})
	if want := "config: APP_HTTP_ADRES: no such setting; did you mean APP_HTTP_ADDR?"; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestUnknownFileKeyIsRefused(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string // after "config: <path>: "
	}{
		{"misspelt key", "[http]\nadress = \":8080\"\n", "http.adress: no such setting; did you mean http.addr?"},
		{"unknown section", "[metrics]\nport = 9100\n", "metrics.port: no such setting"},
		{"empty unknown section", "[metrics]\n", "metrics: no such setting"},
		{"misspelt section", "[kafak]\ntopic = \"orders\"\n", "kafak.topic: no such setting; did you mean kafka.topic?"},
		{"key outside any section", "addr = \":8080\"\n", "addr: no such setting; did you mean http.addr?"},
		{"key in the wrong section", "[postgres]\nbrokers = \"h:1\"\n", "postgres.brokers: no such setting; did you mean kafka.brokers?"},
		{"section given a value", "http = 5\n", "http: no such setting"},
		{"table under a key", "[http.addr]\nport = 1\n", "http.addr.port: no such setting; did you mean http.addr?"},
		{"upper case key", "[HTTP]\nAddr = \":1\"\n", "HTTP.Addr: no such setting; did you mean http.addr?"},
		{"key holding a newline", "[http]\n\"a\\nb\" = 1\n", `"http.a\nb": no such setting`},
		{"env spelling in the file", "[http]\nAPP_HTTP_ADDR = \":1\"\n", "http.APP_HTTP_ADDR: no such setting"},
		{"secret value not echoed", "[kafka]\nsasl_pasword = \"Hunter2-secret\"\n", "kafka.sasl_pasword: no such setting; did you mean kafka.sasl_password?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.give)
			_, err := Load(path, nil)
			var uerr *UnknownError
			if !errors.As(err, &uerr) {
				t.Fatalf("Load error = %v, want *config.UnknownError", err)
			}
			if want := "config: " + path + ": " + tt.want; err.Error() != want {
				t.Fatalf("message\n got %q\nwant %q", err.Error(), want)
			}
		})
	}
}

// The message the issue asked for, with the file named as the service names
// it by default.
func TestMisspeltFileKeyMessage(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("config.toml", []byte("[http]\nadress = \":8080\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load("config.toml", nil)
	if want := "config: config.toml: http.adress: no such setting; did you mean http.addr?"; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestEmptyKnownSectionsAreFine(t *testing.T) {
	path := writeFile(t, "[http]\n[postgres]\n[kafka]\n[cache]\n[log]\n[validation]\n")
	if _, err := Load(path, nil); err != nil {
		t.Fatal(err)
	}
}

// Every key the service knows can be set by its APP_ variable, including
// those with an underscore in the key (APP_KAFKA_DLQ_TOPIC).
func TestEveryKnownKeyHasItsVariable(t *testing.T) {
	d := defaults()
	for _, key := range slices.Sorted(maps.Keys(d)) {
		environ := []string{EnvName(key) + "=" + d[key].(string)}
		if _, err := Load("", environ); err != nil {
			t.Errorf("%v: %v", environ, err)
		}
	}
	// Every APP_ variable the repository's tests and tooling set.
	inUse := []string{
		"APP_HTTP_ADDR=:0", "APP_HTTP_RATE_LIMIT=0", "APP_HTTP_RATE_WINDOW=1m", "APP_HTTP_TRUSTED_PROXIES=",
		"APP_HTTP_BASIC_AUTH_USERS=", "APP_POSTGRES_DSN=postgres://u@h/db", "APP_POSTGRES_CONNECT_TIMEOUT=2s",
		"APP_KAFKA_BROKERS=h:1", "APP_KAFKA_TOPIC=t", "APP_KAFKA_DLQ_TOPIC=t.dlq", "APP_KAFKA_GROUP=g",
		"APP_KAFKA_PARTITIONS=1", "APP_KAFKA_BATCH_SIZE=1", "APP_KAFKA_BATCH_WAIT=1ms", "APP_CACHE_CAPACITY=1",
		"APP_LOG_LEVEL=debug", "APP_LOG_FORMAT=text", "APP_VALIDATION_TOTALS=off", "APP_VALIDATION_MAX_FUTURE=1h",
	}
	if _, err := Load("", inUse); err != nil {
		t.Fatal(err)
	}
}

// The file shipped with the service is read strictly at start: every key in
// it is known, and it says what the defaults say.
func TestShippedConfigFileIsKnown(t *testing.T) {
	got, err := Load("../../config.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("config.toml differs from the defaults:\n got %+v\nwant %+v", got, want)
	}
}

func TestNearest(t *testing.T) {
	known := []string{"http.addr", "http.basic_auth_users", "kafka.brokers", "kafka.dlq_topic", "kafka.topic", "log.level"}
	tests := []struct {
		give string
		want string
	}{
		{"http.adress", "http.addr"},
		{"http.addrr", "http.addr"},
		{"http.basic_auth_user", "http.basic_auth_users"},
		{"kafka.topics", "kafka.topic"},
		{"kafka.dlqtopic", "kafka.dlq_topic"},
		{"log.levle", "log.level"},
		{"level", "log.level"},
		{"metrics.port", ""},
		{"x", ""},
		{"kafka.x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := nearest(tt.give, known, "."); got != tt.want {
			t.Errorf("nearest(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestLevenshtein(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"addr", "addr", 0},
		{"kitten", "sitting", 3},
		{"adress", "addr", 4},
		{"users", "user", 1},
		{"flaw", "lawn", 2},
		{"ünï", "uni", 2},
	}
	for _, tt := range tests {
		if got := levenshtein(tt.a, tt.b); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := levenshtein(tt.b, tt.a); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestUnknownErrorIsOneLine(t *testing.T) {
	err := (&UnknownError{File: "c.toml", Name: "a\nb", Nearest: "x.y"}).Error()
	if strings.Contains(err, "\n") {
		t.Fatalf("message spans lines: %q", err)
	}
}
