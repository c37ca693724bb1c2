package codecs

import (
	"encoding/binary"

	"github.com/turnstile-streams/turnstile/schemas"
)

// The reading encoder writes a reading straight into Avro binary when the
// writer schema is flat and each of its fields is one the reading holds,
// in the shape ReadingNative hands goavro: the thirteen MTA fields as
// plain strings and longs, EVENT_TIME as a nullable timestamp-millis and
// SOURCE as a nullable string. Any other writer schema (a field the
// reading does not have, another type) is encoded by goavro as before.
// The bytes are goavro's: reading_encode_test.go checks them against it
// on random readings for every shipped writer version.

// readingField names a field of schemas.Reading for the encoder.
type readingField uint8

const (
	rfCA readingField = iota
	rfUnit
	rfSCP
	rfStation
	rfLineName
	rfDivision
	rfDate
	rfTime
	rfDesc
	rfEntries
	rfExits
	rfID
	rfTimestamp
	rfEventTime
	rfSource
)

// readingFieldSpecs are the writer fields the encoder can write: the
// reading's field, its encoding and whether the writer's type must be a
// union with null (nil when the reading's value is zero).
var readingFieldSpecs = map[string]struct {
	f        readingField
	kind     flatKind
	nullable bool
}{
	"CA": {rfCA, flatString, false}, "UNIT": {rfUnit, flatString, false}, "SCP": {rfSCP, flatString, false},
	"STATION": {rfStation, flatString, false}, "LINENAME": {rfLineName, flatString, false},
	"DIVISION": {rfDivision, flatString, false}, "DATE": {rfDate, flatString, false},
	"TIME": {rfTime, flatString, false}, "DESC": {rfDesc, flatString, false},
	"ENTRIES": {rfEntries, flatLong, false}, "EXITS": {rfExits, flatLong, false},
	"ID": {rfID, flatString, false}, "TIMESTAMP": {rfTimestamp, flatString, false},
	"EVENT_TIME": {rfEventTime, flatTimestampMillis, true}, "SOURCE": {rfSource, flatString, true},
}

// readingEncField is one writer field: the reading's field and, for a
// nullable one, the union branch index of null (-1: a plain field).
type readingEncField struct {
	f    readingField
	null int
}

// newReadingEncoder returns the fields of writer record w in order, or nil
// when goavro must encode it.
func newReadingEncoder(w *avroType) []readingEncField {
	if w == nil || w.kind != "record" {
		return nil
	}
	out := make([]readingEncField, 0, len(w.fields))
	for _, f := range w.fields {
		spec, ok := readingFieldSpecs[f.name]
		if !ok {
			return nil
		}
		kind, null, ok := flatShape(f.typ)
		if !ok || kind != spec.kind || (null >= 0) != spec.nullable {
			return nil
		}
		out = append(out, readingEncField{f: spec.f, null: null})
	}
	return out
}

// appendReading appends r's Avro binary encoding with the fields of a
// reading encoder.
func appendReading(buf []byte, fields []readingEncField, r *schemas.Reading) []byte {
	for _, f := range fields {
		switch f.f {
		case rfCA:
			buf = appendAvroString(buf, r.CA)
		case rfUnit:
			buf = appendAvroString(buf, r.Unit)
		case rfSCP:
			buf = appendAvroString(buf, r.SCP)
		case rfStation:
			buf = appendAvroString(buf, r.Station)
		case rfLineName:
			buf = appendAvroString(buf, r.LineName)
		case rfDivision:
			buf = appendAvroString(buf, r.Division)
		case rfDate:
			buf = appendAvroString(buf, r.Date)
		case rfTime:
			buf = appendAvroString(buf, r.Time)
		case rfDesc:
			buf = appendAvroString(buf, r.Desc)
		case rfEntries:
			buf = binary.AppendVarint(buf, r.Entries)
		case rfExits:
			buf = binary.AppendVarint(buf, r.Exits)
		case rfID:
			buf = appendAvroString(buf, r.ID)
		case rfTimestamp:
			buf = appendAvroString(buf, r.Timestamp)
		case rfEventTime:
			if r.EventTime.IsZero() {
				buf = binary.AppendVarint(buf, int64(f.null))
			} else {
				buf = binary.AppendVarint(buf, int64(1-f.null))
				buf = binary.AppendVarint(buf, r.EventTime.UnixMilli())
			}
		case rfSource:
			if r.Source == "" {
				buf = binary.AppendVarint(buf, int64(f.null))
			} else {
				buf = binary.AppendVarint(buf, int64(1-f.null))
				buf = appendAvroString(buf, r.Source)
			}
		}
	}
	return buf
}
