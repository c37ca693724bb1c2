package dashboard

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/status"
)

// Health is where the health panel's numbers come from: what the member
// already exposes (its processors' metrics, its pipeline's assignment,
// and the Kafka report `turnstile status` prints).
type Health struct {
	// Metrics returns this member's counters (processors.Metrics.Snapshot);
	// nil for a member running no processors.
	Metrics func() processors.Snapshot
	// Pipeline answers readiness and the partitions this member owns; nil
	// when the member runs no processors.
	Pipeline *processors.Pipeline
	// Admin and Status read the lag per consumer group and the records on
	// the dead-letter, too-late and sink topics (status.Collect); nil Admin
	// leaves them out.
	Admin  *kadm.Client
	Status status.Config
	// Self is the member's advertised URL, shown on the page.
	Self string
}

// HealthReport is the answer of GET /api/health.
type HealthReport struct {
	At        time.Time            `json:"at"`
	Member    string               `json:"member,omitempty"`
	Readiness processors.Readiness `json:"readiness"`
	// Rates are per second over the last few seconds; null until the
	// member has been asked twice at least a second apart.
	Rates  *Rates `json:"rates"`
	Totals Totals `json:"totals"`
	// Watermarks per windowed stage: the owned partition with the least
	// watermark (the one holding that stage's windows back).
	Watermarks []Watermark `json:"watermarks"`
	// Partitions this member owns, per goka group.
	Partitions map[string][]int32 `json:"partitions"`
	// Kafka is the deployment as Kafka sees it; null (with KafkaError)
	// when it could not be read.
	Kafka      *KafkaHealth `json:"kafka"`
	KafkaError string       `json:"kafka_error,omitempty"`
	Events     HubStats     `json:"events"`
	// Warnings are what the user should know now (status.Warnings over
	// the same interval as Rates), one sentence each; the page shows them
	// as a banner, as text. Empty when all is well.
	Warnings []string `json:"warnings"`
}

// Rates are this member's rates per second.
type Rates struct {
	Seconds float64 `json:"seconds"` // the interval they were measured over
	// In is records processed per stage (ingest, windows, stations).
	In             map[string]float64 `json:"in"`
	Readings       float64            `json:"readings"` // accepted by ingest
	DeviceWindows  float64            `json:"device_windows"`
	StationWindows float64            `json:"station_windows"`
}

// Totals are this member's counters since it started.
type Totals struct {
	In                 map[string]float64 `json:"in"`
	DeadLettered       float64            `json:"dead_lettered"`
	TooLate            float64            `json:"too_late"`
	Duplicates         float64            `json:"duplicates"`
	DeviceWindows      float64            `json:"device_windows"`
	DeviceCorrections  float64            `json:"device_corrections"`
	StationWindows     float64            `json:"station_windows"`
	StationCorrections float64            `json:"station_corrections"`
}

// Watermark is one stage's event-time progress on this member.
type Watermark struct {
	Group     string     `json:"group"`
	Partition int32      `json:"partition"`
	Time      *time.Time `json:"time"` // null: none yet
	// LagSeconds is how far it is behind the newest event time seen.
	LagSeconds float64 `json:"lag_seconds"`
	// Holder is the upstream partition holding it back (-1: all idle).
	Holder  int32 `json:"holder"`
	Waiting int   `json:"waiting"` // upstream partitions not heard from yet
}

// KafkaHealth is what Kafka says about the deployment.
type KafkaHealth struct {
	Groups         []GroupLag `json:"groups"`
	DeadLettered   int64      `json:"dead_lettered"`
	TooLate        int64      `json:"too_late"`
	DeviceWindows  int64      `json:"device_windows"`
	StationWindows int64      `json:"station_windows"`
}

// GroupLag is one consumer group's lag.
type GroupLag struct {
	Group   string `json:"group"`
	State   string `json:"state"`
	Members int    `json:"members"`
	Lag     int64  `json:"lag"`
	Absent  bool   `json:"absent,omitempty"` // never ran
}

// health serves GET /api/health.
type health struct {
	cfg Health
	hub *Hub

	mu      sync.Mutex
	samples []sample // newest last, at least a second apart

	kmu    sync.Mutex
	kAt    time.Time
	kRep   *status.Report
	kErr   error
	kEvery time.Duration
}

type sample struct {
	at time.Time
	s  processors.Snapshot
}

func newHealth(cfg Health, hub *Hub) *health {
	return &health{cfg: cfg, hub: hub, kEvery: 2 * time.Second}
}

func (h *health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep := h.report(r.Context(), time.Now())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
}

