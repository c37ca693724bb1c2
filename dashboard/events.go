package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// retryMillis is the reconnection delay the stream asks browsers to use.
const retryMillis = 1000

// ServeHTTP serves GET /events: the Server-Sent Events stream.
//
// Query parameters: station and line filter by STATION and LINENAME
// (exact, case-insensitive); kind=station or kind=device keeps one of the
// two sinks; from=now starts at the newest record instead of the backlog;
// last-event-id is the Last-Event-ID header for clients that cannot set
// headers (the header wins).
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := parseStreamRequest(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.wanted()
	if !h.admit() {
		w.Header().Set("Retry-After", "5")
		http.Error(w, fmt.Sprintf("dashboard: %d event streams are open, the most this member serves; retry later", h.cfg.MaxClients),
			http.StatusServiceUnavailable)
		return
	}
	s := &stream{
		h: h, w: w, ctx: r.Context(), req: req,
		sw: &sseWriter{w: w, rc: http.NewResponseController(w), timeout: h.cfg.WriteTimeout},
		hb: time.NewTicker(h.cfg.Heartbeat),
	}
	defer s.end()
	if !s.awaitHub() {
		return
	}
	resume, known, ok := s.resumeVector()
	if !ok {
		return
	}
	// The start is fixed before the 200: a client holding its answer
	// receives every record published after it, from=now included.
	pos := h.start(resume, known, req.fromNow)
	if !s.started && s.open() != nil {
		return
	}
	replay, ok := s.subscribe(pos)
	if !ok || s.replay(replay) != nil {
		return
	}
	s.live()
}

// streamRequest is what a request for events asks.
type streamRequest struct {
	f       filter
	fromNow bool   // from=now: start at the newest record
	lastID  string // Last-Event-ID (header, else query): where to resume
}

// parseStreamRequest reads the query and the Last-Event-ID header; its
// error is the 400 answer.
func parseStreamRequest(r *http.Request) (streamRequest, error) {
	q := r.URL.Query()
	req := streamRequest{f: filter{station: strings.TrimSpace(q.Get("station")), line: strings.TrimSpace(q.Get("line"))}}
	if k := q.Get("kind"); k != "" {
		for _, s := range strings.Split(k, ",") {
			switch s = strings.TrimSpace(s); s {
			case KindStation, KindDevice:
				req.f.kinds = append(req.f.kinds, s)
			default:
				return req, fmt.Errorf("dashboard: kind %q: want station or device", s)
			}
		}
	}
	switch q.Get("from") {
	case "", "backlog":
	case "now":
		req.fromNow = true
	default:
		return req, errors.New("dashboard: from: want backlog or now")
	}
	req.lastID = r.Header.Get("Last-Event-ID")
	if req.lastID == "" {
		req.lastID = q.Get("last-event-id")
	}
	return req, nil
}

// stream is one client's event stream, from the request's handler
// goroutine: it waits for the hub, resumes, replays what the client missed
// and then follows the live events. Its methods report false or an error
// when the stream is over (the client went, a write failed, the hub
// failed); by then they have answered what there was to answer.
type stream struct {
	h       *Hub
	w       http.ResponseWriter
	ctx     context.Context
	req     streamRequest
	sw      *sseWriter
	hb      *time.Ticker
	started bool    // the 200 and the stream's preamble are written
	c       *client // subscribed (nil before): the hub offers it events
	// base is where the client starts, per partition, and covered says
	// that the hub's position after each event now covers it (see send).
	base    []int64
	covered bool
}

// end releases the stream's place at the hub.
func (s *stream) end() {
	s.hb.Stop()
	s.h.leave(s.c)
}

// open writes the response's headers and the stream's preamble.
func (s *stream) open() error {
	s.w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	s.w.Header().Set("Cache-Control", "no-cache")
	s.w.Header().Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
	s.started = true
	if err := s.sw.raw(fmt.Sprintf("retry: %d\n: turnstile window events\n\n", retryMillis)); err != nil {
		return err
	}
	return s.sw.flush()
}

// awaitHub waits until the hub knows the partitions: until then neither
// the id nor a start can be read. Errors in the id are answered before the
// stream starts; if the topics do not exist yet, the stream starts at the
// first heartbeat so the client sees heartbeats while it waits.
func (s *stream) awaitHub() bool {
	for {
		select {
		case <-s.h.ready:
			return true
		case <-s.h.failed:
			if !s.started {
				s.w.Header().Set("Retry-After", "5")
				http.Error(s.w, s.h.failure.Error(), http.StatusServiceUnavailable)
			}
			return false
		case <-s.ctx.Done():
			return false
		case <-s.hb.C:
			if !s.started {
				if s.req.lastID != "" {
					if _, _, err := (&layout{}).parseID(s.req.lastID); err != nil {
						http.Error(s.w, err.Error(), http.StatusBadRequest)
						return false
					}
				}
				if s.open() != nil {
					return false
				}
			}
			if s.sw.heartbeat() != nil {
				return false
			}
		}
	}
}

