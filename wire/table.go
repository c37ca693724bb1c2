package wire

import (
	"fmt"

	"github.com/turnstile-streams/turnstile/windows"
)

// TableCodec encodes every value the windowed stage's table holds.
type TableCodec struct{}

// Encode writes a *windows.Device or a *PartitionMeta.
func (TableCodec) Encode(v any) ([]byte, error) {
	switch s := v.(type) {
	case *windows.Device:
		return EncodeDevice(s, nil), nil
	case *PartitionMeta:
		return EncodeMeta(s), nil
	}
	return nil, fmt.Errorf("wire: table codec cannot encode %T", v)
}

// Decode tells the two apart by their tag.
func (TableCodec) Decode(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("wire: %w: empty table value", ErrCorrupt)
	}
	switch b[0] {
	case TagDevice:
		return DecodeDevice(b)
	case TagPartition:
		return DecodeMeta(b)
	}
	return nil, fmt.Errorf("wire: %w: table value tag %d", ErrCorrupt, b[0])
}
