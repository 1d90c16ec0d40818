// Package kafkalocal runs a single-node Apache Kafka broker (KRaft: broker and
// controller in one JVM) from jars that Maven resolves, with no Docker: a
// throwaway broker on free ports for tests, or a detached one that outlives
// its starter for local development (deploy/kafka-local).
package kafkalocal

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"github.com/marketplace/orders/deploy/internal/logtail"
	"github.com/marketplace/orders/deploy/internal/proc"
	"github.com/marketplace/orders/modules/kafka"
)

// ErrNoJava means no java on PATH; Kafka 4 brokers need Java 17 or newer.
var ErrNoJava = errors.New("kafkalocal: java not found on PATH (Kafka 4 needs Java 17+, e.g. apt-get install openjdk-17-jre-headless)")

// ErrNoMaven means Fetch found no mvn on PATH to resolve the jars with.
var ErrNoMaven = errors.New("kafkalocal: mvn not found on PATH (apt-get install maven)")

// ErrNotBroker means a PID does not belong to a running Kafka broker.
var ErrNotBroker = errors.New("kafkalocal: not a running kafka.Kafka java process")

// ServerLog is the file in the data directory that receives a detached
// broker's output.
const ServerLog = "server.log"

const (
	// readyTimeout bounds a start when the caller's context has no deadline. A
	// broker starts in about 3 s on 2 cores; one that is not up by then is not
	// coming up.
	readyTimeout = 90 * time.Second
	// stopTimeout is how long a controlled shutdown may take before SIGKILL.
	stopTimeout = 30 * time.Second

	// dependencyPlugin is pinned so that a machine with nothing but mvn
	// resolves the same plugin; deploy/kafka-local/pom.xml configures it.
	dependencyPlugin = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
	stampFile        = ".pom.sha256" // in lib/: the pom.xml the jars were resolved from

	logDirName      = "kafka-logs" // Kafka's log.dirs, inside the data directory
	propertiesName  = "server.properties"
	log4jConfigName = "log4j2.properties"
)

// jvmOptions keep one broker small enough for a 2-core, shared machine.
// Only the C1 compiler and the serial collector: measured here, a broker
// took 2.4 s of CPU to start instead of 4.7 s, and 3.4 s instead of 8.2 s to
// serve the modules/kafka and app tests, with the same wall time. A local
// broker does not run long enough for C2 to pay for itself.
var jvmOptions = []string{
	"-Xms256m", "-Xmx768m",
	"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
	"-XX:+ExitOnOutOfMemoryError",
	"-Djava.awt.headless=true",
}

// Fetch makes sure dir/lib holds the jars that dir/pom.xml names, running
// Maven (quiet, batch mode) when lib is missing, empty, or was resolved from a
// different pom.xml, and returns the absolute path of lib.
func Fetch(ctx context.Context, dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("kafkalocal: fetch: %w", err)
	}
	stamp, err := pomStamp(filepath.Join(dir, "pom.xml"))
	if err != nil {
		return "", fmt.Errorf("kafkalocal: fetch: %w", err)
	}
	lib := filepath.Join(dir, "lib")
	if fetched(lib, stamp) {
		return lib, nil
	}

	// Test binaries of several packages may fetch at once; one does the work.
	unlock, err := lockFile(filepath.Join(os.TempDir(), "kafkalocal-fetch-"+stamp[:16]+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if fetched(lib, stamp) {
		return lib, nil
	}

	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return "", ErrNoMaven
	}
	// Jars of another pom.xml must not stay on the class path.
	if err := os.RemoveAll(lib); err != nil {
		return "", fmt.Errorf("kafkalocal: fetch: %w", err)
	}
	cmd := exec.CommandContext(ctx, mvn, "-B", "-q", "-Dstyle.color=never",
		"-f", filepath.Join(dir, "pom.xml"), dependencyPlugin, "-Dkafka.lib="+lib)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("kafkalocal: mvn copy-dependencies: %w\n%s", err, logtail.LastLines(stripANSI(out), 30))
	}
	if !hasJars(lib) {
		return "", fmt.Errorf("kafkalocal: mvn copied no jars to %s", lib)
	}
	// Written last: a fetch cut short leaves no stamp and is done again.
	if err := os.WriteFile(filepath.Join(lib, stampFile), []byte(stamp+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("kafkalocal: fetch: %w", err)
	}
	return lib, nil
}

