package kafkatest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v5"

	"github.com/marketplace/orders/modules/certtest"
)

// pom names the jars of Apache Kafka 4.1 (see its comment).
//
//go:embed pom.xml
var pom []byte

// ApacheOptions say where and how an Apache Kafka broker runs.
type ApacheOptions struct {
	// Dir holds the configuration, Kafka's data and server.log. Empty means a
	// temporary directory that Stop removes; otherwise it is formatted once
	// and reused as it is.
	Dir string
	// Port is the client port and ControllerPort the KRaft controller's, on
	// 127.0.0.1; 0 picks a free one.
	Port, ControllerPort int
	// Detach runs the broker in a session of its own, so that it outlives
	// this process; StopApache stops it. Otherwise it dies with this process.
	Detach bool
	// Logger gets the fetch and the waits of a start; nil discards them.
	Logger *slog.Logger
	// SASLSSL, when not nil, adds a SASL_SSL listener beside PLAINTEXT (which
	// the broker keeps for itself and for the tests that need no security).
	// It takes effect when the storage is formatted; a storage formatted
	// with it keeps it.
	SASLSSL *ApacheSASLSSL
}

// ApacheSASLSSL is a SASL_SSL listener on 127.0.0.1: TLS with a certificate
// signed by a CA made when the storage is formatted (its certificate is
// ca.pem in Dir), and one user who may sign in with SCRAM-SHA-512,
// SCRAM-SHA-256 or PLAIN. The SCRAM credentials are added by
// kafka-storage format --add-scram, before the first start.
type ApacheSASLSSL struct {
	Port int // 0 picks a free one
	// User and Password default to "orders" and a random password; both
	// may hold letters, digits, '-' and '_' only.
	User, Password string
}

// Apache is one Apache Kafka node (broker and controller in one JVM, KRaft)
// run from Maven Central jars, with no Docker. Its methods are safe for
// concurrent use.
type Apache struct {
	opts      ApacheOptions
	temporary bool
	classpath string
	clusterID string
	log       *slog.Logger

	secure *ApacheSASLSSL // the SASL_SSL listener, if any, as formatted

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil while not running
	done chan struct{} // closed once cmd has exited
}

