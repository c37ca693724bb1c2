package codecs

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/turnstile-streams/turnstile/schemas"
)

// WindowCodec encodes and decodes one window record type W in the
// Confluent wire format, for the relays and the lake-writer. It also
// satisfies goka.Codec (Decode returns *W). It is safe for concurrent use.
type WindowCodec[W any, P interface {
	*W
	Validate() error
}] struct {
	e    *engine
	name string
	rec  record[W]
	// fields maps each reader field to W's field (its number in
	// rec.names), bound once.
	fields []int
}

// record is what a WindowCodec needs of W, generated from W's declaration
// in schemas (window_gen.go, by schemas/internal/recordgen): the Avro names
// of W's fields, a function appending W's Avro binary encoding, one
// writing W's fields into a goavro native map (the encoding's reference,
// checked against it in the tests) and one setting a field from a decoded
// value. Nothing about W is reflected at run time.
type record[W any] struct {
	names  []string
	append func([]byte, *W) []byte
	native func(*W, map[string]any)
	set    func(w *W, field int, v any)
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
	return newWindowCodec[schemas.DeviceWindow, *schemas.DeviceWindow](cfg, schemas.DeviceWindowSchema(), "device window", deviceWindow)
}

// NewStationWindowCodec builds a station window codec for cfg.Subject
// (normally schemas.Subject(topics.StationWindows)).
func NewStationWindowCodec(cfg Config) (*StationWindowCodec, error) {
	return newWindowCodec[schemas.StationWindow, *schemas.StationWindow](cfg, schemas.StationWindowSchema(), "station window", stationWindow)
}

func newWindowCodec[W any, P interface {
	*W
	Validate() error
}](cfg Config, s schemas.Schema, name string, rec record[W]) (*WindowCodec[W, P], error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e, err := newEngine(cfg, s.Text, s.Text)
	if err != nil {
		return nil, err
	}
	fields := make([]int, len(e.reader.fields))
	for i, f := range e.reader.fields {
		if fields[i] = slices.Index(rec.names, f.name); fields[i] < 0 {
			return nil, fmt.Errorf("codecs: no Go field for reader field %s", f.name)
		}
	}
	return &WindowCodec[W, P]{e: e, name: name, rec: rec, fields: fields}, nil
}

// Subject returns the codec's subject.
func (c *WindowCodec[W, P]) Subject() string { return c.e.subject }

// Prepare resolves the writer schema id now and returns it.
func (c *WindowCodec[W, P]) Prepare(ctx context.Context) (int, error) { return c.e.id(ctx) }

// Marshal encodes a window. It does not validate it.
func (c *WindowCodec[W, P]) Marshal(w *W) ([]byte, error) {
	buf, err := c.e.header()
	if err != nil {
		return nil, err
	}
	return c.rec.append(buf, w), nil
}

// appendAvroString appends s in Avro's binary encoding: its length as a
// zig-zag varint, then its bytes.
func appendAvroString(buf []byte, s string) []byte {
	return append(binary.AppendVarint(buf, int64(len(s))), s...)
}

// Unmarshal decodes and validates a window. Errors are *RejectError or
// retryable, as for readings.
func (c *WindowCodec[W, P]) Unmarshal(data []byte) (W, error) {
	var w W
	var vals [20]any
	out := vals[:0]
	if len(c.fields) <= len(vals) {
		out = vals[:len(c.fields)]
	} else {
		out = make([]any, len(c.fields))
	}
	id, err := c.e.decode(data, out)
	if err != nil {
		return w, err
	}
	for i, v := range out {
		c.rec.set(&w, c.fields[i], v)
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
