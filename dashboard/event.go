package dashboard

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Event kinds, the SSE event type of each event.
const (
	KindStation = "station"
	KindDevice  = "device"
)

// Message is the data of one event, as JSON: where the record is, and the
// window it holds with the Avro field names of its schema.
type Message struct {
	Kind      string    `json:"kind"` // station or device
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Key       string    `json:"key"`       // the record key (STATION|LINENAME|START, CA|UNIT|SCP|START)
	Timestamp time.Time `json:"timestamp"` // the record's timestamp: when it was published
	// Window is a StationWindow or a DeviceWindow (window_gen.go, generated
	// from the records' declarations in schemas).
	Window any `json:"window"`
}

// event is one sink record as the hub keeps it.
type event struct {
	kind          string
	topic         string
	part          int32
	offset        int64
	gi            int // global partition index
	station, line string
	data          []byte // the Message as JSON

	// Set by the hub when it appends the event, under its mutex:
	seq   uint64
	after []int64 // the hub's position vector right after this event
	id    string  // formatID with after
}

// filter is what a client asked for; the zero filter matches everything.
type filter struct {
	station, line string   // exact, case-insensitive
	kinds         []string // empty: both
}

func (f filter) match(e *event) bool {
	if f.station != "" && !strings.EqualFold(f.station, e.station) {
		return false
	}
	if f.line != "" && !strings.EqualFold(f.line, e.line) {
		return false
	}
	return f.wantsKind(e.kind)
}

func (f filter) wantsKind(kind string) bool {
	return len(f.kinds) == 0 || slices.Contains(f.kinds, kind)
}

func marshalMessage(m Message) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		// Unreachable: every field marshals.
		return []byte(`{}`)
	}
	return b
}