// StartApache resolves the jars with Maven (the first time; java 17+ and mvn
// needed), formats the storage unless Dir holds a formatted one, starts the
// broker and waits until it answers as the cluster of that storage.
func StartApache(ctx context.Context, opts ApacheOptions) (*Apache, error) {
	a := &Apache{opts: opts, temporary: opts.Dir == "", log: opts.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if a.temporary {
		if a.opts.Dir, err = os.MkdirTemp("", "kafkatest-"); err != nil {
			return nil, err
		}
	} else if err = os.MkdirAll(a.opts.Dir, 0o755); err != nil {
		return nil, err
	}
	if a.opts.Dir, err = filepath.Abs(a.opts.Dir); err != nil {
		return nil, err
	}
	if err = a.start(ctx); err != nil {
		if a.temporary {
			_ = os.RemoveAll(a.opts.Dir)
		}
		return nil, err
	}
	return a, nil
}

func (a *Apache) start(ctx context.Context) error {
	var err error
	if a.classpath, err = classpath(ctx, a.log); err != nil {
		return err
	}
	// A formatted storage keeps its ports and cluster id.
	if b, err := os.ReadFile(filepath.Join(a.opts.Dir, "kafka-logs", "meta.properties")); err == nil {
		if err := a.reopen(b); err != nil {
			return err
		}
		return a.Restart(ctx)
	}
	ports := []*int{&a.opts.Port, &a.opts.ControllerPort}
	if a.opts.SASLSSL != nil {
		sec := *a.opts.SASLSSL
		if sec.User == "" {
			sec.User = "orders"
		}
		if sec.Password == "" {
			sec.Password = Password()
		}
		if !plainName(sec.User) || !plainName(sec.Password) {
			return errors.New("kafka: the SASL_SSL user and password may hold letters, digits, '-' and '_' only")
		}
		a.secure = &sec
		ports = append(ports, &a.secure.Port)
	}
	if err := pickPorts(ports...); err != nil {
		return err
	}
	// Like Kafka's own random-uuid: 16 random bytes, base64url, no leading
	// '-' that a command line would take for a flag.
	for a.clusterID == "" || a.clusterID[0] == '-' {
		var id [16]byte
		_, _ = rand.Read(id[:])
		a.clusterID = base64.RawURLEncoding.EncodeToString(id[:])
	}
	props := a.properties()
	args := append(a.javaArgs("-Xmx256m"), "kafka.tools.StorageTool", "format", "-t", a.clusterID, "-c", a.path("server.properties"))
	if a.secure != nil {
		secureProps, err := a.writeSecure()
		if err != nil {
			return err
		}
		props += secureProps
		for _, mech := range []string{SCRAMSHA512, SCRAMSHA256} {
			args = append(args, "--add-scram", fmt.Sprintf("%s=[name=%s,password=%s]", mech, a.secure.User, a.secure.Password))
		}
	}
	files := map[string]string{
		"ports":             fmt.Sprintln(a.opts.Port, a.opts.ControllerPort),
		"server.properties": props, // with the broker's key and the user's password
		"log4j2.properties": log4jConfig,
	}
	for name, text := range files {
		if err := os.WriteFile(a.path(name), []byte(text), 0o600); err != nil {
			return err
		}
	}
	if out, err := exec.CommandContext(ctx, "java", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("kafka: format storage: %w\n%s", err, out)
	}
	return a.Restart(ctx)
}

// reopen takes the cluster id, ports and SASL_SSL listener of a formatted
// storage, whose meta.properties is meta.
func (a *Apache) reopen(meta []byte) error {
	for line := range strings.Lines(string(meta)) {
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "cluster.id="); ok {
			a.clusterID = id
		}
	}
	var port, ctrlPort int
	b, err := os.ReadFile(a.path("ports"))
	if err == nil {
		_, err = fmt.Sscan(string(b), &port, &ctrlPort)
	}
	if err != nil || a.clusterID == "" {
		return fmt.Errorf("kafka: %s holds storage without its ports or cluster id; delete it", a.opts.Dir)
	}
	if a.opts.Port != 0 && a.opts.Port != port || a.opts.ControllerPort != 0 && a.opts.ControllerPort != ctrlPort {
		return fmt.Errorf("kafka: %s was made for ports %d and %d; use those, or delete it", a.opts.Dir, port, ctrlPort)
	}
	a.opts.Port, a.opts.ControllerPort = port, ctrlPort
	return a.readSecure()
}

