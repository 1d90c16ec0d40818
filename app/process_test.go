package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/logtest"
	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/order/fake"
	"github.com/marketplace/orders/modules/postgres"
)

// buildBinary builds the service once per test into a temp dir.
func buildBinary(t testing.TB) string { return buildPackage(t, ".") }

// buildPackage builds the program in dir (relative to app/) into a temp dir.
func buildPackage(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(filepath.Clean(dir))+"-bin")
	out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type child struct {
	cmd    *exec.Cmd
	out    *logtest.Buffer
	done   chan error    // the exit, for the test to take
	exited chan struct{} // closed once the process has been reaped
}

// startChild runs bin with no config file, the given environment and
// further arguments; the test's end kills it if it still runs.
func startChild(t testing.TB, bin string, environ []string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-config", filepath.Join(t.TempDir(), "none.toml")}, args...)...)
	cmd.Env = environ
	out := &logtest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: out, done: make(chan error, 1), exited: make(chan struct{})}
	go func() {
		c.done <- cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

// stop sends sig and returns the exit, failing the test if the process
// still runs after within.
func (c *child) stop(tb testing.TB, sig os.Signal, within time.Duration) error {
	tb.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		tb.Fatal(err)
	}
	select {
	case err := <-c.done:
		return err
	case <-time.After(within):
		tb.Fatalf("still running %s after %s; output:\n%s", within, sig, c.out)
		return nil
	}
}

func TestSIGTERMExitsZeroAndNothingIsLostAcrossRestart(t *testing.T) {
	bin := buildBinary(t)
	brokers := kafkatest.Brokers(t)
	cfg := testConfig(t, brokers)
	cfg.Kafka.BatchWait = 5 * time.Millisecond
	kafkatest.CreateTopics(t, brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)

	const total = 5000
	gen := fake.New(7)
	msgs := make([]kafkatest.Message, total)
	var wantItems int64
	for i := range msgs {
		uid, raw := gen.OrderJSON()
		p, err := order.DefaultRules().Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		wantItems += int64(len(p.Order.Items))
		msgs[i] = kafkatest.Message{Key: []byte(uid), Value: raw}
	}
	kafkatest.Produce(t, brokers, cfg.Kafka.Topic, msgs...)
	store := openStore(t, cfg.Postgres.DSN)

	first := startChild(t, bin, env(cfg))
	eventually(t, "ingestion to be under way", 60*time.Second, func() bool { o, _ := counts(t, store); return o > 0 })
	sent := time.Now()
	if err := first.stop(t, syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v (want 0); output:\n%s", err, first.out)
	}
	t.Logf("exited 0 in %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
	atStop, _ := counts(t, store)

	startChild(t, bin, env(cfg))
	base := "http://" + cfg.HTTP.Addr
	eventually(t, "every order stored after restart", 60*time.Second, func() bool { o, _ := counts(t, store); return o == total })
	eventually(t, "the restarted service to have consumed the rest", 30*time.Second, func() bool {
		return metric(t, base, `orders_ingested_total{outcome="stored"}`) == float64(total-atStop)
	})
	// A clean stop commits every offset it processed, so nothing is seen twice.
	if dup := metric(t, base, `orders_ingested_total{outcome="duplicate"}`); dup != 0 {
		t.Errorf("the restarted service saw %v orders again after a clean SIGTERM, want 0", dup)
	}
	orders, items := counts(t, store)
	if orders != total || items != wantItems {
		t.Fatalf("after SIGTERM and restart: %d orders and %d items, want %d and %d", orders, items, total, wantItems)
	}
	if dlq := kafkatest.ReadN(t, brokers, cfg.Kafka.DLQTopic, 1, time.Second); len(dlq) != 0 {
		t.Fatalf("valid orders went to the DLQ: %d", len(dlq))
	}
	t.Logf("%d of %d stored before SIGTERM; the rest after restart", atStop, total)
}

// A database so slow that a batch cannot be stored (a lock held on the orders
// table) does not keep the service from exiting 0 within 10 s of SIGTERM: the
// write is abandoned, its offsets stay uncommitted, and the next start stores
// every order once.
func TestSIGTERMWithinBudgetWhileTheDatabaseIsSlow(t *testing.T) {
	bin := buildBinary(t)
	brokers := kafkatest.Brokers(t)
	cfg := testConfig(t, brokers)
	kafkatest.CreateTopics(t, brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	store := openStore(t, cfg.Postgres.DSN)
	gen := fake.New(9)
	produce := func(n int) {
		msgs := make([]kafkatest.Message, n)
		for i := range msgs {
			uid, raw := gen.OrderJSON()
			msgs[i] = kafkatest.Message{Key: []byte(uid), Value: raw}
		}
		kafkatest.Produce(t, brokers, cfg.Kafka.Topic, msgs...)
	}

	first := startChild(t, bin, env(cfg))
	produce(1)
	eventually(t, "the first order stored", 60*time.Second, func() bool { o, _ := counts(t, store); return o == 1 })

	ctx := context.Background()
	lock, err := store.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx) //nolint:errcheck // released below; this is for a failing test
	if _, err := lock.Exec(ctx, "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	produce(50)
	eventually(t, "a write waiting on the lock", 30*time.Second, func() bool {
		var waiting int
		err := store.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND application_name <> $1`,
			postgres.ListenerName).Scan(&waiting)
		return err == nil && waiting > 0
	})
	sent := time.Now()
	if err := first.stop(t, syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM with a write stuck on a lock: %v (want 0)\n%s", err, first.out)
	}
	t.Logf("exited 0 in %s with a write stuck on a lock", time.Since(sent).Round(time.Millisecond))
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if o, _ := counts(t, store); o != 1 {
		t.Fatalf("%d orders stored after the abandoned write, want 1", o)
	}

	startChild(t, bin, env(cfg))
	eventually(t, "all 51 stored after restart", 60*time.Second, func() bool { o, _ := counts(t, store); return o == 51 })
}

// A connection that has sent nothing (a load balancer's TCP check, a
// browser's preconnect) or only part of a request does not keep SIGTERM from
// stopping the service cleanly: the exit is 0, and the log says the stalled
// one was cut. Before, the HTTP server waited for them until the stop budget
// ran out, and the service exited 1.
func TestSIGTERMWithSilentAndStalledConnections(t *testing.T) {
	bin := buildBinary(t)
	brokers := kafkatest.Brokers(t)
	cfg := testConfig(t, brokers)
	kafkatest.CreateTopics(t, brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	svc := startChild(t, bin, env(cfg))
	base := "http://" + cfg.HTTP.Addr
	eventually(t, "ready", 60*time.Second, func() bool {
		code, _, _, err := tryGet(base + "/readyz")
		return err == nil && code == 200
	})
	silent, err := net.Dial("tcp", cfg.HTTP.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	stalled, err := net.Dial("tcp", cfg.HTTP.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := stalled.Write([]byte("GET /api/orders HTTP/1.1\r\nHost: orders\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // both accepted

	if err := svc.stop(t, syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM with a silent and a stalled connection open: %v (want 0)\n%s", err, svc.out)
	}
	if !strings.Contains(svc.out.String(), "connections still in a request at stop were closed") {
		t.Errorf("the stop did not say it closed the stalled connection\n%s", svc.out)
	}
}
