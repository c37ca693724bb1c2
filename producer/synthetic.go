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

type device struct {
	booth   Booth
	scp     string
	phase   time.Duration
	entries int64
	exits   int64
	// rider is the booth's calibrated ridership, share this device's part
	// of it.
	rider   boothRidership
	share   float64
	resumed bool // its registers continue from a reading already sent
}

// synthetic generates one reading per device per interval, devices taken
// from the station reference, booths staggered across the interval.
type synthetic struct {
	cfg     SyntheticConfig
	rider   *Ridership
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
	rider, err := LoadRidership()
	if err != nil {
		return nil, err
	}
	riders := rider.forBooths(booths)
	s := &synthetic{cfg: cfg, rider: rider, seed: seed, rng: rand.New(rand.NewPCG(uint64(seed), 0x7475726e7374696c)), ns: readingNamespace()}
	if cfg.Duration > 0 {
		s.end = cfg.Start.Add(cfg.Duration)
	}
	quarter := cfg.Interval / 4
	for bi, b := range booths {
		n := cfg.DevicesPerBooth
		if n == 0 {
			n = 2 + s.rng.IntN(3)
			// Enough turnstiles that none counts more in a 4-hour audit
			// than a busy real one (about 4,000), so no difference looks
			// like a glitch (MaxDelta) at the MTA's interval.
			n = max(n, int(math.Ceil(riders[bi].busiestBlock()/maxPerDeviceBlock)))
		}
		// Booths report together, staggered by quarter interval; one in
		// eight at an odd minute.
		phase := time.Duration(s.rng.IntN(4)) * quarter
		if s.rng.IntN(8) == 0 {
			phase += time.Duration(s.rng.IntN(60)) * time.Minute
		}
		phase %= cfg.Interval
		// The booth's real ridership, shared unevenly by its turnstiles.
		weights := make([]float64, n)
		var sum float64
		for i := range weights {
			weights[i] = 0.5 + s.rng.Float64()
			sum += weights[i]
		}
		for i := 0; i < n; i++ {
			d := &device{
				booth: b,
				scp:   fmt.Sprintf("%02d-00-%02d", i/10, i%10),
				phase: phase,
				rider: riders[bi],
				share: weights[i] / sum,
			}
			if cfg.Counters == CountersCumulative {
				d.entries = s.rng.Int64N(8_000_000)
				d.exits = s.rng.Int64N(8_000_000)
				if r, ok := cfg.from[schemas.DeviceKey(b.CA, b.Unit, d.scp)]; ok {
					d.entries, d.exits, d.resumed = r.Entries, r.Exits, true
				}
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
	first := !dev.resumed && t.Before(s.cfg.Start.Add(dev.phase+s.cfg.Interval))
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
		in, out := s.traffic(dev, t)
		dev.entries += in
		dev.exits += out
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

// traffic draws the entries and exits of the interval ending at t: Poisson
// counts around the device's share of its booth's calibrated rates,
// integrated over the New York local hours the interval spans.
func (s *synthetic) traffic(d *device, t time.Time) (entries, exits int64) {
	var in, out float64
	for from := t.Add(-s.cfg.Interval); from.Before(t); {
		next := from.Truncate(time.Hour).Add(time.Hour)
		if next.After(t) {
			next = t
		}
		e, x := s.rider.rate(d.rider, from)
		h := next.Sub(from).Hours()
		in += e * h
		out += x * h
		from = next
	}
	return poisson(s.rng, in*d.share), poisson(s.rng, out*d.share)
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

// syntheticKeys are the device keys of the synthetic stream cfg and seed
// give.
func syntheticKeys(cfg SyntheticConfig, seed int64) ([]string, error) {
	s, err := newSynthetic(cfg, seed)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(s.devices))
	for i, d := range s.devices {
		keys[i] = schemas.DeviceKey(d.booth.CA, d.booth.Unit, d.scp)
	}
	return keys, nil
}
