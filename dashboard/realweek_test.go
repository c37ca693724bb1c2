package dashboard_test

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
)

// excerpt is a real MTA week (2023-12-30 .. 2024-01-05, 8 stations, every
// device of each), as published: see testdata/mta/README.md.
var excerpt = filepath.Join("..", "testdata", "mta", "240106-excerpt.csv.gz")

// readExcerpt reads the excerpt's rows as readings at their true instants:
// DATE and TIME are New York's wall clock, so each reading carries its
// instant in EVENT_TIME. Rows are in event-time order, as the CSV
// producer sends a week by default.
func readExcerpt(t *testing.T, ny *time.Location) []schemas.Reading {
	t.Helper()
	f, err := os.Open(excerpt)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(gz)
	header, err := cr.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	var rs []schemas.Reading
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		get := func(name string) string { return strings.TrimSpace(rec[col[name]]) }
		at, err := time.ParseInLocation("01/02/2006 15:04:05", get("DATE")+" "+get("TIME"), ny)
		if err != nil {
			t.Fatalf("%s: row %s: %v", excerpt, rec[0], err)
		}
		entries, err1 := strconv.ParseInt(get("ENTRIES"), 10, 64)
		exits, err2 := strconv.ParseInt(get("EXITS"), 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: row %s: counters %q %q", excerpt, rec[0], get("ENTRIES"), get("EXITS"))
		}
		r := schemas.Reading{CA: get("CA"), Unit: get("UNIT"), SCP: get("SCP"), Station: get("STATION"), LineName: get("LINENAME"),
			Division: get("DIVISION"), Desc: get("DESC"), Entries: entries, Exits: exits, ID: "mta-240106-" + rec[0],
			EventTime: at.UTC(), Source: "240106-excerpt"}
		r.SetTimes(at)
		rs = append(rs, r)
	}
	slices.SortStableFunc(rs, func(a, b schemas.Reading) int { return a.EventTime.Compare(b.EventTime) })
	return rs
}

// TestDashboardRealWeek replays the real MTA week excerpt through a
// pipeline with 4-hour windows (the registers are read every 4 hours) and
// checks that the page gives a sensible view of it: the chart of a station
// spans its last windows, days here, with day labels, distinct; the table
// explains that it lists only the newest 300 windows. With
// TURNSTILE_SCREENSHOT=path it then writes the README's screenshot:
//
//	TURNSTILE_SCREENSHOT=$PWD/docs/dashboard.png go test -count=1 -run TestDashboardRealWeek ./dashboard/
func TestDashboardRealWeek(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a week of real readings")
	}
	findBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	ny := newYork(t)
	const window = 4 * time.Hour
	p := startPipeline(t, ctx, func(c *processors.Config) {
		c.Window, c.Grace, c.Retention = window, window, 24*time.Hour
	})
	readings := readExcerpt(t, ny)
	expected := expectStations(readings, window)
	start := time.Now()
	p.produce(t, ctx, readings...)
	sink := p.waitStations(t, ctx, expected)
	t.Logf("%d readings of %s, %d station windows on the sink %v after the first was produced",
		len(readings), excerpt, len(sink), time.Since(start).Round(time.Millisecond))

	b := openBrowser(t, ctx)
	b.open(t, p.m.URL+"/")
	var count struct{ Rows, Count, Note string }
	b.wait(t, "the table", 30*time.Second, func() string {
		b.eval(t, `({rows: String(document.querySelectorAll('#rows tr').length), count: document.getElementById('count').textContent,
  note: document.getElementById('count-note').hidden ? '' : document.getElementById('count-note').textContent})`, &count)
		if want := fmt.Sprintf("newest 300 of %d", len(sink)); count.Rows != "300" || count.Count != want {
			return fmt.Sprintf("%s rows, count %q (want 300 rows, %q)", count.Rows, count.Count, want)
		}
		return ""
	})
	if !strings.Contains(count.Note, fmt.Sprintf("only the newest 300 of the %d station windows", len(sink))) {
		t.Errorf("no explanation of the 300 rows: %q", count.Note)
	}

	const station = "GRD CNTRL-42 ST"
	var windows int
	for _, w := range sink {
		if w.Station == station {
			windows++
		}
	}
	b.clickStation(t, station)
	c := b.chart(t)
	t.Logf("chart: %s; axis %+v", c.Sub, c.Ticks)
	if c.Points != windows || !strings.HasPrefix(c.Sub, fmt.Sprintf("%d windows of 4h, ", windows)) {
		t.Errorf("the chart of %s shows %d points (%q), want every one of its %d windows", station, c.Points, c.Sub, windows)
	}
	checkTicks(t, c.Ticks)
	for _, k := range c.Ticks {
		if k.Clock != "" || k.Date == "" {
			t.Errorf("a week of 4-hour windows should be labelled by day: %+v", c.Ticks)
			break
		}
	}

	if path := os.Getenv(screenshotEnv); path != "" {
		b.wait(t, "the rates in the health panel", 15*time.Second, func() string {
			var text string
			b.eval(t, `document.getElementById('health').textContent`, &text)
			if strings.Contains(text, "…") {
				return text
			}
			return ""
		})
		b.screenshot(t, path)
	}
	b.clean(t)
}
