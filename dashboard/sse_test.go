package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/dashboard"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// sinks is an embedded broker and registry with the two sink topics, and
// a producer of windows onto them as the relays publish them (Avro in the
// Confluent wire format, keyed like the relays' records).
type sinks struct {
	brokers  []string
	registry srclient.ISchemaRegistryClient
	client   *kgo.Client
	st       *codecs.StationWindowCodec
	dev      *codecs.DeviceWindowCodec
	seq      int
}

const stationParts, deviceParts = 3, 2

func newSinks(t *testing.T) *sinks {
	t.Helper()
	brokers, sr, cl := testenv.Stack(t)
	testenv.CreateTopic(t, brokers[0], schemas.DefaultStationWindowsTopic, stationParts, nil)
	testenv.CreateTopic(t, brokers[0], schemas.DefaultDeviceWindowsTopic, deviceParts, nil)
	st, err := codecs.NewStationWindowCodec(codecs.Config{Client: sr, Subject: schemas.Subject(schemas.DefaultStationWindowsTopic)})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := codecs.NewDeviceWindowCodec(codecs.Config{Client: sr, Subject: schemas.Subject(schemas.DefaultDeviceWindowsTopic)})
	if err != nil {
		t.Fatal(err)
	}
	return &sinks{brokers: brokers, registry: sr, client: cl, st: st, dev: dev}
}

// rec names a record: topic, partition, offset.
type rec struct {
	topic     string
	partition int32
	offset    int64
}

func (r rec) String() string { return fmt.Sprintf("%s:%d:%d", r.topic, r.partition, r.offset) }

// produce publishes n station windows and n device windows over stations
// "S0".."S2" and returns where each landed, with the station of each.
func (s *sinks) produce(t *testing.T, ctx context.Context, n int) map[rec]string {
	t.Helper()
	out := map[rec]string{}
	base := time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		s.seq++
		start := base.Add(time.Duration(s.seq) * 5 * time.Minute)
		station := fmt.Sprintf("S%d", s.seq%3)
		sw := schemas.StationWindow{Station: station, LineName: "NQR", Division: "BMT", Start: start, End: start.Add(5 * time.Minute),
			Entries: int64(s.seq), Exits: int64(2 * s.seq), Devices: 1, Revision: 1, EmittedAt: time.Now().UTC().Truncate(time.Millisecond)}
		b, err := s.st.Marshal(&sw)
		if err != nil {
			t.Fatal(err)
		}
		r := s.produceSync(t, ctx, schemas.DefaultStationWindowsTopic, schemas.StationWindowKey(schemas.StationKey(station, "NQR"), start), b)
		out[r] = station
		dw := schemas.DeviceWindow{CA: "A002", Unit: "R051", SCP: fmt.Sprintf("02-00-%02d", s.seq%4), Station: station, LineName: "NQR",
			Division: "BMT", Desc: "REGULAR", Entries: int64(s.seq), Exits: int64(s.seq), Revision: 1, EmittedAt: sw.EmittedAt}
		dw.SetWindow(start, start.Add(5*time.Minute), nil)
		if b, err = s.dev.Marshal(&dw); err != nil {
			t.Fatal(err)
		}
		r = s.produceSync(t, ctx, schemas.DefaultDeviceWindowsTopic, schemas.DeviceWindowKey(dw.DeviceKey(), start), b)
		out[r] = station
	}
	return out
}

func (s *sinks) produceSync(t *testing.T, ctx context.Context, topic, key string, value []byte) rec {
	t.Helper()
	res := s.client.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: value})
	r, err := res.First()
	if err != nil {
		t.Fatal(err)
	}
	return rec{r.Topic, r.Partition, r.Offset}
}

