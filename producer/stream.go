package producer

import (
	"container/heap"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
)

// Injection says what the producer did to a record on purpose.
type Injection string

// Injections. Bad kinds all start with "bad-".
const (
	InjectNone      Injection = ""
	InjectLate      Injection = "late"
	InjectDuplicate Injection = "duplicate"
	// BadMagicByte: the reading as a legacy CSV line (no Confluent framing).
	BadMagicByte Injection = "bad-magic-byte"
	// BadTruncated: the encoded reading cut in half.
	BadTruncated Injection = "bad-truncated"
	// BadNegativeCounter: ENTRIES below zero.
	BadNegativeCounter Injection = "bad-negative-counter"
	// BadTimestamp: an unparsable TIMESTAMP.
	BadTimestamp Injection = "bad-timestamp"
	// BadEmptyDevice: an empty SCP.
	BadEmptyDevice Injection = "bad-empty-device"
)

// BadKinds lists the malformed record kinds BadFraction draws from.
func BadKinds() []Injection {
	return []Injection{BadMagicByte, BadTruncated, BadNegativeCounter, BadTimestamp, BadEmptyDevice}
}

// IsBad reports whether i is one of the malformed kinds.
func (i Injection) IsBad() bool { return len(i) > 4 && i[:4] == "bad-" }

// Record is one Kafka record of the stream.
type Record struct {
	Key   []byte // reading key STATION|LINENAME|CA|UNIT|SCP
	Value []byte // Confluent wire format (or deliberately not, for bad records)
	// Reading is what was encoded (for bad records: after corruption).
	Reading schemas.Reading
	// EventTime of the reading.
	EventTime time.Time
	// Arrival is the stream time at which the record is sent; pacing maps it
	// to wall time.
	Arrival time.Time
	// Injected is what was done on purpose, or InjectNone.
	Injected Injection
}

// Stream yields the records Run sends, in order, without pacing or
// sending them. Streams are deterministic under Config.Seed. A Stream is not
// safe for concurrent use.
type Stream struct {
	src    source
	codec  *codecs.ReadingCodec
	cfg    Config
	rng    *rand.Rand
	queue  recordQueue
	seq    uint64
	peeked *item
	done   bool
	ns     uuid.UUID
}

// NewStream builds the stream of cfg's source, encoded with codec (whose
// writer id must be resolvable: the registry is contacted on the first
// record). now sets the synthetic start default when
// cfg.Synthetic.Start is zero.
func NewStream(cfg Config, codec *codecs.ReadingCodec, now time.Time, log *slog.Logger) (*Stream, error) {
	cfg, err := cfg.prepared(now)
	if err != nil {
		return nil, err
	}
	if codec == nil {
		return nil, fmt.Errorf("producer: NewStream needs a codec")
	}
	var src source
	switch cfg.Source {
	case SourceCSV:
		src, err = newCSVSource(cfg.CSV, cfg.Seed, log)
	default:
		src, err = newSynthetic(cfg.Synthetic, cfg.Seed)
	}
	if err != nil {
		return nil, err
	}
	return &Stream{
		src: src, codec: codec, cfg: cfg,
		// A separate generator from the source's: injections do not
		// change the readings themselves.
		rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x696e6a656374)),
		ns:  readingNamespace(),
	}, nil
}

// Total estimates the number of records (including injected ones), or -1
// when the stream is endless.
func (s *Stream) Total() int64 {
	n := s.src.total()
	if n >= 0 {
		n = int64(float64(n) * (1 + s.cfg.DuplicateFraction + s.cfg.BadFraction))
	}
	if s.cfg.Limit > 0 && (n < 0 || n > s.cfg.Limit) {
		n = s.cfg.Limit
	}
	return n
}

// Origin is the stream time at which pacing starts.
func (s *Stream) Origin() time.Time { return s.src.origin() }

