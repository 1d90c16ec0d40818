// Package config loads the service's settings: defaults in code, then the TOML
// file, then APP_<SECTION>_<KEY> environment variables; Load validates the
// result and names the key of the first bad value.
//
// Settings are strict: a key in the file or an APP_ variable that names no
// setting stops the load with an *UnknownError, so a misspelt setting is never
// silently ignored.
//
// Each secret (postgres.dsn, postgres.direct_dsn, kafka.sasl_password,
// http.basic_auth_users) may instead be read from a file named by the key with
// "_file" appended (postgres.dsn_file, APP_POSTGRES_DSN_FILE). Within the file
// or within the environment, giving both forms is an error; across them the
// usual order holds whatever the form (defaults < file < environment), and
// only the winning file is read. Its content, less one trailing newline, is
// the value. No message repeats a secret.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// Config is every setting the service and the producer read.
type Config struct {
	HTTP       HTTP
	Postgres   Postgres
	Kafka      Kafka
	Cache      Cache
	Log        Log
	Validation Validation
}

// HTTP configures the web server.
type HTTP struct {
	Addr string // http.addr
	// RateLimit is the most requests one client IP may make per RateWindow;
	// 0 turns the limit off. Probes and /metrics are never limited.
	RateLimit  int           // http.rate_limit
	RateWindow time.Duration // http.rate_window
	// TrustedProxies are the peers whose X-Forwarded-For names the client;
	// empty means the client is always the TCP peer.
	TrustedProxies []string // http.trusted_proxies (CIDRs)
	// BasicAuthUsers maps a user name to its bcrypt hash; empty means no sign-in.
	BasicAuthUsers map[string]string // http.basic_auth_users (name:hash,...)
}

// Validation configures the order rules that producers differ on.
type Validation struct {
	// Totals false skips the three sums (item total_price, goods_total, amount).
	Totals    bool          // validation.totals: check | off
	MaxFuture time.Duration // validation.max_future: how far ahead of the clock date_created may be
}

// Postgres configures the store.
type Postgres struct {
	DSN string // postgres.dsn (the pool's; may point at PgBouncer in transaction mode)
	// DirectDSN is a direct, session-keeping connection for migrations, their
	// lock and anything that listens. Empty means "same as DSN": use Direct.
	DirectDSN      string        // postgres.direct_dsn
	ConnectTimeout time.Duration // postgres.connect_timeout: how long start waits for the database
	MigrateTimeout time.Duration // postgres.migrate_timeout: how long start lets migrations (or another instance's) take
	// MaxConns is the most connections the pool opens; 0 means the service
	// chooses.
	MaxConns int // postgres.max_conns: 0, or 1 to 1000
}

// Direct is the DSN for work that needs a session of its own (migrations and
// their advisory lock, LISTEN): DirectDSN when set, else DSN.
func (p Postgres) Direct() string {
	if p.DirectDSN != "" {
		return p.DirectDSN
	}
	return p.DSN
}

// Kafka configures the consumer, the DLQ publisher and the producer.
type Kafka struct {
	Brokers    []string      // kafka.brokers
	Topic      string        // kafka.topic
	Group      string        // kafka.group
	DLQTopic   string        // kafka.dlq_topic
	Partitions int32         // kafka.partitions: used when the service creates a missing topic
	BatchSize  int           // kafka.batch_size: most messages stored in one transaction
	BatchWait  time.Duration // kafka.batch_wait: longest a partial batch waits for more

	// TLS turns on TLS to the brokers: the system roots unless TLSCAFile
	// names a CA bundle; TLSCertFile and TLSKeyFile (both or neither) give a
	// client certificate for mutual TLS. The files are PEM; Load has checked
	// they can be read and parsed. TLSConfig builds the *tls.Config.
	TLS         bool   // kafka.tls
	TLSCAFile   string // kafka.tls_ca_file
	TLSCertFile string // kafka.tls_cert_file
	TLSKeyFile  string // kafka.tls_key_file
	// SASLMechanism is "" (no SASL), "PLAIN", "SCRAM-SHA-256" or
	// "SCRAM-SHA-512"; when set, SASLUsername and SASLPassword are too.
	SASLMechanism string // kafka.sasl_mechanism (stored upper case)
	SASLUsername  string // kafka.sasl_username
	SASLPassword  string // kafka.sasl_password (or kafka.sasl_password_file); never log it
}