// startHub runs a hub on the sinks behind an HTTP server, as a member
// serves it.
func startHub(t *testing.T, ctx context.Context, s *sinks, cfg dashboard.HubConfig, wrap func(net.Listener) net.Listener) (*dashboard.Hub, string) {
	t.Helper()
	cfg.KafkaOpts = []kgo.Opt{kgo.SeedBrokers(s.brokers...)}
	cfg.Registry = s.registry
	cfg.Logger = testenv.Logger(t)
	hub, err := dashboard.NewHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	mux := http.NewServeMux()
	mux.Handle("GET /events", hub)
	srv := httptest.NewUnstartedServer(mux)
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	t.Cleanup(func() {
		cancel()
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("hub: %v", err)
		}
	})
	return hub, srv.URL
}

// sseEvent is one event as a client parses the stream.
type sseEvent struct {
	typ, id string
	msg     dashboard.Message
	raw     string
}

// stream is one /events connection read by a goroutine.
type stream struct {
	resp   *http.Response
	events chan sseEvent
	lines  chan string // every line, comments included
	cancel context.CancelFunc
}

func openStream(t *testing.T, ctx context.Context, u, lastID string) (*stream, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &stream{resp: resp, events: make(chan sseEvent, 100000), lines: make(chan string, 100000), cancel: cancel}
	if resp.StatusCode != http.StatusOK {
		return s, nil
	}
	go func() {
		defer close(s.events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			select {
			case s.lines <- line:
			default:
			}
			switch {
			case line == "":
				if cur.raw != "" {
					if err := json.Unmarshal([]byte(cur.raw), &cur.msg); err != nil {
						t.Errorf("event data %q: %v", cur.raw, err)
					}
					s.events <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				cur.typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				cur.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				cur.raw = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	t.Cleanup(cancel)
	return s, nil
}

// take reads n events, failing the test after timeout.
func (s *stream) take(t *testing.T, n int, timeout time.Duration) []sseEvent {
	t.Helper()
	var out []sseEvent
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case e, ok := <-s.events:
			if !ok {
				t.Fatalf("stream ended after %d of %d events", len(out), n)
			}
			out = append(out, e)
		case <-deadline:
			t.Fatalf("%d of %d events after %v", len(out), n, timeout)
		}
	}
	return out
}

// quiet fails the test if an event arrives within d.
func (s *stream) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e, ok := <-s.events:
		if ok {
			t.Errorf("unexpected event %s (%s)", e.id, e.typ)
		}
	case <-time.After(d):
	}
}

