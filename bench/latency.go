package bench

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
)

// Latency is the live-mode close latency of device windows.
type Latency struct {
	// TargetRate is the produce rate asked for (a fraction of ours'
	// throughput); Rate the one achieved.
	TargetRate float64 `json:"target_readings_per_s"`
	Rate       float64 `json:"readings_per_s"`
	Seconds    float64 `json:"measured_s"`
	Windows    int     `json:"windows"`
	P50        float64 `json:"p50"`
	P99        float64 `json:"p99"`
	P999       float64 `json:"p999"`
	Max        float64 `json:"max"`
	// Missing windows became closable during the measurement but were not
	// on the sink topic by its end (plus a grace second).
	Missing int `json:"missing"`
	// DeviceCorrections are the records with REVISION > 1 on the device
	// windows topic during the phase (warm-up included): windows published
	// again, which are not closes and are not latency samples. Reported,
	// not a check (live input). The phase does not follow the station
	// windows topic (a second reader would compete for the cores with the
	// member being measured), so it has no station corrections.
	DeviceCorrections int64 `json:"device_corrections"`
}

// closability records, per input partition, the stream time (largest event
// time produced to it and acknowledged) and when it passed each window's
// end + grace; a window became closable when every partition had.
type closability struct {
	size, grace int64
	parts       int
	mu          sync.Mutex
	stream      map[int32]int64
	at          map[int32]map[int64]time.Time // partition -> window end -> when closable
}

func (c *closability) observe(p int32, evt int64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.stream[p]
	if !ok {
		c.stream[p] = evt
		c.at[p] = map[int64]time.Time{}
		return
	}
	if evt <= old {
		return
	}
	c.stream[p] = evt
	// Ends E with old < E+grace <= evt became closable.
	first := floorTo(old-c.grace, c.size) + c.size
	for e := first; e <= evt-c.grace; e += c.size {
		c.at[p][e] = now
	}
}

// when is the moment the window ending at end became closable: the
// pipeline's watermark is the least of the input partitions' event times,
// so it is when the last of the parts partitions passed end + grace.
func (c *closability) when(end int64) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last time.Time
	if len(c.at) < c.parts {
		return last, false
	}
	for _, ends := range c.at {
		t, ok := ends[end]
		if !ok {
			return time.Time{}, false
		}
		if t.After(last) {
			last = t
		}
	}
	return last, true
}

// deviceWindow identifies a device window (hashOf keys the phase's maps
// by it).
type deviceWindow struct {
	device string
	start  int64
}

func floorTo(t, size int64) int64 { return t - ((t%size)+size)%size }