// Cache configures the in-memory cache.
type Cache struct {
	Capacity int // cache.capacity
	MaxBytes int // cache.max_bytes: most bytes of order JSON held; 0 bounds by count only
}

// Log configures logging.
type Log struct {
	Level  string // log.level: debug, info, warn, error
	Format string // log.format: json, text
}

// EnvPrefix starts every environment variable the config reads.
const EnvPrefix = "APP_"

func defaults() map[string]any {
	return map[string]any{
		"http.addr":                ":9090",
		"http.rate_limit":          "0",
		"http.trusted_proxies":     "",
		"http.basic_auth_users":    "",
		"validation.totals":        "check",
		"validation.max_future":    "1h",
		"http.rate_window":         "1m",
		"postgres.dsn":             "postgres://orders:orders@localhost:5432/orders?sslmode=disable",
		"postgres.connect_timeout": "30s",
		"postgres.migrate_timeout": "30m",
		"kafka.brokers":            "localhost:9092",
		"kafka.topic":              "orders",
		"kafka.group":              "bank",
		"kafka.dlq_topic":          "orders.dlq",
		"kafka.partitions":         "3",
		"kafka.batch_size":         "500",
		"kafka.batch_wait":         "50ms",
		"cache.capacity":           "1000",
		"cache.max_bytes":          "256MiB",
		"log.level":                "info",
		"log.format":               "json",
		"postgres.direct_dsn":      "",
		"postgres.max_conns":       "0",
		"kafka.tls":                "false",
		"kafka.tls_ca_file":        "",
		"kafka.tls_cert_file":      "",
		"kafka.tls_key_file":       "",
		"kafka.sasl_mechanism":     "",
		"kafka.sasl_username":      "",
		"kafka.sasl_password":      "",
	}
}

// Load reads defaults, then the TOML file at path (a missing file means
// defaults), then the environment as given by environ (os.Environ's form).
// A key in the file or an APP_ variable that names no setting is an
// *UnknownError; a bad value is an *Error naming its key.
func Load(path string, environ []string) (Config, error) {
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(defaults(), "."), nil); err != nil {
		return Config{}, fmt.Errorf("config defaults: %w", err)
	}
	known := knownKeys()
	// The file and the environment are loaded apart first, so that each can
	// be checked for unknown keys and for a secret given in both its forms.
	fromFile := koanf.New(".")
	if path != "" {
		if _, err := os.Stat(path); err == nil {
			if err := fromFile.Load(file.Provider(path), toml.Parser()); err != nil {
				return Config{}, fmt.Errorf("config file %s: %w", path, err)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if err := unknownInFile(path, fromFile, known); err != nil {
		return Config{}, err
	}
	if err := unknownInEnv(environ, known); err != nil {
		return Config{}, err
	}
	fromEnv := koanf.New(".")
	byName := make(map[string]string, len(known))
	for _, key := range known {
		byName[EnvName(key)] = key
	}
	if err := fromEnv.Load(env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		// Every APP_ name is known by now; mapping through the table rather
		// than at the first underscore keeps kafka.dlq_topic and
		// postgres.direct_dsn_file whole.
		TransformFunc: func(name, value string) (string, any) { return byName[name], value },
	}), nil); err != nil {
		return Config{}, fmt.Errorf("config environment: %w", err)
	}
	for _, from := range []*koanf.Koanf{fromFile, fromEnv} {
		if err := k.Merge(from); err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
	}
	if err := resolveSecretFiles(k, []layer{{file: path, k: fromFile}, {env: true, k: fromEnv}}); err != nil {
		return Config{}, err
	}
	return parse(k)
}

// Error is a bad configuration value.
type Error struct {
	Key     string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("config: %s (env %s): %s", e.Key, EnvName(e.Key), e.Message)
}

// EnvName is the environment variable that sets key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func bad(key, format string, args ...any) error {
	return &Error{Key: key, Message: fmt.Sprintf(format, args...)}
}

