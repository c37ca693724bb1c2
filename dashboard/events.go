package dashboard

import (
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
	q := r.URL.Query()
	f := filter{station: strings.TrimSpace(q.Get("station")), line: strings.TrimSpace(q.Get("line"))}
	if k := q.Get("kind"); k != "" {
		for _, s := range strings.Split(k, ",") {
			switch s = strings.TrimSpace(s); s {
			case KindStation, KindDevice:
				f.kinds = append(f.kinds, s)
			default:
				http.Error(w, fmt.Sprintf("dashboard: kind %q: want station or device", s), http.StatusBadRequest)
				return
			}
		}
	}
	fromNow := false
	switch q.Get("from") {
	case "", "backlog":
	case "now":
		fromNow = true
	default:
		http.Error(w, "dashboard: from: want backlog or now", http.StatusBadRequest)
		return
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = q.Get("last-event-id")
	}

	h.wanted()
	if !h.admit() {
		w.Header().Set("Retry-After", "5")
		http.Error(w, fmt.Sprintf("dashboard: %d event streams are open, the most this member serves; retry later", h.cfg.MaxClients),
			http.StatusServiceUnavailable)
		return
	}
	var c *client
	defer func() { h.leave(c) }()

	ctx := r.Context()
	sw := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: h.cfg.WriteTimeout}
	hb := time.NewTicker(h.cfg.Heartbeat)
	defer hb.Stop()

	// Until the hub knows the partitions, neither the id nor a start can
	// be read; answer errors in the id before the stream starts.
	headers := func() error {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		if err := sw.raw(fmt.Sprintf("retry: %d\n: turnstile window events\n\n", retryMillis)); err != nil {
			return err
		}
		return sw.flush()
	}
	started := false
	for waiting := true; waiting; {
		select {
		case <-h.ready:
			waiting = false
		case <-h.failed:
			if !started {
				w.Header().Set("Retry-After", "5")
				http.Error(w, h.failure.Error(), http.StatusServiceUnavailable)
			}
			return
		case <-ctx.Done():
			return
		case <-hb.C:
			if !started {
				// The topics do not exist yet: start the stream so the
				// client sees heartbeats while it waits.
				if lastID != "" {
					if _, _, err := (&layout{}).parseID(lastID); err != nil {
						http.Error(w, err.Error(), http.StatusBadRequest)
						return
					}
				}
				if headers() != nil {
					return
				}
				started = true
			}
			if sw.heartbeat() != nil {
				return
			}
		}
	}
	var resume []int64
	var known []bool
	if lastID != "" {
		var err error
		if resume, known, err = h.lay.parseID(lastID); err != nil {
			if started {
				_ = sw.raw(fmt.Sprintf(": %s\n\n", strings.ReplaceAll(err.Error(), "\n", " ")))
				return
			}
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	if !started && headers() != nil {
		return
	}

	pos := h.start(resume, known, fromNow)
	c = &client{f: f, ch: make(chan *event, h.cfg.ClientBuffer), gone: make(chan struct{})}
	var replay []*event
	for {
		var from []int64
		var ok bool
		if replay, from, ok = h.subscribe(c, pos); ok {
			break
		}
		// Missed more than memory holds: read the rest from Kafka first.
		err := h.catchUp(ctx, f, pos, from, func(e *event, id string) error { return sw.event(e.kind, id, e.data) })
		if err == nil {
			err = sw.flush()
		}
		if err != nil {
			return
		}
	}

	// Ids name the client's own position: the hub's position after the
	// event, or beyond it in partitions where the client resumed ahead of
	// the hub's order. Once the hub's position covers the client's start
	// it always will (it only grows), and the hub's ids serve as they are.
	//
	// Until then, an event below the client's start in its partition was
	// received before (on this hub or another) and is skipped: a hub that
	// has just started is still reading its backlog.
	base := pos
	covered := false
	send := func(e *event) error {
		id := e.id
		if !covered {
			if e.offset < base[e.gi] {
				return nil
			}
			if dominated(base, e.after) {
				covered = true
			} else {
				v := make([]int64, len(base))
				for i := range v {
					v[i] = max(base[i], e.after[i])
				}
				id = h.lay.formatID(e.topic, e.part, e.offset, v)
			}
		}
		return sw.event(e.kind, id, e.data)
	}
	for i, e := range replay {
		if err := send(e); err != nil {
			return
		}
		if i%256 == 255 {
			select {
			case <-c.gone:
				return
			case <-ctx.Done():
				return
			default:
			}
		}
	}
	if sw.flush() != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.gone:
			return // too slow: the client reconnects with its Last-Event-ID
		case e := <-c.ch:
			if send(e) != nil {
				return
			}
			for more := true; more; {
				select {
				case e := <-c.ch:
					if send(e) != nil {
						return
					}
				default:
					more = false
				}
			}
			if sw.flush() != nil {
				return
			}
		case <-hb.C:
			if sw.heartbeat() != nil {
				return
			}
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