// TestResumeWithLastEventID: a client that disconnects and reconnects with
// its Last-Event-ID receives exactly the events it missed, in every
// partition of both topics, once each; whether they are still in the hub's
// memory or must be read from Kafka again, with and without a filter.
func TestResumeWithLastEventID(t *testing.T) {
	for _, tc := range []struct {
		name     string
		backlog  int    // the hub's memory per topic
		query    string // both connections' filter
		station  string // the station the filter keeps ("" all)
		refetch  bool   // the missed events are no longer all in memory
		otherHub bool   // the client reconnects to a hub started after it left
	}{
		{name: "missed events in memory", backlog: 1000},
		{name: "missed events read from Kafka again", backlog: 6, refetch: true},
		{name: "filtered, from memory", backlog: 1000, query: "?station=S1", station: "S1"},
		{name: "filtered, from Kafka", backlog: 6, query: "?station=s1&line=NQR", station: "S1", refetch: true},
		{name: "one topic, from Kafka", backlog: 3, query: "?kind=device", refetch: true},
		// Ids are Kafka positions, so a client can resume on any member, also
		// on one whose hub has only just started reading its backlog.
		{name: "on another member's hub", backlog: 1000, otherHub: true},
		{name: "on another member's hub, from Kafka", backlog: 6, otherHub: true, refetch: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			s := newSinks(t)
			before := s.produce(t, ctx, 10) // on the topics before the hub starts
			hub, base := startHub(t, ctx, s, dashboard.HubConfig{Backlog: tc.backlog}, nil)

			wanted := func(r rec, station string) bool {
				if tc.station != "" && station != tc.station {
					return false
				}
				return !strings.Contains(tc.query, "kind=device") || r.topic == schemas.DefaultDeviceWindowsTopic
			}
			// A fresh client starts with what the hub keeps of each partition:
			// its newest ceil(backlog/partitions) records.
			ends := map[string]map[int32]int64{}
			for r := range before {
				if ends[r.topic] == nil {
					ends[r.topic] = map[int32]int64{}
				}
				ends[r.topic][r.partition] = max(ends[r.topic][r.partition], r.offset+1)
			}
			kept := func(r rec) bool {
				parts := stationParts
				if r.topic == schemas.DefaultDeviceWindowsTopic {
					parts = deviceParts
				}
				per := int64((tc.backlog + parts - 1) / parts)
				return r.offset >= ends[r.topic][r.partition]-per
			}
			expect := map[rec]bool{}
			for r, st := range before {
				if kept(r) && wanted(r, st) {
					expect[r] = true
				}
			}
			initial := len(expect)

			a, err := openStream(t, ctx, base+"/events"+tc.query, "")
			if err != nil || a.resp.StatusCode != http.StatusOK {
				t.Fatalf("first connection: %v %v", err, a.resp.Status)
			}
			if ct := a.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("Content-Type %q", ct)
			}
			got := map[rec]int{}
			seen := func(evs []sseEvent) {
				for _, e := range evs {
					r := rec{e.msg.Topic, e.msg.Partition, e.msg.Offset}
					got[r]++
					if !strings.HasPrefix(e.id, r.String()+";") {
						t.Errorf("event %s has id %q", r, e.id)
					}
					if e.typ != e.msg.Kind {
						t.Errorf("event %s: type %q, kind %q", r, e.typ, e.msg.Kind)
					}
				}
			}
			first := a.take(t, initial, 20*time.Second)
			seen(first)
			during := s.produce(t, ctx, 30)
			for r, st := range during {
				if wanted(r, st) {
					expect[r] = true
				}
			}
			// Read some of the live events, then drop the connection.
			live := a.take(t, 5, 20*time.Second)
			seen(live)
			last := live[len(live)-1].id
			a.cancel()
			after := s.produce(t, ctx, 30)
			for r, st := range after {
				if wanted(r, st) {
					expect[r] = true
				}
			}

			if tc.otherHub {
				hub, base = startHub(t, ctx, s, dashboard.HubConfig{Backlog: tc.backlog}, nil)
			} else {
				// The hub must have read what the client missed before it comes
				// back: until then the missed records are not yet in memory, and
				// the client would get them live instead of from Kafka again.
				read := len(during) + len(after)
				for r := range before {
					if kept(r) {
						read++
					}
				}
				waitRead(t, hub, read)
			}
			b, err := openStream(t, ctx, base+"/events"+tc.query, last)
			if err != nil || b.resp.StatusCode != http.StatusOK {
				t.Fatalf("reconnection: %v %v", err, b.resp.Status)
			}
			missed := len(expect) - len(got)
			resumed := b.take(t, missed, 20*time.Second)
			seen(resumed)
			b.quiet(t, 500*time.Millisecond)
			for r, n := range got {
				if n > 1 {
					t.Errorf("%s received %d times", r, n)
				}
				if !expect[r] {
					t.Errorf("%s received but not expected", r)
				}
			}
			for r := range expect {
				if got[r] == 0 {
					t.Errorf("%s missed", r)
				}
			}
			// Per partition, in offset order.
			lastOff := map[[2]any]int64{}
			for _, e := range resumed {
				k := [2]any{e.msg.Topic, e.msg.Partition}
				if o, ok := lastOff[k]; ok && e.msg.Offset <= o {
					t.Errorf("%s:%d: offset %d after %d", e.msg.Topic, e.msg.Partition, e.msg.Offset, o)
				}
				lastOff[k] = e.msg.Offset
			}
			st := hub.Stats()
			if tc.refetch != (st.Refetched > 0) {
				t.Errorf("records read from Kafka again: %d; want some: %v", st.Refetched, tc.refetch)
			}
			t.Logf("first connection %d events (%d from the backlog), reconnected with %d missed, received %d (%d records read from Kafka again)",
				len(first)+len(live), initial, missed, len(resumed), st.Refetched)
		})
	}
}

