package producer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
)

// ResumePoint is where a synthetic stream continues after what its topic
// already holds (Config.Resume).
type ResumePoint struct {
	// Newest is the newest event time of the readings read (zero: none).
	Newest time.Time
	// Registers are the last ENTRIES and EXITS read of each device the
	// stream produces (by device key) that was found.
	Registers map[string]Registers
	// Read is how many records were read.
	Read int64
}

// Registers are a device's cumulative counters at a reading.
type Registers struct {
	Entries, Exits int64
	At             time.Time
}

// resumeMaxPerPartition bounds the records read from one partition when
// looking for the devices' last readings: a topic whose tail holds other
// data (a CSV replay) is not read whole; devices not found start afresh.
const resumeMaxPerPartition = 200_000

// FindResumePoint reads the tail of every partition of topic (at least
// twice as many records as the partition has devices among keys, more
// while some device is missing, up to resumeMaxPerPartition) and returns
// the newest event time found and each device's last registers. Records
// that do not decode are skipped. kopts connect to Kafka.
func FindResumePoint(ctx context.Context, kopts []kgo.Opt, topic string, codec *codecs.ReadingCodec, keys []string) (ResumePoint, error) {
	rp := ResumePoint{Registers: map[string]Registers{}}
	admCl, err := kgo.NewClient(kopts...)
	if err != nil {
		return rp, fmt.Errorf("producer: resume: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return rp, fmt.Errorf("producer: resume: end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return rp, fmt.Errorf("producer: resume: start offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return rp, fmt.Errorf("producer: resume: end offsets of %s: %w", topic, err)
	}
	n := len(ends[topic])
	want := map[int32]map[string]bool{} // partition -> device keys not found yet
	for _, k := range keys {
		p := schemas.Partition(k, n)
		if want[p] == nil {
			want[p] = map[string]bool{}
		}
		want[p][k] = true
	}
	ours := map[string]bool{}
	for _, k := range keys {
		ours[k] = true
	}
	spans := map[int32]span{}
	for p, o := range ends[topic] {
		st := int64(0)
		if so, ok := starts.Lookup(topic, p); ok {
			st = so.Offset
		}
		if o.Offset > st {
			spans[p] = span{hi: o.Offset, lo: o.Offset, start: st}
		}
	}
	// Read backwards in growing chunks until every device of a partition
	// is found, its start is reached, or the bound.
	for chunk := int64(0); len(spans) > 0; {
		next := map[int32]span{}
		for p, s := range spans {
			size := max(chunk, 2*int64(len(want[p])), 256)
			lo := max(s.start, s.lo-size, s.hi-resumeMaxPerPartition)
			if lo < s.lo {
				next[p] = span{lo: lo, hi: s.lo, start: s.start}
			}
		}
		if len(next) == 0 {
			break
		}
		if err := readSpans(ctx, kopts, topic, next, func(p int32, r *kgo.Record) {
			rp.Read++
			reading, err := codec.DecodeReading(r.Value)
			if err != nil {
				return
			}
			t, err := reading.ParseEventTime()
			if err != nil {
				return
			}
			if t.After(rp.Newest) {
				rp.Newest = t
			}
			key := reading.DeviceKey()
			if !ours[key] {
				return
			}
			if prev, ok := rp.Registers[key]; !ok || t.After(prev.At) {
				rp.Registers[key] = Registers{Entries: reading.Entries, Exits: reading.Exits, At: t}
			}
			delete(want[p], key)
		}); err != nil {
			return rp, err
		}
		spans = map[int32]span{}
		for p, s := range next {
			if len(want[p]) > 0 && s.lo > s.start && s.lo > ends[topic][p].Offset-resumeMaxPerPartition {
				spans[p] = span{lo: s.lo, hi: ends[topic][p].Offset, start: s.start}
				chunk = max(chunk, 2*(ends[topic][p].Offset-s.lo))
			}
		}
	}
	return rp, nil
}

// span is a range [lo, hi) of a partition's offsets above its log start.
type span struct{ lo, hi, start int64 }

// readSpans reads [lo, hi) of each partition and calls fn with each record.
func readSpans(ctx context.Context, kopts []kgo.Opt, topic string, spans map[int32]span, fn func(int32, *kgo.Record)) error {
	offsets := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	for p, s := range spans {
		offsets[p] = kgo.NewOffset().At(s.lo)
		left[p] = s.hi
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), kopts...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))...)
	if err != nil {
		return fmt.Errorf("producer: resume: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("producer: resume: reading the tail of %s: %w", topic, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) {
				ferr = err
			}
		})
		if ferr != nil {
			return fmt.Errorf("producer: resume: reading the tail of %s: %w", topic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			hi, ok := left[r.Partition]
			if !ok || r.Offset >= hi {
				return
			}
			fn(r.Partition, r)
			if r.Offset+1 >= hi {
				delete(left, r.Partition)
			}
		})
	}
	return nil
}
