package codecs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// DeviceWindowCodec encodes and decodes TurnstileWindow records
// (schemas.DeviceWindow) in the Confluent wire format, for the emitter and
// the lake-writer. It also satisfies goka.Codec (Decode returns
// *schemas.DeviceWindow). It is safe for concurrent use.
type DeviceWindowCodec struct {
	e       *engine
	setters []func(*schemas.DeviceWindow, any)
}

// NewDeviceWindowCodec builds a device window codec for cfg.Subject
// (normally schemas.Subject(topics.DeviceWindows)). It does not contact the
// registry.
func NewDeviceWindowCodec(cfg Config) (*DeviceWindowCodec, error) {
	s := schemas.DeviceWindowSchema()
	e, err := newEngine(cfg, s.Text, s.Text)
	if err != nil {
		return nil, err
	}
	setters, err := bindSetters(e.reader, deviceWindowSetters())
	if err != nil {
		return nil, err
	}
	return &DeviceWindowCodec{e: e, setters: setters}, nil
}

// Subject returns the codec's subject.
func (c *DeviceWindowCodec) Subject() string { return c.e.subject }

// Prepare resolves the writer schema id now and returns it.
func (c *DeviceWindowCodec) Prepare(ctx context.Context) (int, error) { return c.e.id(ctx) }

// Marshal encodes a window. It does not validate it.
func (c *DeviceWindowCodec) Marshal(w *schemas.DeviceWindow) ([]byte, error) {
	return c.e.encode(DeviceWindowNative(w))
}

// Unmarshal decodes and validates a window. Errors are *RejectError or
// retryable, as for readings.
func (c *DeviceWindowCodec) Unmarshal(data []byte) (schemas.DeviceWindow, error) {
	var w schemas.DeviceWindow
	var vals [20]any
	out := vals[:len(c.setters)]
	id, err := c.e.decode(data, out)
	if err != nil {
		return w, err
	}
	for i, set := range c.setters {
		set(&w, out[i])
	}
	if err := w.Validate(); err != nil {
		return schemas.DeviceWindow{}, fieldReject(c.e, id, ReasonInvalidField, err)
	}
	return w, nil
}

// Encode implements goka.Codec for schemas.DeviceWindow or *schemas.DeviceWindow.
func (c *DeviceWindowCodec) Encode(value any) ([]byte, error) {
	switch w := value.(type) {
	case *schemas.DeviceWindow:
		if w == nil {
			return nil, errors.New("codecs: encode nil *schemas.DeviceWindow")
		}
		return c.Marshal(w)
	case schemas.DeviceWindow:
		return c.Marshal(&w)
	default:
		return nil, fmt.Errorf("codecs: device window codec cannot encode %T", value)
	}
}

// Decode implements goka.Codec, returning *schemas.DeviceWindow.
func (c *DeviceWindowCodec) Decode(data []byte) (any, error) {
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

// StationWindowCodec encodes and decodes StationWindow records
// (schemas.StationWindow); see DeviceWindowCodec.
type StationWindowCodec struct {
	e       *engine
	setters []func(*schemas.StationWindow, any)
}

// NewStationWindowCodec builds a station window codec for cfg.Subject
// (normally schemas.Subject(topics.StationWindows)).
func NewStationWindowCodec(cfg Config) (*StationWindowCodec, error) {
	s := schemas.StationWindowSchema()
	e, err := newEngine(cfg, s.Text, s.Text)
	if err != nil {
		return nil, err
	}
	setters, err := bindSetters(e.reader, stationWindowSetters())
	if err != nil {
		return nil, err
	}
	return &StationWindowCodec{e: e, setters: setters}, nil
}

// Subject returns the codec's subject.
func (c *StationWindowCodec) Subject() string { return c.e.subject }

// Prepare resolves the writer schema id now and returns it.
func (c *StationWindowCodec) Prepare(ctx context.Context) (int, error) { return c.e.id(ctx) }

// Marshal encodes a station window. It does not validate it.
func (c *StationWindowCodec) Marshal(w *schemas.StationWindow) ([]byte, error) {
	return c.e.encode(StationWindowNative(w))
}

// Unmarshal decodes and validates a station window.
func (c *StationWindowCodec) Unmarshal(data []byte) (schemas.StationWindow, error) {
	var w schemas.StationWindow
	var vals [16]any
	out := vals[:len(c.setters)]
	id, err := c.e.decode(data, out)
	if err != nil {
		return w, err
	}
	for i, set := range c.setters {
		set(&w, out[i])
	}
	if err := w.Validate(); err != nil {
		return schemas.StationWindow{}, fieldReject(c.e, id, ReasonInvalidField, err)
	}
	return w, nil
}

// Encode implements goka.Codec for schemas.StationWindow or *schemas.StationWindow.
func (c *StationWindowCodec) Encode(value any) ([]byte, error) {
	switch w := value.(type) {
	case *schemas.StationWindow:
		if w == nil {
			return nil, errors.New("codecs: encode nil *schemas.StationWindow")
		}
		return c.Marshal(w)
	case schemas.StationWindow:
		return c.Marshal(&w)
	default:
		return nil, fmt.Errorf("codecs: station window codec cannot encode %T", value)
	}
}

// Decode implements goka.Codec, returning *schemas.StationWindow.
func (c *StationWindowCodec) Decode(data []byte) (any, error) {
	w, err := c.Unmarshal(data)
	if err != nil {
		return nil, err
	}
	return &w, nil
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
