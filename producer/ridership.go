package producer

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	_ "time/tzdata" // the ridership follows New York's local hours, wherever this runs
)

// ridershipCSV is the synthetic stream's calibration, derived from two
// real MTA weeks (2023-12-30 .. 2024-01-12; TestRidershipFile regenerates
// and checks it against them when they are beside the checkout): per booth
// (UNIT, CA), the mean entries and exits per weekday in each 4-hour block
// of New York local time (00-04 .. 20-24), and per weekend day (or
// holiday) in total.
//
//go:embed ridership.csv
var ridershipCSV []byte

// ridershipShapeCSV is the hour-of-day shape within those blocks, for the
// whole system: per weekday and weekend, entries and exits, the relative
// rate of each New York local hour (mean 1), fitted to the same weeks.
//
//go:embed ridership_shape.csv
var ridershipShapeCSV []byte

// Day types and directions of the calibration.
const (
	weekday = 0
	weekend = 1
	inDir   = 0 // entries
	outDir  = 1 // exits
)

// boothRidership is one booth's calibrated ridership.
type boothRidership struct {
	// blocks are weekday totals per 4-hour block, entries then exits.
	blocks [2][6]float64
	// weekendDay is the total of a weekend day, entries then exits.
	weekendDay [2]float64
}

// Ridership is the calibrated rate of every booth of the MTA weeks, in New
// York local time.
type Ridership struct {
	booths map[[2]string]boothRidership // UNIT, CA
	shape  [2][2][24]float64            // day type, direction, hour
	zone   *time.Location
}

var (
	ridershipOnce sync.Once
	ridership     *Ridership
	ridershipErr  error
)

// LoadRidership returns the embedded calibration (parsed once).
func LoadRidership() (*Ridership, error) {
	ridershipOnce.Do(func() {
		ridership, ridershipErr = parseRidership(ridershipCSV, ridershipShapeCSV)
	})
	return ridership, ridershipErr
}

func parseRidership(booths, shape []byte) (*Ridership, error) {
	zone, err := time.LoadLocation("America/New_York")
	if err != nil {
		return nil, fmt.Errorf("producer: ridership: %w", err)
	}
	r := &Ridership{booths: map[[2]string]boothRidership{}, zone: zone}
	rows, err := readTable(shape, 26)
	if err != nil {
		return nil, fmt.Errorf("producer: ridership shape: %w", err)
	}
	for _, rec := range rows {
		day, dir := slices.Index([]string{"weekday", "weekend"}, rec[0]), slices.Index([]string{"entries", "exits"}, rec[1])
		if day < 0 || dir < 0 {
			return nil, fmt.Errorf("producer: ridership shape: unknown row %q %q", rec[0], rec[1])
		}
		for h := range 24 {
			if r.shape[day][dir][h], err = strconv.ParseFloat(rec[2+h], 64); err != nil {
				return nil, fmt.Errorf("producer: ridership shape: %w", err)
			}
		}
	}
	rows, err = readTable(booths, 2+12+2)
	if err != nil {
		return nil, fmt.Errorf("producer: ridership: %w", err)
	}
	for _, rec := range rows {
		var b boothRidership
		for i := range 14 {
			v, err := strconv.ParseFloat(rec[2+i], 64)
			if err != nil {
				return nil, fmt.Errorf("producer: ridership %s %s: %w", rec[0], rec[1], err)
			}
			if i < 12 {
				b.blocks[i/6][i%6] = v
			} else {
				b.weekendDay[i-12] = v
			}
		}
		r.booths[[2]string{rec[0], rec[1]}] = b
	}
	return r, nil
}

// readTable reads a headed CSV with fields columns and returns its rows.
func readTable(data []byte, fields int) ([][]string, error) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = fields
	if _, err := cr.Read(); err != nil {
		return nil, err
	}
	var out [][]string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
}

// Booths is how many booths the calibration has.
func (r *Ridership) Booths() int { return len(r.booths) }

