package main

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order/fake"
	"github.com/marketplace/orders/modules/postgres/pgtest"
)

// abSide is one build of the service in an A/B: a name for the log and the
// build tags that swap a hand-written path for a library (none: the code as
// it stands).
type abSide struct{ name, tags string }

// BenchmarkIngestAB runs builds of the service binary that differ in one
// hand-written path, in alternating rounds (BENCH_ROUNDS, default 5; the
// side that goes first alternates too), each storing the same BENCH_ORDERS
// (default 100,000) orders pre-loaded in a 3-partition topic into emptied,
// checkpointed tables of the test cluster. It reports the core-seconds the
// service process used (utime+stime from /proc) per 100,000 orders, from
// exec until its metrics count every order stored, and orders/s. Sub-
// benchmarks, on generated orders as this service's producer sends them:
//   - json: the fast decoder against the full decoder on encoding/json
//     alone (abtest_libjson).
//
// (copy, binary COPY rows written by hand against pgx's CopyFrom, ran until
// the hand side saved under 10%; see BENCHMARKS.md.)
//
// Run with -benchtime 1x.
func BenchmarkIngestAB(b *testing.B) {
	total, rounds := benchOrders(b), benchRounds(b)
	for _, run := range ingestABRuns() {
		b.Run(run.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				bins := buildSides(b, run.sides)
				brokers := kafkatest.Brokers(b)
				cfg := testConfig(b, brokers)
				kafkatest.CreateTopics(b, brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
				kafkatest.Produce(b, brokers, cfg.Kafka.Topic, abMessages(total)...)
				db := openStore(b, cfg.Postgres.DSN)
				admin := pgtest.AdminDSN(b)
				migrateWith(b, bins[0], cfg)

				cpu := make([][]float64, len(run.sides)) // core-s per 100,000 orders, by side and round
				rate := make([][]float64, len(run.sides))
				for r := range rounds {
					for k := range run.sides {
						i := (k + r) % len(run.sides)
						c, took := ingestWith(b, bins[i], cfg, total, db, admin)
						cpu[i] = append(cpu[i], c*100_000/float64(total))
						rate[i] = append(rate[i], float64(total)/took.Seconds())
					}
				}
				for i, s := range run.sides {
					b.Logf("%s: core-s per 100,000 orders %s; orders/s %s", s.name, spread(cpu[i], 2), spread(rate[i], 0))
					b.ReportMetric(mean(cpu[i]), s.name+"-core-s/100k")
				}
				for i := 1; i < len(run.sides); i++ {
					b.Logf("%s saves %.1f%% of %s's CPU", run.sides[0].name, 100*(1-mean(cpu[0])/mean(cpu[i])), run.sides[i].name)
				}
			}
		})
	}
}

// ingestABRuns are BenchmarkIngestAB's sub-benchmarks and their sides.
func ingestABRuns() []struct {
	name  string
	sides []abSide
} {
	return []struct {
		name  string
		sides []abSide
	}{
		{"json", []abSide{{"hand", ""}, {"library", "abtest_libjson"}}},
	}
}

// TestABSidesBuild: the library sides of BenchmarkIngestAB are compiled
// only under their build tags, so nothing else notices when they stop
// building; this type-checks them, so that the A/B can be run again.
func TestABSidesBuild(t *testing.T) {
	var tags []string
	for _, run := range ingestABRuns() {
		for _, s := range run.sides {
			if s.tags != "" {
				tags = append(tags, s.tags)
			}
		}
	}
	cmd := exec.Command("go", "vet", "-tags", strings.Join(tags, ","), "../modules/order", "../modules/postgres")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go vet -tags %s: %v\n%s", strings.Join(tags, ","), err, out)
	}
}

// buildSides builds the service binary once for each side, with its tags.
func buildSides(b *testing.B, sides []abSide) []string {
	bins := make([]string, len(sides))
	dir := b.TempDir()
	for i, s := range sides {
		bins[i] = filepath.Join(dir, "app-"+s.name)
		out, err := exec.Command("go", "build", "-tags", s.tags, "-o", bins[i], ".").CombinedOutput()
		if err != nil {
			b.Fatalf("go build -tags %q: %v\n%s", s.tags, err, out)
		}
	}
	return bins
}

// abMessages are total generated orders.
func abMessages(total int) []kafkatest.Message {
	gen := fake.New(1)
	msgs := make([]kafkatest.Message, total)
	for i := range msgs {
		uid, raw := gen.OrderJSON()
		msgs[i] = kafkatest.Message{Key: []byte(uid), Value: raw}
	}
	return msgs
}

// migrateWith runs bin until it is ready and stops it, so the schema exists
// before the first timed run.
func migrateWith(b *testing.B, bin string, cfg config.Config) {
	cfg.HTTP.Addr = freeAddr(b)
	cfg.Kafka.Topic, cfg.Kafka.Group = kafkatest.Name("none"), kafkatest.Name("bank")
	cfg.Kafka.DLQTopic = cfg.Kafka.Topic + ".dlq"
	kafkatest.CreateTopics(b, cfg.Kafka.Brokers, 1, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	c := startChild(b, bin, env(cfg))
	eventually(b, "the service to be ready", 2*time.Minute, func() bool {
		resp, err := http.Get("http://" + cfg.HTTP.Addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	stopChild(b, c)
}

// ingestWith empties and checkpoints the tables, runs bin as a new consumer
// group until its metrics count total orders stored, and returns the
// core-seconds the process used until then and how long that took.
func ingestWith(b *testing.B, bin string, cfg config.Config, total int, db *pgxpool.Pool, admin string) (float64, time.Duration) {
	truncate(b, db)
	checkpoint(b, admin)
	cfg.HTTP.Addr = freeAddr(b)
	cfg.Kafka.Group = kafkatest.Name("bank")
	base := "http://" + cfg.HTTP.Addr
	start := time.Now()
	c := startChild(b, bin, env(cfg))
	for metricOrZero(base, `orders_ingested_total{outcome="stored"}`) < float64(total) {
		select {
		case err := <-c.done:
			b.Fatalf("the service exited (%v) before storing every order:\n%s", err, c.out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("not all %d orders stored after 10 minutes", total)
		}
	}
	took := time.Since(start)
	used := procCPU(b, c.cmd.Process.Pid)
	stopChild(b, c)
	if o, _ := counts(b, db); o != int64(total) {
		b.Fatalf("the database holds %d orders, want %d", o, total)
	}
	return used, took
}

// stopChild sends SIGTERM and waits for a clean exit.
func stopChild(b *testing.B, c *child) {
	if err := c.stop(b, syscall.SIGTERM, time.Minute); err != nil {
		b.Fatalf("service exit: %v\n%s", err, c.out)
	}
}

// procCPU is the CPU time process pid has used, user and system, in
// seconds: fields 14 and 15 of /proc/<pid>/stat, in clock ticks of 1/100 s
// (USER_HZ on Linux).
func procCPU(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name, in parentheses, may hold spaces: count from after it.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	return (utime + stime) / 100
}

func mean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// spread writes each round's figure of xs, their mean and their spread
// (highest less lowest), with prec decimals.
func spread(xs []float64, prec int) string {
	lo, hi := math.Inf(1), math.Inf(-1)
	each := make([]string, len(xs))
	for i, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
		each[i] = strconv.FormatFloat(x, 'f', prec, 64)
	}
	return fmt.Sprintf("rounds %s: mean %.*f, spread %.*f (%.0f%% of the mean)",
		strings.Join(each, " "), prec, mean(xs), prec, hi-lo, 100*(hi-lo)/mean(xs))
}
