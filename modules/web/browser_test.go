//go:build browser

// The browser test drives Debian's chromium through the pages a user would
// use, against the app on a real socket with fake backends. It needs the
// build tag: go test -tags browser -run Browser ./modules/web/
// It saves screenshots into docs/screenshots (SCREENSHOT_DIR overrides).
package web

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	shots := os.Getenv("SCREENSHOT_DIR")
	if shots == "" {
		shots = filepath.Join("..", "..", "docs", "screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	env := newTestEnv(t)
	delete(env.orders.records, xssUID)
	demoOrders(t, env)
	parkedAt := time.Date(2026, 11, 30, 8, 15, 0, 0, time.UTC)
	env.deps.Parked.(*fakeParked).items = []order.Parked{
		{Kind: order.KindValidation, Reason: "items[0].total_price: 3000 is not price 4530 less 30% (3171)", Topic: "orders", Partition: 1, Offset: 48213, Time: parkedAt,
			Key: []byte("demo-bad-01"), Body: []byte(`{"order_uid":"demo-bad-01","items":[{"price":4530,"sale":30,"total_price":3000}], "note":"<script>alert(1)</script>"}`)},
		{Kind: order.KindDecode, Reason: "not JSON: invalid character 'o' in literal null", Topic: "orders", Partition: 0, Offset: 977, Time: parkedAt.Add(-time.Hour),
			Key: []byte("k-2"), Body: []byte("not json at all")},
		{Kind: order.KindConflict, Reason: "a different order is stored under uid demo-00-7f3a9c", Topic: "orders", Partition: 2, Offset: 12, Time: parkedAt.Add(-2 * time.Hour),
			Key: []byte("demo-00-7f3a9c"), Body: []byte(strings.Repeat(`{"order_uid":"demo-00-7f3a9c"} `, 100))},
	}
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
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
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
			// The not-found page is a 404 on purpose.
			if strings.Contains(m.URL, "/orders/no-such-order") && strings.Contains(m.Text, "status of 404") {
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
	fitsWidth := func(where string) {
		t.Helper()
		if got := eval(`String(document.documentElement.scrollWidth <= window.innerWidth)`); got != "true" {
			t.Errorf("%s: the page is wider than the window (%s > %s)", where,
				eval(`String(document.documentElement.scrollWidth)`), eval(`String(window.innerWidth)`))
		}
	}

	t.Run("home lists recent orders and follows one to its items", func(t *testing.T) {
		do("open home", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(chromedp.CSS(`#recent tr a`)))
		if n := eval(`String(document.querySelectorAll("#recent tr").length)`); n != "10" {
			t.Errorf("%s recent rows, want 10", n)
		}
		fitsWidth("home at 1280")
		shot("home-1280")
		do("follow the newest order", chromedp.Click(chromedp.CSS(`#recent tr a`)),
			chromedp.WaitVisible(chromedp.CSS(`#items .item-name`)))
		if got := eval(`document.querySelector("h1 .uid").textContent`); got != "demo-00-7f3a9c" {
			t.Errorf("followed to %q", got)
		}
		if got := eval(`document.querySelector("#items .item-name").textContent`); got != "Mascaras" {
			t.Errorf("first item %q", got)
		}
		// app.js added the viewer's time beside the UTC one.
		if got := eval(`String(document.querySelectorAll("#summary .local-time").length)`); got != "1" {
			t.Errorf("%s local times in the summary, want 1", got)
		}
	})

	t.Run("the list shows an order as it arrives", func(t *testing.T) {
		do("open home", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#recent tr a`)))
		// Let the event stream connect before the order arrives.
		do("stream connected", chromedp.Sleep(1500*time.Millisecond))
		env.orders.put(withUID(t, "arrived-live-01", func(o *order.Order) {
			o.DateCreated = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		}))
		do("see it arrive", chromedp.WaitVisible(chromedp.CSS(`#recent a[href="/orders/arrived-live-01"]`)))
		// The swapped-in rows get the viewer's times too.
		do("localised", chromedp.Sleep(200*time.Millisecond))
		if got := eval(`String(document.querySelectorAll("#recent tr").length === document.querySelectorAll("#recent .local-time").length)`); got != "true" {
			t.Errorf("rows swapped in live lack local times: %s rows, %s local times",
				eval(`String(document.querySelectorAll("#recent tr").length)`), eval(`String(document.querySelectorAll("#recent .local-time").length)`))
		}
		delete(env.orders.records, "arrived-live-01")
	})

	t.Run("search by track number", func(t *testing.T) {
		do("search", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#order-uid`)),
			chromedp.SetValue(chromedp.CSS(`#order-uid`), "  WBTRACK003 "),
			chromedp.Submit(chromedp.CSS(`#order-uid`)),
			chromedp.WaitVisible(chromedp.CSS(`#items`)))
		if got := eval(`document.querySelector("h1 .uid").textContent`); got != "demo-03-7f3a9c" {
			t.Errorf("track number found %q", got)
		}
		do("search a customer", chromedp.Navigate(base+"/?OrderUID=customer-1"), chromedp.WaitVisible(chromedp.CSS(`#results`)))
		if n := eval(`String(document.querySelectorAll("#results tbody tr").length)`); n != "3" {
			t.Errorf("%s orders of customer-1, want 3", n)
		}
	})

	t.Run("order page at both widths and in dark mode", func(t *testing.T) {
		target := base + "/orders/demo-07-7f3a9c"
		do("open order", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(target), chromedp.WaitVisible(chromedp.CSS(`#items`)))
		fitsWidth("order at 1280")
		// Amounts stay on one line.
		if got := eval(wrappedMoneyJS); got != "" {
			t.Errorf("amounts wrap: %s", got)
		}
		shot("order-1280")
		do("narrow", chromedp.EmulateViewport(390, 844), chromedp.Navigate(target), chromedp.WaitVisible(chromedp.CSS(`#items`)))
		fitsWidth("order at 390")
		if got := eval(`getComputedStyle(document.querySelector("#items thead")).display`); got != "none" {
			t.Errorf("items at 390 px are a table (thead display %q), want cards", got)
		}
		shot("order-390")
		scheme("dark")
		do("dark", chromedp.Navigate(target), chromedp.WaitVisible(chromedp.CSS(`#items`)))
		shot("order-390-dark")
		do("dark wide", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(target), chromedp.WaitVisible(chromedp.CSS(`#items`)))
		shot("order-1280-dark")
		// Text against what is behind it, for the kinds of text on the page.
		worst := eval(contrastJS)
		var ratio float64
		var where string
		if _, err := fmt.Sscanf(worst, "%f %s", &ratio, &where); err != nil {
			t.Fatalf("contrast %q: %v", worst, err)
		}
		if ratio < 4.5 {
			t.Errorf("dark mode: lowest text contrast %.2f at %s, want at least 4.5", ratio, where)
		}
		scheme("light")
		do("light", chromedp.Navigate(target), chromedp.WaitVisible(chromedp.CSS(`#items`)))
		if _, err := fmt.Sscanf(eval(contrastJS), "%f %s", &ratio, &where); err != nil || ratio < 4.5 {
			t.Errorf("light mode: lowest text contrast %.2f at %s, want at least 4.5", ratio, where)
		}
	})

	t.Run("home and not-found at both widths", func(t *testing.T) {
		do("home narrow", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#recent tr a`)))
		fitsWidth("home at 390")
		shot("home-390")
		scheme("dark")
		do("home narrow dark", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#recent tr a`)))
		shot("home-390-dark")
		scheme("light")
		for _, w := range []int64{1280, 390} {
			do("not found", chromedp.EmulateViewport(w, 844), chromedp.Navigate(base+"/orders/no-such-order"),
				chromedp.WaitVisible(chromedp.CSS(`#error`)))
			if got := eval(`document.querySelector("#error .next a").getAttribute("href")`); got != "/" {
				t.Errorf("not-found next step %q", got)
			}
			fitsWidth(fmt.Sprintf("not found at %d", w))
			shot(fmt.Sprintf("notfound-%d", w))
		}
	})

	t.Run("parked messages", func(t *testing.T) {
		do("open dlq", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/dlq"), chromedp.WaitVisible(chromedp.CSS(`.parked li`)))
		if n := eval(`String(document.querySelectorAll(".parked li").length)`); n != "3" {
			t.Errorf("%s parked messages shown, want 3", n)
		}
		if n := eval(`String(document.querySelectorAll("main script").length)`); n != "0" {
			t.Error("a parked body became a script")
		}
		fitsWidth("dlq at 1280")
		shot("dlq-1280")
		do("narrow dlq", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/dlq"), chromedp.WaitVisible(chromedp.CSS(`.parked li`)))
		fitsWidth("dlq at 390")
	})

	t.Run("switch language keeps the page", func(t *testing.T) {
		do("open order", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/orders/demo-01-7f3a9c"),
			chromedp.WaitVisible(chromedp.CSS(`a.lang`)), chromedp.Click(chromedp.CSS(`a.lang`)),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="ru"] #items`)))
		if got := eval(`location.pathname`); got != "/orders/demo-01-7f3a9c" {
			t.Errorf("after the switch the page is %q", got)
		}
		if got := eval(`document.querySelector("#delivery-title").textContent`); got != "Доставка" {
			t.Errorf("delivery heading %q in Russian", got)
		}
		// The choice stays for the next page.
		do("home", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#recent`)))
		if got := eval(`document.documentElement.lang`); got != "ru" {
			t.Errorf("home after the switch in %q", got)
		}
		shot("home-1280-ru")
	})

	t.Run("pages work without JavaScript", func(t *testing.T) {
		// The same flows through plain links and forms: the server answers
		// each as a whole page (checked without a browser in pages_test.go);
		// here, a page with scripts off still shows the list and the items.
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		do("no js", chromedp.Navigate(base+"/orders/demo-02-7f3a9c"), chromedp.WaitVisible(chromedp.CSS(`#items .item-name`)))
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false}); err != nil {
			t.Fatal(err)
		}
	})

	if errs := console.errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

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
  for (const el of document.querySelectorAll("body, h1, h2, dt, dd, td, th, a, .badge, .note, .hint, summary, label, button, input")) {
    if (!el.getClientRects().length) continue;
    const fg = rgb(getComputedStyle(el).color), b = bg(el);
    const l1 = lum(fg), l2 = lum(b);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    if (ratio < worst) { worst = ratio; where = el.tagName.toLowerCase() + (el.className ? "." + el.className.split(" ").join(".") : ""); }
  }
  return worst.toFixed(2) + " " + (where || "none");
})()`
