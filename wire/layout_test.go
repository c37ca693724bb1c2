package wire

import (
	"bufio"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/turnstile-streams/turnstile/windows"
)

// TestCheckLayout: values of this version pass; values the two-stage
// pipeline wrote (testdata/two-stage-layout.txt, written by its encoders)
// are ErrTwoStageLayout and decode as nothing else; anything else is
// ErrCorrupt.
func TestCheckLayout(t *testing.T) {
	for _, v := range [][]byte{nil, EncodeDevice(windows.NewDevice(), nil), EncodeMeta(NewPartitionMeta(6))} {
		if err := CheckLayout(v); err != nil {
			t.Fatalf("this version's value %x: %v", v, err)
		}
	}
	f, err := os.Open("testdata/two-stage-layout.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		fields := strings.Fields(line)
		b, err := hex.DecodeString(fields[len(fields)-1])
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckLayout(b); !errors.Is(err, ErrTwoStageLayout) {
			t.Errorf("%s: CheckLayout = %v, want ErrTwoStageLayout", strings.Join(fields[:2], " "), err)
		}
		if _, err := (TableCodec{}).Decode(b); err == nil {
			t.Errorf("%s: decoded as this version's", strings.Join(fields[:2], " "))
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d old values in testdata, want 3", n)
	}
	for _, b := range [][]byte{{TagDevice}, {42, 1}, {TagDevice, 9}} {
		if err := CheckLayout(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("CheckLayout(%x) = %v, want ErrCorrupt", b, err)
		}
	}
}
