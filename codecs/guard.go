package codecs

import (
	"errors"
	"fmt"
)

// goavro sizes arrays and maps from the block count in the data before
// reading any item (make([]any, 0, count), with counts up to MaxInt32), so a
// payload of a few bytes written against a schema with an array or a map can
// make it allocate gigabytes. For writer schemas with arrays or maps the
// decoder first walks the payload with this guard, which checks every length
// and count against the bytes that remain, and only then hands it to goavro.
// Schemas without collections (the pipeline's own) skip the walk.

var errShort = errors.New("short buffer")

// maxZeroSizeItems bounds the count of a block whose items take no bytes
// (nulls, empty records), which the remaining length cannot bound.
const maxZeroSizeItems = 4096

// hasCollections reports whether t contains an array or a map.
func hasCollections(t *avroType) bool {
	return walkTypes(t, map[*avroType]bool{}, func(x *avroType) bool { return x.kind == "array" || x.kind == "map" })
}

func walkTypes(t *avroType, seen map[*avroType]bool, f func(*avroType) bool) bool {
	if t == nil || seen[t] {
		return false
	}
	seen[t] = true
	if f(t) {
		return true
	}
	for _, b := range t.branches {
		if walkTypes(b, seen, f) {
			return true
		}
	}
	for _, fl := range t.fields {
		if walkTypes(fl.typ, seen, f) {
			return true
		}
	}
	return walkTypes(t.items, seen, f)
}

// minSize is the fewest bytes a value of t can take.
func minSize(t *avroType, visiting map[*avroType]bool) int {
	switch t.kind {
	case "null":
		return 0
	case "float":
		return 4
	case "double":
		return 8
	case "fixed":
		return t.size
	case "record":
		if visiting[t] {
			return 0
		}
		visiting[t] = true
		n := 0
		for _, f := range t.fields {
			n += minSize(f.typ, visiting)
		}
		delete(visiting, t)
		return n
	default: // boolean, int, long, bytes, string, enum, union, array, map, decimal
		return 1
	}
}

func readVarint(b []byte) (int64, []byte, error) {
	var v uint64
	var shift uint
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			return int64(v>>1) ^ -int64(v&1), b[i+1:], nil
		}
		shift += 7
	}
	if len(b) < 10 {
		return 0, nil, errShort
	}
	return 0, nil, errors.New("varint longer than 10 bytes")
}

// guard walks one value of type t at the start of b and returns the rest.
func guard(t *avroType, b []byte, depth int) ([]byte, error) {
	if depth > 256 {
		return nil, errors.New("value nested too deeply")
	}
	switch t.kind {
	case "null":
		return b, nil
	case "boolean":
		if len(b) < 1 {
			return nil, errShort
		}
		return b[1:], nil
	case "int", "long", "enum":
		_, rest, err := readVarint(b)
		return rest, err
	case "float", "double", "fixed":
		n := minSize(t, nil)
		if len(b) < n {
			return nil, errShort
		}
		return b[n:], nil
	case "bytes", "string", "decimal":
		n, rest, err := readVarint(b)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, fmt.Errorf("negative length %d", n)
		}
		if n > int64(len(rest)) {
			return nil, errShort
		}
		return rest[n:], nil
	case "union":
		i, rest, err := readVarint(b)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(t.branches)) {
			return nil, fmt.Errorf("union index %d out of range", i)
		}
		return guard(t.branches[i], rest, depth+1)
	case "record":
		var err error
		for _, f := range t.fields {
			if b, err = guard(f.typ, b, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case "array", "map":
		item := minSize(t.items, map[*avroType]bool{})
		if t.kind == "map" {
			item++ // the key's length
		}
		for {
			n, rest, err := readVarint(b)
			if err != nil {
				return nil, err
			}
			b = rest
			if n == 0 {
				return b, nil
			}
			if n < 0 {
				if n == -n { // MinInt64
					return nil, fmt.Errorf("invalid block count %d", n)
				}
				n = -n
				if _, b, err = readVarint(b); err != nil { // block size in bytes
					return nil, err
				}
			}
			switch {
			case item > 0 && n > int64(len(b)/item):
				return nil, fmt.Errorf("%s block of %d items cannot fit in %d bytes: %w", t.kind, n, len(b), errShort)
			case item == 0 && n > maxZeroSizeItems:
				return nil, fmt.Errorf("%s block of %d empty items exceeds %d", t.kind, n, maxZeroSizeItems)
			}
			for j := int64(0); j < n; j++ {
				if t.kind == "map" {
					if b, err = guard(&avroType{kind: "string"}, b, depth+1); err != nil {
						return nil, err
					}
				}
				if b, err = guard(t.items, b, depth+1); err != nil {
					return nil, err
				}
			}
		}
	default:
		return nil, fmt.Errorf("cannot walk type %s", t.kind)
	}
}
