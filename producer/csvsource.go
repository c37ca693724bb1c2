package producer

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/turnstile-streams/turnstile/schemas"
)

// numCSVColumns is len(csvColumns()).
const numCSVColumns = 11

// csvColumns are the weekly file's columns the replay needs.
func csvColumns() [numCSVColumns]string {
	return [...]string{"CA", "UNIT", "SCP", "STATION", "LINENAME", "DIVISION", "DATE", "TIME", "DESC", "ENTRIES", "EXITS"}
}

// csvSource replays an MTA weekly file, loaded whole (a week is about
// 250,000 rows) so that it can be sorted by event time.
type csvSource struct {
	items   []item
	pos     int
	skipped int
	start   time.Time // arrival of the first item
}

func newCSVSource(cfg CSVConfig, seed int64, log *slog.Logger) (*csvSource, error) {
	f, err := os.Open(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	defer f.Close()
	s, err := readCSV(f, cfg.SourceLabel, cfg, seed)
	if err != nil {
		return nil, fmt.Errorf("producer: %s: %w", cfg.Path, err)
	}
	if s.skipped > 0 && log != nil {
		log.Warn("producer: skipped unparsable rows", "path", cfg.Path, "rows", s.skipped)
	}
	return s, nil
}

// readCSV parses a weekly file, plain or gzip (detected by its magic bytes).
func readCSV(r io.Reader, label string, cfg CSVConfig, seed int64) (*csvSource, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer gz.Close()
		br = bufio.NewReaderSize(gz, 1<<16)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	var idx [numCSVColumns]int
	for i, name := range csvColumns() {
		c, ok := col[name]
		if !ok {
			return nil, fmt.Errorf("header has no %s column: %v", name, header)
		}
		idx[i] = c
	}
	ns := readingNamespace()
	clock := newLocalClock(cfg.TimeZone)
	s := &csvSource{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		var f [numCSVColumns]string
		for i, c := range idx {
			if c < len(rec) {
				f[i] = strings.TrimSpace(rec[c])
			}
		}
		// In file order: the repeated hour is told apart by it.
		it, ok := csvItem(f, ns, label, clock)
		if !ok {
			s.skipped++
			continue
		}
		if cfg.Order == OrderArrival && it.reading.Desc == "RECOVR AUD" {
			it.arrival = it.event.Add(cfg.RecoveredDelay)
		}
		s.items = append(s.items, it)
	}
	switch cfg.Order {
	case OrderShuffle:
		rand.New(rand.NewPCG(uint64(seed), 0)).Shuffle(len(s.items), func(i, j int) { s.items[i], s.items[j] = s.items[j], s.items[i] })
		fallthrough
	case OrderFile:
		// The stream's clock is the latest event time sent so far.
		var maxEvent time.Time
		for i := range s.items {
			if s.items[i].event.After(maxEvent) {
				maxEvent = s.items[i].event
			}
			s.items[i].arrival = maxEvent
		}
	default:
		sort.SliceStable(s.items, func(i, j int) bool { return s.items[i].arrival.Before(s.items[j].arrival) })
	}
	if len(s.items) > 0 {
		s.start = s.items[0].arrival
	}
	return s, nil
}

// csvItem maps one row to a reading: DATE MM/DD/YYYY becomes MM-DD-YY and
// TIME stays as it is (both the data's local time), the event time
// (EVENT_TIME, and TIMESTAMP YYYY-MM-DD HH:MM:SS in UTC) is the instant
// they stand for in the data's zone (see localClock), ID a UUIDv5 of the
// row's content (so a replay sends the same IDs and duplicates can be
// dropped downstream).
func csvItem(f [numCSVColumns]string, ns uuid.UUID, label string, clock *localClock) (item, bool) {
	day, err := time.Parse(schemas.WindowDateLayout, f[6])
	if err != nil {
		return item{}, false
	}
	tod, err := schemas.ParseClock(f[7])
	if err != nil {
		return item{}, false
	}
	entries, err1 := strconv.ParseInt(f[9], 10, 64)
	exits, err2 := strconv.ParseInt(f[10], 10, 64)
	if err1 != nil || err2 != nil {
		return item{}, false
	}
	device := schemas.DeviceKey(f[0], f[1], f[2])
	t, err := clock.instant(device, day.Add(tod))
	if err != nil {
		return item{}, false
	}
	r := schemas.Reading{
		CA: f[0], Unit: f[1], SCP: f[2], Station: f[3], LineName: f[4], Division: f[5], Desc: f[8],
		Entries: entries, Exits: exits,
		ID:        uuid.NewSHA1(ns, []byte(strings.Join(f[:], ","))).String(),
		EventTime: t, Source: label,
	}
	r.SetTimes(t)
	r.Date, r.Time = day.Format(schemas.ReadingDateLayout), f[7]
	return item{reading: r, event: t, arrival: t}, true
}

func (s *csvSource) next() (item, error) {
	if s.pos >= len(s.items) {
		return item{}, io.EOF
	}
	it := s.items[s.pos]
	s.items[s.pos] = item{} // let the strings go
	s.pos++
	return it, nil
}

func (s *csvSource) total() int64 { return int64(len(s.items)) }

func (s *csvSource) origin() time.Time { return s.start }
