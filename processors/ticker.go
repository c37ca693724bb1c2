package processors

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/internal/grouplag"
	"github.com/turnstile-streams/turnstile/wire"
)

// DefaultTickInterval is Config.TickInterval's default. The MTA week in
// make bench (dev, produced as fast as it goes), from the last reading
// read to the last window closed, three alternating pairs: 2.4-2.5 s with
// ticks every second, 0.5-1.3 s every 250 ms. Since a partition at its
// declared end goes idle as it reads it and nudges itself, what was left
// was the watermark gate's wait for a tick that sees the group's commit
// (goka commits at this interval too): from the last record read to the
// idle advance 390-470 ms with ticks every 250 ms, 110-160 ms every
// 100 ms (three alternating pairs). A bounded input's end no longer
// waits for ticks at all (the intake pokes the tickers, caughtUp); a
// live stream's idle sources still do. A tick costs a lag query (four
// admin requests) per member and a loopback record per partition: 1 M
// readings at 200 and 100 ms, two alternating pairs, ran at
// 164,284/182,557 and 191,398/183,668 readings/s, within the noise.
const DefaultTickInterval = 100 * time.Millisecond

// ticker sends a tick to every partition's control key of a group's
// loopback topic at a fixed interval with the wall clock and, when lagTopic
// is set, what the lag of lagGroup on lagTopic was: which of its
// partitions had unconsumed input (every receiver's watermark.Gate reads
// it), whether the loop partition's own one has none and how long its log
// has not grown (the stage that reads the input marks a source idle only
// when it has none, and either it or its log was silent for the idle
// timeout). A partition whose end offset is the end a producer declared
// in endGroup (schemas.InputEndGroup) is reported quiet without bound
// (inputEnded): its input is complete, so once caught up it is idle at
// once. Every member runs one; duplicate ticks are harmless (each is
// applied at most once, and a stale one changes nothing).
type ticker struct {
	cl       *kgo.Client
	adm      *kadm.Client
	lagGroup string
	lagTopic string
	endGroup string // where producers declare their input's end; "" none
	loop     string
	ctrl     []string
	interval time.Duration
	log      *slog.Logger
	// sentEnds, when set, says where the member's intake sent an input
	// partition's idle mark at its declared end (intake.sentEnd; 0: none);
	// poke wakes the ticker for a tick now (tickPokes).
	sentEnds func(p int32) int64
	poke     <-chan struct{}

	// ends are the input partitions' end offsets as last seen, and since
	// when they have not moved (see quiet).
	ends map[int32]logEnd
}

type logEnd struct {
	offset int64
	since  time.Time
}

func (t *ticker) run(ctx context.Context) error {
	tk := time.NewTicker(t.interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tk.C:
		case <-t.poke:
		}
		// The wall clock before the lag is measured: the lag covers at
		// least what was written to the input by then.
		wall := time.Now()
		tick := wire.Tick{Wall: wall.UnixMilli()}
		var caught map[int32]bool
		var quiet map[int32]time.Duration
		var ends map[int32]int64
		if t.lagTopic != "" {
			caught, tick.Lagging, ends, tick.LagKnown = t.lag(ctx)
			quiet = t.quiet(wall, time.Now(), ends, t.declaredEnds(ctx))
		}
		for p, key := range t.ctrl {
			tick.CaughtUp = caught[int32(p)]
			tick.QuietMs = quiet[int32(p)].Milliseconds()
			tick.EndsAt = endsAt(quiet[int32(p)], ends[int32(p)])
			b, _ := wire.LoopCodec{}.Encode(tick)
			t.cl.Produce(ctx, &kgo.Record{Topic: t.loop, Partition: int32(p), Key: []byte(key), Value: b}, nil)
		}
	}
}