func (h *health) report(ctx context.Context, now time.Time) HealthReport {
	rep := HealthReport{At: now.UTC(), Member: h.cfg.Self, Partitions: map[string][]int32{},
		Watermarks: []Watermark{}, Events: h.hub.Stats(), Warnings: []string{}}
	if p := h.cfg.Pipeline; p != nil {
		rep.Readiness = p.Readiness()
		g := p.Groups()
		for _, group := range []string{g.Ingest, g.Windows} {
			if _, runs := rep.Readiness.Groups[group]; runs {
				rep.Partitions[group] = p.OwnedPartitions(group)
			}
		}
	} else {
		rep.Readiness = processors.Readiness{Ready: true, Groups: map[string]string{}}
	}
	if h.cfg.Metrics != nil {
		cur := h.cfg.Metrics()
		rep.Totals = h.totals(cur)
		rep.Rates = h.rates(now, cur)
		rep.Warnings = h.warnings(cur)
		for _, g := range slices.Sorted(maps.Keys(cur.Watermarks)) {
			v := cur.Watermarks[g]
			wm := Watermark{Group: g, Partition: v.Partition, LagSeconds: v.Lag.Seconds(), Holder: v.Holder, Waiting: v.Waiting}
			if !v.Time.IsZero() {
				t := v.Time.UTC()
				wm.Time = &t
			}
			rep.Watermarks = append(rep.Watermarks, wm)
		}
	}
	if kr, err := h.kafka(ctx, now); err != nil {
		rep.KafkaError = err.Error()
	} else if kr != nil {
		k := &KafkaHealth{DeadLettered: kr.DeadLettered, TooLate: kr.Late, DeviceWindows: kr.DeviceWindows, StationWindows: kr.StationWindows,
			Groups: []GroupLag{}}
		for _, g := range kr.Groups {
			k.Groups = append(k.Groups, GroupLag{Group: g.Group, State: g.State, Members: g.Members, Lag: g.Lag, Absent: g.Absent})
		}
		rep.Kafka = k
	}
	return rep
}

func (h *health) topics() (device, station string) {
	return h.hub.cfg.DeviceTopic, h.hub.cfg.StationTopic
}

func published(s processors.Snapshot, topic string, kinds ...string) float64 {
	var n float64
	for k, v := range s.Published[topic] {
		if len(kinds) == 0 || slices.Contains(kinds, k) {
			n += v
		}
	}
	return n
}

func (h *health) totals(s processors.Snapshot) Totals {
	dev, st := h.topics()
	t := Totals{In: map[string]float64{}, DeadLettered: s.Rejected, TooLate: s.Late, Duplicates: s.Duplicates,
		DeviceWindows: published(s, dev), DeviceCorrections: published(s, dev, "correction"),
		StationWindows: published(s, st), StationCorrections: published(s, st, "correction")}
	maps.Copy(t.In, s.In)
	return t
}

// rates compares cur with the newest sample at least 5s old (or the
// oldest, if at least a second old), and keeps cur as a sample.
func (h *health) rates(now time.Time, cur processors.Snapshot) *Rates {
	h.mu.Lock()
	defer h.mu.Unlock()
	base := -1
	for i, s := range h.samples {
		if now.Sub(s.at) >= 5*time.Second {
			base = i
		}
	}
	if base < 0 && len(h.samples) > 0 && now.Sub(h.samples[0].at) >= time.Second {
		base = 0
	}
	var out *Rates
	if base >= 0 {
		prev := h.samples[base]
		secs := now.Sub(prev.at).Seconds()
		dev, st := h.topics()
		rate := func(a, b float64) float64 { return max(0, b-a) / secs }
		out = &Rates{Seconds: secs, In: map[string]float64{},
			Readings:       rate(prev.s.In[processors.StageIngest]-prev.s.Rejected, cur.In[processors.StageIngest]-cur.Rejected),
			DeviceWindows:  rate(published(prev.s, dev), published(cur, dev)),
			StationWindows: rate(published(prev.s, st), published(cur, st))}
		for k, v := range cur.In {
			out.In[k] = rate(prev.s.In[k], v)
		}
		h.samples = h.samples[base:]
	}
	if n := len(h.samples); n == 0 || now.Sub(h.samples[n-1].at) >= time.Second {
		h.samples = append(h.samples, sample{at: now, s: cur})
	}
	return out
}

// warnings are status.Warnings from the sample rates measured from (the
// oldest kept) to cur.
func (h *health) warnings(cur processors.Snapshot) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.samples) == 0 {
		return []string{}
	}
	return append([]string{}, status.Warnings(h.samples[0].s, cur, h.cfg.Status.Topics.Late)...)
}

// kafka returns the Kafka report, read at most every kEvery.
func (h *health) kafka(ctx context.Context, now time.Time) (*status.Report, error) {
	if h.cfg.Admin == nil {
		return nil, nil
	}
	h.kmu.Lock()
	defer h.kmu.Unlock()
	if !h.kAt.IsZero() && now.Sub(h.kAt) < h.kEvery {
		return h.kRep, h.kErr
	}
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	h.kRep, h.kErr = status.Collect(qctx, h.cfg.Admin, h.cfg.Status)
	h.kAt = now
	return h.kRep, h.kErr
}
