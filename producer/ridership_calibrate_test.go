package producer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// updateRidership rewrites ridership.csv and ridership_shape.csv from the
// MTA weeks: go test ./producer -run TestRidershipFile -update-ridership
var updateRidership = flag.Bool("update-ridership", false, "rewrite the ridership calibration from ../shared/data/mta")

// mtaDir is where the real MTA weeks are beside a checkout.
const mtaDir = "../../shared/data/mta"

// mtaHolidays are weekdays of the MTA weeks that ride like a weekend day.
var mtaHolidays = map[string]bool{"01/01/2024": true}

// TestRidershipFile: the shipped calibration is what calibrate makes of
// the MTA weeks (skipped without them; -update-ridership rewrites it).
func TestRidershipFile(t *testing.T) {
	files := []string{filepath.Join(mtaDir, "240106.csv.gz"), filepath.Join(mtaDir, "240113.csv.gz")}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("no MTA weeks beside the checkout (%v): the shipped calibration stands unchecked", err)
		}
	}
	booths, shape, stats, err := calibrate(files)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(stats)
	if *updateRidership {
		if err := os.WriteFile("ridership.csv", booths, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("ridership_shape.csv", shape, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(booths, ridershipCSV) || !bytes.Equal(shape, ridershipShapeCSV) {
		t.Fatal("ridership.csv or ridership_shape.csv differs from the calibration of the MTA weeks: run go test ./producer -run TestRidershipFile -update-ridership")
	}
}

// mtaInterval is the change of one device's registers between two
// consecutive readings, its times in New York local clock time (as
// written in the file, read as UTC to do arithmetic on the clock).
type mtaInterval struct {
	booth          int
	from, to       time.Time
	entries, exits float64
}

// calibrate fits the synthetic stream's ridership to the MTA weeks.
//
// Devices report every 4 hours, booths at different offsets (00:00,
// 01:00, 03:00, ...). Each interval's counts (differences of consecutive
// readings of a device, dropped when negative, above 10,000 or spanning
// more than 8 hours: counter resets and gaps) are modelled as the booth's
// scale for the day type times the sum, over the hours it spans, of a
// system-wide hour-of-day shape (weekday and weekend apart, entries and
// exits apart); the offsets make the shape identifiable. The shape and
// the scales are fitted by multiplicative (Poisson maximum-likelihood)
// updates, with a little smoothing across neighbouring hours. Each booth's counts are then spread over the hours of their
// intervals in proportion to the fitted model, divided by the device-hours
// observed, and multiplied by the booth's devices: its mean rate per hour
// of day. Stored are the weekday totals per 4-hour block and the weekend
// day totals; the shape spreads them over the hours again.
func calibrate(files []string) (booths, shape []byte, stats string, err error) {
	type devKey struct{ unit, ca, scp string }
	type reading struct {
		at             time.Time
		entries, exits float64
	}
	devices := map[devKey][]reading{}
	for _, f := range files {
		if err := eachMTARow(f, func(rec map[string]string) error {
			at, err := time.Parse("01/02/2006 15:04:05", rec["DATE"]+" "+rec["TIME"])
			if err != nil {
				return err
			}
			e, err1 := strconv.ParseFloat(rec["ENTRIES"], 64)
			x, err2 := strconv.ParseFloat(rec["EXITS"], 64)
			if err1 != nil || err2 != nil {
				return fmt.Errorf("counters %q %q", rec["ENTRIES"], rec["EXITS"])
			}
			k := devKey{rec["UNIT"], rec["CA"], rec["SCP"]}
			devices[k] = append(devices[k], reading{at, e, x})
			return nil
		}); err != nil {
			return nil, nil, "", fmt.Errorf("%s: %w", f, err)
		}
	}
	boothIndex := map[[2]string]int{}
	var boothKeys [][2]string
	boothDevices := map[int]int{}
	var ivs []mtaInterval
	var total, dropped int
	// In a fixed order: float sums must not depend on map order.
	keys := make([]devKey, 0, len(devices))
	for k := range devices {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b devKey) int {
		return strings.Compare(a.unit+"|"+a.ca+"|"+a.scp, b.unit+"|"+b.ca+"|"+b.scp)
	})
	for _, k := range keys {
		rs := devices[k]
		bk := [2]string{k.unit, k.ca}
		b, ok := boothIndex[bk]
		if !ok {
			b = len(boothKeys)
			boothIndex[bk] = b
			boothKeys = append(boothKeys, bk)
		}
		boothDevices[b]++
		slices.SortFunc(rs, func(a, b reading) int { return a.at.Compare(b.at) })
		for i := 1; i < len(rs); i++ {
			total++
			d := rs[i].at.Sub(rs[i-1].at)
			de, dx := rs[i].entries-rs[i-1].entries, rs[i].exits-rs[i-1].exits
			if d <= 0 || d > 8*time.Hour || de < 0 || dx < 0 || de > 10000 || dx > 10000 {
				dropped++
				continue
			}
			ivs = append(ivs, mtaInterval{booth: b, from: rs[i-1].at, to: rs[i].at, entries: de, exits: dx})
		}
	}

	// The hour slots of each interval: day type, hour, overlap in hours.
	type slot struct {
		day, hour int
		w         float64
	}
	slots := make([][]slot, len(ivs))
	for i, iv := range ivs {
		for t := iv.from; t.Before(iv.to); {
			next := t.Truncate(time.Hour).Add(time.Hour)
			if next.After(iv.to) {
				next = iv.to
			}
			day := weekday
			if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday || mtaHolidays[t.Format("01/02/2006")] {
				day = weekend
			}
			slots[i] = append(slots[i], slot{day, t.Hour(), next.Sub(t).Hours()})
			t = next
		}
	}
	nb := len(boothKeys)
	var shapeFit [2][2][24]float64 // day, dir, hour (mean 1 per day type)
	scale := make([][2][2]float64, nb)
	for d := range 2 {
		for dir := range 2 {
			for h := range 24 {
				shapeFit[d][dir][h] = 1
			}
		}
	}
	for b := range scale {
		scale[b] = [2][2]float64{{1, 1}, {1, 1}}
	}
	count := func(iv mtaInterval, dir int) float64 {
		if dir == inDir {
			return iv.entries
		}
		return iv.exits
	}
	for range 60 {
		var shapeNum, shapeDen [2][2][24]float64
		scaleNum, scaleDen := make([][2][2]float64, nb), make([][2][2]float64, nb)
		for i, iv := range ivs {
			for dir := range 2 {
				var pred float64
				for _, s := range slots[i] {
					pred += scale[iv.booth][s.day][dir] * shapeFit[s.day][dir][s.hour] * s.w
				}
				if pred <= 0 {
					continue
				}
				ratio := count(iv, dir) / pred
				for _, s := range slots[i] {
					shapeNum[s.day][dir][s.hour] += ratio * scale[iv.booth][s.day][dir] * s.w
					shapeDen[s.day][dir][s.hour] += scale[iv.booth][s.day][dir] * s.w
					scaleNum[iv.booth][s.day][dir] += ratio * shapeFit[s.day][dir][s.hour] * s.w
					scaleDen[iv.booth][s.day][dir] += shapeFit[s.day][dir][s.hour] * s.w
				}
			}
		}
		for d := range 2 {
			for dir := range 2 {
				for h := range 24 {
					if shapeDen[d][dir][h] > 0 {
						shapeFit[d][dir][h] *= shapeNum[d][dir][h] / shapeDen[d][dir][h]
					}
				}
				// A little smoothing across neighbouring hours: most booths
				// audit at one of two offsets, which leaves the split of
				// adjacent hours weakly determined (it showed as a dip at
				// 16:00 between peaks at 15:00 and 17:00).
				prev := shapeFit[d][dir]
				var sum float64
				for h := range 24 {
					shapeFit[d][dir][h] = 0.15*prev[(h+23)%24] + 0.7*prev[h] + 0.15*prev[(h+1)%24]
					sum += shapeFit[d][dir][h]
				}
				for h := range 24 {
					shapeFit[d][dir][h] *= 24 / sum
				}
			}
		}
		for b := range scale {
			for d := range 2 {
				for dir := range 2 {
					if scaleDen[b][d][dir] > 0 {
						scale[b][d][dir] *= scaleNum[b][d][dir] / scaleDen[b][d][dir]
					}
				}
			}
		}
	}

	// Each booth's counts spread over the hours, per device-hour observed.
	num := make([][2][2][24]float64, nb)
	den := make([][2][24]float64, nb)
	for i, iv := range ivs {
		for _, s := range slots[i] {
			den[iv.booth][s.day][s.hour] += s.w
		}
		for dir := range 2 {
			var pred float64
			for _, s := range slots[i] {
				pred += scale[iv.booth][s.day][dir] * shapeFit[s.day][dir][s.hour] * s.w
			}
			if pred <= 0 {
				continue
			}
			for _, s := range slots[i] {
				num[iv.booth][s.day][dir][s.hour] += count(iv, dir) * scale[iv.booth][s.day][dir] * shapeFit[s.day][dir][s.hour] * s.w / pred
			}
		}
	}
	order := make([]int, nb)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return strings.Compare(boothKeys[a][0]+"|"+boothKeys[a][1], boothKeys[b][0]+"|"+boothKeys[b][1])
	})
	var bb bytes.Buffer
	w := csv.NewWriter(&bb)
	header := []string{"UNIT", "CA"}
	for _, dir := range []string{"ENTRIES", "EXITS"} {
		for blk := range 6 {
			header = append(header, fmt.Sprintf("WEEKDAY_%s_%02d_%02d", dir, blk*4, blk*4+4))
		}
	}
	header = append(header, "WEEKEND_DAY_ENTRIES", "WEEKEND_DAY_EXITS")
	_ = w.Write(header)
	var kept int
	for _, b := range order {
		rate := func(day, dir, h int) float64 {
			if den[b][day][h] == 0 {
				// Hours the booth was never observed at: its scale and the
				// system's shape.
				return scale[b][day][dir] * shapeFit[day][dir][h]
			}
			return num[b][day][dir][h] / den[b][day][h]
		}
		rec := []string{boothKeys[b][0], boothKeys[b][1]}
		var any float64
		for dir := range 2 {
			for blk := range 6 {
				var s float64
				for h := blk * 4; h < blk*4+4; h++ {
					s += rate(weekday, dir, h) * float64(boothDevices[b])
				}
				any += s
				rec = append(rec, strconv.FormatFloat(math.Round(s), 'f', -1, 64))
			}
		}
		for dir := range 2 {
			var s float64
			for h := range 24 {
				s += rate(weekend, dir, h) * float64(boothDevices[b])
			}
			rec = append(rec, strconv.FormatFloat(math.Round(s), 'f', -1, 64))
		}
		if any < 1 {
			continue // a booth that counted nobody (closed all weeks)
		}
		kept++
		_ = w.Write(rec)
	}
	w.Flush()

	var sb bytes.Buffer
	sw := csv.NewWriter(&sb)
	sh := []string{"DAY", "DIRECTION"}
	for h := range 24 {
		sh = append(sh, fmt.Sprintf("H%02d", h))
	}
	_ = sw.Write(sh)
	for d, day := range []string{"weekday", "weekend"} {
		for dir, name := range []string{"entries", "exits"} {
			rec := []string{day, name}
			for h := range 24 {
				rec = append(rec, strconv.FormatFloat(shapeFit[d][dir][h], 'f', 3, 64))
			}
			_ = sw.Write(rec)
		}
	}
	sw.Flush()
	stats = fmt.Sprintf("%d devices, %d booths (%d kept), %d intervals (%d dropped as resets or gaps)",
		len(devices), nb, kept, total, dropped)
	return bb.Bytes(), sb.Bytes(), stats, nil
}

// eachMTARow calls fn with each row of an MTA weekly file (gzip or not),
// by column name.
func eachMTARow(path string, fn func(map[string]string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer gz.Close()
		r = gz
	}
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return err
	}
	rec := map[string]string{}
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		for i, h := range header {
			rec[h] = strings.TrimSpace(row[i])
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}
