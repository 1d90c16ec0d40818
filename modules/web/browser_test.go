//go:build browser

// The browser test drives Debian's chromium through the pages a user would
// use, against the app on a real socket with fake backends, at 1280 and
// 390 px, light and dark. It needs the build tag:
//
//	go test -tags browser -count=1 -run TestBrowser ./modules/web/
//
// Its screenshots go to a new temporary directory (named in the log), or to
// SCREENSHOT_DIR; docs/screenshots is rewritten only with
// UPDATE_SCREENSHOTS=1, so that a run in CI leaves the tree as it was.
package web

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/marketplace/orders/modules/order"
)

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (apt-get install -y chromium, or set CHROMIUM): skipping the browser test")
	return ""
}

// demoOrders fills the fake with orders that look like real traffic: several
// customers, large amounts, several items, one that arrives later.
func demoOrders(t *testing.T, env *testEnv) {
	t.Helper()
	base := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	names := []string{"Mascaras", "Wireless headphones with a long product name", "Kettle", "Winter jacket", "Socks"}
	for i := range 8 {
		uid := fmt.Sprintf("demo-%02d-7f3a9c", i)
		env.orders.put(withUID(t, uid, func(o *order.Order) {
			o.TrackNumber = fmt.Sprintf("WBTRACK%03d", i)
			o.CustomerID = fmt.Sprintf("customer-%d", i%3)
			o.Delivery.Name = []string{"Anna Petrova", "Ivan Ivanov", "Test Testov"}[i%3]
			o.Delivery.Phone = fmt.Sprintf("+7900000%04d", i)
			o.DateCreated = base.Add(-time.Duration(i) * 37 * time.Minute)
			o.Payment.Transaction = uid
			o.Payment.Currency = []string{"RUB", "USD", "EUR"}[i%3]
			var goods int64
			o.Items = nil
			for j := range 1 + i%4 {
				price := int64(129900 * (j + 1) * (i + 1))
				total := price * (100 - 30) / 100
				goods += total
				o.Items = append(o.Items, order.Item{
					ChrtID: int64(9934930 + j), TrackNumber: o.TrackNumber, Price: price, Rid: fmt.Sprintf("rid-%d-%d", i, j),
					Name: names[(i+j)%len(names)], Sale: 30, Size: "M", TotalPrice: total, NmID: int64(2389212 + j),
					Brand: "Vivienne Sabo", Status: 202,
				})
			}
			o.Payment.GoodsTotal = goods
			o.Payment.DeliveryCost = 150000
			o.Payment.CustomFee = 0
			o.Payment.Amount = goods + 150000
		}))
	}
}