// pomStamp identifies the pom.xml that jars were resolved from.
func pomStamp(path string) (string, error) {
	pom, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(pom)
	return hex.EncodeToString(sum[:]), nil
}

func fetched(lib, stamp string) bool {
	b, err := os.ReadFile(filepath.Join(lib, stampFile))
	return err == nil && strings.TrimSpace(string(b)) == stamp && hasJars(lib)
}

func hasJars(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.jar"))
	return len(m) > 0
}

// lockFile takes an exclusive flock on path and returns its release.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("kafkalocal: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("kafkalocal: lock: %w", err)
	}
	return func() { _ = f.Close() }, nil
}

// Options say where and how the broker runs.
type Options struct {
	// LibDir holds the jars (see Fetch).
	LibDir string
	// DataDir holds the configuration and Kafka's data. Empty means a new
	// temporary directory that Stop removes; otherwise it is created when
	// missing, formatted once, and reused as it is.
	DataDir string
	// Port is the client (PLAINTEXT) port on 127.0.0.1; 0 picks a free one.
	Port int
	// ControllerPort is the KRaft controller port on 127.0.0.1; 0 picks a
	// free one.
	ControllerPort int
	// Log receives the server's output; nil discards it (the last lines still
	// appear in start errors). Ignored when Detach is set.
	Log io.Writer
	// Detach starts the broker in a session of its own, writing its output to
	// DataDir/server.log and not tied to this process: it keeps running after
	// this process exits, and a later one stops it with StopPID. DataDir must
	// be set.
	Detach bool
}

// Broker is one broker we started. Its methods are safe for concurrent use.
type Broker struct {
	java       string
	libDir     string
	dataDir    string
	temporary  bool
	detach     bool
	port       int
	ctrlPort   int
	clusterID  string
	out        io.Writer
	tail       *tail
	deathOnEnd syscall.Signal

	mu      sync.Mutex
	proc    *proc.Process // nil while not running
	stopped bool
}

// Start prepares the data directory (configuration, and formatting the
// storage unless it is formatted already), starts the broker and waits until
// it answers a metadata request as the cluster of that data directory.
func Start(ctx context.Context, opts Options) (*Broker, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, ErrNoJava
	}
	if opts.LibDir == "" {
		return nil, errors.New("kafkalocal: Options.LibDir is empty (see Fetch)")
	}
	lib, err := filepath.Abs(opts.LibDir)
	if err != nil {
		return nil, fmt.Errorf("kafkalocal: lib dir: %w", err)
	}
	if !hasJars(lib) {
		return nil, fmt.Errorf("kafkalocal: no jars in %s (see Fetch)", lib)
	}
	if opts.Detach && opts.DataDir == "" {
		return nil, errors.New("kafkalocal: a detached broker needs a DataDir")
	}
	if opts.Port != 0 && opts.Port == opts.ControllerPort {
		return nil, fmt.Errorf("kafkalocal: port and controller port are both %d", opts.Port)
	}
	b := &Broker{
		java:      java,
		libDir:    lib,
		temporary: opts.DataDir == "",
		detach:    opts.Detach,
		tail:      newTail(),
	}
	b.out = b.tail
	if opts.Log != nil {
		b.out = io.MultiWriter(opts.Log, b.tail)
	}
	// A temporary broker holds nothing worth a clean shutdown if this process
	// dies; a persistent one gets one.
	b.deathOnEnd = syscall.SIGKILL
	if b.temporary {
		if b.dataDir, err = os.MkdirTemp("", "kafkalocal-"); err != nil {
			return nil, fmt.Errorf("kafkalocal: data dir: %w", err)
		}
	} else {
		b.deathOnEnd = syscall.SIGTERM
		if b.dataDir, err = filepath.Abs(opts.DataDir); err != nil {
			return nil, fmt.Errorf("kafkalocal: data dir: %w", err)
		}
		if err := os.MkdirAll(b.dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("kafkalocal: data dir: %w", err)
		}
	}
	if err := b.start(ctx, opts); err != nil {
		if b.temporary {
			_ = os.RemoveAll(b.dataDir)
		}
		return nil, err
	}
	return b, nil
}

