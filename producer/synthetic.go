package producer

import (
	"container/heap"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/turnstile-streams/turnstile/schemas"
)

// item is one reading from a source, with the stream time at which it is
// sent (arrival: equal to the event time unless the source delays it).
type item struct {
	reading schemas.Reading
	event   time.Time
	arrival time.Time
}

// source yields items in non-decreasing arrival order; io.EOF at the end.
type source interface {
	next() (item, error)
	// total is the number of items, or -1 when unknown.
	total() int64
	// origin is the stream time that corresponds to the start of pacing.
	origin() time.Time
}

// readingNamespace is the UUIDv5 namespace of reading IDs.
func readingNamespace() uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/turnstile-streams/turnstile/reading"))
}

// hourly is the relative ridership per hour of day (peaks 8-9 and 17-18).
func hourly(h int) float64 {
	return [24]float64{0.10, 0.05, 0.03, 0.03, 0.05, 0.15, 0.45, 0.85, 1.00, 0.80, 0.55, 0.50,
		0.55, 0.55, 0.60, 0.70, 0.85, 1.00, 0.90, 0.65, 0.45, 0.35, 0.25, 0.15}[h]
}

type device struct {
	booth     Booth
	scp       string
	phase     time.Duration
	entries   int64
	exits     int64
	peak      float64 // mean entries per hour at the peak
	exitRatio float64
}

// synthetic generates one reading per device per interval, devices taken
// from the station reference, booths staggered across the interval.
type synthetic struct {
	cfg     SyntheticConfig
	seed    int64
	rng     *rand.Rand
	devices []*device
	queue   dueQueue
	end     time.Time // zero: endless
	ns      uuid.UUID
}

func newSynthetic(cfg SyntheticConfig, seed int64) (*synthetic, error) {
	booths, err := Booths()
	if err != nil {
		return nil, err
	}
	if cfg.MaxBooths > 0 && cfg.MaxBooths < len(booths) {
		booths = booths[:cfg.MaxBooths]
	}
	s := &synthetic{cfg: cfg, seed: seed, rng: rand.New(rand.NewPCG(uint64(seed), 0x7475726e7374696c)), ns: readingNamespace()}
	if cfg.Duration > 0 {
		s.end = cfg.Start.Add(cfg.Duration)
	}
	quarter := cfg.Interval / 4
	for _, b := range booths {
		n := cfg.DevicesPerBooth
		if n == 0 {
			n = 2 + s.rng.IntN(3)
		}
		// Booths report together, staggered by quarter interval; one in
		// eight at an odd minute.
		phase := time.Duration(s.rng.IntN(4)) * quarter
		if s.rng.IntN(8) == 0 {
			phase += time.Duration(s.rng.IntN(60)) * time.Minute
		}
		phase %= cfg.Interval
		// Stations differ by orders of magnitude: a log-normal peak rate.
		peak := math.Exp(4.5 + 0.9*s.rng.NormFloat64())
		for i := 0; i < n; i++ {
			d := &device{
				booth:     b,
				scp:       fmt.Sprintf("%02d-00-%02d", i/10, i%10),
				phase:     phase,
				peak:      peak * (0.5 + s.rng.Float64()),
				exitRatio: 0.6 + 0.6*s.rng.Float64(),
			}
			if cfg.Counters == CountersCumulative {
				d.entries = s.rng.Int64N(8_000_000)
				d.exits = s.rng.Int64N(8_000_000)
			}
			s.devices = append(s.devices, d)
			heap.Push(&s.queue, due{at: cfg.Start.Add(phase), dev: len(s.devices) - 1})
		}
	}
	if len(s.devices) == 0 {
		return nil, fmt.Errorf("producer: no devices")
	}
	return s, nil
}

func (s *synthetic) total() int64 {
	if s.end.IsZero() {
		return -1
	}
	var n int64
	for _, d := range s.devices {
		first := s.cfg.Start.Add(d.phase)
		if first.Before(s.end) {
			n += int64((s.end.Sub(first)-1)/s.cfg.Interval) + 1
		}
	}
	return n
}

func (s *synthetic) origin() time.Time { return s.cfg.Start }

func (s *synthetic) next() (item, error) {
	d0 := s.queue[0]
	if !s.end.IsZero() && !d0.at.Before(s.end) {
		return item{}, io.EOF
	}
	heap.Pop(&s.queue)
	dev := s.devices[d0.dev]
	t := d0.at
	first := t.Before(s.cfg.Start.Add(dev.phase + s.cfg.Interval))
	switch {
	case s.cfg.Counters == CountersIncrement:
		dev.entries = 5 + s.rng.Int64N(6)
		dev.exits = 5 + s.rng.Int64N(6)
	case first:
		// The registers as found: no increment yet.
	case s.cfg.ResetFraction > 0 && s.rng.Float64() < s.cfg.ResetFraction:
		dev.entries = s.rng.Int64N(1000)
		dev.exits = s.rng.Int64N(1000)
	default:
		in := s.traffic(dev, t)
		dev.entries += in
		dev.exits += int64(math.Round(float64(in) * dev.exitRatio * (0.9 + 0.2*s.rng.Float64())))
	}
	heap.Push(&s.queue, due{at: t.Add(s.cfg.Interval), dev: d0.dev})
	key := schemas.DeviceKey(dev.booth.CA, dev.booth.Unit, dev.scp)
	r := schemas.Reading{
		CA: dev.booth.CA, Unit: dev.booth.Unit, SCP: dev.scp, Station: dev.booth.Station,
		LineName: dev.booth.LineName, Division: dev.booth.Division, Desc: "REGULAR",
		Entries: dev.entries, Exits: dev.exits,
		ID:        uuid.NewSHA1(s.ns, fmt.Appendf(nil, "synthetic|%d|%s|%d", s.seed, key, t.UnixMilli())).String(),
		EventTime: t, Source: s.cfg.SourceLabel,
	}
	r.SetTimes(t)
	return item{reading: r, event: t, arrival: t}, nil
}

// traffic draws the entries of the interval ending at t.
func (s *synthetic) traffic(d *device, t time.Time) int64 {
	var mean float64
	steps := int(s.cfg.Interval / time.Hour)
	if steps < 1 {
		steps = 1
	}
	frac := s.cfg.Interval.Hours() / float64(steps)
	for i := 0; i < steps; i++ {
		h := t.Add(-time.Duration(i) * time.Hour)
		f := hourly(h.Hour())
		if wd := h.Weekday(); wd == time.Saturday || wd == time.Sunday {
			f *= 0.55
		}
		mean += d.peak * f * frac
	}
	return int64(math.Round(mean * (0.8 + 0.4*s.rng.Float64())))
}

// due is a device's next reading time.
type due struct {
	at  time.Time
	dev int
}

// dueQueue orders by time, then device index (deterministic ties).
type dueQueue []due

func (q dueQueue) Len() int { return len(q) }
func (q dueQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].dev < q[j].dev
}
func (q dueQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)   { *q = append(*q, x.(due)) }
func (q *dueQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
