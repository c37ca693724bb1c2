package dashboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
)

// HubConfig configures a Hub.
type HubConfig struct {
	// KafkaOpts reach the brokers (seeds, TLS, SASL); the hub adds its own
	// consume options.
	KafkaOpts []kgo.Opt
	// Registry decodes the sink records (the writers' schema ids).
	Registry srclient.ISchemaRegistryClient
	// StationTopic and DeviceTopic are the sink topics (default
	// mta-station-windows and mta-turnstile-windows).
	StationTopic, DeviceTopic string
	// Backlog is how many of each topic's newest records the hub keeps in
	// memory, split evenly over the topic's partitions (default 20000). A
	// new client starts with them; a reconnecting one resumes from them,
	// or from Kafka when it missed more.
	Backlog int
	// MaxClients bounds the open streams (default 64); more get 503.
	MaxClients int
	// ClientBuffer is each client's buffer of events not yet written
	// (default 256); a client whose buffer is full is dropped.
	ClientBuffer int
	// Heartbeat is the interval of comment lines on an idle stream
	// (default 15s).
	Heartbeat time.Duration
	// WriteTimeout bounds each write to a client (default 10s).
	WriteTimeout time.Duration
	// Registerer, when set, gets the hub's metrics.
	Registerer prometheus.Registerer
	// Logger receives the hub's lines: what it tails, fetch and decode
	// warnings (default: discard).
	Logger *slog.Logger
}