// pickPorts sets each port that is 0 to a free one; the picks differ.
func pickPorts(ports ...*int) error {
	for _, p := range ports {
		if *p != 0 {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close() // held until all are picked
		*p = l.Addr().(*net.TCPAddr).Port
	}
	return nil
}

// Addr is the broker's PLAINTEXT address, host:port.
func (a *Apache) Addr() string { return "127.0.0.1:" + strconv.Itoa(a.opts.Port) }

// Secure is how a client signs in on the SASL_SSL listener (with
// SCRAM-SHA-512; set Mechanism for another), or nil when there is none.
func (a *Apache) Secure() *Secure {
	if a.secure == nil {
		return nil
	}
	return &Secure{
		Brokers:   []string{"127.0.0.1:" + strconv.Itoa(a.secure.Port)},
		CAFile:    a.path("ca.pem"),
		Mechanism: SCRAMSHA512,
		Username:  a.secure.User,
		Password:  a.secure.Password,
	}
}

// secureFile keeps the SASL_SSL listener's port and user for later starts.
const secureFile = "sasl-ssl.json"

// writeSecure makes the CA and the broker's certificate, writes ca.pem and
// secureFile, and returns the listener's part of server.properties. Kafka
// reads PEM key stores from the properties themselves; Java's properties
// format turns each \n back into a line break.
func (a *Apache) writeSecure() (string, error) {
	ca, err := certtest.NewCA("kafkatest Apache Kafka CA")
	if err != nil {
		return "", err
	}
	chain, key, err := ca.Issue("kafkatest Apache Kafka", "127.0.0.1", "localhost")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(a.path("ca.pem"), ca.PEM, 0o644); err != nil {
		return "", err
	}
	saved, err := json.Marshal(a.secure)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(a.path(secureFile), saved, 0o600); err != nil {
		return "", err
	}
	inline := func(pem []byte) string { return strings.ReplaceAll(strings.TrimSpace(string(pem)), "\n", `\n`) }
	jaas := func(module, users string) string {
		return "org.apache.kafka.common.security." + module + " required" + users + ";"
	}
	return strings.Join([]string{
		"sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN",
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=" + jaas("scram.ScramLoginModule", ""),
		"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=" + jaas("scram.ScramLoginModule", ""),
		"listener.name.sasl_ssl.plain.sasl.jaas.config=" + jaas("plain.PlainLoginModule",
			fmt.Sprintf(" user_%s=\"%s\"", a.secure.User, a.secure.Password)),
		"ssl.keystore.type=PEM",
		"ssl.keystore.certificate.chain=" + inline(chain),
		"ssl.keystore.key=" + inline(key),
		"ssl.truststore.type=PEM",
		"ssl.truststore.location=" + a.path("ca.pem"),
	}, "\n") + "\n", nil
}

// readSecure reads what writeSecure saved, if it did, and checks it against
// what the options ask for.
func (a *Apache) readSecure() error {
	b, err := os.ReadFile(a.path(secureFile))
	if errors.Is(err, os.ErrNotExist) {
		if a.opts.SASLSSL != nil {
			return fmt.Errorf("kafka: %s holds storage formatted without a SASL_SSL listener; delete it", a.opts.Dir)
		}
		return nil
	}
	if err != nil {
		return err
	}
	a.secure = new(ApacheSASLSSL)
	if err := json.Unmarshal(b, a.secure); err != nil {
		return fmt.Errorf("kafka: %s: %w", a.path(secureFile), err)
	}
	if want := a.opts.SASLSSL; want != nil && (want.Port != 0 && want.Port != a.secure.Port ||
		want.User != "" && want.User != a.secure.User || want.Password != "" && want.Password != a.secure.Password) {
		return fmt.Errorf("kafka: %s was made for SASL_SSL on port %d as user %q; use those, or delete it", a.opts.Dir, a.secure.Port, a.secure.User)
	}
	return nil
}

func plainName(s string) bool {
	return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}

func (a *Apache) path(name string) string { return filepath.Join(a.opts.Dir, name) }

// Restart stops the broker if it runs, starts it again with the same storage
// and ports, and waits until it answers.
func (a *Apache) Restart(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.stopLocked(); err != nil {
		return err
	}
	ports := []int{a.opts.Port, a.opts.ControllerPort}
	if a.secure != nil {
		ports = append(ports, a.secure.Port)
	}
	for _, port := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return fmt.Errorf("kafka: port %d on 127.0.0.1 is taken", port)
		}
		_ = l.Close()
	}
	logFile, err := os.OpenFile(a.path("server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close() // the JVM has its own copy
	logStart, _ := logFile.Seek(0, io.SeekEnd)
	// C1 only and the serial collector: a local broker does not live long
	// enough for C2 to pay, and on 2 shared cores this halves its CPU time.
	args := append(a.javaArgs("-Xms256m", "-Xmx768m", "-XX:+ExitOnOutOfMemoryError"), "kafka.Kafka", a.path("server.properties"))
	cmd := exec.Command("java", args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = a.opts.Dir, logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if a.opts.Detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("kafka: start java: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	a.cmd, a.done = cmd, done

	began := time.Now()
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		select {
		case <-done:
			return struct{}{}, backoff.Permanent(errors.New("java exited"))
		default:
		}
		id, err := clusterID(ctx, a.Addr())
		if err == nil && id != a.clusterID {
			err = backoff.Permanent(fmt.Errorf("%s answers as cluster %s, not ours (%s)", a.Addr(), id, a.clusterID))
		}
		return struct{}{}, err
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond,
		RandomizationFactor: 0.2, Multiplier: 1.5, MaxInterval: time.Second}),
		backoff.WithMaxElapsedTime(2*time.Minute),
		backoff.WithNotify(func(err error, wait time.Duration) {
			a.log.Debug("waiting for Apache Kafka", "addr", a.Addr(), "retry_in", wait, "err", err)
		}))
	if err != nil {
		_ = a.stopLocked()
		return fmt.Errorf("kafka on %s did not start: %w\n%s", a.Addr(), err, tail(a.path("server.log"), logStart))
	}
	a.log.Info("Apache Kafka is up", "addr", a.Addr(), "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// Down shuts the broker down as an outage would, keeping its storage and
// ports; Restart brings it back.
func (a *Apache) Down() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopLocked()
}

// Stop shuts the broker down (SIGTERM, then SIGKILL after 30 s) and removes
// a temporary data directory.
func (a *Apache) Stop() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.stopLocked()
	if a.temporary {
		err = errors.Join(err, os.RemoveAll(a.opts.Dir))
	}
	return err
}

