package status

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/turnstile-streams/turnstile/processors"
)

// DefaultScrapeTimeout bounds each member's /metrics answer in
// CollectWatermarks.
const DefaultScrapeTimeout = 2 * time.Second

// The members' watermark gauges (processors.Metrics).
const (
	metricWatermark    = "turnstile_watermark_seconds"
	metricWatermarkLag = "turnstile_watermark_lag_seconds"
	metricHolder       = "turnstile_watermark_holder"
	metricWaiting      = "turnstile_watermark_waiting_sources"
	metricSourceTime   = "turnstile_source_watermark_seconds"
	metricSourceIdle   = "turnstile_source_idle"
)

// Watermarks is the pipeline's event-time progress as its members report
// it on /metrics: every windowed group's partitions, and the ingest
// stage's input partitions (the sources of the first windowed group).
type Watermarks struct {
	Groups  []GroupWatermarks `json:"groups"`
	Sources *SourceWatermarks `json:"sources,omitempty"`
}

// GroupWatermarks is one windowed group's partitions, in partition order.
type GroupWatermarks struct {
	Group      string               `json:"group"`
	Partitions []PartitionWatermark `json:"partitions"`
}

// PartitionWatermark is one windowed partition's watermark. Exactly one
// partition of a group that reports any is Least: the one with the least
// watermark (one with none yet counts as least), held furthest back.
type PartitionWatermark struct {
	Partition int32 `json:"partition"`
	// Owner is the HTTP base URL of the member owning the partition.
	Owner string `json:"owner,omitempty"`
	// Unknown says why nothing is known ("" when the owner reported it):
	// no member owns the partition, its owner advertises no HTTP address,
	// did not answer, or does not report the partition.
	Unknown string `json:"unknown,omitempty"`
	// Watermark is the partition's watermark; nil while it waits for
	// sources (WaitingSources) or when Unknown.
	Watermark *time.Time `json:"watermark,omitempty"`
	// LagSeconds is how far the watermark is behind the newest event time
	// the partition saw.
	LagSeconds float64 `json:"lag_seconds,omitempty"`
	// HeldBy is the upstream partition holding the watermark back (the
	// least active source, or the first not heard from); nil when every
	// source is idle (AllSourcesIdle) or when Unknown.
	HeldBy         *int32 `json:"held_by,omitempty"`
	AllSourcesIdle bool   `json:"all_sources_idle,omitempty"`
	// WaitingSources are the upstream partitions not heard from yet: while
	// any are, the partition has no watermark.
	WaitingSources int  `json:"waiting_sources,omitempty"`
	Least          bool `json:"least,omitempty"`
}

// SourceWatermarks is the ingest stage's input partitions, in partition
// order. Least is the active (not idle) one with the least source
// watermark: the one holding the downstream watermarks back.
type SourceWatermarks struct {
	Group      string            `json:"group"`
	Topic      string            `json:"topic"`
	Partitions []SourceWatermark `json:"partitions"`
}

// SourceWatermark is one input partition's source watermark: the largest
// event time the ingest stage accepted from it.
type SourceWatermark struct {
	Partition int32  `json:"partition"`
	Owner     string `json:"owner,omitempty"`
	// Unknown says why nothing is known, as for PartitionWatermark.
	Unknown string `json:"unknown,omitempty"`
	// Watermark is nil until the partition has accepted a reading.
	Watermark *time.Time `json:"watermark,omitempty"`
	// Idle partitions (caught up and silent for the idle timeout) hold no
	// watermark back.
	Idle  bool `json:"idle,omitempty"`
	Least bool `json:"least,omitempty"`
}

// View is the partition's watermark as processors.WatermarkView (for
// FormatWatermark); meaningless when Unknown.
func (p PartitionWatermark) View() processors.WatermarkView {
	v := processors.WatermarkView{Partition: p.Partition, Holder: -1, Waiting: p.WaitingSources,
		Lag: time.Duration(p.LagSeconds * float64(time.Second))}
	if p.Watermark != nil {
		v.Time = *p.Watermark
	}
	if p.HeldBy != nil {
		v.Holder = *p.HeldBy
	}
	return v
}

