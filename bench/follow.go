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
// latest revision of each window: the station stage closes a window one
// grace after the newest device window it has seen, so under a backlog a
// device window from a partition that lags behind arrives after its station
// window closed and corrects it (REVISION+1), as the README describes. The
// run is complete when the latest revisions match the expected totals.
type stationFollower struct {
	mu          sync.Mutex
	latest      map[string]schemas.StationWindow
	digest      Digest
	records     int64
	corrections int64
	err         error
	changed     chan struct{}
	done        chan struct{}
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
	f := &stationFollower{latest: map[string]schemas.StationWindow{}, changed: make(chan struct{}, 1), done: make(chan struct{})}
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
				k := string(r.Key)
				prev, ok := f.latest[k]
				switch {
				case ok && w.Revision <= prev.Revision:
					return
				case ok:
					f.corrections++
					f.digest.Remove(prev.StationKey(), prev.Start.UnixMilli(), prev.Entries, prev.Exits, int64(prev.Devices))
				}
				f.latest[k] = w
				f.digest.Add(w.StationKey(), w.Start.UnixMilli(), w.Entries, w.Exits, int64(w.Devices))
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

// wait returns when the latest revisions match want, or, when lost()
// reports that the pipeline dropped station updates, once nothing new has
// arrived for quiet (the time returned is then the last arrival).
func (f *stationFollower) wait(ctx context.Context, want Digest, quiet time.Duration, lost func() bool) (time.Time, error) {
	last := time.Now()
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
		if time.Since(last) >= quiet && lost() {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("bench: station windows: have %v, want %v: %w", d, want, ctx.Err())
		case <-f.changed:
			last = time.Now()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (f *stationFollower) result() (Digest, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.digest, f.corrections
}