// Has reports whether booth (unit, ca) has its own calibration.
func (r *Ridership) Has(unit, ca string) bool { _, ok := r.booths[[2]string{unit, ca}]; return ok }

// Rate is the mean entries and exits per hour of booth (unit, ca) at t,
// by t's New York local hour and day (Saturday and Sunday are weekend
// days); 0, 0 for a booth without its own calibration (the synthetic
// stream gives those its station's other booths' mean, or the median
// booth).
func (r *Ridership) Rate(unit, ca string, t time.Time) (entries, exits float64) {
	b, ok := r.booths[[2]string{unit, ca}]
	if !ok {
		return 0, 0
	}
	return r.rate(b, t)
}

func (r *Ridership) rate(b boothRidership, t time.Time) (entries, exits float64) {
	local := t.In(r.zone)
	h := local.Hour()
	var out [2]float64
	if wd := local.Weekday(); wd == time.Saturday || wd == time.Sunday {
		for dir := range 2 {
			out[dir] = b.weekendDay[dir] * r.shape[weekend][dir][h] / 24
		}
		return out[0], out[1]
	}
	blk := h / 4
	for dir := range 2 {
		var sum float64
		for i := blk * 4; i < blk*4+4; i++ {
			sum += r.shape[weekday][dir][i]
		}
		if sum > 0 {
			out[dir] = b.blocks[dir][blk] * r.shape[weekday][dir][h] / sum
		}
	}
	return out[0], out[1]
}

// forBooths returns the calibration of each booth: its own, or the mean of
// the calibrated booths of its station, or the median calibrated booth
// (by weekday entries).
func (r *Ridership) forBooths(booths []Booth) []boothRidership {
	byStation := map[string][]boothRidership{}
	var all []boothRidership
	for _, b := range booths {
		if c, ok := r.booths[[2]string{b.Unit, b.CA}]; ok {
			byStation[b.Station+"|"+b.LineName] = append(byStation[b.Station+"|"+b.LineName], c)
		}
	}
	for _, c := range r.booths {
		all = append(all, c)
	}
	slices.SortFunc(all, func(a, b boothRidership) int {
		return cmpFloat(weekdayTotal(a, inDir), weekdayTotal(b, inDir))
	})
	var median boothRidership
	if len(all) > 0 {
		median = all[len(all)/2]
	}
	out := make([]boothRidership, len(booths))
	for i, b := range booths {
		if c, ok := r.booths[[2]string{b.Unit, b.CA}]; ok {
			out[i] = c
			continue
		}
		same := byStation[b.Station+"|"+b.LineName]
		if len(same) == 0 {
			out[i] = median
			continue
		}
		for _, c := range same {
			for dir := range 2 {
				for k := range 6 {
					out[i].blocks[dir][k] += c.blocks[dir][k] / float64(len(same))
				}
				out[i].weekendDay[dir] += c.weekendDay[dir] / float64(len(same))
			}
		}
	}
	return out
}

// maxPerDeviceBlock is the most a synthetic turnstile should count in a
// 4-hour block: busy real ones count about that many.
const maxPerDeviceBlock = 4000

// busiestBlock is the booth's largest weekday 4-hour count, either way.
func (b boothRidership) busiestBlock() float64 {
	var m float64
	for dir := range 2 {
		for _, v := range b.blocks[dir] {
			m = max(m, v)
		}
	}
	return m
}

func weekdayTotal(b boothRidership, dir int) float64 {
	var s float64
	for _, v := range b.blocks[dir] {
		s += v
	}
	return s
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// poisson draws a Poisson-distributed count with the given mean: Knuth's
// method for small means, the normal approximation for large ones.
func poisson(rng interface {
	Float64() float64
	NormFloat64() float64
}, mean float64) int64 {
	switch {
	case mean <= 0:
		return 0
	case mean < 30:
		l, k, p := math.Exp(-mean), int64(0), 1.0
		for {
			p *= rng.Float64()
			if p <= l {
				return k
			}
			k++
		}
	}
	return max(0, int64(math.Round(mean+math.Sqrt(mean)*rng.NormFloat64())))
}