// lag reports, per partition of lagTopic, whether lagGroup's committed
// offset has reached the end (the lag of package grouplag, the one
// definition status uses too), and lists the partitions that have not
// (ascending), and the end offsets it could list. Unknown lag is never
// "caught up": idling late is safe, early is not. known is false when the
// lag could not be fetched at all.
func (t *ticker) lag(ctx context.Context) (caught map[int32]bool, lagging []int32, ends map[int32]int64, known bool) {
	// A slow answer delays the next tick rather than losing this one.
	qctx, cancel := context.WithTimeout(ctx, max(t.interval, time.Second))
	defer cancel()
	lag, err := grouplag.Fetch(qctx, t.adm, t.lagGroup, t.lagTopic)
	if err != nil {
		t.log.Debug("tick: lag", "err", err)
		return nil, nil, nil, false
	}
	caught, ends = map[int32]bool{}, map[int32]int64{}
	for p, l := range lag[t.lagTopic] {
		var sent int64
		if t.sentEnds != nil {
			sent = t.sentEnds(p) // read after the end offsets were listed
		}
		caught[p] = caughtUp(l, sent)
		if !caught[p] {
			lagging = append(lagging, p)
		}
		if l.End.Err == nil {
			ends[p] = l.End.Offset
		}
	}
	slices.Sort(lagging)
	return caught, lagging, ends, true
}

// caughtUp says whether a partition had no input left to take when its
// lag l was measured: its group had committed up to its end, or its idle
// mark at a declared end (sentEnd, read after the end was listed; 0: none)
// went out and that end is still the log's end, so every record was taken
// and the receivers will know it before they know the mark (see
// intake.sentAtEnd). The second needs no commit, which goka makes only at
// its commit interval: the last windows of a bounded input close a tick
// sooner.
func caughtUp(l kadm.GroupMemberLag, sentEnd int64) bool {
	if l.Err == nil && l.Lag == 0 {
		return true
	}
	return sentEnd > 0 && l.End.Err == nil && l.End.Offset == sentEnd
}

// tickPokes wakes a member's tickers for a tick now: each has a channel
// of one, so pokes that come faster than a tick coalesce into one. Safe
// for concurrent use.
type tickPokes struct {
	mu    sync.Mutex
	chans []chan struct{}
}

// add returns a new ticker's channel.
func (p *tickPokes) add() <-chan struct{} {
	c := make(chan struct{}, 1)
	p.mu.Lock()
	p.chans = append(p.chans, c)
	p.mu.Unlock()
	return c
}

func (p *tickPokes) poke() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.chans {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// inputEnded is the quiet of a partition whose input a producer declared
// complete: longer than any idle timeout.
const inputEnded = time.Duration(math.MaxInt64)

// declaredEnds returns the ends producers declared for lagTopic's
// partitions in endGroup (none when it cannot tell: a partition then idles
// after the timeout, as without a declaration).
func (t *ticker) declaredEnds(ctx context.Context) map[int32]int64 {
	if t.endGroup == "" {
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, max(t.interval, time.Second))
	defer cancel()
	committed, err := t.adm.FetchOffsets(qctx, t.endGroup)
	if err != nil {
		if !errors.Is(err, kerr.GroupIDNotFound) {
			t.log.Debug("tick: declared input ends", "group", t.endGroup, "err", err)
		}
		return nil
	}
	var out map[int32]int64
	for p, o := range committed[t.lagTopic] {
		if o.Err == nil && o.At >= 0 {
			if out == nil {
				out = map[int32]int64{}
			}
			out[p] = o.At
		}
	}
	return out
}

// quiet reports, per partition in ends (listed between wall and
// measured), how long its end offset has not moved as this ticker saw it:
// from the moment a listing first returned the current end (dated when
// that listing had finished) to wall (before this one began), so it never
// claims more silence than there was. A partition whose end could not be
// listed starts over. A partition whose end is the one declared for it
// (declared, fetched right after ends) is inputEnded: nothing was written
// after the producer's last record.
func (t *ticker) quiet(wall, measured time.Time, ends, declared map[int32]int64) map[int32]time.Duration {
	if t.ends == nil {
		t.ends = map[int32]logEnd{}
	}
	q := make(map[int32]time.Duration, len(ends))
	for p := range t.ends {
		if _, ok := ends[p]; !ok {
			delete(t.ends, p)
		}
	}
	for p, end := range ends {
		if seen, ok := t.ends[p]; ok && seen.offset == end {
			q[p] = max(0, wall.Sub(seen.since))
		} else {
			t.ends[p] = logEnd{offset: end, since: measured}
		}
		if d, ok := declared[p]; ok && d == end {
			q[p] = inputEnded
		}
	}
	return q
}

// endsAt is a partition's Tick.EndsAt: its listed end offset when its
// quiet is a declared end's (a source that has read up to there is idle at
// once), else 0; an empty partition's end is 0 too.
func endsAt(quiet time.Duration, end int64) int64 {
	if quiet == inputEnded {
		return end
	}
	return 0
}
