package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/httpapi"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/status"
	"github.com/turnstile-streams/turnstile/testsupport/membertest"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// env is the embedded broker and registry.
type env struct {
	brokers  []string
	registry srclient.ISchemaRegistryClient
	client   *kgo.Client
	adm      *kadm.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	brokers, sr, cl := testenv.Stack(t)
	return &env{brokers: brokers, registry: sr, client: cl, adm: kadm.NewClient(cl)}
}

func (e *env) config(t *testing.T) processors.Config {
	return membertest.Config(t, e.brokers, e.registry, 3)
}

func startMember(t *testing.T, ctx context.Context, e *env, cfg processors.Config) *membertest.Member {
	t.Helper()
	return membertest.Start(t, ctx, cfg, membertest.Options{Admin: e.adm})
}

// readings: cumulative counters of devices of two stations, every 4
// minutes, ending 18 minutes before now. Idle partitions advance to the
// wall clock (before the readings arrive, too), so the readings must be
// within retention (3h) of now, and idle closing closes every window.
func readings(devices, perDevice int) []schemas.Reading {
	base := time.Now().UTC().Add(-time.Duration(perDevice*4+18) * time.Minute)
	var out []schemas.Reading
	for i := 0; i < perDevice; i++ {
		for d := 0; d < devices; d++ {
			// Six stations: devices are placed by station, and these
			// cover every partition of three, so each member publishes.
			st := d % 6
			r := schemas.Reading{CA: fmt.Sprintf("A%03d", st), Unit: fmt.Sprintf("R%03d", st), SCP: fmt.Sprintf("02-00-%02d", d),
				Station: fmt.Sprintf("STATION %d", st), LineName: "NQR", Division: "BMT", Desc: "REGULAR",
				Entries: int64(1000*d + 17*i + i*i%7), Exits: int64(500*d + 5*i), ID: fmt.Sprintf("id-%d-%d", d, i)}
			r.SetTimes(base.Add(time.Duration(i)*4*time.Minute + time.Duration(d)*time.Second))
			out = append(out, r)
		}
	}
	return out
}

func (e *env) produce(t *testing.T, ctx context.Context, rs []schemas.Reading, bad [][]byte) {
	t.Helper()
	codec, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: e.registry,
		Subject: schemas.Subject(schemas.DefaultInputTopic)}, WriterVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		b, err := codec.EncodeReading(&r)
		if err != nil {
			t.Fatal(err)
		}
		e.client.Produce(ctx, &kgo.Record{Topic: schemas.DefaultInputTopic, Key: []byte(r.ID), Value: b}, nil)
	}
	for _, b := range bad {
		e.client.Produce(ctx, &kgo.Record{Topic: schemas.DefaultInputTopic, Key: []byte("bad"), Value: b}, nil)
	}
	if err := e.client.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func getJSON(t *testing.T, u string, v any) (*http.Response, error) {
	t.Helper()
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 20 * time.Second}
	resp, err := cl.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if v != nil && len(b) > 0 {
		if err := json.Unmarshal(b, v); err != nil {
			return resp, fmt.Errorf("%s: %s: %w: %s", u, resp.Status, err, b)
		}
	}
	return resp, nil
}

// latest reads a sink topic to its current end and keeps the highest
// revision per key.
func latest[T any](t *testing.T, ctx context.Context, e *env, topic string, decode func([]byte) (T, int32, error)) map[string]T {
	t.Helper()
	ends, err := e.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out, revs := map[string]T{}, map[string]int32{}
	for n := int64(0); n < want; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: read %d of %d records", topic, n, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			v, rev, err := decode(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if rev >= revs[string(r.Key)] {
				revs[string(r.Key)], out[string(r.Key)] = rev, v
			}
		})
	}
	return out
}