// Group returns a windowed group's watermarks.
func (w *Watermarks) Group(name string) (GroupWatermarks, bool) {
	if w == nil {
		return GroupWatermarks{}, false
	}
	for _, g := range w.Groups {
		if g.Group == name {
			return g, true
		}
	}
	return GroupWatermarks{}, false
}

// Least returns the group's partition held furthest back.
func (g GroupWatermarks) Least() (PartitionWatermark, bool) {
	for _, p := range g.Partitions {
		if p.Least {
			return p, true
		}
	}
	return PartitionWatermark{}, false
}

// CollectWatermarks reads the watermarks of cfg.Stages: each windowed
// stage's partitions and the ingest stage's input partitions. It finds
// every partition's owner from its consumer group (processors.GroupOwners)
// and scrapes each owner's /metrics once, giving each member timeout
// (0: DefaultScrapeTimeout) to answer. A partition whose owner cannot be
// found, advertises no HTTP address, does not answer or does not report
// it is Unknown; the error is for Kafka not saying how many partitions
// the stages' inputs have.
func CollectWatermarks(ctx context.Context, adm *kadm.Client, cfg Config, timeout time.Duration) (*Watermarks, error) {
	cfg, err := cfg.resolve(ctx, adm)
	if err != nil {
		return nil, err
	}
	stages := watermarkStages(cfg.Stages)
	if len(stages) == 0 {
		return &Watermarks{}, nil
	}
	inputs := make([]string, len(stages))
	for i, st := range stages {
		inputs[i] = st.Input
	}
	details, err := adm.ListTopics(ctx, inputs...)
	if err != nil {
		return nil, fmt.Errorf("status: watermarks: list topics: %w", err)
	}
	owned := map[string]stageOwners{}
	for _, st := range stages {
		var o stageOwners
		// A group that cannot be described leaves its partitions unknown;
		// one that does not exist owns none.
		o.owners, o.err = processors.GroupOwners(ctx, adm, st.Group)
		if errors.Is(o.err, kerr.GroupIDNotFound) {
			o.owners, o.err = nil, nil
		}
		// The partitions of the stage's input (the group's other topics
		// are co-partitioned with it); without it, the owned ones.
		set := map[int32]bool{}
		if d, ok := details[st.Input]; ok && d.Err == nil && len(d.Partitions) > 0 {
			for p := range d.Partitions {
				set[p] = true
			}
		} else {
			for p := range o.owners {
				set[p] = true
			}
		}
		o.parts = slices.Sorted(maps.Keys(set))
		owned[st.Group] = o
	}
	return collectWatermarks(ctx, stages, owned, timeout), nil
}

// watermarkStages keeps the stages that report watermarks: the one
// reading the pipeline's input (ingest: its sources) and the windowed ones
// (with a table).
func watermarkStages(all []processors.Stage) []processors.Stage {
	var out []processors.Stage
	for _, st := range all {
		if isSource(st) || st.Table != "" {
			out = append(out, st)
		}
	}
	return out
}

// isSource says whether st is the stage where event time enters the
// graph: the one reading the pipeline's input (no upstream stage), whose
// input partitions are the watermark sources.
func isSource(st processors.Stage) bool { return st.Upstream == "" }

// stageOwners is a stage's partitions and their owners' HTTP base URLs
// (err: the group could not be described).
type stageOwners struct {
	parts  []int32
	owners map[int32]string
	err    error
}