// waitRead waits until the hub has read and decoded n sink records.
func waitRead(t *testing.T, hub *dashboard.Hub, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); hub.Stats().Events < int64(n); {
		if time.Now().After(deadline) {
			t.Fatalf("the hub read %d of %d records", hub.Stats().Events, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEventContent: an event is the record as downstream decodes it.
func TestEventContent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newSinks(t)
	_, base := startHub(t, ctx, s, dashboard.HubConfig{}, nil)
	st, err := openStream(t, ctx, base+"/events?kind=station&from=now", "")
	if err != nil {
		t.Fatal(err)
	}
	sw := schemas.StationWindow{Station: `<img src=x onerror=alert(1)>`, LineName: "NQR", Division: "BMT",
		Start: time.Date(2024, 1, 6, 10, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 6, 10, 5, 0, 0, time.UTC),
		Entries: 17, Exits: 4, Devices: 3, Revision: 2, Generation: 1, EmittedAt: time.Date(2024, 1, 6, 10, 10, 0, 123e6, time.UTC)}
	// The answer's headers have arrived: the stream's start is fixed, so
	// from=now includes what is produced next.
	b, err := s.st.Marshal(&sw)
	if err != nil {
		t.Fatal(err)
	}
	r := s.produceSync(t, ctx, schemas.DefaultStationWindowsTopic, "k", b)
	e := st.take(t, 1, 10*time.Second)[0]
	w, _ := json.Marshal(e.msg.Window)
	var got dashboard.StationWindow
	if err := json.Unmarshal(w, &got); err != nil {
		t.Fatal(err)
	}
	want := dashboard.StationWindow{Station: sw.Station, LineName: sw.LineName, Division: sw.Division, Start: sw.Start, End: sw.End,
		Entries: 17, Exits: 4, Devices: 3, Revision: 2, Generation: 1, EmittedAt: sw.EmittedAt}
	if e.typ != "station" || e.msg.Key != "k" || e.msg.Offset != r.offset || e.msg.Partition != r.partition || !got.Start.Equal(want.Start) ||
		got.Station != want.Station || got.Revision != 2 || got.Generation != 1 || !got.EmittedAt.Equal(want.EmittedAt) || got.Entries != 17 {
		t.Errorf("event %s %+v\nwindow %+v\nwant %+v", e.typ, e.msg, got, want)
	}
	// The raw JSON escapes markup characters.
	if strings.Contains(e.raw, "<img") {
		t.Errorf("raw data carries markup unescaped: %s", e.raw)
	}
}

// TestStreamLimits: the number of clients is bounded, bad requests are
// refused before the stream starts, and idle streams carry heartbeats.
func TestStreamLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newSinks(t)
	hub, base := startHub(t, ctx, s, dashboard.HubConfig{MaxClients: 2, Heartbeat: 100 * time.Millisecond}, nil)

	for _, tc := range []struct {
		name, query, lastID string
		code                int
	}{
		{name: "unknown kind", query: "?kind=turnstile", code: http.StatusBadRequest},
		{name: "unknown from", query: "?from=yesterday", code: http.StatusBadRequest},
		{name: "id without a position vector", lastID: "mta-station-windows:0:5", code: http.StatusBadRequest},
		{name: "malformed id", lastID: "a:0:1;mta-station-windows=x", code: http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := openStream(t, ctx, base+"/events"+tc.query, tc.lastID)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(st.resp.Body)
			if st.resp.StatusCode != tc.code || !strings.Contains(string(body), "dashboard:") {
				t.Errorf("%s: %s %q, want %d", tc.name, st.resp.Status, body, tc.code)
			}
		})
	}

	one, err := openStream(t, ctx, base+"/events", "")
	if err != nil {
		t.Fatal(err)
	}
	two, err := openStream(t, ctx, base+"/events?from=now", "")
	if err != nil {
		t.Fatal(err)
	}
	three, err := openStream(t, ctx, base+"/events", "")
	if err != nil {
		t.Fatal(err)
	}
	if three.resp.StatusCode != http.StatusServiceUnavailable || three.resp.Header.Get("Retry-After") == "" {
		t.Errorf("third client: %s, Retry-After %q; want 503 with Retry-After", three.resp.Status, three.resp.Header.Get("Retry-After"))
	}
	// Heartbeats on an idle stream.
	beat := time.After(5 * time.Second)
	for found := false; !found; {
		select {
		case l := <-one.lines:
			found = l == ": heartbeat"
		case <-beat:
			t.Fatal("no heartbeat within 5s at a 100ms interval")
		}
	}
	if st := hub.Stats(); st.Clients != 2 || st.Refused != 1 {
		t.Errorf("stats %+v, want 2 clients and 1 refused", st)
	}
	two.cancel()
	for deadline := time.Now().Add(5 * time.Second); hub.Stats().Clients != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("clients %d after one left", hub.Stats().Clients)
		}
		time.Sleep(20 * time.Millisecond)
	}
	four, err := openStream(t, ctx, base+"/events", "")
	if err != nil || four.resp.StatusCode != http.StatusOK {
		t.Fatalf("a client after one left: %v %v", err, four.resp.Status)
	}
}