func (b *Broker) start(ctx context.Context, opts Options) error {
	if err := os.WriteFile(b.path(log4jConfigName), []byte(log4jConfig), 0o644); err != nil {
		return fmt.Errorf("kafkalocal: %w", err)
	}
	ctx, cancel := proc.WithDefaultTimeout(ctx, readyTimeout)
	defer cancel()

	// A picked port can be taken by someone else before the broker binds it;
	// picking again is cheap. A port the caller chose is theirs to fix.
	attempts := 1
	if opts.Port == 0 || opts.ControllerPort == 0 {
		attempts = 3
	}
	var err error
	for range attempts {
		if err = b.choosePorts(opts); err != nil {
			return err
		}
		if err = os.WriteFile(b.path(propertiesName), []byte(b.properties()), 0o644); err != nil {
			return fmt.Errorf("kafkalocal: %w", err)
		}
		if err = b.format(ctx); err != nil {
			return err
		}
		b.mu.Lock()
		err = b.launchLocked(ctx)
		b.mu.Unlock()
		if err == nil || ctx.Err() != nil || !portClash(err) {
			break
		}
	}
	return err
}

// portClash tells a start that failed because a port was taken, by us
// noticing or by the JVM's bind failing.
func portClash(err error) bool {
	s := err.Error()
	return strings.Contains(s, "is not free") || strings.Contains(s, "Address already in use") ||
		strings.Contains(s, "BindException")
}

func (b *Broker) choosePorts(opts Options) error {
	b.port, b.ctrlPort = opts.Port, opts.ControllerPort
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	// Both picks are held open together so they differ.
	for _, p := range []*int{&b.port, &b.ctrlPort} {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*p)))
		if err != nil {
			return fmt.Errorf("kafkalocal: port %d on 127.0.0.1 is not free: %w", *p, err)
		}
		held = append(held, l)
		*p = l.Addr().(*net.TCPAddr).Port
	}
	return nil
}

// Addr is the broker's client address, host:port.
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// ControllerAddr is the KRaft controller's address, host:port.
func (b *Broker) ControllerAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.ctrlPort))
}

// DataDir is the broker's data directory.
func (b *Broker) DataDir() string { return b.dataDir }

// ClusterID is the id the storage was formatted with.
func (b *Broker) ClusterID() string { return b.clusterID }

// PID is the broker's process id, or 0 while it is not running.
func (b *Broker) PID() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc == nil {
		return 0
	}
	return b.proc.PID()
}

// Stop shuts the broker down (SIGTERM, then SIGKILL if it has not exited
// within 30 s) and removes a temporary data directory. Stopping twice is a
// no-op.
func (b *Broker) Stop() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return nil
	}
	b.stopped = true
	var errs []error
	if b.proc != nil {
		errs = append(errs, b.terminateLocked())
	}
	if b.temporary {
		errs = append(errs, os.RemoveAll(b.dataDir))
	}
	return errors.Join(errs...)
}