// collectWatermarks scrapes the owners once each and puts the report
// together.
func collectWatermarks(ctx context.Context, stages []processors.Stage, owned map[string]stageOwners, timeout time.Duration) *Watermarks {
	if timeout <= 0 {
		timeout = DefaultScrapeTimeout
	}
	urls := map[string]bool{}
	for _, o := range owned {
		for _, u := range o.owners {
			if u != "" {
				urls[u] = true
			}
		}
	}
	scrapes := scrapeAll(ctx, slices.Sorted(maps.Keys(urls)), timeout)
	// reach returns a partition's owner and its scrape, or why there is
	// none.
	reach := func(o stageOwners, p int32) (owner, unknown string, s *scraped) {
		u, ok := o.owners[p]
		switch {
		case o.err != nil:
			return "", "owner unknown: " + o.err.Error(), nil
		case !ok:
			return "", "no owner", nil
		case u == "":
			return "", "owner advertises no HTTP address", nil
		case scrapes[u].err != nil:
			return u, u + " did not answer: " + scrapes[u].err.Error(), nil
		}
		return u, "", scrapes[u]
	}

	w := &Watermarks{Groups: []GroupWatermarks{}}
	for _, st := range stages {
		o := owned[st.Group]
		if isSource(st) {
			src := &SourceWatermarks{Group: st.Group, Topic: st.Input, Partitions: []SourceWatermark{}}
			least := -1
			for _, p := range o.parts {
				owner, why, s := reach(o, p)
				var sw SourceWatermark
				if s != nil {
					var ok bool
					if sw, ok = s.sources[p]; !ok {
						why = "not reported by " + owner
					}
				}
				sw.Partition, sw.Owner, sw.Unknown = p, owner, why
				if why == "" && !sw.Idle && (least < 0 || before(sw.Watermark, src.Partitions[least].Watermark)) {
					least = len(src.Partitions)
				}
				src.Partitions = append(src.Partitions, sw)
			}
			if least >= 0 {
				src.Partitions[least].Least = true
			}
			w.Sources = src
			if st.Table == "" {
				continue // the ingest stage: sources only
			}
		}
		g := GroupWatermarks{Group: st.Group, Partitions: []PartitionWatermark{}}
		least := -1
		for _, p := range o.parts {
			owner, why, s := reach(o, p)
			var pw PartitionWatermark
			if s != nil {
				var ok bool
				if pw, ok = s.windowed[st.Group][p]; !ok {
					why = "not reported by " + owner
				}
			}
			pw.Partition, pw.Owner, pw.Unknown = p, owner, why
			if why == "" && (least < 0 || before(pw.Watermark, g.Partitions[least].Watermark)) {
				least = len(g.Partitions)
			}
			g.Partitions = append(g.Partitions, pw)
		}
		if least >= 0 {
			g.Partitions[least].Least = true
		}
		w.Groups = append(w.Groups, g)
	}
	return w
}

// before orders watermarks, none (nil) first.
func before(a, b *time.Time) bool {
	switch {
	case a == nil:
		return b != nil
	case b == nil:
		return false
	}
	return a.Before(*b)
}

// scraped is what one member's /metrics says about watermarks.
type scraped struct {
	err      error
	windowed map[string]map[int32]PartitionWatermark // group, partition
	sources  map[int32]SourceWatermark
}

