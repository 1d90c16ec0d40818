package web

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/order"
)

// readEvent reads one server-sent event: its name and its data lines joined.
func readEvent(t *testing.T, r *bufio.Reader) (string, string) {
	t.Helper()
	var name string
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && (name != "" || len(data) > 0):
			return name, strings.Join(data, "\n")
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

func TestLiveOrdersStream(t *testing.T) {
	env := newTestEnv(t)
	done := make(chan struct{})
	env.deps.Done = done
	env.app = env.newApp(Config{})
	addr := listen(t, env.app)
	// Runs before the server's shutdown (cleanups run last first), so the
	// stream ends and the shutdown does not wait for it.
	t.Cleanup(func() { close(done) })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/live/orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	name, data := readEvent(t, r)
	if name != "orders" || !strings.Contains(data, `href="/orders/`+cachedUID+`"`) {
		t.Fatalf("first event %q: %.300s", name, data)
	}
	if strings.Contains(data, "<script>") {
		t.Errorf("order values became markup: %.300s", data)
	}

	env.orders.put(withUID(t, "arrived-later", func(o *order.Order) { o.DateCreated = o.DateCreated.Add(time.Hour) }))
	name, data = readEvent(t, r)
	if name != "orders" || !strings.HasPrefix(strings.TrimSpace(data), "<tr>") || !strings.Contains(data, "arrived-later") {
		t.Fatalf("event after a new order %q: %.300s", name, data)
	}
	if strings.Index(data, "arrived-later") > strings.Index(data, cachedUID) {
		t.Error("the new order is not first")
	}
}

func TestLiveWithoutRecentIsNotFound(t *testing.T) {
	env := newTestEnv(t)
	env.deps.Recent = nil
	env.app = env.newApp(Config{})
	if resp := env.do(t, get("/live/orders")); resp.status != http.StatusNotFound {
		t.Errorf("status %d", resp.status)
	}
	if doc := page(t, env.do(t, get("/"))); doc.Find("[sse-connect]").Length() != 0 {
		t.Error("the home page connects to a stream that is not there")
	}
}

// TestLiveStreamOutlivesTheWriteTimeout holds a stream open past the
// server's write timeout: the stream renews the deadline, so it goes on.
func TestLiveStreamOutlivesTheWriteTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("takes writeTimeout and more")
	}
	t.Parallel()
	env := newTestEnv(t)
	done := make(chan struct{})
	env.deps.Done = done
	env.app = env.newApp(Config{})
	addr := listen(t, env.app)
	t.Cleanup(func() { close(done) })

	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout+10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/live/orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	readEvent(t, r)
	start := time.Now()
	for time.Since(start) < writeTimeout+2*time.Second {
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatalf("stream ended after %v: %v", time.Since(start).Round(time.Second), err)
		}
	}
	env.orders.put(withUID(t, "after-the-timeout", func(o *order.Order) { o.DateCreated = o.DateCreated.Add(time.Hour) }))
	if _, data := readEvent(t, r); !strings.Contains(data, "after-the-timeout") {
		t.Errorf("no new order on the stream after the write timeout: %.200s", data)
	}
}