// Defaults fills zero (and negative) fields.
func (c *HubConfig) Defaults() {
	if c.StationTopic == "" {
		c.StationTopic = schemas.DefaultStationWindowsTopic
	}
	if c.DeviceTopic == "" {
		c.DeviceTopic = schemas.DefaultDeviceWindowsTopic
	}
	if c.Backlog <= 0 {
		c.Backlog = 20000
	}
	if c.MaxClients <= 0 {
		c.MaxClients = 64
	}
	if c.ClientBuffer <= 0 {
		c.ClientBuffer = 256
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// validate checks a HubConfig: the registry is required.
func (c *HubConfig) validate() error {
	if c.Registry == nil {
		return errors.New("dashboard: a schema registry client is required")
	}
	return nil
}

// Hub tails the sink topics and fans their records out to the event
// streams (see the package documentation for the concurrency contract).
// It serves GET /events as an http.Handler.
type Hub struct {
	cfg      HubConfig
	stCodec  *codecs.StationWindowCodec
	devCodec *codecs.DeviceWindowCodec
	metrics  *hubMetrics

	demand     chan struct{} // closed by the first request for events
	demandOnce sync.Once
	ready      chan struct{} // closed once the partitions are known
	failed     chan struct{} // closed when Run failed before it was ready
	failure    error

	mu         sync.Mutex
	lay        *layout
	rings      []*ring
	head       []int64 // next offset the hub reads, per partition
	endAtStart []int64 // end offsets when the hub started
	seq        uint64
	clients    map[*client]struct{}
	open       int // open streams, catching up or subscribed
	dropped    int64
	refused    int64
	events     int64
	refetched  int64
}

// NewHub builds a hub; it reads nothing until Run.
func NewHub(cfg HubConfig) (*Hub, error) {
	cfg.Defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st, err := codecs.NewStationWindowCodec(codecs.Config{Client: cfg.Registry, Subject: schemas.Subject(cfg.StationTopic)})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	dev, err := codecs.NewDeviceWindowCodec(codecs.Config{Client: cfg.Registry, Subject: schemas.Subject(cfg.DeviceTopic)})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	m, err := newHubMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Hub{cfg: cfg, stCodec: st, devCodec: dev, metrics: m,
		demand: make(chan struct{}), ready: make(chan struct{}), failed: make(chan struct{}), clients: map[*client]struct{}{}}, nil
}

// wanted starts the hub's reading (Run waits for the first client).
func (h *Hub) wanted() { h.demandOnce.Do(func() { close(h.demand) }) }

// Run reads the sink topics until ctx ends. It waits for the first request
// for events before it connects, then for the topics to exist.
func (h *Hub) Run(ctx context.Context) (err error) {
	select {
	case <-h.demand:
	case <-ctx.Done():
		return nil
	}
	isReady := false
	defer func() {
		if err != nil && !isReady {
			h.failure = err
			close(h.failed)
		}
	}()
	starts, ends, err := h.listOffsets(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	topics := []string{h.cfg.StationTopic, h.cfg.DeviceTopic}
	counts := make([]int32, len(topics))
	for i, t := range topics {
		counts[i] = int32(len(ends[t]))
	}
	lay := newLayout(topics, counts)
	rings := make([]*ring, lay.n)
	head, endAt := make([]int64, lay.n), make([]int64, lay.n)
	consume := map[string]map[int32]kgo.Offset{}
	for t, topic := range topics {
		per := (h.cfg.Backlog + int(counts[t]) - 1) / int(counts[t])
		consume[topic] = map[int32]kgo.Offset{}
		for p := int32(0); p < counts[t]; p++ {
			gi := lay.base[t] + int(p)
			end := ends[topic][p].Offset
			start := max(starts[topic][p].Offset, end-int64(per))
			rings[gi] = &ring{buf: make([]*event, per), from: start}
			head[gi], endAt[gi] = start, end
			consume[topic][p] = kgo.NewOffset().At(start)
		}
	}
	cl, err := kgo.NewClient(append(slices.Clone(h.cfg.KafkaOpts),
		kgo.ConsumePartitions(consume), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	defer cl.Close()
	h.mu.Lock()
	h.lay, h.rings, h.head, h.endAtStart = lay, rings, head, endAt
	h.mu.Unlock()
	close(h.ready)
	isReady = true
	h.cfg.Logger.Info("dashboard: tailing the sink topics", "topics", topics, "partitions", counts)
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			h.cfg.Logger.Warn("dashboard: fetch", "topic", t, "partition", p, "err", err)
		})
		var stop error
		fs.EachRecord(func(r *kgo.Record) {
			if stop != nil {
				return
			}
			gi, ok := lay.index(r.Topic, r.Partition)
			if !ok {
				return
			}
			e, err := h.decode(ctx, r, gi)
			if err != nil {
				stop = err
				return
			}
			h.publish(gi, r.Offset, e)
		})
		if stop != nil {
			return nil // ctx ended while waiting for the registry
		}
	}
}

// listOffsets waits for both sink topics to exist and returns their start
// and end offsets.
func (h *Hub) listOffsets(ctx context.Context) (starts, ends kadm.ListedOffsets, err error) {
	cl, err := kgo.NewClient(h.cfg.KafkaOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("dashboard: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for attempt := 0; ; attempt++ {
		starts, err = adm.ListStartOffsets(ctx, h.cfg.StationTopic, h.cfg.DeviceTopic)
		if err == nil {
			err = starts.Error()
		}
		if err == nil {
			ends, err = adm.ListEndOffsets(ctx, h.cfg.StationTopic, h.cfg.DeviceTopic)
			if err == nil {
				err = ends.Error()
			}
		}
		if err == nil && len(ends[h.cfg.StationTopic]) > 0 && len(ends[h.cfg.DeviceTopic]) > 0 {
			return starts, ends, nil
		}
		if attempt == 0 || attempt%30 == 0 {
			h.cfg.Logger.Info("dashboard: waiting for the sink topics", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// decode turns a sink record into an event; nil for a record that can
// never decode (counted and logged). It waits while the registry cannot be
// asked; the error is ctx's.
func (h *Hub) decode(ctx context.Context, r *kgo.Record, gi int) (*event, error) {
	kind := h.kindOf(r.Topic)
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		msg := Message{Kind: kind, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Timestamp: r.Timestamp.UTC()}
		var station, line string
		var err error
		if kind == KindStation {
			var w schemas.StationWindow
			if w, err = h.stCodec.Unmarshal(r.Value); err == nil {
				msg.Window, station, line = stationJSON(&w), w.Station, w.LineName
			}
		} else {
			var w schemas.DeviceWindow
			if w, err = h.devCodec.Unmarshal(r.Value); err == nil {
				msg.Window, station, line = deviceJSON(&w), w.Station, w.LineName
			}
		}
		if err == nil {
			return &event{kind: kind, topic: r.Topic, part: r.Partition, offset: r.Offset, gi: gi,
				station: station, line: line, data: marshalMessage(msg)}, nil
		}
		if !codecs.IsRetryable(err) {
			h.metrics.undecodable.WithLabelValues(r.Topic).Inc()
			h.cfg.Logger.Warn("dashboard: skipping a sink record that does not decode",
				"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
	}
}

func (h *Hub) kindOf(topic string) string {
	if topic == h.cfg.DeviceTopic {
		return KindDevice
	}
	return KindStation
}

// publish records that the hub has read offset of partition gi and, for a
// decoded event, keeps it and offers it to the clients.
func (h *Hub) publish(gi int, offset int64, e *event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.head[gi] = max(h.head[gi], offset+1)
	if e == nil {
		return
	}
	h.seq++
	h.events++
	e.seq = h.seq
	e.after = slices.Clone(h.head)
	e.id = h.lay.formatID(e.topic, e.part, e.offset, e.after)
	h.metrics.events.WithLabelValues(e.topic).Inc()
	if old := h.rings[gi].push(e); old != nil {
		h.rings[gi].from = old.offset + 1
	}
	for c := range h.clients {
		if !c.f.match(e) {
			continue
		}
		select {
		case c.ch <- e:
		default:
			h.dropLocked(c)
		}
	}
}

// client is one subscribed stream.
type client struct {
	f    filter
	ch   chan *event
	gone chan struct{} // closed when the hub drops the client
}

func (h *Hub) dropLocked(c *client) {
	delete(h.clients, c)
	close(c.gone)
	h.dropped++
	h.metrics.dropped.Inc()
}

// admit counts a new stream, or says no when MaxClients are open.
func (h *Hub) admit() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.open >= h.cfg.MaxClients {
		h.refused++
		h.metrics.refused.Inc()
		return false
	}
	h.open++
	h.metrics.clients.Set(float64(h.open))
	return true
}

func (h *Hub) leave(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c != nil {
		if _, ok := h.clients[c]; ok {
			delete(h.clients, c)
		}
	}
	h.open--
	h.metrics.clients.Set(float64(h.open))
}

// start is where a new stream begins in every partition: the resume
// vector (clamped to what exists), else the oldest record in memory, or
// with fromNow the end of the partition (as the hub last knew it).
func (h *Hub) start(resume []int64, known []bool, fromNow bool) []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	pos := make([]int64, h.lay.n)
	for gi := range pos {
		switch {
		case known != nil && known[gi]:
			// An offset beyond anything the partition had is from another
			// log (a recreated topic): start at its end.
			pos[gi] = min(resume[gi], max(h.head[gi], h.endAtStart[gi]))
		case fromNow:
			pos[gi] = max(h.head[gi], h.endAtStart[gi])
		default:
			pos[gi] = h.rings[gi].from
		}
	}
	return pos
}

// subscribe registers a client at pos if memory holds everything it has
// not received: it returns the events to replay (in the order the hub read
// them) and ok. Otherwise it returns, per partition, the offset from which
// memory is complete, for a catch-up from Kafka first.
func (h *Hub) subscribe(c *client, pos []int64) (replay []*event, from []int64, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	behind := false
	from = make([]int64, len(pos))
	for gi, r := range h.rings {
		from[gi] = r.from
		if pos[gi] < r.from {
			behind = true
		}
	}
	if behind {
		return nil, from, false
	}
	for gi, r := range h.rings {
		r.each(func(e *event) {
			if e.offset >= pos[gi] && c.f.match(e) {
				replay = append(replay, e)
			}
		})
	}
	slices.SortFunc(replay, func(a, b *event) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	h.clients[c] = struct{}{}
	return replay, nil, true
}

// catchUp reads, from Kafka, every record of the partitions where pos is
// behind from, up to from, advancing pos and calling emit for the events
// that match f. Records Kafka no longer holds are skipped.
func (h *Hub) catchUp(ctx context.Context, f filter, pos, from []int64, emit func(*event, string) error) error {
	cl, err := kgo.NewClient(h.cfg.KafkaOpts...)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	defer cl.Close()
	starts, err := kadm.NewClient(cl).ListStartOffsets(ctx, h.lay.topics...)
	if err != nil {
		return fmt.Errorf("dashboard: catching up: %w", err)
	}
	consume := map[string]map[int32]kgo.Offset{}
	left := 0
	for t, topic := range h.lay.topics {
		for p := int32(0); p < h.lay.counts[t]; p++ {
			gi := h.lay.base[t] + int(p)
			if s, ok := starts.Lookup(topic, p); ok && s.Err == nil && s.Offset > pos[gi] {
				pos[gi] = min(s.Offset, from[gi]) // deleted by retention: gone
			}
			if !f.wantsKind(h.kindOf(topic)) {
				pos[gi] = max(pos[gi], from[gi]) // none of it would be sent
			}
			if pos[gi] >= from[gi] {
				continue
			}
			if consume[topic] == nil {
				consume[topic] = map[int32]kgo.Offset{}
			}
			consume[topic][p] = kgo.NewOffset().At(pos[gi])
			left++
		}
	}
	if left == 0 {
		return nil
	}
	cc, err := kgo.NewClient(append(slices.Clone(h.cfg.KafkaOpts), kgo.ConsumePartitions(consume),
		kgo.FetchMaxWait(500*time.Millisecond), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	defer cc.Close()
	done := make([]bool, len(pos))
	for left > 0 {
		fs := cc.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var werr error
		fs.EachRecord(func(r *kgo.Record) {
			gi, ok := h.lay.index(r.Topic, r.Partition)
			if !ok || done[gi] || werr != nil {
				return
			}
			if r.Offset >= from[gi] {
				pos[gi] = max(pos[gi], from[gi])
			} else if r.Offset >= pos[gi] {
				e, err := h.decode(ctx, r, gi)
				if err != nil {
					werr = err
					return
				}
				pos[gi] = r.Offset + 1
				h.refetchedOne()
				if e != nil && f.match(e) {
					werr = emit(e, h.lay.formatID(e.topic, e.part, e.offset, pos))
				}
			}
			if pos[gi] >= from[gi] {
				done[gi] = true
				left--
				cc.PauseFetchPartitions(map[string][]int32{r.Topic: {r.Partition}})
			}
		})
		if werr != nil {
			return werr
		}
	}
	return nil
}

// HubStats are the hub's counters since it started.
type HubStats struct {
	Clients int   `json:"clients"`
	Max     int   `json:"max_clients"`
	Dropped int64 `json:"dropped"` // slow clients disconnected
	Refused int64 `json:"refused"` // 503: too many clients
	Events  int64 `json:"events"`  // sink records read and decoded
	// Refetched are records read from Kafka again for clients resuming
	// from further back than the hub's memory.
	Refetched int64 `json:"refetched"`
}

// Stats returns the hub's counters.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return HubStats{Clients: h.open, Max: h.cfg.MaxClients, Dropped: h.dropped, Refused: h.refused, Events: h.events,
		Refetched: h.refetched}
}

func (h *Hub) refetchedOne() {
	h.mu.Lock()
	h.refetched++
	h.mu.Unlock()
	h.metrics.refetched.Inc()
}

// ring is a partition's newest events; from is the offset from which it
// holds every decodable record the hub has read.
type ring struct {
	buf      []*event
	start, n int
	from     int64
}

// push appends e and returns the event it evicted, if any.
func (r *ring) push(e *event) (evicted *event) {
	if len(r.buf) == 0 {
		return e
	}
	if r.n == len(r.buf) {
		evicted = r.buf[r.start]
		r.buf[r.start] = e
		r.start = (r.start + 1) % len(r.buf)
		return evicted
	}
	r.buf[(r.start+r.n)%len(r.buf)] = e
	r.n++
	return nil
}

func (r *ring) each(fn func(*event)) {
	for i := 0; i < r.n; i++ {
		fn(r.buf[(r.start+i)%len(r.buf)])
	}
}