// screenshotDir is where the screenshots go: docs/screenshots only when
// asked, else SCREENSHOT_DIR, else a new temporary directory kept for
// looking at after the run.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SCREENSHOT_DIR")
	switch {
	case os.Getenv("UPDATE_SCREENSHOTS") == "1":
		dir = filepath.Join("..", "..", "docs", "screenshots")
	case dir == "":
		var err error
		if dir, err = os.MkdirTemp("", "orders-screenshots-"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// demoParked is a DLQ as the consumer fills it: the reasons modules/order
// writes, bodies of whole orders, a conflict and a replay parked again.
func demoParked(t *testing.T) []order.Parked {
	t.Helper()
	at := time.Date(2026, 11, 30, 8, 15, 0, 0, time.UTC)
	body := func(edit func(m map[string]any)) []byte { return editedFixture(t, edit) }
	msg := func(i int, kind order.Kind, reason, key string, b []byte) order.Parked {
		return order.Parked{Kind: kind, Reason: reason, Topic: "orders", Partition: int32(i % 3), Offset: int64(48213 - 97*i),
			Time: at.Add(-time.Duration(i) * 23 * time.Minute), Key: []byte(key), Body: b, Size: len(b)}
	}
	items := []order.Parked{
		msg(0, order.KindValidation, "items[0].total_price: is 3000, want 3171 or 3172 = price 4530 × (100 − sale 30) / 100 rounded down or up; payment.goods_total: is 3000, want 3171 = the sum of items' total_price",
			"demo-bad-01", body(func(m map[string]any) {
				m["order_uid"] = "demo-bad-01"
				m["items"].([]any)[0].(map[string]any)["total_price"] = 3000
				m["note"] = "<script>alert(1)</script>"
			})),
		msg(1, order.KindDecode, "message is not JSON: invalid character 'o' in literal null (expecting 'u') at byte 2", "k-2", []byte("not json at all")),
		msg(2, order.KindConflict, `order_uid: a different order is already stored under "demo-00-7f3a9c"`, "demo-00-7f3a9c",
			body(func(m map[string]any) { m["order_uid"] = "demo-00-7f3a9c" })),
		msg(3, order.KindValidation, "order_uid: is required", "", body(func(m map[string]any) { delete(m, "order_uid") })),
		msg(4, order.KindValidation, `payment.currency: "usd" must be 3 upper-case letters (ISO 4217)`, "demo-bad-05",
			body(func(m map[string]any) { m["payment"].(map[string]any)["currency"] = "usd" })),
		msg(5, order.KindDecode, "items.price: want an integer (minor units), got string", "demo-bad-06",
			body(func(m map[string]any) { m["items"].([]any)[0].(map[string]any)["price"] = "453" })),
		msg(6, order.KindValidation, "date_created: is 2999-01-01T00:00:00Z, more than 1h0m0s ahead of the service's clock (2026-11-30T07:00:00Z)", "demo-bad-07",
			body(func(m map[string]any) { m["date_created"] = "2999-01-01T00:00:00Z" })),
		msg(7, order.KindValidation, `order_uid: "bad uid!" must be 1 to 64 of A-Z a-z 0-9 _ -`, "bad uid!",
			body(func(m map[string]any) { m["order_uid"] = "bad uid!" })),
	}
	// The first, replayed once with nothing fixed, parked again.
	replay := items[0]
	replay.Time, replay.Partition, replay.Offset, replay.ReplayOf = at.Add(5*time.Minute), 1, 48377, "orders.dlq/0@120"
	return append([]order.Parked{replay}, items...)
}

type consoleLog struct {
	mu   sync.Mutex
	msgs []string
}

func (c *consoleLog) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, s)
}

func (c *consoleLog) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

func TestBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	shots := screenshotDir(t)

	env := newTestEnv(t)
	delete(env.orders.records, xssUID)
	demoOrders(t, env)
	parked := env.deps.Parked.(*fakeParked)
	parked.items = demoParked(t)
	done := make(chan struct{})
	env.deps.Done = done
	env.app = env.newApp(Config{})
	base := "http://" + listen(t, env.app)
	t.Cleanup(func() { close(done) })

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true), chromedp.Flag("lang", "en-US"),
	)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	// Every console error, exception or browser-log error (a CSP violation
	// is one) fails the test at the end.
	var console consoleLog
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// The error pages answer their status on purpose.
			if strings.Contains(m.Text, "status of 404") || strings.Contains(m.Text, "status of 400") || strings.Contains(m.Text, "status of 503") {
				continue
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				console.add(fmt.Sprintf("%s:%d %s", m.URL, m.Line+1, m.Text))
			}
		}
	}()

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scheme := func(value string) {
		t.Helper()
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: value}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	zone := func(id string) {
		t.Helper()
		if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: id}); err != nil {
			t.Fatal(err)
		}
	}
	fitsWidth := func(where string) {
		t.Helper()
		if got := eval(`String(document.documentElement.scrollWidth <= window.innerWidth)`); got != "true" {
			t.Errorf("%s: the page is wider than the window (%s > %s)", where,
				eval(`String(document.documentElement.scrollWidth)`), eval(`String(window.innerWidth)`))
		}
	}
	contrast := func(where string) {
		t.Helper()
		var ratio float64
		var at string
		if _, err := fmt.Sscanf(eval(contrastJS), "%f %s", &ratio, &at); err != nil || ratio < 4.5 {
			t.Errorf("%s: lowest text contrast %.2f at %s, want at least 4.5 (%v)", where, ratio, at, err)
		}
	}
	// Every page in both widths and both schemes fits its width and reads.
	each := func(name, target, ready string, check func(width int64, dark bool)) {
		t.Helper()
		for _, w := range []int64{1280, 390} {
			for _, dark := range []bool{false, true} {
				scheme(map[bool]string{false: "light", true: "dark"}[dark])
				do(fmt.Sprintf("open %s at %d", target, w), chromedp.EmulateViewport(w, map[bool]int64{true: 900, false: 844}[w == 1280]),
					chromedp.Navigate(base+target), chromedp.WaitVisible(chromedp.CSS(ready)))
				where := fmt.Sprintf("%s at %d%s", name, w, map[bool]string{false: "", true: " dark"}[dark])
				fitsWidth(where)
				contrast(where)
				if bad := eval(cellsOfOneItemJS); bad != "" {
					t.Errorf("%s: cells whose parts fall into the label column: %s", where, bad)
				}
				if check != nil {
					check(w, dark)
				}
				shot(fmt.Sprintf("%s-%d%s", name, w, map[bool]string{false: "", true: "-dark"}[dark]))
			}
		}
		scheme("light")
	}

	t.Run("home: the search box has the focus and a hint", func(t *testing.T) {
		each("home", "/", `#recent tr a`, func(int64, bool) {
			if n := eval(`String(document.querySelectorAll("#recent tr").length)`); n != "10" {
				t.Errorf("%s recent rows, want 10", n)
			}
			if got := eval(`document.activeElement.id`); got != "order-uid" {
				t.Errorf("focus on %q, want the search box", got)
			}
			if got := eval(`document.querySelector("#order-uid").placeholder`); got != "e.g. WBILMTESTTRACK" {
				t.Errorf("placeholder %q", got)
			}
		})
		do("follow the newest order", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(chromedp.CSS(`#recent tr a`)), chromedp.Click(chromedp.CSS(`#recent tr a`)),
			chromedp.WaitVisible(chromedp.CSS(`#items .item-name`)))
		if got := eval(`document.querySelector("h1 .uid").textContent`); got != "demo-00-7f3a9c" {
			t.Errorf("followed to %q", got)
		}
	})

	t.Run("one time, in the viewer's zone, UTC on hover", func(t *testing.T) {
		zone("Asia/Vladivostok")
		defer zone("")
		do("open order", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/orders/demo-00-7f3a9c"),
			chromedp.WaitVisible(chromedp.CSS(`#summary time[data-localised]`)))
		// 09:00 UTC is 19:00 in Vladivostok.
		created := eval(`(() => { const dd = document.querySelector("#summary time").closest("dd"); return dd.textContent.trim() + " | " + dd.querySelector("time").title })()`)
		if created != "Nov 30, 2026, 7:00 PM GMT+10 | 2026-11-30 09:00:00 UTC" {
			t.Errorf("created shows %q, want the local time named once and UTC in the title", created)
		}
		for _, w := range []int64{1280, 390} {
			do("home", chromedp.EmulateViewport(w, 844), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#recent time[data-localised]`)))
			// Each time sits in its value column, right of the label.
			if bad := eval(timeInLabelColumnJS); bad != "" {
				t.Errorf("at %d px, times in the label column: %s", w, bad)
			}
		}
		shot("home-390-vladivostok")
		// Rows that arrive live get the same.
		do("wide", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#recent tr a`)),
			chromedp.Sleep(1500*time.Millisecond))
		env.orders.put(withUID(t, "arrived-live-01", func(o *order.Order) {
			o.DateCreated = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		}))
		do("see it arrive", chromedp.WaitVisible(chromedp.CSS(`#recent a[href="/orders/arrived-live-01"]`)), chromedp.Sleep(200*time.Millisecond))
		if got := eval(`document.querySelector("#recent tr time").textContent`); got != "Dec 1, 2026, 10:00 AM GMT+10" {
			t.Errorf("a row swapped in live shows %q", got)
		}
		if got := eval(`String(document.querySelectorAll("#recent time:not([data-localised])").length)`); got != "0" {
			t.Errorf("%s times swapped in live are left in UTC", got)
		}
		delete(env.orders.records, "arrived-live-01")
	})

	t.Run("search: track numbers in any case, phones with or without +", func(t *testing.T) {
		for give, want := range map[string]string{"  wbtrack003 ": "demo-03-7f3a9c", "79000000004": "demo-04-7f3a9c", "+7 900 000-00-05": "demo-05-7f3a9c"} {
			do("search "+give, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#order-uid`)),
				chromedp.SendKeys(chromedp.CSS(`#order-uid`), give), chromedp.Submit(chromedp.CSS(`#order-uid`)),
				chromedp.WaitVisible(chromedp.CSS(`#items`)))
			if got := eval(`document.querySelector("h1 .uid").textContent`); got != want {
				t.Errorf("%q found %q, want %q", give, got, want)
			}
		}
		do("search a customer", chromedp.Navigate(base+"/?OrderUID=customer-1"), chromedp.WaitVisible(chromedp.CSS(`#results`)))
		if n := eval(`String(document.querySelectorAll("#results tbody tr").length)`); n != "3" {
			t.Errorf("%s orders of customer-1, want 3", n)
		}
	})

	t.Run("order: statuses one way, both widths, both schemes", func(t *testing.T) {
		each("order", "/orders/demo-07-7f3a9c", `#items`, func(w int64, _ bool) {
			if got := eval(wrappedMoneyJS); got != "" {
				t.Errorf("amounts wrap: %s", got)
			}
			if got := eval(`document.querySelector("#summary .badge").textContent`); got != "202 Accepted" {
				t.Errorf("status %q", got)
			}
			if w == 390 {
				if got := eval(`getComputedStyle(document.querySelector("#items thead")).display`); got != "none" {
					t.Errorf("items at 390 px are a table (thead display %q), want cards", got)
				}
			}
		})
	})

	t.Run("error pages at both widths speak to people", func(t *testing.T) {
		each("notfound", "/orders/no-such-order", `#error`, func(int64, bool) {
			if got := eval(`document.querySelector("#error .next a").getAttribute("href")`); got != "/" {
				t.Errorf("not-found next step %q", got)
			}
		})
		each("malformed", "/orders/bad%20uid!", `#error`, func(int64, bool) {
			want := `"bad uid!" cannot be an order uid: character 4 is a space, and an order uid is only Latin letters, digits, "_" or "-".`
			if got := eval(`document.querySelector("#error .detail").textContent`); got != want {
				t.Errorf("malformed uid says %q", got)
			}
		})
	})

	t.Run("parked messages: a table to scan, filtered by kind", func(t *testing.T) {
		each("dlq", "/dlq", `#parked-list`, func(w int64, _ bool) {
			if n := eval(`String(document.querySelectorAll("#parked-list tbody.message").length)`); n != "9" {
				t.Errorf("%s parked messages shown, want 9", n)
			}
			if n := eval(`String(document.querySelectorAll("main script").length)`); n != "0" {
				t.Error("a parked body became a script")
			}
			if w == 1280 {
				// Seven messages fit one screen.
				bottom, err := strconv.Atoi(eval(`String(Math.ceil(document.querySelectorAll("#parked-list tbody.message")[6].getBoundingClientRect().bottom))`))
				if err != nil || bottom > 900 {
					t.Errorf("the seventh message ends at %d px, below the 900 px screen (%v)", bottom, err)
				}
			}
		})
		do("open dlq", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/dlq"), chromedp.WaitVisible(chromedp.CSS(`#parked-list`)))
		if got := eval(`[...document.querySelectorAll("#kinds a")].map(a => a.textContent.replace(/\s+/g, " ").trim()).join(", ")`); got != "All 9, decode 2, validation 6, conflict 1" {
			t.Errorf("kinds %q", got)
		}
		if got := eval(`document.querySelector("#parked-list td.source").innerText.replace(/\s+/g, " ").trim()`); got != "orders, partition 1, offset 48377 replay of orders.dlq, partition 0, offset 120" {
			t.Errorf("source of the replay %q", got)
		}
		do("open a body", chromedp.Click(chromedp.CSS(`#parked-list tbody.message details summary`)),
			chromedp.WaitVisible(chromedp.CSS(`#parked-list tbody.message details pre`)))
		if got := eval(`String(document.querySelector("#parked-list details pre").textContent.split("\n").length > 20)`); got != "true" {
			t.Error("an opened body is not pretty-printed")
		}
		shot("dlq-1280-open")
		do("filter", chromedp.Click(chromedp.CSS(`#kinds a.kind-validation`)), chromedp.WaitVisible(chromedp.CSS(`#kinds a.kind-validation[aria-current="page"]`)))
		if got := eval(`[...new Set([...document.querySelectorAll("#parked-list .badge")].map(b => b.textContent))].join(",")`); got != "validation" {
			t.Errorf("the validation filter lists %q", got)
		}
		if got := eval(`location.search`); got != "?kind=validation" {
			t.Errorf("filter address %q", got)
		}
	})

	t.Run("Russian: the switch keeps the page, every word Russian", func(t *testing.T) {
		do("open order", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/orders/demo-01-7f3a9c"),
			chromedp.WaitVisible(chromedp.CSS(`a.lang`)), chromedp.Click(chromedp.CSS(`a.lang`)),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="ru"] #items`)))
		if got := eval(`location.pathname`); got != "/orders/demo-01-7f3a9c" {
			t.Errorf("after the switch the page is %q", got)
		}
		if got := eval(`document.querySelector("#delivery-title").textContent`); got != "Доставка" {
			t.Errorf("delivery heading %q in Russian", got)
		}
		if got := eval(`document.querySelector("#summary time").textContent`); !strings.Contains(got, "2026 г.") {
			t.Errorf("time in Russian %q", got)
		}
		shot("order-1280-ru")
		do("home", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#recent`)))
		if got := eval(`document.documentElement.lang`); got != "ru" {
			t.Errorf("home after the switch in %q", got)
		}
		shot("home-1280-ru")
		do("dlq", chromedp.Navigate(base+"/dlq"), chromedp.WaitVisible(chromedp.CSS(`#parked-list`)))
		if got := eval(`[...document.querySelectorAll("#kinds a")].map(a => a.firstChild.textContent.trim()).join(", ")`); got != "Все, разбор, проверка, конфликт" {
			t.Errorf("kinds in Russian %q", got)
		}
		shot("dlq-1280-ru")
		do("malformed", chromedp.Navigate(base+"/orders/bad%20uid!"), chromedp.WaitVisible(chromedp.CSS(`#error`)))
		if got := eval(`document.querySelector("#error .detail").textContent`); !strings.HasPrefix(got, `"bad uid!" не может быть идентификатором заказа: символ 4 — пробел`) {
			t.Errorf("malformed uid in Russian says %q", got)
		}
		shot("malformed-1280-ru")
		do("dlq narrow", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/dlq"), chromedp.WaitVisible(chromedp.CSS(`#parked-list`)))
		fitsWidth("dlq in Russian at 390")
		shot("dlq-390-ru")
		do("back to English", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/?lang=en"), chromedp.WaitVisible(chromedp.CSS(`#recent`)))
	})

	t.Run("the DLQ unreadable is a 503 page", func(t *testing.T) {
		parked.mu.Lock()
		parked.err = fmt.Errorf("read orders.dlq/0: %w", context.DeadlineExceeded)
		parked.mu.Unlock()
		defer func() {
			parked.mu.Lock()
			parked.err = nil
			parked.mu.Unlock()
		}()
		do("open dlq", chromedp.Navigate(base+"/dlq"), chromedp.WaitVisible(chromedp.CSS(`#error`)))
		if got := eval(`document.querySelector("#error .status").textContent`); got != "Error 503" {
			t.Errorf("status line %q", got)
		}
	})

	t.Run("the OpenAPI document shows in the browser", func(t *testing.T) {
		do("open openapi.yaml", chromedp.Navigate(base+"/api/openapi.yaml"), chromedp.WaitVisible(chromedp.CSS(`body pre`)))
		if got := eval(`document.contentType + " " + document.body.innerText.slice(0, 14)`); got != "text/yaml openapi: 3.1.0" {
			t.Errorf("the browser shows %q", got)
		}
	})

	t.Run("pages work without JavaScript", func(t *testing.T) {
		// The same flows through plain links and forms: the server answers
		// each as a whole page (checked without a browser in pages_test.go);
		// here, a page with scripts off still shows the items, and its
		// time in UTC.
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		do("no js", chromedp.Navigate(base+"/orders/demo-02-7f3a9c"), chromedp.WaitVisible(chromedp.CSS(`#items .item-name`)))
		if got := eval(`document.querySelector("#summary time").textContent`); !strings.HasSuffix(got, " UTC") {
			t.Errorf("without scripts the time reads %q", got)
		}
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false}); err != nil {
			t.Fatal(err)
		}
	})

	if errs := console.errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// cellsOfOneItemJS lists the list cells that, laid out as a grid of label
// and value (at 390 px), hold more than one item: the second would fall
// into the label column.
const cellsOfOneItemJS = `[...document.querySelectorAll("td[data-label]")].filter(td => getComputedStyle(td).display === "grid" &&
  [...td.childNodes].filter(n => n.nodeType === 1 || (n.nodeType === 3 && n.textContent.trim() !== "")).length > 1
).map(td => td.dataset.label + ": " + td.textContent.trim().slice(0, 30)).join("; ")`

// timeInLabelColumnJS lists the times of list cells that start left of
// where the cell's label ends: at 390 px a cell is a label column and a
// value column, and a time must sit in the second.
const timeInLabelColumnJS = `[...document.querySelectorAll("td[data-label] time")].filter(t => {
  const td = t.closest("td"), label = getComputedStyle(td, "::before");
  if (label.content === "none" || getComputedStyle(td).display !== "grid") return false;
  const col = parseFloat(getComputedStyle(td).gridTemplateColumns.split(" ")[0]);
  return t.getBoundingClientRect().left < td.getBoundingClientRect().left + col;
}).map(t => t.textContent).join(", ")`

// wrappedMoneyJS lists the amounts whose text takes more than one line.
const wrappedMoneyJS = `[...document.querySelectorAll(".money")].filter(e => {
  const r = document.createRange(); r.selectNodeContents(e);
  return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size > 1;
}).map(e => e.textContent).join(", ")`

// contrastJS finds the lowest WCAG contrast between text and the colour
// behind it over the page's text elements; it answers "<ratio> <selector>".
const contrastJS = `(() => {
  const rgb = s => { const m = s.match(/[\d.]+/g).map(Number); return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const bg = el => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.a > 0) return c; } return rgb(getComputedStyle(document.documentElement).backgroundColor).a > 0 ? rgb(getComputedStyle(document.documentElement).backgroundColor) : {r: 255, g: 255, b: 255, a: 1}; };
  let worst = 99, where = "";
  for (const el of document.querySelectorAll("body, h1, h2, dt, dd, td, th, a, code, time, .badge, .count, .note, .hint, .replay, summary, label, button, input, pre")) {
    if (!el.getClientRects().length) continue;
    const fg = rgb(getComputedStyle(el).color), b = bg(el);
    const l1 = lum(fg), l2 = lum(b);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    if (ratio < worst) { worst = ratio; where = el.tagName.toLowerCase() + (el.className ? "." + el.className.split(" ").join(".") : ""); }
  }
  return worst.toFixed(2) + " " + (where || "none");
})()`