// Kill ends the broker with SIGKILL, as a crash would, keeping its data;
// Restart brings it back.
func (b *Broker) Kill() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return errors.New("kafkalocal: kill: broker is stopped")
	}
	if b.proc == nil {
		return nil
	}
	p := b.proc
	b.proc = nil
	p.Signal(syscall.SIGKILL)
	<-p.Done()
	return nil
}

// Restart stops the broker if it runs, starts it again with the same data
// directory, ports and configuration (the storage is not formatted again) and
// waits until it answers.
func (b *Broker) Restart(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return errors.New("kafkalocal: restart: broker is stopped")
	}
	if b.proc != nil {
		if err := b.terminateLocked(); err != nil {
			return err
		}
	}
	ctx, cancel := proc.WithDefaultTimeout(ctx, readyTimeout)
	defer cancel()
	return b.launchLocked(ctx)
}

// terminateLocked asks the broker for a controlled shutdown and waits for it.
func (b *Broker) terminateLocked() error {
	p := b.proc
	b.proc = nil
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.Done():
		return nil
	case <-time.After(stopTimeout):
	}
	p.Signal(syscall.SIGKILL)
	<-p.Done()
	return fmt.Errorf("kafkalocal: broker did not stop within %s of SIGTERM; killed", stopTimeout)
}

func (b *Broker) path(name string) string { return filepath.Join(b.dataDir, name) }

// format writes the storage's identity unless an earlier run did; a formatted
// data directory keeps its cluster id.
func (b *Broker) format(ctx context.Context) error {
	meta := filepath.Join(b.dataDir, logDirName, "meta.properties")
	if id, err := readProperty(meta, "cluster.id"); err == nil {
		b.clusterID = id
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("kafkalocal: %w", err)
	}
	if b.clusterID == "" {
		id, err := newClusterID()
		if err != nil {
			return err
		}
		b.clusterID = id
	}
	args := append(b.javaArgs("-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"), "kafka.tools.StorageTool", "format",
		"-t", b.clusterID, "-c", b.path(propertiesName))
	cmd := exec.CommandContext(ctx, b.java, args...)
	cmd.Dir = b.dataDir
	out, err := cmd.CombinedOutput()
	b.logOutput(out)
	if err != nil {
		return fmt.Errorf("kafkalocal: format storage: %w\n%s", err, logtail.LastLines(out, 20))
	}
	return nil
}

