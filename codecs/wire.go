package codecs

import "encoding/binary"

// Confluent wire format: magic byte 0, schema id as a big-endian int32,
// then the Avro binary body.
const (
	MagicByte  byte = 0
	HeaderSize      = 5
)

// SchemaID returns the schema id of a Confluent-framed payload, and false
// when b is too short or does not start with the magic byte. It does not
// validate the body.
func SchemaID(b []byte) (int, bool) {
	if len(b) < HeaderSize || b[0] != MagicByte {
		return -1, false
	}
	return int(int32(binary.BigEndian.Uint32(b[1:HeaderSize]))), true
}

// AppendHeader appends the 5-byte Confluent header for schema id to dst.
func AppendHeader(dst []byte, id int) []byte {
	dst = append(dst, MagicByte)
	return binary.BigEndian.AppendUint32(dst, uint32(int32(id)))
}