// Next returns the next record, or io.EOF at the end of a finite source.
func (s *Stream) Next() (Record, error) {
	for {
		if !s.done && s.peeked == nil {
			it, err := s.src.next()
			switch {
			case err == io.EOF:
				s.done = true
			case err != nil:
				return Record{}, err
			default:
				s.peeked = &it
			}
		}
		if len(s.queue) > 0 && (s.peeked == nil || !s.queue[0].rec.Arrival.After(s.peeked.arrival)) {
			return heap.Pop(&s.queue).(queued).rec, nil
		}
		if s.peeked == nil {
			return Record{}, io.EOF
		}
		it := *s.peeked
		s.peeked = nil
		if err := s.inject(it); err != nil {
			return Record{}, err
		}
	}
}

func (s *Stream) push(r Record) {
	s.seq++
	heap.Push(&s.queue, queued{rec: r, seq: s.seq})
}

// inject queues the records of one source item: the reading (now or, when
// late, LateBy later), maybe a duplicate, maybe a malformed copy. It draws
// the same number of random values whatever the fractions, so that changing
// one fraction does not reshuffle the others.
func (s *Stream) inject(it item) error {
	uLate, uDup, uBad := s.rng.Float64(), s.rng.Float64(), s.rng.Float64()
	jitter := time.Duration(s.rng.Int64N(int64(s.cfg.Synthetic.Interval/4) + 1))
	badKind := BadKinds()[s.rng.IntN(len(BadKinds()))]
	badN := 1 + s.rng.Int64N(1000)

	r := it.reading
	// Keyed by reading key (station, then device) and placed by the
	// pipeline's partitioner: the windowed stage applies it where it lands.
	key := []byte(r.Key())
	rec := Record{Key: key, Reading: r, EventTime: it.event, Arrival: it.arrival}
	if uLate < s.cfg.LateFraction {
		rec.Reading.Desc = "RECOVR AUD"
		rec.Arrival = it.arrival.Add(s.cfg.LateBy)
		rec.Injected = InjectLate
	}
	v, err := s.codec.EncodeReading(&rec.Reading)
	if err != nil {
		return fmt.Errorf("producer: encode: %w", err)
	}
	rec.Value = v
	s.push(rec)
	if uDup < s.cfg.DuplicateFraction {
		dup := rec
		dup.Arrival = rec.Arrival.Add(jitter)
		dup.Injected = InjectDuplicate
		s.push(dup)
	}
	if uBad < s.cfg.BadFraction {
		bad := Record{Key: key, Reading: r, EventTime: it.event, Arrival: it.arrival, Injected: badKind}
		bad.Reading.ID = uuid.NewSHA1(s.ns, []byte(r.ID+"|"+string(badKind))).String()
		switch badKind {
		case BadMagicByte:
			bad.Value = legacyCSV(&bad.Reading)
		case BadTruncated:
			v, err := s.codec.EncodeReading(&bad.Reading)
			if err != nil {
				return fmt.Errorf("producer: encode: %w", err)
			}
			bad.Value = v[:len(v)/2]
		default:
			switch badKind {
			case BadNegativeCounter:
				bad.Reading.Entries = -badN
			case BadTimestamp:
				bad.Reading.Timestamp = "2024-13-45 25:61:00"
				bad.Reading.EventTime = time.Time{}
			case BadEmptyDevice:
				bad.Reading.SCP = ""
			}
			if bad.Value, err = s.codec.EncodeReading(&bad.Reading); err != nil {
				return fmt.Errorf("producer: encode: %w", err)
			}
		}
		s.push(bad)
	}
	return nil
}

// legacyCSV renders a reading as the original design's stream message.
func legacyCSV(r *schemas.Reading) []byte {
	var b []byte
	for i, f := range []string{r.CA, r.Unit, r.SCP, r.Station, r.LineName, r.Division, r.Date, r.Time, r.Desc,
		strconv.FormatInt(r.Entries, 10), strconv.FormatInt(r.Exits, 10), r.ID, r.Timestamp} {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f...)
	}
	return b
}

type queued struct {
	rec Record
	seq uint64
}

// recordQueue orders by arrival, then by push order.
type recordQueue []queued

func (q recordQueue) Len() int { return len(q) }
func (q recordQueue) Less(i, j int) bool {
	if !q[i].rec.Arrival.Equal(q[j].rec.Arrival) {
		return q[i].rec.Arrival.Before(q[j].rec.Arrival)
	}
	return q[i].seq < q[j].seq
}
func (q recordQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *recordQueue) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *recordQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