// logOutput adds output of our own steps to where the server's output goes.
func (b *Broker) logOutput(out []byte) {
	if !b.detach {
		_, _ = b.out.Write(out)
		return
	}
	f, err := os.OpenFile(b.path(ServerLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	_, _ = f.Write(out)
	_ = f.Close()
}

// newClusterID makes a random id in the form Kafka's own random-uuid prints:
// 16 bytes, base64url without padding. Like Kafka, it avoids a leading '-',
// which command-line parsers would take for a flag.
func newClusterID() (string, error) {
	for {
		var u [16]byte
		if _, err := rand.Read(u[:]); err != nil {
			return "", fmt.Errorf("kafkalocal: cluster id: %w", err)
		}
		if id := base64.RawURLEncoding.EncodeToString(u[:]); id[0] != '-' {
			return id, nil
		}
	}
}

func (b *Broker) javaArgs(heap ...string) []string {
	args := append([]string{}, heap...)
	return append(args,
		"-Dlog4j2.configurationFile="+b.path(log4jConfigName),
		"-cp", filepath.Join(b.libDir, "*"))
}

// properties is the broker's configuration: one node that is both broker and
// controller, every internal topic with one replica.
func (b *Broker) properties() string {
	lines := []string{
		"# Written by deploy/kafkalocal at each start; edits are lost.",
		"process.roles=broker,controller",
		"node.id=1",
		"controller.quorum.voters=1@" + b.ControllerAddr(),
		"listeners=PLAINTEXT://" + b.Addr() + ",CONTROLLER://" + b.ControllerAddr(),
		"advertised.listeners=PLAINTEXT://" + b.Addr(),
		"controller.listener.names=CONTROLLER",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs=" + filepath.Join(b.dataDir, logDirName),
		"num.partitions=3",
		"auto.create.topics.enable=false",
		"offsets.topic.replication.factor=1",
		"transaction.state.log.replication.factor=1",
		"transaction.state.log.min.isr=1",
		"share.coordinator.state.topic.replication.factor=1",
		"share.coordinator.state.topic.min.isr=1",
		"group.initial.rebalance.delay.ms=0",
	}
	return strings.Join(lines, "\n") + "\n"
}

// log4jConfig sends Kafka's start-up and shutdown lines (INFO of the kafka.*
// loggers) and everyone's warnings to the console. Without a configuration
// file log4j2 logs only errors.
const log4jConfig = `# Written by deploy/kafkalocal at each start; edits are lost.
status = warn
name = kafkalocal
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = info
`

// launchLocked starts the JVM and waits until the broker answers. Called
// with b.mu held.
func (b *Broker) launchLocked(ctx context.Context) error {
	if err := b.portsFree(); err != nil {
		return err
	}
	b.tail.reset()
	p, err := b.spawn()
	if err != nil {
		return err
	}
	if err := b.waitReady(ctx, p); err != nil {
		p.Signal(syscall.SIGKILL)
		<-p.Done()
		return err
	}
	b.proc = p
	return nil
}

// portsFree fails fast, and clearly, when something else holds a port: the
// JVM would take seconds to say so.
func (b *Broker) portsFree() error {
	for _, port := range []int{b.port, b.ctrlPort} {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("kafkalocal: port %d on 127.0.0.1 is not free: %w", port, err)
		}
		_ = l.Close()
	}
	return nil
}

// process is a JVM we started.
// spawn starts the broker's JVM. An attached one runs in its own process
// group (a terminal's Ctrl-C is ours to handle, in order) and dies with us
// (Pdeathsig). A detached one runs in its own session and writes to a file, so
// nothing of ours holds it.
func (b *Broker) spawn() (*proc.Process, error) {
	args := append(b.javaArgs(jvmOptions...), "kafka.Kafka", b.path(propertiesName))
	cmd := exec.Command(b.java, args...)
	cmd.Dir = b.dataDir
	if b.detach {
		f, err := os.OpenFile(b.path(ServerLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("kafkalocal: %w", err)
		}
		defer f.Close() // the JVM has its own copy once started
		if fi, err := f.Stat(); err == nil {
			b.tail.from(b.path(ServerLog), fi.Size())
		}
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.Stdout, cmd.Stderr = b.out, b.out
		cmd.WaitDelay = 5 * time.Second
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: b.deathOnEnd}
	}
	p, err := proc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("kafkalocal: start java: %w", err)
	}
	return p, nil
}