// scrapeAll scrapes every member concurrently.
func scrapeAll(ctx context.Context, urls []string, timeout time.Duration) map[string]*scraped {
	out := make(map[string]*scraped, len(urls))
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, u := range urls {
		wg.Go(func() {
			s, err := scrape(ctx, u, timeout)
			if err != nil {
				s = &scraped{err: err}
			}
			mu.Lock()
			out[u] = s
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// scrapeClient follows no redirects: /metrics answers in place.
var scrapeClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// scrape reads a member's /metrics (base is its HTTP base URL).
func scrape(ctx context.Context, base string, timeout time.Duration) (*scraped, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := scrapeClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is said already
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	s, err := parseWatermarks(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("/metrics: %w", err)
	}
	return s, nil
}

// parseWatermarks reads the watermark gauges from the Prometheus text
// format. Members of one process share a registry and tell their series
// apart by further labels (member); when several series name one
// partition (one of them stale, left by a member the partition moved
// away from), the most advanced watermark is taken: a stale one no
// longer advances.
func parseWatermarks(r io.Reader) (*scraped, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	type series struct {
		time, lag, holder, waiting, idle float64
		has                              map[string]bool
	}
	all := map[seriesID]*series{}
	read := func(name string, set func(*series, float64)) {
		mf, ok := mfs[name]
		if !ok {
			return
		}
		for _, m := range mf.GetMetric() {
			k, ok := idOf(m)
			if !ok || m.GetGauge() == nil {
				continue
			}
			s := all[k]
			if s == nil {
				s = &series{has: map[string]bool{}}
				all[k] = s
			}
			v := m.GetGauge().GetValue()
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			s.has[name] = true
			set(s, v)
		}
	}
	read(metricWatermark, func(s *series, v float64) { s.time = v })
	read(metricWatermarkLag, func(s *series, v float64) { s.lag = v })
	read(metricHolder, func(s *series, v float64) { s.holder = v })
	read(metricWaiting, func(s *series, v float64) { s.waiting = v })
	read(metricSourceTime, func(s *series, v float64) { s.time = v })
	read(metricSourceIdle, func(s *series, v float64) { s.idle = v })

	// Deterministic choice among duplicates: most advanced, then by labels.
	keys := slices.SortedFunc(maps.Keys(all), func(a, b seriesID) int {
		return cmp.Or(strings.Compare(a.group, b.group), cmp.Compare(a.part, b.part), strings.Compare(a.rest, b.rest))
	})
	out := &scraped{windowed: map[string]map[int32]PartitionWatermark{}, sources: map[int32]SourceWatermark{}}
	unix := func(v float64) *time.Time {
		t := time.UnixMilli(int64(math.Round(v * 1000))).UTC()
		return &t
	}
	for _, k := range keys {
		s := all[k]
		var at *time.Time
		if s.has[metricWatermark] || s.has[metricSourceTime] {
			at = unix(s.time)
		}
		if k.group == "" { // an input partition of the ingest stage
			if cur, ok := out.sources[k.part]; ok && !before(cur.Watermark, at) {
				continue
			}
			out.sources[k.part] = SourceWatermark{Partition: k.part, Watermark: at, Idle: s.idle != 0}
			continue
		}
		if out.windowed[k.group] == nil {
			out.windowed[k.group] = map[int32]PartitionWatermark{}
		}
		if cur, ok := out.windowed[k.group][k.part]; ok && !before(cur.Watermark, at) {
			continue
		}
		pw := PartitionWatermark{Partition: k.part, Watermark: at, LagSeconds: s.lag, WaitingSources: int(s.waiting)}
		switch holder := int32(s.holder); {
		case !s.has[metricHolder]:
		case holder < 0:
			pw.AllSourcesIdle = true
		default:
			pw.HeldBy = &holder
		}
		out.windowed[k.group][k.part] = pw
	}
	return out, nil
}

// seriesID names a watermark series: its group (empty for the source
// gauges) and partition labels, and the others as one string (which
// member's series it is).
type seriesID struct {
	group string
	part  int32
	rest  string
}

// idOf reads a sample's seriesID; false without a partition label.
func idOf(m *dto.Metric) (k seriesID, ok bool) {
	var rest []string
	hasPart := false
	for _, l := range m.GetLabel() {
		switch l.GetName() {
		case "group":
			k.group = l.GetValue()
		case "partition":
			p, err := strconv.ParseInt(l.GetValue(), 10, 32)
			if err != nil {
				return k, false
			}
			k.part, hasPart = int32(p), true
		default:
			rest = append(rest, l.GetName()+"="+l.GetValue())
		}
	}
	slices.Sort(rest)
	k.rest = strings.Join(rest, ",")
	return k, hasPart
}