func (a *Apache) stopLocked() error {
	if a.cmd == nil {
		return nil
	}
	cmd, done := a.cmd, a.done
	a.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("kafka: no shutdown within 30 s of SIGTERM; killed")
	}
}

// ApachePID is the process that runs the broker of dir, or 0. Kafka holds a
// POSIX lock on the .lock file of its log directory while it runs, and the
// kernel names the holder: no pid file can go stale.
func ApachePID(dir string) int {
	f, err := os.Open(filepath.Join(dir, "kafka-logs", ".lock"))
	if err != nil {
		return 0
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil || lk.Type == syscall.F_UNLCK {
		return 0
	}
	return int(lk.Pid)
}

// StopApache stops the broker of dir that another process started (with
// Detach): SIGTERM, and SIGKILL if it still runs after 30 s.
func StopApache(ctx context.Context, dir string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pid := ApachePID(dir)
	if pid <= 0 {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		// Kafka lets go of its lock a moment before the JVM exits and frees
		// its ports: a start right after would find them taken.
		if ApachePID(dir) == pid || syscall.Kill(pid, 0) == nil {
			return struct{}{}, errors.New("still running")
		}
		return struct{}{}, nil
	}, backoff.WithBackOff(backoff.NewConstantBackOff(250*time.Millisecond)),
		backoff.WithMaxElapsedTime(30*time.Second),
		backoff.WithNotify(func(_ error, wait time.Duration) {
			log.Debug("waiting for Apache Kafka to stop", "pid", pid, "retry_in", wait)
		}))
	if err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return fmt.Errorf("kafka (pid %d): no shutdown within 30 s of SIGTERM; killed", pid)
	}
	return nil
}

// clusterID asks the broker at addr for the cluster it belongs to; it
// answers once it has registered and serves clients.
func clusterID(ctx context.Context, addr string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	cfg := config("kafkatest-probe")
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout = time.Second, 3*time.Second
	b := sarama.NewBroker(addr)
	if err := b.Open(cfg); err != nil {
		return "", err
	}
	defer b.Close()
	resp, err := b.GetMetadata(sarama.NewMetadataRequest(cfg.Version, nil))
	switch {
	case err != nil:
		return "", err
	case len(resp.Brokers) == 0 || resp.ClusterID == nil:
		return "", errors.New("no broker registered yet")
	}
	return *resp.ClusterID, nil
}