// resumeVector reads the client's Last-Event-ID against the hub's
// partitions (nil, nil without one). An id that does not fit is a 400, or,
// once the stream has started, a comment that ends it.
func (s *stream) resumeVector() (resume []int64, known []bool, ok bool) {
	if s.req.lastID == "" {
		return nil, nil, true
	}
	resume, known, err := s.h.lay.parseID(s.req.lastID)
	if err != nil {
		if s.started {
			_ = s.sw.raw(fmt.Sprintf(": %s\n\n", strings.ReplaceAll(err.Error(), "\n", " ")))
			return nil, nil, false
		}
		http.Error(s.w, err.Error(), http.StatusBadRequest)
		return nil, nil, false
	}
	return resume, known, true
}

// subscribe registers the client at pos and returns the events memory
// holds for it. When it missed more than memory holds, the rest is read
// from Kafka and written first.
func (s *stream) subscribe(pos []int64) (replay []*event, ok bool) {
	s.base = pos
	c := &client{f: s.req.f, ch: make(chan *event, s.h.cfg.ClientBuffer), gone: make(chan struct{})}
	s.c = c
	for {
		replay, from, ok := s.h.subscribe(c, pos)
		if ok {
			return replay, true
		}
		err := s.h.catchUp(s.ctx, s.req.f, pos, from, func(e *event, id string) error { return s.sw.event(e.kind, id, e.data) })
		if err == nil {
			err = s.sw.flush()
		}
		if err != nil {
			return nil, false
		}
	}
}

// send writes one event with the client's own position as its id: the
// hub's position after the event, or beyond it in partitions where the
// client resumed ahead of the hub's order. Once the hub's position covers
// the client's start it always will (it only grows), and the hub's ids
// serve as they are.
//
// Until then, an event below the client's start in its partition was
// received before (on this hub or another) and is skipped: a hub that has
// just started is still reading its backlog.
func (s *stream) send(e *event) error {
	id := e.id
	if !s.covered {
		if e.offset < s.base[e.gi] {
			return nil
		}
		if dominated(s.base, e.after) {
			s.covered = true
		} else {
			v := make([]int64, len(s.base))
			for i := range v {
				v[i] = max(s.base[i], e.after[i])
			}
			id = s.h.lay.formatID(e.topic, e.part, e.offset, v)
		}
	}
	return s.sw.event(e.kind, id, e.data)
}

// replay writes the events from memory, looking every 256 whether the
// client is still wanted, and flushes them.
func (s *stream) replay(events []*event) error {
	for i, e := range events {
		if err := s.send(e); err != nil {
			return err
		}
		if i%256 == 255 {
			select {
			case <-s.c.gone:
				return errDropped
			case <-s.ctx.Done():
				return s.ctx.Err()
			default:
			}
		}
	}
	return s.sw.flush()
}

// errDropped: the hub dropped a client too slow for its buffer; the client
// reconnects with its Last-Event-ID.
var errDropped = errors.New("dashboard: client dropped")

// live follows the hub's events until the client goes, is dropped, or a
// write fails: whatever has arrived is written, then flushed; a heartbeat
// when nothing has.
func (s *stream) live() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.c.gone:
			return // too slow: the client reconnects with its Last-Event-ID
		case e := <-s.c.ch:
			if s.send(e) != nil || s.drain() != nil || s.sw.flush() != nil {
				return
			}
		case <-s.hb.C:
			if s.sw.heartbeat() != nil {
				return
			}
		}
	}
}

// drain writes the events already waiting in the client's buffer.
func (s *stream) drain() error {
	for {
		select {
		case e := <-s.c.ch:
			if err := s.send(e); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// sseWriter writes the text/event-stream format, each write bounded by a
// deadline.
type sseWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
}

// deadline bounds the next write (a writer that cannot set deadlines, as
// in some test recorders, writes without one).
func (s *sseWriter) deadline() { _ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout)) }

func (s *sseWriter) raw(text string) error {
	s.deadline()
	_, err := io.WriteString(s.w, text)
	return err
}

// event writes one event; data is one line of JSON.
func (s *sseWriter) event(kind, id string, data []byte) error {
	s.deadline()
	var b strings.Builder
	b.Grow(len(kind) + len(id) + len(data) + 24)
	b.WriteString("event: ")
	b.WriteString(kind)
	b.WriteString("\nid: ")
	b.WriteString(id)
	b.WriteString("\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	_, err := io.WriteString(s.w, b.String())
	return err
}

func (s *sseWriter) heartbeat() error {
	if err := s.raw(": heartbeat\n\n"); err != nil {
		return err
	}
	return s.flush()
}

func (s *sseWriter) flush() error {
	s.deadline()
	return s.rc.Flush()
}