// runLatency runs one pipeline member on a fresh broker, produces the
// synthetic stream live at rate readings/s, and measures for each device
// window the time from its becoming closable (every input partition's
// stream time past end + grace, as acknowledged by the broker: the
// pipeline's watermark is their least) to its record being fetched from
// the sink topic. The first two seconds are warm-up.
func runLatency(ctx context.Context, cfg *Config, rate float64, say func(string, ...any)) (Latency, error) {
	l := Latency{TargetRate: rate}
	dir := filepath.Join(cfg.Dir, "latency")
	e, err := startEnv(ctx, dir, cfg.Logger)
	if err != nil {
		return l, err
	}
	defer e.close()
	topics := processors.DefaultTopics()
	if err := e.createTopic(ctx, topics.Input, int32(cfg.Partitions), nil); err != nil {
		return l, err
	}
	m, err := startMembers(ctx, e, cfg, filepath.Join(dir, "state"), 1)
	if err != nil {
		return l, err
	}
	defer m.stop()
	wctx, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel()
	if err := groupsStable(wctx, e.adm, 1, pipelineGroups()...); err != nil {
		return l, err
	}
	codec, err := e.readingCodec(topics.Input)
	if err != nil {
		return l, err
	}
	st, err := newStream(cfg, codec, cfg.Start)
	if err != nil {
		return l, err
	}
	const warmup = 2 * time.Second
	// The live stream is generated before the clock starts: generating a
	// synthetic reading costs about as much CPU as the pipeline spends on
	// it, and the harness's generator took a fifth to a quarter of the
	// process's samples inside the measured span, on the cores the
	// pipeline needs. 5 % more than the span's readings, in case the
	// producing loop runs ahead of its schedule's end.
	pre, err := pregenerate(st, int(rate*(warmup+cfg.LatencyDuration).Seconds()*1.05)+1)
	if err != nil {
		return l, err
	}
	ids := newHasher128()
	cl := &closability{size: cfg.Window.Milliseconds(), grace: cfg.Grace.Milliseconds(), parts: cfg.Partitions, stream: map[int32]int64{}, at: map[int32]map[int64]time.Time{}}

	// The sink reader, of the device windows topic only.
	devCodec, err := codecs.NewDeviceWindowCodec(codecs.Config{Client: e.sr, Subject: schemas.Subject(topics.DeviceWindows)})
	if err != nil {
		return l, err
	}
	sinkCl, err := kgo.NewClient(append(e.kafkaOpts(), kgo.ConsumeTopics(topics.DeviceWindows),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		return l, fmt.Errorf("bench: %w", err)
	}
	defer sinkCl.Close()
	start := time.Now()
	measureFrom := start.Add(warmup)
	measureTo := measureFrom.Add(cfg.LatencyDuration)
	var (
		lat     []float64
		seen    = map[key128]bool{}
		readErr error
		// corrections is the reader's until rwg.Wait.
		corrections int64
		rwg         sync.WaitGroup
	)
	rctx, rcancel := context.WithCancel(ctx)
	defer rwg.Wait()
	defer rcancel()
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			fs := sinkCl.PollFetches(rctx)
			now := time.Now()
			if rctx.Err() != nil {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				if readErr != nil {
					return
				}
				device, s, ok := schemas.SplitDeviceWindowKey(string(r.Key))
				if !ok {
					readErr = fmt.Errorf("bench: latency: bad window key %q", r.Key)
					return
				}
				k := hashOf(ids, deviceWindow{device, s.UnixMilli()})
				if seen[k] {
					// A window's revisions share its key, so its partition,
					// and come in order: the first one seen is its first,
					// which need not be decoded (that took a fifth of the
					// process's CPU at 100,000 windows/s). A later one is
					// decoded to tell a correction from a republication.
					w, err := devCodec.Unmarshal(r.Value)
					if err != nil {
						readErr = fmt.Errorf("bench: latency: %s: %w", r.Topic, err)
						return
					}
					if w.Revision > 1 {
						corrections++
					}
					return
				}
				seen[k] = true
				at, ok := cl.when(s.UnixMilli() + cfg.Window.Milliseconds())
				if !ok || at.Before(measureFrom) || !at.Before(measureTo) {
					return
				}
				lat = append(lat, float64(now.Sub(at).Microseconds())/1000)
			})
		}
	}()

	say("latency: producing %.0f readings/s for %v (+%v warm-up)", rate, cfg.LatencyDuration, warmup)
	stopProfile, err := startCPUProfile(cfg.LatencyProfile)
	if err != nil {
		return l, err
	}
	var produced int64
	var perr error
	var pmu sync.Mutex
	for time.Now().Before(measureTo) {
		due := start.Add(time.Duration(float64(produced) / rate * float64(time.Second)))
		if d := time.Until(due); d > time.Millisecond {
			time.Sleep(d)
		}
		if produced >= int64(pre.len()) {
			return l, fmt.Errorf("bench: latency: the %d pregenerated readings ran out", pre.len())
		}
		key, value, evt := pre.at(int(produced))
		e.cl.Produce(ctx, &kgo.Record{Topic: topics.Input, Key: key, Value: value}, func(rec *kgo.Record, err error) {
			if err != nil {
				pmu.Lock()
				perr = err
				pmu.Unlock()
				return
			}
			cl.observe(rec.Partition, evt, time.Now())
		})
		produced++
	}
	l.Rate = float64(produced) / time.Since(start).Seconds()
	stopProfile()
	if err := e.cl.Flush(ctx); err != nil {
		return l, fmt.Errorf("bench: latency: %w", err)
	}
	// Stragglers: windows closable before the end get a second more.
	time.Sleep(time.Second)
	rcancel()
	rwg.Wait()
	l.DeviceCorrections = corrections
	pmu.Lock()
	defer pmu.Unlock()
	if perr != nil {
		return l, fmt.Errorf("bench: latency: produce: %w", perr)
	}
	if readErr != nil {
		return l, readErr
	}
	if err := m.failed(); err != nil {
		return l, err
	}
	// Windows that became closable in the measured span and exist (a
	// reading fell in them) but were not seen. The windows are listed
	// from what was produced only now, after the clock: the list took a
	// map insert per reading, on the cores the pipeline needs.
	windows := map[key128]int64{} // window -> its end
	for i := range int(produced) {
		key, _, evt := pre.at(i)
		_, device, _ := schemas.SplitReadingKey(string(key))
		ws := floorTo(evt, cfg.Window.Milliseconds())
		windows[hashOf(ids, deviceWindow{device, ws})] = ws + cfg.Window.Milliseconds()
	}
	for k, end := range windows {
		if at, ok := cl.when(end); ok && !at.Before(measureFrom) && at.Before(measureTo) && !seen[k] {
			l.Missing++
		}
	}
	l.Seconds = cfg.LatencyDuration.Seconds()
	l.Windows = len(lat)
	if len(lat) == 0 {
		return l, fmt.Errorf("bench: latency: no window closed in the measured span")
	}
	slices.Sort(lat)
	pct := func(q float64) float64 { return lat[max(0, int(math.Ceil(q*float64(len(lat))))-1)] }
	l.P50, l.P99, l.P999, l.Max = pct(0.50), pct(0.99), pct(0.999), lat[len(lat)-1]
	return l, nil
}

