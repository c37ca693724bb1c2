package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/dashboard"
	"github.com/turnstile-streams/turnstile/internal/membertest"
	"github.com/turnstile-streams/turnstile/internal/testenv"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
)

const (
	// browserEnv names the browser binary (default: chromium or Chrome on PATH).
	browserEnv = "TURNSTILE_BROWSER"
	// requireBrowserEnv turns a missing browser from a skip into a failure
	// (.ci/run sets it when CI=true; CI=true alone does too).
	requireBrowserEnv = "TURNSTILE_BROWSER_REQUIRE"
	// screenshotEnv, when set, is where the test writes its screenshot.
	screenshotEnv = "TURNSTILE_SCREENSHOT"
	// hostile is a station name that is markup.
	hostile = `<img src=x onerror=alert(1)>`
)

func findBrowser(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(browserEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no browser found (chromium, chromium-browser, google-chrome, headless-shell on PATH, or " + browserEnv +
		"): install Debian's chromium (apt-get install chromium) to run the dashboard's browser test"
	if os.Getenv(requireBrowserEnv) != "" || os.Getenv("CI") == "true" {
		t.Fatalf("%s (%s or CI=true is set, so this fails instead of skipping)", msg, requireBrowserEnv)
	}
	t.Skip(msg)
	return ""
}

// device is one turnstile of the test's stations.
type device struct {
	ca, unit, scp, station, line string
}

var devices = []device{
	{"A002", "R051", "02-00-00", "59 ST", "NQR456W"},
	{"A002", "R051", "02-00-01", "59 ST", "NQR456W"},
	{"R151", "R033", "00-00-00", "TIMES SQ-42 ST", "1237ACENQRSW"},
	{"R151", "R033", "00-00-01", "TIMES SQ-42 ST", "1237ACENQRSW"},
	{"N067", "R012", "00-03-00", "34 ST-PENN STA", "ACE"},
	{"N067", "R012", "00-03-01", "34 ST-PENN STA", "ACE"},
	{"X001", "R999", "00-00-00", hostile, "NQR"},
	{"X001", "R999", "00-00-01", hostile, "NQR"},
}

// registers are the cumulative counters of a device after its i-th reading.
func registers(d, i int) (entries, exits int64) {
	for k := 0; k <= i; k++ {
		entries += int64(20 + (k*37+d*11)%60)
		exits += int64(10 + (k*53+d*7)%45)
	}
	return 1_000_000*int64(d+1) + entries, 500_000*int64(d+1) + exits
}

func reading(d int, at time.Time, entries, exits int64, id string) schemas.Reading {
	dv := devices[d]
	r := schemas.Reading{CA: dv.ca, Unit: dv.unit, SCP: dv.scp, Station: dv.station, LineName: dv.line, Division: "BMT",
		Desc: "REGULAR", Entries: entries, Exits: exits, ID: id}
	r.SetTimes(at)
	return r
}

// sinkWatch follows the station windows topic from its end when it was
// created and reports each record with the time it was fetched.
type sinkWatch struct {
	mu   sync.Mutex
	seen map[string][]seenRecord // key -> records in order
	cond chan struct{}           // closed and replaced on every record
}

type seenRecord struct {
	w         schemas.StationWindow
	published time.Time // the record's timestamp: when the relay produced it
	fetched   time.Time
}

func watchStations(t *testing.T, ctx context.Context, brokers []string, adm *kadm.Client, codec *codecs.StationWindowCodec) *sinkWatch {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, schemas.DefaultStationWindowsTopic)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(ends.KOffsets()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	w := &sinkWatch{seen: map[string][]seenRecord{}, cond: make(chan struct{})}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				sw, err := codec.Unmarshal(r.Value)
				if err != nil {
					t.Errorf("station sink: %v", err)
					return
				}
				w.mu.Lock()
				w.seen[string(r.Key)] = append(w.seen[string(r.Key)], seenRecord{w: sw, published: r.Timestamp, fetched: now})
				close(w.cond)
				w.cond = make(chan struct{})
				w.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return w
}

// wait returns the first record of key with at least revision rev.
func (w *sinkWatch) wait(t *testing.T, ctx context.Context, key string, rev int32) seenRecord {
	t.Helper()
	for {
		w.mu.Lock()
		for _, r := range w.seen[key] {
			if r.w.Revision >= rev {
				w.mu.Unlock()
				return r
			}
		}
		c := w.cond
		w.mu.Unlock()
		select {
		case <-c:
		case <-ctx.Done():
			t.Fatalf("%s revision %d never reached the station sink", key, rev)
		}
	}
}

// rowState is a table row as the page shows it.
type rowState struct {
	Found   bool     `json:"found"`
	Count   int      `json:"count"` // rows with the key
	Cells   []string `json:"cells"`
	Classes string   `json:"classes"`
	Same    bool     `json:"same"` // the element probed before
}

// rowJS evaluates to the rowState of key; with probe it also remembers the
// element for a later Same.
func rowJS(key string, probe bool) string {
	k, _ := json.Marshal(key)
	p := "false"
	if probe {
		p = "true"
	}
	return fmt.Sprintf(`(() => {
  const key = %s;
  const rows = Array.from(document.querySelectorAll('#rows tr')).filter((tr) => tr.getAttribute('data-key') === key);
  const tr = rows[0];
  window.__probe = window.__probe || {};
  if (%s && tr) window.__probe[key] = tr;
  if (!tr) return {found: false, count: 0, cells: [], classes: '', same: false};
  return {found: true, count: rows.length, cells: Array.from(tr.children).map((td) => td.textContent),
    classes: tr.className, same: window.__probe[key] === tr};
})()`, k, p)
}

func number(s string) int64 {
	n, _ := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
	return n
}

// TestDashboardInBrowser drives headless Chromium against a running
// pipeline (embedded broker and registry, one member with its HTTP server):
// the page loads without console errors and lists the sink's station
// windows, a window published after the load appears within 2 s of being on
// the sink topic, a correction (a late reading within retention, REVISION
// 2) updates its row in place and marks it, and a station named with markup
// is shown as text. With TURNSTILE_SCREENSHOT=path it writes a screenshot.
func TestDashboardInBrowser(t *testing.T) {
	browser := findBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	brokers, sr, cl := testenv.Stack(t)
	adm := kadm.NewClient(cl)
	m := membertest.Start(t, ctx, membertest.Config(t, brokers, sr, 3), membertest.Options{Admin: adm, Dashboard: true})
	for {
		if r := m.P.Readiness(); r.Ready {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("member not ready: %+v", m.P.Readiness())
		case <-time.After(200 * time.Millisecond):
		}
	}

	readingCodec, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: sr,
		Subject: schemas.Subject(schemas.DefaultInputTopic)}, WriterVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	produce := func(rs ...schemas.Reading) {
		t.Helper()
		for _, r := range rs {
			b, err := readingCodec.EncodeReading(&r)
			if err != nil {
				t.Fatal(err)
			}
			cl.Produce(ctx, &kgo.Record{Topic: schemas.DefaultInputTopic, Key: []byte(r.ID), Value: b}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	stCodec, err := codecs.NewStationWindowCodec(codecs.Config{Client: sr, Subject: schemas.Subject(schemas.DefaultStationWindowsTopic)})
	if err != nil {
		t.Fatal(err)
	}

	// History: a reading per device every 4 minutes for 148 minutes, up to
	// T0 (an hour ago, on a window boundary). Every window closes once the
	// input is idle.
	const n = 38
	t0 := time.Now().UTC().Truncate(5 * time.Minute).Add(-time.Hour)
	at := func(d, i int) time.Time {
		return t0.Add(-time.Duration(4*(n-1-i))*time.Minute + time.Duration(d)*time.Second)
	}
	var history []schemas.Reading
	expected := map[string]bool{}
	for i := 0; i < n; i++ {
		for d := range devices {
			e, x := registers(d, i)
			history = append(history, reading(d, at(d, i), e, x, fmt.Sprintf("r-%d-%d", d, i)))
			start := at(d, i).Truncate(5 * time.Minute)
			expected[devices[d].station+"|"+devices[d].line+"|"+start.Format(processors.WindowKeyTime)] = true
		}
	}
	produce(history...)
	sink := testenv.ReadSink(t, ctx, brokers, schemas.DefaultStationWindowsTopic, func(b []byte) (schemas.StationWindow, int64, error) {
		w, err := stCodec.Unmarshal(b)
		return w, int64(w.Revision), err
	}, func(m map[string]schemas.StationWindow) string {
		missing := 0
		for k := range expected {
			if _, ok := m[k]; !ok {
				missing++
			}
		}
		if missing > 0 || len(m) != len(expected) {
			return fmt.Sprintf("%d station windows of %d on the sink, %d missing", len(m), len(expected), missing)
		}
		return ""
	})
	t.Logf("%d readings, %d station windows on the sink", len(history), len(sink))

	// The browser.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1400, 1000))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	var cmu sync.Mutex
	var consoleErrors, dialogs []string
	messages := chromedp.Console(bctx)
	go func() {
		for msg, err := range messages {
			if err != nil {
				return
			}
			if msg.Type == chromedp.ConsoleError || msg.IsException() {
				cmu.Lock()
				consoleErrors = append(consoleErrors, msg.String()+" at "+msg.URL)
				cmu.Unlock()
			}
		}
	}()
	opened := chromedp.Events(bctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range opened {
			if err != nil {
				return
			}
			cmu.Lock()
			dialogs = append(dialogs, string(ev.Type)+": "+ev.Message)
			cmu.Unlock()
			_, _ = chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	eval := func(expr string, out any) {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[json.RawMessage](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		if err := json.Unmarshal(v, out); err != nil {
			t.Fatalf("evaluate %s: %v (%s)", expr, err, v)
		}
	}
	waitPage := func(what string, timeout time.Duration, cond func() string) time.Time {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			last := cond()
			if last == "" {
				return time.Now()
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: gave up after %v: %s", what, timeout, last)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	loadStart := time.Now()
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1400, 1000), chromedp.Navigate(m.URL+"/")); err != nil {
		t.Fatal(err)
	}
	var title string
	eval(`document.title`, &title)
	if !strings.Contains(title, "turnstile") {
		t.Errorf("title %q", title)
	}

	t.Run("station rows", func(t *testing.T) {
		type row struct {
			Key   string   `json:"key"`
			Cells []string `json:"cells"`
		}
		var rows []row
		waitPage("every station window in the table", 30*time.Second, func() string {
			eval(`Array.from(document.querySelectorAll('#rows tr')).map((tr) => ({key: tr.getAttribute('data-key'),
				cells: Array.from(tr.children).map((td) => td.textContent)}))`, &rows)
			if len(rows) != len(sink) {
				return fmt.Sprintf("%d rows, %d station windows on the sink", len(rows), len(sink))
			}
			return ""
		})
		t.Logf("%d rows %v after the navigation", len(rows), time.Since(loadStart).Round(time.Millisecond))
		var prevEnd string
		for i, r := range rows {
			w, ok := sink[r.Key]
			if !ok {
				t.Errorf("row %s is not a window on the sink", r.Key)
				continue
			}
			if r.Cells[0] != w.Station || r.Cells[1] != w.LineName || number(r.Cells[3]) != w.Entries || number(r.Cells[4]) != w.Exits ||
				number(r.Cells[5]) != int64(w.Devices) || number(r.Cells[6]) != int64(w.Revision) {
				t.Errorf("row %s shows %q, the sink has %+v", r.Key, r.Cells, w)
			}
			// Newest first: a window ends no later than the row above's.
			end := w.End.UTC().Format(time.RFC3339)
			if i > 0 && end > prevEnd {
				t.Errorf("row %d (%s) ends after the row above (%s)", i, end, prevEnd)
			}
			prevEnd = end
		}
	})

	t.Run("markup in a station name is text", func(t *testing.T) {
		var got struct {
			Cells  []string `json:"cells"`
			Images int      `json:"images"`
			Title  string   `json:"title"`
		}
		eval(fmt.Sprintf(`(() => {
  const tr = Array.from(document.querySelectorAll('#rows tr')).find((tr) => tr.children[0].textContent === %q);
  if (tr) tr.click();
  return {cells: tr ? Array.from(tr.children).map((td) => td.textContent) : [], images: document.querySelectorAll('img, svg image').length,
    title: document.getElementById('chart-title').textContent};
})()`, hostile), &got)
		if len(got.Cells) == 0 || got.Cells[0] != hostile {
			t.Errorf("no row shows the station %q as text: %q", hostile, got.Cells)
		}
		waitPage("the chart of the hostile station", 5*time.Second, func() string {
			eval(`({cells: [], images: document.querySelectorAll('img, svg image').length, title: document.getElementById('chart-title').textContent})`, &got)
			if !strings.HasPrefix(got.Title, hostile) {
				return "chart title " + got.Title
			}
			return ""
		})
		if got.Images != 0 {
			t.Errorf("%d img elements on the page: the station name was parsed as markup", got.Images)
		}
	})

	t.Run("search by station and line", func(t *testing.T) {
		for _, tc := range []struct{ query, station string }{{"penn", "34 ST-PENN STA"}, {"1237ACE", "TIMES SQ-42 ST"}} {
			if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.ID("search"), tc.query)); err != nil {
				t.Fatal(err)
			}
			waitPage("search "+tc.query, 5*time.Second, func() string {
				var stations []string
				eval(`Array.from(document.querySelectorAll('#rows tr')).map((tr) => tr.children[0].textContent)`, &stations)
				if len(stations) == 0 {
					return "no rows"
				}
				for _, s := range stations {
					if s != tc.station {
						return "row of " + s
					}
				}
				return ""
			})
			var ok bool
			eval(`(() => { const s = document.getElementById('search'); s.value = ''; s.dispatchEvent(new Event('input')); return true; })()`, &ok)
		}
		waitPage("the search cleared", 5*time.Second, func() string {
			var n int
			eval(`document.querySelectorAll('#rows tr').length`, &n)
			if n != len(sink) {
				return fmt.Sprintf("%d rows", n)
			}
			return ""
		})
	})

	t.Run("health", func(t *testing.T) {
		resp, err := http.Get(m.URL + "/api/health")
		if err != nil {
			t.Fatal(err)
		}
		var h dashboard.HealthReport
		err = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		g := processors.DefaultGroups()
		for _, group := range []string{g.Ingest, g.Windows} {
			if len(h.Partitions[group]) != 3 {
				t.Errorf("partitions of %s: %v, want all 3", group, h.Partitions[group])
			}
		}
		if !h.Readiness.Ready || h.Kafka == nil || len(h.Kafka.Groups) != len((processors.Config{}).ConsumerGroups()) || len(h.Watermarks) != 1 || h.Events.Clients < 1 ||
			h.Totals.StationWindows != float64(len(sink)) || h.Kafka.StationWindows != int64(len(sink)) {
			t.Errorf("health: %+v (kafka %+v)", h, h.Kafka)
		}
		for _, w := range h.Watermarks {
			if w.Time == nil {
				t.Errorf("watermark of %s: none", w.Group)
			}
		}
		waitPage("the health panel", 10*time.Second, func() string {
			var text string
			eval(`document.getElementById('health').textContent`, &text)
			for _, want := range []string{"Ready", "yes", "Lag", "turnstile-windows", "Watermark", "Dead-lettered", "Too late", "Partitions", "/s"} {
				if !strings.Contains(text, want) {
					return fmt.Sprintf("no %q in %q", want, text)
				}
			}
			return ""
		})
	})

	watch := watchStations(t, ctx, brokers, adm, stCodec)
	key := func(d int, start time.Time) string {
		return devices[d].station + "|" + devices[d].line + "|" + start.UTC().Format(processors.WindowKeyTime)
	}

	t.Run("a new window appears within 2s of being on the sink", func(t *testing.T) {
		e, x := registers(0, n-1)
		newAt := t0.Add(20 * time.Minute)
		k := key(0, newAt)
		produce(reading(0, newAt, e+321, x+123, "new-1"))
		rec := watch.wait(t, ctx, k, 1)
		shown := waitPage("the new window in the table", 10*time.Second, func() string {
			var r rowState
			eval(rowJS(k, false), &r)
			if !r.Found {
				return "no row " + k
			}
			return ""
		})
		latency := shown.Sub(rec.published)
		t.Logf("window %s: produced to the sink at %s, fetched by the test %v later, on the page %v later",
			k, rec.published.Format("15:04:05.000"), rec.fetched.Sub(rec.published).Round(time.Millisecond), latency.Round(time.Millisecond))
		if latency > 2*time.Second {
			t.Errorf("the window was on the page %v after it was published, want at most 2s", latency)
		}
		var r rowState
		eval(rowJS(k, false), &r)
		if number(r.Cells[3]) != 321 || number(r.Cells[4]) != 123 || r.Cells[6] != "1" {
			t.Errorf("new row %q, want 321 entries, 123 exits, revision 1", r.Cells)
		}
	})

	t.Run("a correction updates its row in place", func(t *testing.T) {
		// A late reading between the device's readings at T0-24m and T0-20m
		// (within retention) splits their difference: both windows are
		// corrected, and with them the station's.
		i24, i20 := n-1-6, n-1-5
		e24, x24 := registers(0, i24)
		e20, x20 := registers(0, i20)
		k1, k2 := key(0, at(0, i24).Truncate(5*time.Minute)), key(0, at(0, i20).Truncate(5*time.Minute))
		for _, k := range []string{k1, k2} {
			var r rowState
			eval(rowJS(k, true), &r)
			if !r.Found || r.Cells[6] != "1" || strings.Contains(r.Classes, "corrected") {
				t.Fatalf("before the correction, row %s: %+v", k, r)
			}
		}
		produce(reading(0, t0.Add(-22*time.Minute), (e24+e20)/2, (x24+x20)/2, "late-1"))
		for _, k := range []string{k1, k2} {
			rec := watch.wait(t, ctx, k, 2)
			var r rowState
			shown := waitPage("the corrected row "+k, 10*time.Second, func() string {
				eval(rowJS(k, false), &r)
				if !r.Found || !strings.HasPrefix(r.Cells[6], "2") {
					return fmt.Sprintf("%+v", r)
				}
				return ""
			})
			if !r.Same || r.Count != 1 {
				t.Errorf("row %s was replaced or duplicated (same element %v, %d rows with the key)", k, r.Same, r.Count)
			}
			if !strings.Contains(r.Classes, "corrected") || !strings.Contains(r.Cells[6], "corrected") {
				t.Errorf("row %s is not marked as corrected: classes %q, revision cell %q", k, r.Classes, r.Cells[6])
			}
			if number(r.Cells[3]) != rec.w.Entries || number(r.Cells[4]) != rec.w.Exits {
				t.Errorf("row %s shows %q, revision 2 on the sink %+v", k, r.Cells, rec.w)
			}
			t.Logf("correction %s: on the page %v after it was published", k, shown.Sub(rec.published).Round(time.Millisecond))
		}
	})

	if path := os.Getenv(screenshotEnv); path != "" {
		var ok bool
		eval(`(() => { const tr = Array.from(document.querySelectorAll('#rows tr')).find((tr) => tr.children[0].textContent === '59 ST');
  if (tr) tr.click(); return !!tr; })()`, &ok)
		waitPage("the corrections and rates in the health panel", 10*time.Second, func() string {
			var text string
			eval(`document.getElementById('health').textContent`, &text)
			if strings.Contains(text, "…") || strings.Contains(text, "(0 corrections)") {
				return text
			}
			return ""
		})
		png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", path, len(png))
	}

	// The page's own requests and the stream had no errors.
	var resp *http.Response
	if resp, err = http.Get(m.URL + "/"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	cmu.Lock()
	defer cmu.Unlock()
	if len(consoleErrors) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(consoleErrors, "\n"))
	}
	if len(dialogs) > 0 {
		t.Errorf("dialogs opened (script ran from data): %v", dialogs)
	}
}