func scrape(t *testing.T, u string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(u + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// value sums a family's samples whose labels include match.
func value(mfs map[string]*dto.MetricFamily, name string, match map[string]string) float64 {
	var sum float64
	mf, ok := mfs[name]
	if !ok {
		return 0
	}
next:
	for _, m := range mf.GetMetric() {
		for k, v := range match {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// TestTwoMembers runs two members of the whole pipeline with their HTTP
// servers, feeds them readings, malformed records and a too-late reading,
// and checks the metrics, the queries (answered by the owner, redirected
// by the other member, station queries gathered from both) and the status
// report against what the topics hold.
func TestTwoMembers(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cfg := e.config(t)
	a := startMember(t, ctx, e, cfg)
	cfgB := cfg
	cfgB.State.Dir = t.TempDir()
	b := startMember(t, ctx, e, cfgB)
	members := []*membertest.Member{a, b}
	groups := processors.DefaultGroups()
	devices, _ := processors.Config{}.Topology().Stage(processors.StageWindows)
	deviceTable := devices.Table

	// Both members own part of every stateful group and are ready.
	waitFor(t, ctx, "both members own partitions and are ready", func() string {
		for _, g := range []string{groups.Windows} {
			na, nb := len(a.P.OwnedPartitions(g)), len(b.P.OwnedPartitions(g))
			if na == 0 || nb == 0 || na+nb != 3 {
				return fmt.Sprintf("%s: a owns %v, b owns %v", g, a.P.OwnedPartitions(g), b.P.OwnedPartitions(g))
			}
		}
		for _, m := range members {
			var r processors.Readiness
			resp, err := getJSON(t, m.URL+"/readyz", &r)
			if err != nil || resp.StatusCode != http.StatusOK || !r.Ready {
				return fmt.Sprintf("%s/readyz: %v %v %+v", m.URL, resp, err, r)
			}
		}
		return ""
	})

	rs := readings(8, 25)
	bad := [][]byte{{1, 2, 3}, []byte("not avro"), nil}
	e.produce(t, ctx, rs, bad)
	scfg := status.ForPipeline(cfg, "")
	if _, err := status.Wait(ctx, e.adm, status.WaitConfig{Config: scfg, Interval: 500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	// One reading far older than stream time minus retention: too late.
	late := rs[0]
	late.ID = "late-1"
	late.SetTimes(time.Now().UTC().Add(-4 * time.Hour))
	e.produce(t, ctx, []schemas.Reading{late}, nil)

	// Wait until every window the tables hold is closed and published.
	dev := rs[0]
	waitFor(t, ctx, "windows closed and published", func() string {
		rep, err := status.Collect(ctx, e.adm, scfg)
		if err != nil || !rep.CaughtUp() || rep.Late != 1 {
			return fmt.Sprintf("status: %v %+v", err, rep)
		}
		var d processors.DeviceWindows
		resp, err := getJSON(t, a.URL+devicePath(dev)+"", &d)
		if err != nil {
			return err.Error()
		}
		if resp.StatusCode == http.StatusTemporaryRedirect {
			resp, err = getJSON(t, resp.Header.Get("Location"), &d)
			if err != nil {
				return err.Error()
			}
		}
		if resp.StatusCode != http.StatusOK || len(d.Windows) == 0 {
			return fmt.Sprintf("device: %s %+v", resp.Status, d)
		}
		for _, w := range d.Windows {
			if !w.Closed || w.Revision == 0 {
				return fmt.Sprintf("device window %v open", w.Start)
			}
		}
		var s httpapi.StationAnswer
		resp, err = getJSON(t, a.URL+"/stations/"+url.PathEscape(dev.Station)+"/windows", &s)
		if err != nil || resp.StatusCode != http.StatusOK || len(s.Windows) == 0 {
			return fmt.Sprintf("station: %v %v %+v", resp, err, s)
		}
		for _, w := range s.Windows {
			if !w.Closed || w.Revision == 0 {
				return fmt.Sprintf("station window %v open", w.Start)
			}
		}
		return ""
	})

	t.Run("metrics", func(t *testing.T) {
		var in, rejected, lateN, published, assigned float64
		for _, m := range members {
			mfs := scrape(t, m.URL)
			in += value(mfs, "turnstile_records_in_total", map[string]string{"stage": "ingest"})
			rejected += value(mfs, "turnstile_rejected_total", nil)
			lateN += value(mfs, "turnstile_late_total", nil)
			published += value(mfs, "turnstile_published_total", map[string]string{"topic": schemas.DefaultDeviceWindowsTopic, "kind": "first"})
			assigned += value(mfs, "turnstile_assigned_partitions", map[string]string{"group": groups.Windows})
			if v := value(mfs, "turnstile_window_publish_latency_seconds", nil); v <= 0 {
				t.Errorf("%s: no window close latency observations", m.URL)
			}
			if v := value(mfs, "turnstile_state_bytes", map[string]string{"table": deviceTable}); v <= 0 {
				t.Errorf("%s: state bytes %v", m.URL, v)
			}
			if v := value(mfs, "turnstile_rebalances_total", map[string]string{"group": groups.Windows}); v < 1 {
				t.Errorf("%s: rebalances %v", m.URL, v)
			}
			if v := value(mfs, "turnstile_consumer_lag", map[string]string{"group": groups.Ingest}); v != 0 {
				t.Errorf("%s: ingest lag %v after catching up", m.URL, v)
			}
			if v := value(mfs, "turnstile_topic_records", map[string]string{"topic": schemas.DefaultInputTopic}); v != float64(len(rs)+len(bad)+1) {
				t.Errorf("%s: input records %v, want %d", m.URL, v, len(rs)+len(bad)+1)
			}
		}
		// Each input record is processed once (no rebalance during the run
		// moved a partition mid-stream; a redelivery would only add).
		if in < float64(len(rs)+len(bad)+1) {
			t.Errorf("records in: %v, want at least %d", in, len(rs)+len(bad)+1)
		}
		if rejected != float64(len(bad)) || lateN != 1 {
			t.Errorf("rejected %v (want %d), late %v (want 1)", rejected, len(bad), lateN)
		}
		if published <= 0 || assigned != 3 {
			t.Errorf("published %v, assigned partitions %v (want 3)", published, assigned)
		}
	})

	devCodec, err := codecs.NewDeviceWindowCodec(codecs.Config{Client: e.registry, Subject: schemas.Subject(schemas.DefaultDeviceWindowsTopic)})
	if err != nil {
		t.Fatal(err)
	}
	sinkDev := latest(t, ctx, e, schemas.DefaultDeviceWindowsTopic, func(b []byte) (schemas.DeviceWindow, int32, error) {
		w, err := devCodec.Unmarshal(b)
		return w, w.Revision, err
	})

	t.Run("devices", func(t *testing.T) {
		redirected := 0
		for d := 0; d < 8; d++ {
			r := rs[d]
			owner, other := a, b
			if !owns(a.P, groups.Windows, r.Key()) {
				owner, other = b, a
			}
			// The other member names the owner.
			resp, err := getJSON(t, other.URL+devicePath(r), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != owner.URL+devicePath(r) {
				t.Errorf("%s on the non-owner: %s, Location %q, want 307 to %s", r.DeviceKey(), resp.Status, resp.Header.Get("Location"), owner.URL)
			}
			redirected++
			var got processors.DeviceWindows
			resp, err = getJSON(t, owner.URL+devicePath(r), &got)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s on the owner: %v %v", r.DeviceKey(), resp, err)
			}
			if got.Station != r.Station || !got.Found || len(got.Windows) < 5 {
				t.Errorf("%s: %+v", r.DeviceKey(), got)
			}
			seen := map[string]bool{}
			for _, w := range got.Windows {
				key := schemas.DeviceWindowKey(r.DeviceKey(), w.Start)
				seen[key] = true
				s, ok := sinkDev[key]
				if !ok || s.Entries != w.Entries || s.Exits != w.Exits || s.Revision != w.Revision {
					t.Errorf("%s: query %d/%d rev %d, sink %d/%d rev %d (found %v)", key, w.Entries, w.Exits, w.Revision, s.Entries, s.Exits, s.Revision, ok)
				}
			}
			from := got.Windows[0].Start
			for key, s := range sinkDev {
				if strings.HasPrefix(key, r.DeviceKey()+"|") && !s.Start.Before(from) && !seen[key] {
					t.Errorf("%s on the sink but not in the query", key)
				}
			}
		}
		if redirected == 0 {
			t.Error("no redirect checked")
		}
	})

	t.Run("stations", func(t *testing.T) {
		stCodec, err := codecs.NewStationWindowCodec(codecs.Config{Client: e.registry, Subject: schemas.Subject(schemas.DefaultStationWindowsTopic)})
		if err != nil {
			t.Fatal(err)
		}
		sink := latest(t, ctx, e, schemas.DefaultStationWindowsTopic, func(b []byte) (schemas.StationWindow, int32, error) {
			w, err := stCodec.Unmarshal(b)
			return w, w.Revision, err
		})
		for _, m := range members {
			var got httpapi.StationAnswer
			resp, err := getJSON(t, m.URL+"/stations/"+url.PathEscape("STATION 1")+"/windows", &got)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %v %v", m.URL, resp, err)
			}
			if len(got.ServedBy) != 2 || len(got.Missing) > 0 {
				t.Errorf("%s: served by %v, missing %v; want both members", m.URL, got.ServedBy, got.Missing)
			}
			seen := map[string]bool{}
			for _, w := range got.Windows {
				key := schemas.StationWindowKey(schemas.StationKey("STATION 1", w.LineName), w.Start)
				seen[key] = true
				s, ok := sink[key]
				if !ok || s.Entries != w.Entries || s.Exits != w.Exits || s.Devices != w.Devices || s.Revision != w.Revision {
					t.Errorf("%s: query %+v, sink %+v", key, w, s)
				}
			}
			from := got.Windows[0].Start
			for key, s := range sink {
				if strings.HasPrefix(key, "STATION 1|") && !s.Start.Before(from) && !seen[key] {
					t.Errorf("%s on the sink but not in the query", key)
				}
			}
		}
	})

	t.Run("health and monitor", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/monitor/", "/monitor/data/processor/0", "/"} {
			resp, err := http.Get(a.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || len(body) == 0 {
				t.Errorf("%s: %s %q", path, resp.Status, body)
			}
			if path == "/monitor/" && !strings.Contains(string(body), groups.Windows) {
				t.Errorf("monitor does not list %s:\n%s", groups.Windows, body)
			}
		}
	})

	t.Run("status", func(t *testing.T) {
		rep, err := status.Collect(ctx, e.adm, status.ForPipeline(cfg, ""))
		if err != nil {
			t.Fatal(err)
		}
		if !rep.CaughtUp() || rep.DeadLettered != int64(len(bad)) || rep.Late != 1 {
			t.Errorf("caught up %v, dead-lettered %d (want %d), late %d (want 1)", rep.CaughtUp(), rep.DeadLettered, len(bad), rep.Late)
		}
		if g, ok := rep.Group(groups.Windows); !ok || g.Members != 2 || g.Absent || g.State != "Stable" {
			t.Errorf("windows group: %+v", g)
		}
		var sinkRecords int64
		for _, tp := range rep.Topics {
			if tp.Topic == schemas.DefaultDeviceWindowsTopic {
				sinkRecords = tp.Records
			}
		}
		if rep.DeviceWindows != sinkRecords || rep.DeviceWindows < int64(len(sinkDev)) {
			t.Errorf("device windows %d, topic records %d, distinct keys %d", rep.DeviceWindows, sinkRecords, len(sinkDev))
		}
	})
}

func devicePath(r schemas.Reading) string {
	return "/devices/" + url.PathEscape(r.CA) + "/" + url.PathEscape(r.Unit) + "/" + url.PathEscape(r.SCP) + "/windows"
}

func owns(p *processors.Pipeline, group, key string) bool {
	part := schemas.Partition(key, p.TablePartitions(group))
	for _, o := range p.OwnedPartitions(group) {
		if o == part {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() string) {
	t.Helper()
	last := ""
	for {
		if last = cond(); last == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: gave up: %s", what, last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}
