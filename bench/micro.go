package bench

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/lovoo/goka/storage"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/state"
)

// Micro is one micro-benchmark.
type Micro struct {
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"ns_per_op"`
	OpsPerS     float64 `json:"ops_per_s"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
}

// measure runs op in growing batches for about d and reports its cost
// (allocations over the whole process, which is otherwise idle).
func measure(name string, d time.Duration, op func(i int) error) (Micro, error) {
	if err := op(0); err != nil { // warm caches (schema ids)
		return Micro{}, fmt.Errorf("bench: %s: %w", name, err)
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	n, batch := 0, 16
	for time.Since(start) < d {
		for j := 0; j < batch; j++ {
			if err := op(n + 1); err != nil {
				return Micro{}, fmt.Errorf("bench: %s: %w", name, err)
			}
			n++
		}
		batch = min(2*batch, 8192)
	}
	el := time.Since(start)
	runtime.ReadMemStats(&m1)
	return Micro{Name: name, NsPerOp: float64(el.Nanoseconds()) / float64(n), OpsPerS: float64(n) / el.Seconds(),
		AllocsPerOp: float64(m1.Mallocs-m0.Mallocs) / float64(n), BytesPerOp: float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n)}, nil
}

// runMicro measures the codecs' hot paths (ids cached: no registry round
// trip) and the table storages: ours (Pebble) and goka's default (LevelDB)
// with the same operations.
func runMicro(e *env, cfg *Config, say func(string, ...any)) ([]Micro, error) {
	var out []Micro
	add := func(name string, op func(i int) error) error {
		m, err := measure(name, cfg.MicroTime, op)
		if err != nil {
			return err
		}
		out = append(out, m)
		say("micro: %-34s %9.0f ns/op %6.1f allocs/op", name, m.NsPerOp, m.AllocsPerOp)
		return nil
	}
	topics := schemas.DefaultTopics()
	start := cfg.Start
	rc, err := e.readingCodec(topics.Input)
	if err != nil {
		return nil, err
	}
	r := schemas.Reading{CA: "A002", Unit: "R051", SCP: "02-00-00", Station: "59 ST", LineName: "NQR456W", Division: "BMT",
		Desc: "REGULAR", Entries: 7_654_321, Exits: 2_345_678, ID: "0b7a0c5e-6a8e-5b1f-9d0e-1c2d3e4f5a6b",
		EventTime: start, Source: "bench"}
	r.SetTimes(start)
	data, err := rc.EncodeReading(&r)
	if err != nil {
		return nil, err
	}
	if err := add("codec: reading encode", func(int) error { _, err := rc.EncodeReading(&r); return err }); err != nil {
		return nil, err
	}
	if err := add("codec: reading decode+validate", func(int) error { _, err := rc.DecodeReading(data); return err }); err != nil {
		return nil, err
	}
	dc, err := codecs.NewDeviceWindowCodec(codecs.Config{Client: e.sr, Subject: schemas.Subject(topics.DeviceWindows)})
	if err != nil {
		return nil, err
	}
	w := schemas.DeviceWindow{CA: r.CA, Unit: r.Unit, SCP: r.SCP, Station: r.Station, LineName: r.LineName, Division: r.Division,
		Desc: r.Desc, Entries: 5, Exits: 14, Revision: 1, EmittedAt: start}
	w.SetWindow(start, start.Add(cfg.Window), schemas.DefaultLocation())
	wdata, err := dc.Marshal(&w)
	if err != nil {
		return nil, err
	}
	if err := add("codec: device window encode", func(int) error { _, err := dc.Marshal(&w); return err }); err != nil {
		return nil, err
	}
	if err := add("codec: device window decode", func(int) error { _, err := dc.Unmarshal(wdata); return err }); err != nil {
		return nil, err
	}
	var jc jsonCodec[deviceState]
	ds := deviceState{Has: true, LastT: 1, LastEntries: 7_654_321, LastExits: 2_345_678, Start: 1, Entries: 5, Exits: 14, Station: r.Station, Line: r.LineName}
	jdata, _ := jc.Encode(&ds)
	if err := add("usual goka: JSON state encode", func(int) error { _, err := jc.Encode(&ds); return err }); err != nil {
		return nil, err
	}
	if err := add("usual goka: JSON state decode", func(int) error { _, err := jc.Decode(jdata); return err }); err != nil {
		return nil, err
	}

	// Storages: 100k keys, 100-byte values, random order.
	const keys = 100_000
	ks := make([]string, keys)
	for i := range ks {
		ks[i] = fmt.Sprintf("device-%08d", i)
	}
	order := make([]int, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range order {
		order[i] = rng.IntN(keys)
	}
	val := []byte(strings.Repeat("v", 100))
	impls := []struct {
		name  string
		build storage.Builder
	}{
		{"pebble (ours)", state.Builder(state.Options{Dir: filepath.Join(cfg.Dir, "micro", "pebble")})},
		{"leveldb (goka default)", storage.DefaultBuilder(filepath.Join(cfg.Dir, "micro", "leveldb"))},
	}
	for _, im := range impls {
		for _, phase := range []string{"recovery write", "write", "read"} {
			st, err := im.build("micro-"+strings.ReplaceAll(phase, " ", "-"), 0)
			if err != nil {
				return nil, err
			}
			if err := st.Open(); err != nil {
				return nil, err
			}
			if phase != "recovery write" {
				if phase == "read" {
					for i, k := range ks {
						if err := st.Set(k, val); err != nil {
							return nil, err
						}
						if err := st.SetOffset(int64(i)); err != nil {
							return nil, err
						}
					}
				}
				if err := st.MarkRecovered(); err != nil {
					return nil, err
				}
			}
			op := func(i int) error {
				if err := st.Set(ks[order[i%len(order)]], val); err != nil {
					return err
				}
				return st.SetOffset(int64(i))
			}
			if phase == "read" {
				op = func(i int) error {
					v, err := st.Get(ks[order[i%len(order)]])
					if err == nil && v == nil {
						err = fmt.Errorf("key missing")
					}
					return err
				}
			}
			err = add("storage: "+im.name+" "+phase, op)
			if cerr := st.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