var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// parse reads and checks every section; the first bad value ends it.
func parse(k *koanf.Koanf) (Config, error) {
	var c Config
	for _, section := range []func(*koanf.Koanf, *Config) error{
		parseHTTP, parseValidation, parsePostgres, parseKafka, parseCache, parseLog,
	} {
		if err := section(k, &c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// str is a setting as text, trimmed.
func str(k *koanf.Koanf, key string) string { return strings.TrimSpace(k.String(key)) }

func parseHTTP(k *koanf.Koanf, c *Config) error {
	var err error
	c.HTTP.Addr = str(k, "http.addr")
	if err := hostPort("http.addr", c.HTTP.Addr, true); err != nil {
		return err
	}
	if c.HTTP.RateLimit, err = integer(k, "http.rate_limit", 0, 1_000_000_000); err != nil {
		return err
	}
	if c.HTTP.RateWindow, err = duration(k, "http.rate_window", time.Second, 24*time.Hour); err != nil {
		return err
	}
	// The limiter counts in whole seconds and would round 1500ms up to 2s
	// without saying so.
	if c.HTTP.RateWindow%time.Second != 0 {
		return bad("http.rate_window", "%s is not a whole number of seconds", c.HTTP.RateWindow)
	}
	for _, v := range list(k.Get("http.trusted_proxies")) {
		if _, _, err := net.ParseCIDR(v); err != nil {
			if net.ParseIP(v) == nil {
				return bad("http.trusted_proxies", "%q is not a CIDR (like 10.0.0.0/8) or an IP address", v)
			}
		}
		c.HTTP.TrustedProxies = append(c.HTTP.TrustedProxies, v)
	}
	c.HTTP.BasicAuthUsers, err = basicAuthUsers(k.Get("http.basic_auth_users"))
	return err
}

// basicAuthUsers reads name:bcrypt-hash entries, comma-separated or one a
// line (as htpasswd -B writes them to a secret file).
func basicAuthUsers(v any) (map[string]string, error) {
	if text, ok := v.(string); ok {
		v = strings.ReplaceAll(text, "\n", ",")
	}
	var users map[string]string
	for _, entry := range list(v) {
		name, hash, ok := strings.Cut(entry, ":")
		if !ok || name == "" {
			return nil, bad("http.basic_auth_users", "an entry is not name:bcrypt-hash")
		}
		// Never echo the hash: the message names the user only.
		if !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") && !strings.HasPrefix(hash, "$2y$") {
			return nil, bad("http.basic_auth_users", "the hash of user %q is not a bcrypt hash ($2a$, $2b$ or $2y$)", name)
		}
		if users == nil {
			users = map[string]string{}
		}
		if _, dup := users[name]; dup {
			return nil, bad("http.basic_auth_users", "user %q is listed twice", name)
		}
		users[name] = hash
	}
	return users, nil
}

func parseValidation(k *koanf.Koanf, c *Config) error {
	switch v := strings.ToLower(str(k, "validation.totals")); v {
	case "check":
		c.Validation.Totals = true
	case "off":
	default:
		return bad("validation.totals", "%q is not one of check, off", v)
	}
	var err error
	c.Validation.MaxFuture, err = duration(k, "validation.max_future", 0, 100*365*24*time.Hour)
	return err
}

func parsePostgres(k *koanf.Koanf, c *Config) error {
	var err error
	c.Postgres.DSN = str(k, "postgres.dsn")
	if err := dsn("postgres.dsn", c.Postgres.DSN); err != nil {
		return err
	}
	c.Postgres.DirectDSN = str(k, "postgres.direct_dsn")
	if c.Postgres.DirectDSN != "" {
		if err := dsn("postgres.direct_dsn", c.Postgres.DirectDSN); err != nil {
			return err
		}
	}
	if c.Postgres.ConnectTimeout, err = duration(k, "postgres.connect_timeout", time.Second, time.Hour); err != nil {
		return err
	}
	if c.Postgres.MigrateTimeout, err = duration(k, "postgres.migrate_timeout", time.Second, 24*time.Hour); err != nil {
		return err
	}
	c.Postgres.MaxConns, err = integer(k, "postgres.max_conns", 0, 1000)
	return err
}

func parseKafka(k *koanf.Koanf, c *Config) error {
	c.Kafka.Brokers = list(k.Get("kafka.brokers"))
	if len(c.Kafka.Brokers) == 0 {
		return bad("kafka.brokers", "is empty, want host:port[,host:port...]")
	}
	for _, b := range c.Kafka.Brokers {
		if err := hostPort("kafka.brokers", b, false); err != nil {
			return err
		}
	}
	for _, key := range []string{"kafka.topic", "kafka.group", "kafka.dlq_topic"} {
		if v := str(k, key); !topicName.MatchString(v) {
			return bad(key, "%q is not a valid name (1 to 249 of a-z A-Z 0-9 . _ -)", v)
		}
	}
	c.Kafka.Topic, c.Kafka.Group, c.Kafka.DLQTopic = str(k, "kafka.topic"), str(k, "kafka.group"), str(k, "kafka.dlq_topic")
	if c.Kafka.Topic == c.Kafka.DLQTopic {
		return bad("kafka.dlq_topic", "%q is the same as kafka.topic", c.Kafka.DLQTopic)
	}
	partitions, err := integer(k, "kafka.partitions", 1, 10000)
	if err != nil {
		return err
	}
	c.Kafka.Partitions = int32(partitions)
	if c.Kafka.BatchSize, err = integer(k, "kafka.batch_size", 1, 10000); err != nil {
		return err
	}
	if c.Kafka.BatchWait, err = duration(k, "kafka.batch_wait", time.Millisecond, time.Minute); err != nil {
		return err
	}
	return kafkaSecurity(k, &c.Kafka)
}

func parseCache(k *koanf.Koanf, c *Config) error {
	var err error
	if c.Cache.Capacity, err = integer(k, "cache.capacity", 0, 10_000_000); err != nil {
		return err
	}
	c.Cache.MaxBytes, err = byteSize(k, "cache.max_bytes", 0, 1<<40)
	return err
}

func parseLog(k *koanf.Koanf, c *Config) error {
	c.Log.Level = strings.ToLower(str(k, "log.level"))
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	c.Log.Format = strings.ToLower(str(k, "log.format"))
	switch c.Log.Format {
	case "json", "text":
	default:
		return bad("log.format", "%q is not one of json, text", c.Log.Format)
	}
	return nil
}

// list takes a TOML array or a comma-separated string, trimmed, without
// empty entries.
func list(v any) []string {
	var raw []string
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			raw = append(raw, fmt.Sprint(e))
		}
	case string:
		raw = strings.Split(v, ",")
	}
	var out []string
	for _, e := range raw {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func hostPort(key, v string, hostOptional bool) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return bad(key, "%q is not host:port", v)
	}
	if host == "" && !hostOptional {
		return bad(key, "%q has no host", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return bad(key, "%q has no valid port (0 to 65535)", v)
	}
	return nil
}

func dsn(key, v string) error {
	if v == "" {
		return bad(key, "is empty")
	}
	if strings.Contains(v, "://") {
		u, err := url.Parse(v)
		if err != nil {
			// The parse error would echo the DSN, password included.
			return bad(key, "is not a valid URL")
		}
		if u.Scheme != "postgres" && u.Scheme != "postgresql" {
			return bad(key, "scheme %q is not postgres://", u.Scheme)
		}
		if u.Host == "" {
			return bad(key, "has no host")
		}
		return nil
	}
	if !strings.Contains(v, "=") {
		return bad(key, "is neither a postgres:// URL nor key=value pairs")
	}
	return nil
}

// byteSize reads a size in bytes: a whole number, or one followed by KiB,
// MiB or GiB.
func byteSize(k *koanf.Koanf, key string, lo, hi int) (int, error) {
	raw := strings.TrimSpace(k.String(key))
	digits, unit := raw, 1
	for suffix, size := range map[string]int{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if d, ok := strings.CutSuffix(raw, suffix); ok {
			digits, unit = strings.TrimSpace(d), size
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 {
		return 0, bad(key, "%q is not a size (a whole number of bytes, or like 64MiB, 1GiB)", raw)
	}
	if n > hi/unit || n*unit < lo {
		return 0, bad(key, "%s is out of range %d to %d bytes", raw, lo, hi)
	}
	return n * unit, nil
}

func integer(k *koanf.Koanf, key string, lo, hi int) (int, error) {
	raw := strings.TrimSpace(k.String(key))
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, bad(key, "%q is not a whole number", raw)
	}
	if n < lo || n > hi {
		return 0, bad(key, "%d is out of range %d to %d", n, lo, hi)
	}
	return n, nil
}

func duration(k *koanf.Koanf, key string, lo, hi time.Duration) (time.Duration, error) {
	raw := strings.TrimSpace(k.String(key))
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, bad(key, "%q is not a duration (like 500ms or 30s)", raw)
	}
	if d < lo || d > hi {
		return 0, bad(key, "%s is out of range %s to %s", d, lo, hi)
	}
	return d, nil
}
