package codecs

import (
	"context"
	"fmt"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// WindowCodec encodes and decodes one window record type W in the
// Confluent wire format, for the relays and the lake-writer. It also
// satisfies goka.Codec (Decode returns *W). It is safe for concurrent use.
type WindowCodec[W any, P interface {
	*W
	Validate() error
}] struct {
	e       *engine
	name    string
	setters []func(*W, any)
	native  func(*W) map[string]any
}

// DeviceWindowCodec encodes and decodes TurnstileWindow records
// (schemas.DeviceWindow).
type DeviceWindowCodec = WindowCodec[schemas.DeviceWindow, *schemas.DeviceWindow]

// StationWindowCodec encodes and decodes StationWindow records
// (schemas.StationWindow).
type StationWindowCodec = WindowCodec[schemas.StationWindow, *schemas.StationWindow]

// NewDeviceWindowCodec builds a device window codec for cfg.Subject
// (normally schemas.Subject(topics.DeviceWindows)). It does not contact the
// registry.
func NewDeviceWindowCodec(cfg Config) (*DeviceWindowCodec, error) {
	return newWindowCodec[schemas.DeviceWindow, *schemas.DeviceWindow](cfg, schemas.DeviceWindowSchema(), "device window",
		deviceWindowSetters(), DeviceWindowNative)
}

// NewStationWindowCodec builds a station window codec for cfg.Subject
// (normally schemas.Subject(topics.StationWindows)).
func NewStationWindowCodec(cfg Config) (*StationWindowCodec, error) {
	return newWindowCodec[schemas.StationWindow, *schemas.StationWindow](cfg, schemas.StationWindowSchema(), "station window",
		stationWindowSetters(), StationWindowNative)
}

func newWindowCodec[W any, P interface {
	*W
	Validate() error
}](cfg Config, s schemas.Schema, name string, setters map[string]func(*W, any), native func(*W) map[string]any) (*WindowCodec[W, P], error) {
	e, err := newEngine(cfg, s.Text, s.Text)
	if err != nil {
		return nil, err
	}
	bound, err := bindSetters(e.reader, setters)
	if err != nil {
		return nil, err
	}
	return &WindowCodec[W, P]{e: e, name: name, setters: bound, native: native}, nil
}

// Subject returns the codec's subject.
func (c *WindowCodec[W, P]) Subject() string { return c.e.subject }

// Prepare resolves the writer schema id now and returns it.
func (c *WindowCodec[W, P]) Prepare(ctx context.Context) (int, error) { return c.e.id(ctx) }

// Marshal encodes a window. It does not validate it.
func (c *WindowCodec[W, P]) Marshal(w *W) ([]byte, error) {
	return c.e.encode(c.native(w))
}

// Unmarshal decodes and validates a window. Errors are *RejectError or
// retryable, as for readings.
func (c *WindowCodec[W, P]) Unmarshal(data []byte) (W, error) {
	var w W
	var vals [20]any
	out := vals[:0]
	if len(c.setters) <= len(vals) {
		out = vals[:len(c.setters)]
	} else {
		out = make([]any, len(c.setters))
	}
	id, err := c.e.decode(data, out)
	if err != nil {
		return w, err
	}
	for i, set := range c.setters {
		set(&w, out[i])
	}
	if err := P(&w).Validate(); err != nil {
		var zero W
		return zero, fieldReject(c.e, id, ReasonInvalidField, err)
	}
	return w, nil
}

// Encode implements goka.Codec for W or *W.
func (c *WindowCodec[W, P]) Encode(value any) ([]byte, error) {
	switch w := value.(type) {
	case *W:
		if w == nil {
			return nil, fmt.Errorf("codecs: encode nil %T", w)
		}
		return c.Marshal(w)
	case W:
		return c.Marshal(&w)
	default:
		return nil, fmt.Errorf("codecs: %s codec cannot encode %T", c.name, value)
	}
}

// Decode implements goka.Codec, returning *W.
func (c *WindowCodec[W, P]) Decode(data []byte) (any, error) {
	w, err := c.Unmarshal(data)
	if err != nil {
		return nil, err
	}
	return &w, nil
}

// DeviceWindowNative returns the goavro native form of a device window.
func DeviceWindowNative(w *schemas.DeviceWindow) map[string]any {
	return map[string]any{
		"CA": w.CA, "UNIT": w.Unit, "SCP": w.SCP, "STATION": w.Station, "LINENAME": w.LineName,
		"DIVISION": w.Division, "DATE": w.Date, "TIME": w.Time, "DESC": w.Desc,
		"ENTRIES": w.Entries, "EXITS": w.Exits, "START": w.Start, "END": w.End,
		"REVISION": w.Revision, "GENERATION": w.Generation, "EMITTED_AT": w.EmittedAt,
	}
}

func deviceWindowSetters() map[string]func(*schemas.DeviceWindow, any) {
	return map[string]func(*schemas.DeviceWindow, any){
		"CA":         func(w *schemas.DeviceWindow, v any) { w.CA, _ = v.(string) },
		"UNIT":       func(w *schemas.DeviceWindow, v any) { w.Unit, _ = v.(string) },
		"SCP":        func(w *schemas.DeviceWindow, v any) { w.SCP, _ = v.(string) },
		"STATION":    func(w *schemas.DeviceWindow, v any) { w.Station, _ = v.(string) },
		"LINENAME":   func(w *schemas.DeviceWindow, v any) { w.LineName, _ = v.(string) },
		"DIVISION":   func(w *schemas.DeviceWindow, v any) { w.Division, _ = v.(string) },
		"DATE":       func(w *schemas.DeviceWindow, v any) { w.Date, _ = v.(string) },
		"TIME":       func(w *schemas.DeviceWindow, v any) { w.Time, _ = v.(string) },
		"DESC":       func(w *schemas.DeviceWindow, v any) { w.Desc, _ = v.(string) },
		"ENTRIES":    func(w *schemas.DeviceWindow, v any) { w.Entries, _ = v.(int64) },
		"EXITS":      func(w *schemas.DeviceWindow, v any) { w.Exits, _ = v.(int64) },
		"START":      func(w *schemas.DeviceWindow, v any) { w.Start, _ = v.(time.Time) },
		"END":        func(w *schemas.DeviceWindow, v any) { w.End, _ = v.(time.Time) },
		"REVISION":   func(w *schemas.DeviceWindow, v any) { w.Revision, _ = v.(int32) },
		"GENERATION": func(w *schemas.DeviceWindow, v any) { w.Generation, _ = v.(int32) },
		"EMITTED_AT": func(w *schemas.DeviceWindow, v any) { w.EmittedAt, _ = v.(time.Time) },
	}
}

// StationWindowNative returns the goavro native form of a station window.
func StationWindowNative(w *schemas.StationWindow) map[string]any {
	return map[string]any{
		"STATION": w.Station, "LINENAME": w.LineName, "DIVISION": w.Division,
		"START": w.Start, "END": w.End, "ENTRIES": w.Entries, "EXITS": w.Exits,
		"DEVICES": w.Devices, "REVISION": w.Revision, "GENERATION": w.Generation, "EMITTED_AT": w.EmittedAt,
	}
}

func stationWindowSetters() map[string]func(*schemas.StationWindow, any) {
	return map[string]func(*schemas.StationWindow, any){
		"STATION":    func(w *schemas.StationWindow, v any) { w.Station, _ = v.(string) },
		"LINENAME":   func(w *schemas.StationWindow, v any) { w.LineName, _ = v.(string) },
		"DIVISION":   func(w *schemas.StationWindow, v any) { w.Division, _ = v.(string) },
		"START":      func(w *schemas.StationWindow, v any) { w.Start, _ = v.(time.Time) },
		"END":        func(w *schemas.StationWindow, v any) { w.End, _ = v.(time.Time) },
		"ENTRIES":    func(w *schemas.StationWindow, v any) { w.Entries, _ = v.(int64) },
		"EXITS":      func(w *schemas.StationWindow, v any) { w.Exits, _ = v.(int64) },
		"DEVICES":    func(w *schemas.StationWindow, v any) { w.Devices, _ = v.(int32) },
		"REVISION":   func(w *schemas.StationWindow, v any) { w.Revision, _ = v.(int32) },
		"GENERATION": func(w *schemas.StationWindow, v any) { w.Generation, _ = v.(int32) },
		"EMITTED_AT": func(w *schemas.StationWindow, v any) { w.EmittedAt, _ = v.(time.Time) },
	}
}
