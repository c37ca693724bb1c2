package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
)

// stationFollower reads the station windows topic as it fills, keeping the
// latest revision of each window and counting corrections: records with a
// REVISION above the one seen before for the same window. The windowed stage
// closes a station window in the same watermark write as its devices'
// windows, so on ordered input each window is published once and there
// should be none; the
// follower still keeps the latest revisions, so a correction is counted
// (and, in the throughput phase, reported as a failed check) rather than
// breaking the comparison. The run is complete when the latest revisions
// match the expected totals.
//
// It runs beside the pipeline it measures, so it keeps nothing the garbage
// collector has to scan: a window is known by the key128 of its record key,
// and only the figures its digest needs are kept (a map of whole windows by
// key held ~45 MB of pointers at 1 M readings).
type stationFollower struct {
	mu          sync.Mutex
	keys        hasher128
	latest      map[key128]stationSeen
	digest      Digest
	records     int64
	corrections int64
	err         error
	changed     chan struct{}
	done        chan struct{}
}

// stationSeen is what a stationFollower keeps of a window's latest
// revision.
type stationSeen struct {
	rev, devices   int32
	entries, exits int64
}

func followStations(ctx context.Context, e *env, topic string) (*stationFollower, error) {
	codec, err := codecs.NewStationWindowCodec(codecs.Config{Client: e.sr, Subject: schemas.Subject(topic)})
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(e.kafkaOpts(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(50*time.Millisecond))...)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	f := &stationFollower{keys: newHasher128(), latest: map[key128]stationSeen{}, changed: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		defer cl.Close()
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			f.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				if f.err != nil {
					return
				}
				w, err := codec.Unmarshal(r.Value)
				if err != nil {
					f.err = fmt.Errorf("bench: %s: %w", topic, err)
					return
				}
				f.records++
				k := f.keys.bytes(r.Key)
				prev, ok := f.latest[k]
				// A window's record key is its station key and start, so
				// a revision shares them with the one it replaces.
				station, start := w.StationKey(), w.Start.UnixMilli()
				switch {
				case ok && w.Revision <= prev.rev:
					return
				case ok:
					f.corrections++
					f.digest.Remove(station, start, prev.entries, prev.exits, int64(prev.devices))
				}
				f.latest[k] = stationSeen{rev: w.Revision, devices: w.Devices, entries: w.Entries, exits: w.Exits}
				f.digest.Add(station, start, w.Entries, w.Exits, int64(w.Devices))
			})
			f.mu.Unlock()
			select {
			case f.changed <- struct{}{}:
			default:
			}
		}
	}()
	return f, nil
}

// wait returns when the latest revisions match want (or ctx ends).
func (f *stationFollower) wait(ctx context.Context, want Digest) (time.Time, error) {
	for {
		f.mu.Lock()
		d, err := f.digest, f.err
		f.mu.Unlock()
		if err != nil {
			return time.Time{}, err
		}
		if d == want {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("bench: station windows: have %v, want %v: %w", d, want, ctx.Err())
		case <-f.changed:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (f *stationFollower) result() (Digest, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.digest, f.corrections
}

// deviceTally digests the device windows topic by the latest revision of
// each window, counting corrections (records with REVISION > 1), without
// keeping every window in memory: pass one adds the first revisions and
// keeps only the corrected windows' latest revisions; if there were any,
// pass two (over the topic again) takes out their first revisions, and
// finish adds the latest ones.
type deviceTally struct {
	digest      Digest
	corrections int64
	// corrected is the latest revision of each corrected window, by the
	// record key; removed marks those whose first revision pass two took
	// out.
	corrected map[string]schemas.DeviceWindow
	removed   map[string]bool
}

// first is pass one.
func (t *deviceTally) first(key string, w schemas.DeviceWindow) error {
	switch {
	case w.Revision < 1:
		return fmt.Errorf("bench: device window %s: revision %d", key, w.Revision)
	case w.Revision == 1:
		t.digest.Add(w.DeviceKey(), w.Start.UnixMilli(), w.Entries, w.Exits, 0)
		return nil
	}
	t.corrections++
	if t.corrected == nil {
		t.corrected = map[string]schemas.DeviceWindow{}
	}
	if prev, ok := t.corrected[key]; !ok || w.Revision > prev.Revision {
		t.corrected[key] = w
	}
	return nil
}

// needSecond says whether pass two is needed.
func (t *deviceTally) needSecond() bool { return len(t.corrected) > 0 }

// second is pass two: it takes out the first revision of each corrected
// window (once: a first revision published again counts as it did in pass
// one).
func (t *deviceTally) second(key string, w schemas.DeviceWindow) {
	if w.Revision != 1 || t.removed[key] {
		return
	}
	if _, ok := t.corrected[key]; !ok {
		return
	}
	if t.removed == nil {
		t.removed = map[string]bool{}
	}
	t.removed[key] = true
	t.digest.Remove(w.DeviceKey(), w.Start.UnixMilli(), w.Entries, w.Exits, 0)
}

// finish adds the corrected windows' latest revisions and returns the
// digest and the corrections.
func (t *deviceTally) finish() (Digest, int64) {
	for _, w := range t.corrected {
		t.digest.Add(w.DeviceKey(), w.Start.UnixMilli(), w.Entries, w.Exits, 0)
	}
	t.corrected, t.removed = nil, nil
	return t.digest, t.corrections
}
