package kafkatest

import (
	"context"
	"os"
	"testing"
)

// A detached broker outlives its starter's handle; StopApache finds it by
// the lock Kafka holds on its storage, and leaves it stopped.
func TestApacheDetachedStartAndStop(t *testing.T) {
	if os.Getenv("TEST_KAFKA_LOCAL") != "1" {
		t.Skip("set TEST_KAFKA_LOCAL=1 to run Apache Kafka (java 17+, mvn)")
	}
	dir := t.TempDir()
	a, err := StartApache(t.Context(), ApacheOptions{Dir: dir, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = StopApache(context.Background(), dir, nil) })
	CreateTopics(t, []string{a.Addr()}, 3, "orders")
	Produce(t, []string{a.Addr()}, "orders", Message{Key: []byte("k"), Value: []byte("v")})
	if got := ReadN(t, []string{a.Addr()}, "orders", 1, 10e9); len(got) != 1 {
		t.Fatalf("read %d messages back, want 1", len(got))
	}
	pid := ApachePID(dir)
	if pid != a.cmd.Process.Pid {
		t.Fatalf("ApachePID = %d, want the JVM's %d", pid, a.cmd.Process.Pid)
	}
	if err := StopApache(t.Context(), dir, nil); err != nil {
		t.Fatal(err)
	}
	if pid := ApachePID(dir); pid != 0 {
		t.Fatalf("after StopApache, pid %d still holds the storage", pid)
	}
}