// pregenerated is a stream's first readings, ready to produce: record
// keys (reading keys) and values in one byte arena and their offsets and
// event times in a slice, neither holding pointers, so the garbage
// collector does not scan them while the pipeline runs beside them.
type pregenerated struct {
	arena []byte
	recs  []pregen
}

type pregen struct {
	key, value [2]int32 // offset, length in arena
	evt        int64    // event time, Unix ms
}

func pregenerate(st *stream, n int) (*pregenerated, error) {
	// ~170 bytes a reading (its key, its Avro value); the arena grows if
	// they are longer.
	p := &pregenerated{recs: make([]pregen, 0, n), arena: make([]byte, 0, n*170)}
	put := func(b []byte) [2]int32 {
		off := len(p.arena)
		p.arena = append(p.arena, b...)
		return [2]int32{int32(off), int32(len(b))}
	}
	for range n {
		r, err := st.Next()
		if err != nil {
			return nil, fmt.Errorf("bench: synthetic stream: %w", err)
		}
		if len(p.arena) > math.MaxInt32-1024 {
			return nil, fmt.Errorf("bench: latency: %d pregenerated readings fill 2 GB", len(p.recs))
		}
		p.recs = append(p.recs, pregen{key: put(r.Key), value: put(r.Value), evt: r.EventTime.UnixMilli()})
	}
	return p, nil
}

func (p *pregenerated) len() int { return len(p.recs) }

// at is reading i: its record key and value (sharing the arena: the
// producer only reads them) and its event time.
func (p *pregenerated) at(i int) (key, value []byte, evt int64) {
	r := p.recs[i]
	slice := func(x [2]int32) []byte { return p.arena[x[0] : x[0]+x[1] : x[0]+x[1]] }
	return slice(r.key), slice(r.value), r.evt
}
