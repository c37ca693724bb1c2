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
	// set sets W's field of each reader field from a decoded value
	// (decodeRecord), bound once.
	set []func(*W, flatValue)
}

// record is what a WindowCodec needs of W, generated from W's declaration
// in schemas (window_gen.go, by schemas/internal/recordgen): the Avro names
// of W's fields, a function appending W's Avro binary encoding (checked
// byte for byte against goavro's in window_encode_test.go) and the setter
// of a field from a decoded value. Nothing about W is reflected at run
// time.
type record[W any] struct {
	names  []string
	append func([]byte, *W) []byte
	set    func(w *W, field int, v flatValue)
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
	c := &WindowCodec[W, P]{e: e, name: name, rec: rec}
	for _, f := range e.reader.fields {
		i := slices.Index(rec.names, f.name)
		if i < 0 {
			return nil, fmt.Errorf("codecs: no Go field for reader field %s", f.name)
		}
		c.set = append(c.set, func(w *W, v flatValue) { rec.set(w, i, v) })
	}
	return c, nil
}

// Subject returns the codec's subject.
func (c *WindowCodec[W, P]) Subject() string { return c.e.subject }

// Prepare resolves the writer schema id now and returns it.
func (c *WindowCodec[W, P]) Prepare(ctx context.Context) (int, error) { return c.e.id(ctx) }

// Marshal encodes a window. It does not validate it.
func (c *WindowCodec[W, P]) Marshal(w *W) ([]byte, error) {
	return c.AppendMarshal(make([]byte, 0, 160), w)
}

// AppendMarshal appends Marshal's encoding of a window (the wire format's
// header and the Avro body) to dst, so a caller encoding many windows can
// give them one buffer. On an error dst is returned unchanged.
func (c *WindowCodec[W, P]) AppendMarshal(dst []byte, w *W) ([]byte, error) {
	id, err := c.e.id(context.Background())
	if err != nil {
		return dst, err
	}
	return c.rec.append(AppendHeader(dst, id), w), nil
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
	id, err := decodeRecord(c.e, data, &w, c.set)
	if err != nil {
		var zero W
		return zero, err
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
