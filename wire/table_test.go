package wire

import (
	"errors"
	"reflect"
	"testing"

	"github.com/turnstile-streams/turnstile/windows"
)

// TestTableCodec: the table codec tells the two value kinds apart by
// their tag and refuses an unknown one.
func TestTableCodec(t *testing.T) {
	for _, v := range []any{windows.NewDevice(), NewPartitionMeta(2)} {
		b, err := TableCodec{}.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := TableCodec{}.Decode(b)
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Fatalf("%T: %#v %v", v, got, err)
		}
	}
	for _, b := range [][]byte{nil, {42, 1}, {3, 1, 0}} {
		if _, err := (TableCodec{}).Decode(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v decoded: %v", b, err)
		}
	}
	if _, err := (TableCodec{}).Encode("x"); err == nil {
		t.Fatal("a string encoded")
	}
}