// smallBuffers makes a connection's kernel buffers small, so a client that
// does not read stalls the server's writes after a few kilobytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// TestSlowClientDropped: a client that stops reading is disconnected once
// its buffer is full, without holding back the hub or the other clients.
func TestSlowClientDropped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := newSinks(t)
	hub, base := startHub(t, ctx, s, dashboard.HubConfig{ClientBuffer: 128, WriteTimeout: time.Second},
		func(l net.Listener) net.Listener { return smallBuffers{l} })

	// The slow client: sends its request and never reads.
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := fmt.Fprintf(conn, "GET /events?from=now HTTP/1.1\r\nHost: %s\r\n\r\n", u.Host); err != nil {
		t.Fatal(err)
	}
	// It reads its answer's headers (its start is fixed then), and later
	// one event, which shows it subscribed; then nothing more.
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	slow := bufio.NewReader(conn)
	readUntil := func(what string, done func(line string) bool) {
		for {
			line, err := slow.ReadString('\n')
			if err != nil {
				t.Fatalf("the slow client, reading %s: %v", what, err)
			}
			if done(line) {
				return
			}
		}
	}
	readUntil("its headers", func(line string) bool { return line == "\r\n" })
	fast, err := openStream(t, ctx, base+"/events?from=now", "")
	if err != nil {
		t.Fatal(err)
	}
	warm := len(s.produce(t, ctx, 1))
	fast.take(t, warm, 20*time.Second)
	readUntil("its first event", func(line string) bool { return strings.HasPrefix(line, "event: ") })
	_ = conn.SetReadDeadline(time.Time{})
	// Batches of 100 events, each read by the reading client before the
	// next: it is never more than its buffer (128) behind, however slowly
	// the machine runs it, while the other client falls further behind
	// with every batch.
	start := time.Now()
	produced, got := 0, 0
	for i := 0; i < 6; i++ {
		n := len(s.produce(t, ctx, 50))
		produced += n
		got += len(fast.take(t, n, 30*time.Second))
	}
	t.Logf("%d events to the reading client in %v while the other read nothing", got, time.Since(start).Round(time.Millisecond))
	for deadline := time.Now().Add(10 * time.Second); hub.Stats().Dropped < 1; {
		if time.Now().After(deadline) {
			t.Fatalf("the slow client was not dropped: %+v", hub.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := hub.Stats(); st.Dropped != 1 || st.Events < int64(produced) {
		t.Errorf("stats %+v, want 1 dropped and at least %d events", st, produced)
	}
}