func (a *Apache) javaArgs(opts ...string) []string {
	return append(opts, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile="+a.path("log4j2.properties"), "-cp", a.classpath)
}

// properties configure one node that is broker and controller, with every
// internal topic on one replica.
func (a *Apache) properties() string {
	ctrl := "127.0.0.1:" + strconv.Itoa(a.opts.ControllerPort)
	listeners, protocols := "PLAINTEXT://"+a.Addr(), "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
	if a.secure != nil {
		listeners += ",SASL_SSL://127.0.0.1:" + strconv.Itoa(a.secure.Port)
		protocols += ",SASL_SSL:SASL_SSL"
	}
	return strings.Join([]string{
		"process.roles=broker,controller",
		"node.id=1",
		"controller.quorum.voters=1@" + ctrl,
		"listeners=" + listeners + ",CONTROLLER://" + ctrl,
		"advertised.listeners=" + listeners,
		"controller.listener.names=CONTROLLER",
		"inter.broker.listener.name=PLAINTEXT",
		"listener.security.protocol.map=" + protocols,
		"log.dirs=" + a.path("kafka-logs"),
		"num.partitions=3",
		"auto.create.topics.enable=false",
		"offsets.topic.replication.factor=1",
		"transaction.state.log.replication.factor=1",
		"transaction.state.log.min.isr=1",
		"share.coordinator.state.topic.replication.factor=1",
		"share.coordinator.state.topic.min.isr=1",
		"group.initial.rebalance.delay.ms=0",
	}, "\n") + "\n"
}

// log4jConfig sends Kafka's INFO lines and everyone's warnings to the
// console; without a configuration log4j2 logs errors only.
const log4jConfig = `rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
logger.kafka.name = kafka
logger.kafka.level = info
`

// classpath resolves the jars that pom names with Maven, once per version of
// pom: the class path is kept in the user's cache folder, and the jars in the
// local Maven repository.
func classpath(ctx context.Context, log *slog.Logger) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(pom)
	dir := filepath.Join(cache, "orders-kafka", hex.EncodeToString(sum[:6]))
	if cp, err := os.ReadFile(filepath.Join(dir, "classpath")); err == nil && jarsExist(string(cp)) {
		return string(cp), nil
	}
	if _, err := exec.LookPath("java"); err != nil {
		return "", errors.New("kafka: java not found (Kafka 4 needs Java 17+: apt-get install openjdk-17-jre-headless)")
	}
	if _, err := exec.LookPath("mvn"); err != nil {
		return "", errors.New("kafka: mvn not found, needed once to fetch the jars (apt-get install maven)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "pom.xml"), pom, 0o644); err != nil {
		return "", err
	}
	began := time.Now()
	log.Info("fetching the Apache Kafka jars with Maven", "pom", filepath.Join(dir, "pom.xml"))
	out, err := exec.CommandContext(ctx, "mvn", "-B", "-q", "-Dstyle.color=never", "-f", filepath.Join(dir, "pom.xml"),
		"org.apache.maven.plugins:maven-dependency-plugin:3.8.1:build-classpath").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kafka: fetch the jars with Maven: %w\n%s", err, out)
	}
	cp, err := os.ReadFile(filepath.Join(dir, "classpath"))
	if err != nil || !jarsExist(string(cp)) {
		return "", fmt.Errorf("kafka: Maven wrote no class path to %s", dir)
	}
	log.Info("fetched the Apache Kafka jars", "took", time.Since(began).Round(time.Second))
	return string(cp), nil
}

func jarsExist(cp string) bool {
	jars := filepath.SplitList(strings.TrimSpace(cp))
	for _, jar := range jars {
		if _, err := os.Stat(jar); err != nil {
			return false
		}
	}
	return len(jars) > 0
}

// tail is the last lines of what path holds from offset on.
func tail(path string, offset int64) string {
	b, _ := os.ReadFile(path)
	b = b[min(offset, int64(len(b))):]
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}
