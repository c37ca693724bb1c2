package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/membertest"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// newYork is the dashboard's default zone, the one the tests' pages show.
func newYork(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// pipeline is a running member with its dashboard, on its own embedded
// broker and registry.
type pipeline struct {
	brokers []string
	sr      srclient.ISchemaRegistryClient
	cl      *kgo.Client
	adm     *kadm.Client
	m       *membertest.Member
	codec   *codecs.ReadingCodec
	station *codecs.StationWindowCodec
}

// startPipeline starts a member with cfg (membertest.Config changed by
// the caller) serving the dashboard, and waits until it is ready.
func startPipeline(t *testing.T, ctx context.Context, change func(*processors.Config)) *pipeline {
	t.Helper()
	brokers, sr, cl := testenv.Stack(t)
	p := &pipeline{brokers: brokers, sr: sr, cl: cl, adm: kadm.NewClient(cl)}
	cfg := membertest.Config(t, brokers, sr, 3)
	if change != nil {
		change(&cfg)
	}
	p.m = membertest.Start(t, ctx, cfg, membertest.Options{Admin: p.adm, Dashboard: true})
	for !p.m.P.Readiness().Ready {
		select {
		case <-ctx.Done():
			t.Fatalf("member not ready: %+v", p.m.P.Readiness())
		case <-time.After(200 * time.Millisecond):
		}
	}
	var err error
	p.codec, err = codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: sr,
		Subject: schemas.Subject(schemas.DefaultInputTopic)}, WriterVersion: 2})
	if err != nil {
		t.Fatal(err)
	}
	p.station, err = codecs.NewStationWindowCodec(codecs.Config{Client: sr, Subject: schemas.Subject(schemas.DefaultStationWindowsTopic)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// produce writes readings to the input topic, keyed by their ID.
func (p *pipeline) produce(t *testing.T, ctx context.Context, rs ...schemas.Reading) {
	t.Helper()
	for _, r := range rs {
		b, err := p.codec.EncodeReading(&r)
		if err != nil {
			t.Fatal(err)
		}
		p.cl.Produce(ctx, &kgo.Record{Topic: schemas.DefaultInputTopic, Key: []byte(r.ID), Value: b}, nil)
	}
	if err := p.cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// stationKey is a station window's record key.
func stationKey(station, line string, start time.Time) string {
	return schemas.StationWindowKey(schemas.StationKey(station, line), start)
}

// expectStations is the set of station windows readings make with
// tumbling windows of length window: one per station and window holding a
// reading.
func expectStations(rs []schemas.Reading, window time.Duration) map[string]bool {
	out := map[string]bool{}
	for _, r := range rs {
		out[stationKey(r.Station, r.LineName, r.EventTime.Truncate(window))] = true
	}
	return out
}

// waitStations reads the station sink until it holds exactly the expected
// windows, and returns them.
func (p *pipeline) waitStations(t *testing.T, ctx context.Context, expected map[string]bool) map[string]schemas.StationWindow {
	t.Helper()
	return testenv.ReadSink(t, ctx, p.brokers, schemas.DefaultStationWindowsTopic, func(b []byte) (schemas.StationWindow, int64, error) {
		w, err := p.station.Unmarshal(b)
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
}

// browser is one headless Chromium tab, recording console errors and
// dialogs (a dialog is script run from data).
type browser struct {
	ctx context.Context // the chromedp context

	mu            sync.Mutex
	consoleErrors []string
	dialogs       []string
}

// openBrowser starts the browser; it stops when ctx ends or the test does.
func openBrowser(t *testing.T, ctx context.Context) *browser {
	t.Helper()
	path := findBrowser(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1400, 1000))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	b := &browser{ctx: bctx}
	messages := chromedp.Console(bctx)
	go func() {
		for msg, err := range messages {
			if err != nil {
				return
			}
			if msg.Type == chromedp.ConsoleError || msg.IsException() {
				b.mu.Lock()
				b.consoleErrors = append(b.consoleErrors, msg.String()+" at "+msg.URL)
				b.mu.Unlock()
			}
		}
	}()
	opened := chromedp.Events(bctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range opened {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, string(ev.Type)+": "+ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return b
}

// open loads url in a 1400×1000 viewport.
func (b *browser) open(t *testing.T, url string) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(1400, 1000), chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression into out.
func (b *browser) eval(t *testing.T, expr string, out any) {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[json.RawMessage](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	if err := json.Unmarshal(v, out); err != nil {
		t.Fatalf("evaluate %s: %v (%s)", expr, err, v)
	}
}

// wait polls cond until it returns "" (and returns when), failing the test
// with cond's last answer after timeout.
func (b *browser) wait(t *testing.T, what string, timeout time.Duration, cond func() string) time.Time {
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

// clickStation selects a station's chart by clicking its first row, and
// waits for the chart to show it.
func (b *browser) clickStation(t *testing.T, station string) {
	t.Helper()
	name, _ := json.Marshal(station)
	b.wait(t, "a row of "+station, 10*time.Second, func() string {
		var ok bool
		b.eval(t, fmt.Sprintf(`(() => { const tr = Array.from(document.querySelectorAll('#rows tr')).find((tr) => tr.children[0].textContent === %s);
  if (tr) tr.click(); return !!tr; })()`, name), &ok)
		if !ok {
			return "no row"
		}
		return ""
	})
	b.wait(t, "the chart of "+station, 5*time.Second, func() string {
		var title string
		b.eval(t, `document.getElementById('chart-title').textContent`, &title)
		if !strings.HasPrefix(title, station+" · ") {
			return "chart title " + title
		}
		return ""
	})
}

// chart is what the chart shows.
type chart struct {
	Title string `json:"title"`
	Sub   string `json:"sub"`
	// Lines are the windows of each entries line: one line per run of
	// windows without a gap.
	Lines []int `json:"lines"`
	// Points are the entries points, one per window.
	Points int `json:"points"`
	// Ticks are the time axis's labels, left to right.
	Ticks []tick `json:"ticks"`
}

type tick struct {
	Clock string `json:"clock"`
	Date  string `json:"date"`
	Text  string `json:"text"`
}

func (b *browser) chart(t *testing.T) chart {
	t.Helper()
	var c chart
	b.eval(t, `(() => {
  const q = (s) => Array.from(document.querySelectorAll(s));
  const text = (e, s) => { const x = e.querySelector(s); return x ? x.textContent : ''; };
  return {title: document.getElementById('chart-title').textContent, sub: document.getElementById('chart-sub').textContent,
    lines: q('#chart polyline.line.entries').map((l) => Number(l.getAttribute('data-windows'))),
    points: q('#chart circle.entries').length,
    ticks: q('#chart text.tick').map((e) => ({clock: text(e, '.clock'), date: text(e, '.date'), text: e.textContent}))};
})()`, &c)
	return c
}

// checkTicks fails the test unless the axis labels are distinct and each
// says its date where the day changes (on the first tick, and on every
// tick whose local day differs from the tick before).
func checkTicks(t *testing.T, ticks []tick) {
	t.Helper()
	if len(ticks) < 2 {
		t.Errorf("%d axis labels: %+v", len(ticks), ticks)
		return
	}
	seen := map[string]bool{}
	for i, k := range ticks {
		if seen[k.Text] {
			t.Errorf("axis label %q repeated: %+v", k.Text, ticks)
		}
		seen[k.Text] = true
		if i == 0 && k.Date == "" {
			t.Errorf("the first axis label %q has no date", k.Text)
		}
		if k.Clock == "00:00" && k.Date == "" {
			t.Errorf("the axis label at midnight has no date: %+v", ticks)
		}
	}
}

// clean fails the test if the page logged an error or opened a dialog.
func (b *browser) clean(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.consoleErrors) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(b.consoleErrors, "\n"))
	}
	if len(b.dialogs) > 0 {
		t.Errorf("dialogs opened (script ran from data): %v", b.dialogs)
	}
}

// screenshot writes the viewport as a PNG to path.
func (b *browser) screenshot(t *testing.T, path string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
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