// waitReady polls with a metadata request until the broker answers as this
// data directory's cluster, the JVM exits, or ctx ends. The cluster id check
// keeps another broker that answers on the port from passing for ours.
func (b *Broker) waitReady(ctx context.Context, p *proc.Process) error {
	delay := 50 * time.Millisecond
	var last error
	for {
		id, err := Probe(ctx, b.Addr())
		switch {
		case err != nil:
			last = err
		case id != b.clusterID:
			last = fmt.Errorf("%s answers as cluster %q, not %q", b.Addr(), id, b.clusterID)
		default:
			return nil
		}
		timer := time.NewTimer(delay)
		select {
		case <-p.Done():
			timer.Stop()
			return fmt.Errorf("kafkalocal: kafka exited during start (%v)\n%s", p.Err(), b.tail.String())
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("kafkalocal: kafka not ready on %s: %w (last: %v)\n%s", b.Addr(), ctx.Err(), last, b.tail.String())
		case <-timer.C:
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

// Probe sends one metadata request to the broker at addr and returns the
// cluster id it answers with. It succeeds only once the broker has
// registered itself and serves clients.
func Probe(ctx context.Context, addr string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	cfg := sarama.NewConfig()
	cfg.ClientID = "kafkalocal-probe"
	cfg.Version = kafka.Version
	cfg.Net.DialTimeout = time.Second
	cfg.Net.ReadTimeout = 3 * time.Second
	cfg.Net.WriteTimeout = 3 * time.Second
	if d, ok := ctx.Deadline(); ok {
		cfg.Net.DialTimeout = max(min(cfg.Net.DialTimeout, time.Until(d)), time.Millisecond)
	}
	br := sarama.NewBroker(addr)
	if err := br.Open(cfg); err != nil {
		return "", fmt.Errorf("probe %s: %w", addr, err)
	}
	defer br.Close()
	resp, err := br.GetMetadata(sarama.NewMetadataRequest(cfg.Version, nil))
	if err != nil {
		return "", fmt.Errorf("probe %s: %w", addr, err)
	}
	if len(resp.Brokers) == 0 {
		return "", fmt.Errorf("probe %s: no broker registered yet", addr)
	}
	if resp.ClusterID == nil {
		return "", fmt.Errorf("probe %s: no cluster id in the answer", addr)
	}
	return *resp.ClusterID, nil
}

// IsBroker reports whether pid is a live java process running kafka.Kafka.
func IsBroker(pid int) bool {
	if pid <= 0 {
		return false
	}
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	return isBrokerCmdline(strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00"))
}

func isBrokerCmdline(argv []string) bool {
	if len(argv) < 2 || filepath.Base(argv[0]) != "java" {
		return false
	}
	for _, a := range argv[1:] {
		if a == "kafka.Kafka" {
			return true
		}
	}
	return false
}

// StopPID stops a broker that is not our child (one started with Detach by
// another process): SIGTERM, wait up to timeout for it to exit, then
// SIGKILL. It signals nothing and returns ErrNotBroker unless pid is a java
// process running kafka.Kafka.
func StopPID(pid int, timeout time.Duration) error {
	if !IsBroker(pid) {
		return fmt.Errorf("pid %d: %w", pid, ErrNotBroker)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("kafkalocal: signal pid %d: %w", pid, err)
	}
	if waitGone(pid, timeout) {
		return nil
	}
	if IsBroker(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if !waitGone(pid, 5*time.Second) {
		return fmt.Errorf("kafkalocal: pid %d still runs after SIGKILL", pid)
	}
	return fmt.Errorf("kafkalocal: pid %d did not stop within %s of SIGTERM; killed", pid, timeout)
}

// waitGone polls until pid has exited (a zombie counts as gone: its parent
// reaps it, not us).
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if !alive(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// readProperty reads one key of a Java properties file (the simple form
// Kafka writes: key=value lines).
func readProperty(path, key string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no %s", path, key)
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func stripANSI(b []byte) []byte { return ansi.ReplaceAll(b, nil) }

// tail keeps the end of the server's output for error messages. For a
// detached broker, whose output goes to a file, it reads that file instead.
type tail struct {
	*logtail.Buffer
	mu     sync.Mutex
	file   string
	offset int64
}

const tailBytes = 8 << 10

func newTail() *tail { return &tail{Buffer: logtail.New(tailBytes)} }

func (t *tail) reset() {
	t.Buffer.Reset()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.file = ""
}

// from makes String read path from offset on.
func (t *tail) from(path string, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.file, t.offset = path, offset
}

func (t *tail) String() string {
	t.mu.Lock()
	file, offset := t.file, t.offset
	t.mu.Unlock()
	if file != "" {
		if b, err := readFrom(file, offset); err == nil {
			return logtail.LastLines(b, 20)
		}
	}
	return t.Buffer.String()
}

func readFrom(path string, offset int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	offset = max(offset, fi.Size()-tailBytes)
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_, err = io.Copy(&buf, f)
	return buf.Bytes(), err
}
