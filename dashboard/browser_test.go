package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/dashboard"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
)

const (
	// browserEnv names the browser binary (default: chromium or Chrome on PATH).
	browserEnv = "TURNSTILE_BROWSER"
	// requireBrowserEnv turns a missing browser from a skip into a failure
	// (.ci/run sets it when CI=true; CI=true alone does too).
	requireBrowserEnv = "TURNSTILE_BROWSER_REQUIRE"
	// screenshotEnv, when set, is where TestDashboardRealWeek writes its
	// screenshot (the README's docs/dashboard.png).
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
		Desc: "REGULAR", Entries: entries, Exits: exits, ID: id, EventTime: at.UTC()}
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
// windows; it shows every time in the data's zone (New York by default)
// and says so; a station with missing windows is charted with a gap in its
// lines; the time axis's labels are distinct and dated where the day
// changes (the history crosses midnight in New York); a window published
// after the load appears within 2 s of being on the sink topic; a
// correction (a late reading within retention, REVISION 2) updates its
// row in place and marks it; a station named with markup is shown as
// text; and the health report's warnings are a banner of text, absent
// when there are none.
func TestDashboardInBrowser(t *testing.T) {
	findBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	p := startPipeline(t, ctx, nil)
	brokers, adm, m := p.brokers, p.adm, p.m
	produce := func(rs ...schemas.Reading) { t.Helper(); p.produce(t, ctx, rs...) }
	ny := newYork(t)

	// History: a reading per device every 4 minutes for 148 minutes, up to
	// T0, an hour after a New York midnight at least 3 hours ago, so the
	// charts cross a day in the page's zone. 34 ST-PENN STA's devices miss
	// 6 readings: 5 of its windows have no data. Every window closes once
	// the input is idle.
	const n = 38
	const gapFrom, gapTo = 10, 16 // Penn's missing readings
	now := time.Now().In(ny)
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, ny)
	if now.Sub(midnight) < 3*time.Hour {
		midnight = midnight.AddDate(0, 0, -1)
	}
	t0 := midnight.Add(time.Hour).UTC()
	at := func(d, i int) time.Time {
		return t0.Add(-time.Duration(4*(n-1-i))*time.Minute + time.Duration(d)*time.Second)
	}
	var history []schemas.Reading
	for i := 0; i < n; i++ {
		for d := range devices {
			if devices[d].station == "34 ST-PENN STA" && i >= gapFrom && i < gapTo {
				continue
			}
			e, x := registers(d, i)
			history = append(history, reading(d, at(d, i), e, x, fmt.Sprintf("r-%d-%d", d, i)))
		}
	}
	expected := expectStations(history, 5*time.Minute)
	produce(history...)
	sink := p.waitStations(t, ctx, expected)
	t.Logf("%d readings, %d station windows on the sink, history %s..%s New York time", len(history), len(sink),
		at(0, 0).In(ny).Format("01-02 15:04"), t0.In(ny).Format("01-02 15:04"))

	b := openBrowser(t, ctx)
	loadStart := time.Now()
	b.open(t, m.URL+"/")
	var title string
	b.eval(t, `document.title`, &title)
	if !strings.Contains(title, "turnstile") {
		t.Errorf("title %q", title)
	}

	t.Run("station rows", func(t *testing.T) {
		type row struct {
			Key   string   `json:"key"`
			Cells []string `json:"cells"`
		}
		var rows []row
		b.wait(t, "every station window in the table", 30*time.Second, func() string {
			b.eval(t, `Array.from(document.querySelectorAll('#rows tr')).map((tr) => ({key: tr.getAttribute('data-key'),
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

	t.Run("times in the data's zone, and the page says so", func(t *testing.T) {
		var got struct {
			Zone, Head string
			Cells      map[string]string
		}
		b.wait(t, "every window in the table", 30*time.Second, func() string {
			b.eval(t, `({zone: document.getElementById('zone').textContent, head: document.getElementById('window-head').textContent,
  cells: Object.fromEntries(Array.from(document.querySelectorAll('#rows tr')).map((tr) => [tr.getAttribute('data-key'), tr.children[2].textContent]))})`, &got)
			if len(got.Cells) != len(sink) {
				return fmt.Sprintf("%d window cells, %d windows", len(got.Cells), len(sink))
			}
			return ""
		})
		if got.Zone != "times in New York (America/New_York)" || got.Head != "Window (New York)" {
			t.Errorf("zone label %q, window column %q", got.Zone, got.Head)
		}
		for k, w := range sink {
			s, e := w.Start.In(ny), w.End.In(ny)
			want := s.Format("Mon 01/02 15:04") + "–" + e.Format("15:04")
			if got.Cells[k] != want {
				t.Errorf("window %s shows %q, want %q (New York time)", k, got.Cells[k], want)
			}
		}
	})

	t.Run("a gap in the data is a gap in the line", func(t *testing.T) {
		// The runs of consecutive windows of Penn, from the sink.
		var starts []time.Time
		for _, w := range sink {
			if w.Station == "34 ST-PENN STA" {
				starts = append(starts, w.Start)
			}
		}
		slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
		want := []int{1}
		for i := 1; i < len(starts); i++ {
			if starts[i].Sub(starts[i-1]) == 5*time.Minute {
				want[len(want)-1]++
			} else {
				want = append(want, 1)
			}
		}
		if len(want) != 2 {
			t.Fatalf("Penn's windows on the sink form %d runs, the test wants 2: %v", len(want), want)
		}
		b.clickStation(t, "34 ST-PENN STA")
		c := b.chart(t)
		if !slices.Equal(c.Lines, want) || c.Points != len(starts) {
			t.Errorf("chart of Penn: lines of %v windows and %d points, want lines of %v (the sink's runs) and %d points", c.Lines, c.Points, want, len(starts))
		}
		if !strings.Contains(c.Sub, "1 gap (no data)") {
			t.Errorf("chart subtitle %q does not mention the gap", c.Sub)
		}
	})

	t.Run("axis labels are distinct and dated where the day changes", func(t *testing.T) {
		c := b.chart(t)
		checkTicks(t, c.Ticks)
		var dated []string
		for _, k := range c.Ticks {
			if k.Date != "" {
				dated = append(dated, k.Clock+" "+k.Date)
			}
		}
		// The history crosses midnight: the first label and the one at
		// midnight carry the day, the others only the clock.
		first := c.Ticks[0]
		wantFirst := first.Clock + " " + midnight.AddDate(0, 0, -1).Format("Mon 01/02")
		wantMidnight := "00:00 " + midnight.Format("Mon 01/02")
		if len(dated) != 2 || dated[0] != wantFirst || dated[1] != wantMidnight {
			t.Errorf("dated axis labels %q, want [%q %q]; all: %+v", dated, wantFirst, wantMidnight, c.Ticks)
		}
		t.Logf("chart: %s; axis %+v", c.Sub, c.Ticks)
	})

	t.Run("markup in a station name is text", func(t *testing.T) {
		var got struct {
			Cells  []string `json:"cells"`
			Images int      `json:"images"`
		}
		b.eval(t, fmt.Sprintf(`(() => {
  const tr = Array.from(document.querySelectorAll('#rows tr')).find((tr) => tr.children[0].textContent === %q);
  return {cells: tr ? Array.from(tr.children).map((td) => td.textContent) : [], images: document.querySelectorAll('img, svg image').length};
})()`, hostile), &got)
		if len(got.Cells) == 0 || got.Cells[0] != hostile {
			t.Errorf("no row shows the station %q as text: %q", hostile, got.Cells)
		}
		b.clickStation(t, hostile)
		b.eval(t, `({cells: [], images: document.querySelectorAll('img, svg image').length})`, &got)
		if got.Images != 0 {
			t.Errorf("%d img elements on the page: the station name was parsed as markup", got.Images)
		}
	})

	t.Run("search by station and line", func(t *testing.T) {
		for _, tc := range []struct{ query, station string }{{"penn", "34 ST-PENN STA"}, {"1237ACE", "TIMES SQ-42 ST"}} {
			if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.ID("search"), tc.query)); err != nil {
				t.Fatal(err)
			}
			b.wait(t, "search "+tc.query, 5*time.Second, func() string {
				var stations []string
				b.eval(t, `Array.from(document.querySelectorAll('#rows tr')).map((tr) => tr.children[0].textContent)`, &stations)
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
			b.eval(t, `(() => { const s = document.getElementById('search'); s.value = ''; s.dispatchEvent(new Event('input')); return true; })()`, &ok)
		}
		b.wait(t, "the search cleared", 5*time.Second, func() string {
			var n int
			b.eval(t, `document.querySelectorAll('#rows tr').length`, &n)
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
		for _, st := range (processors.Config{}).Stages() {
			group := st.Group
			if len(h.Partitions[group]) != 3 {
				t.Errorf("partitions of %s: %v, want all 3", group, h.Partitions[group])
			}
		}
		if !h.Readiness.Ready || h.Kafka == nil || len(h.Kafka.Groups) != len((processors.Config{}).ConsumerGroups()) || len(h.Watermarks) != 1 || h.Events.Clients < 1 ||
			h.Totals.StationWindows != float64(len(sink)) || h.Kafka.StationWindows != int64(len(sink)) || h.Warnings == nil {
			t.Errorf("health: %+v (kafka %+v)", h, h.Kafka)
		}
		for _, w := range h.Watermarks {
			if w.Time == nil {
				t.Errorf("watermark of %s: none", w.Group)
			}
		}
		b.wait(t, "the health panel", 10*time.Second, func() string {
			var text string
			b.eval(t, `document.getElementById('health').textContent`, &text)
			for _, want := range []string{"Ready", "yes", "Lag", "turnstile-windows", "Watermark", "Dead-lettered", "Too late", "Partitions", "/s"} {
				if !strings.Contains(text, want) {
					return fmt.Sprintf("no %q in %q", want, text)
				}
			}
			return ""
		})
	})

	t.Run("warnings are a banner of text", func(t *testing.T) {
		// The member has no warnings (an empty list): no banner. Then the
		// browser's requests for /api/health are answered with the
		// member's own report with warnings set (markup among them), and
		// then with the field left out.
		type banner struct {
			Hidden  bool     `json:"hidden"`
			Visible bool     `json:"visible"`
			Items   []string `json:"items"`
			Markup  int      `json:"markup"`
		}
		read := func() banner {
			var bn banner
			b.eval(t, `(() => { const w = document.getElementById('warnings');
  return {hidden: w.hidden, visible: w.offsetHeight > 0, items: Array.from(w.querySelectorAll('li')).map((li) => li.textContent),
    markup: w.querySelectorAll('img, b, script').length}; })()`, &bn)
			return bn
		}
		if bn := read(); !bn.Hidden || bn.Visible || len(bn.Items) != 0 {
			t.Errorf("with no warnings: %+v", bn)
		}
		var rewrite atomic.Pointer[func(map[string]any)]
		paused := chromedp.Events(b.ctx, fetch.RequestPaused)
		go func() {
			for ev, err := range paused {
				if err != nil {
					return
				}
				body, err := chromedp.Call(b.ctx, fetch.GetResponseBody, fetch.GetResponseBodyParams{RequestID: ev.RequestID})
				var rep map[string]any
				if f := rewrite.Load(); err == nil && f != nil && json.Unmarshal(body.Body, &rep) == nil {
					(*f)(rep)
					if out, err := json.Marshal(rep); err == nil {
						_, _ = chromedp.Call(b.ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID,
							ResponseCode: ev.ResponseStatusCode, ResponseHeaders: ev.ResponseHeaders, Body: out})
						continue
					}
				}
				_, _ = chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
			}
		}()
		warnings := []string{"every reading is too late: the newest event time " + hostile + " is past retention", "second <b>warning</b>"}
		set := func(rep map[string]any) { rep["warnings"] = warnings }
		rewrite.Store(&set)
		if _, err := chromedp.Call(b.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
			{URLPattern: "*/api/health*", RequestStage: fetch.RequestStageResponse}}}); err != nil {
			t.Fatal(err)
		}
		defer func() { _, _ = chromedp.Call(b.ctx, fetch.Disable, cdp.Empty{}) }()
		b.wait(t, "the warning banner", 10*time.Second, func() string {
			bn := read()
			if bn.Hidden || !bn.Visible || !slices.Equal(bn.Items, warnings) {
				return fmt.Sprintf("%+v", bn)
			}
			if bn.Markup != 0 {
				t.Fatalf("the warnings were parsed as markup: %+v", bn)
			}
			return ""
		})
		drop := func(rep map[string]any) { delete(rep, "warnings") }
		rewrite.Store(&drop)
		b.wait(t, "no banner without the field", 10*time.Second, func() string {
			if bn := read(); !bn.Hidden || bn.Visible || len(bn.Items) != 0 {
				return fmt.Sprintf("%+v", bn)
			}
			return ""
		})
	})

	watch := watchStations(t, ctx, brokers, adm, p.station)
	key := func(d int, start time.Time) string { return stationKey(devices[d].station, devices[d].line, start) }

	t.Run("a new window appears within 2s of being on the sink", func(t *testing.T) {
		e, x := registers(0, n-1)
		newAt := t0.Add(20 * time.Minute)
		k := key(0, newAt)
		produce(reading(0, newAt, e+321, x+123, "new-1"))
		rec := watch.wait(t, ctx, k, 1)
		shown := b.wait(t, "the new window in the table", 10*time.Second, func() string {
			var r rowState
			b.eval(t, rowJS(k, false), &r)
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
		b.eval(t, rowJS(k, false), &r)
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
			b.eval(t, rowJS(k, true), &r)
			if !r.Found || r.Cells[6] != "1" || strings.Contains(r.Classes, "corrected") {
				t.Fatalf("before the correction, row %s: %+v", k, r)
			}
		}
		produce(reading(0, t0.Add(-22*time.Minute), (e24+e20)/2, (x24+x20)/2, "late-1"))
		for _, k := range []string{k1, k2} {
			rec := watch.wait(t, ctx, k, 2)
			var r rowState
			shown := b.wait(t, "the corrected row "+k, 10*time.Second, func() string {
				b.eval(t, rowJS(k, false), &r)
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

	// The page's own requests and the stream had no errors.
	resp, err := http.Get(m.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	b.clean(t)
}
