package processors

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPendingHead checks that what the relays decode of a changelog value
// (the outbox and the identity strings after it) agrees with the full
// decoders, and which records have nothing to publish.
func TestPendingHead(t *testing.T) {
	rows := []windowRow{{Start: 60_000, End: 360_000, Rev: 2, Gen: 1, Entries: 7, Exits: 3, Desc: "REGULAR", EmittedAt: 99}}
	dev := newDeviceState()
	dev.Station, dev.Line, dev.Division = "59 ST", "NQR456W", "BMT"
	dev.Readings = []devReading{{T: 60_000, Entries: 10, Exits: 5, ID: 1, Desc: "REGULAR"}}
	devOut := *dev
	devOut.Outbox = outbox{Windows: rows, Late: [][]byte{[]byte("late")}}
	st := newStationState()
	st.Division = "IRT"
	stOut := *st
	stOut.Outbox = outbox{Windows: rows}
	truncated := encodeDevice(&devOut, nil)
	truncated = truncated[:len(truncated)-len(dev.Division)-40]

	for _, tc := range []struct {
		name    string
		value   []byte
		want    byte
		ok      bool
		strings [3]string
		corrupt bool
	}{
		{name: "device with outbox", value: encodeDevice(&devOut, nil), want: tagDevice, ok: true, strings: [3]string{"59 ST", "NQR456W", "BMT"}},
		{name: "device without outbox", value: encodeDevice(dev, nil), want: tagDevice},
		{name: "station with outbox", value: encodeStation(&stOut, nil), want: tagStation, ok: true, strings: [3]string{"IRT"}},
		{name: "station without outbox", value: encodeStation(st, nil), want: tagStation},
		{name: "partition metadata", value: encodeMeta(&partitionMeta{StreamTime: 5}), want: tagDevice},
		{name: "tombstone", value: nil, want: tagStation},
		{name: "station value in the device table", value: encodeStation(&stOut, nil), want: tagDevice, corrupt: true},
		{name: "one byte", value: []byte{tagDevice}, want: tagDevice, corrupt: true},
		{name: "truncated identity", value: truncated, want: tagDevice, corrupt: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, ok, err := pendingHead(&kgo.Record{Value: tc.value}, tc.want)
			if tc.corrupt {
				if !errors.Is(err, errCorrupt) {
					t.Fatalf("err = %v, want errCorrupt", err)
				}
				return
			}
			if err != nil || ok != tc.ok {
				t.Fatalf("ok, err = %v, %v; want %v, nil", ok, err, tc.ok)
			}
			if !ok {
				return
			}
			if h.strings != tc.strings {
				t.Errorf("strings = %q, want %q", h.strings, tc.strings)
			}
			v, err := tableCodec{}.Decode(tc.value)
			if err != nil {
				t.Fatal(err)
			}
			var full outbox
			switch s := v.(type) {
			case *deviceState:
				full = s.Outbox
			case *stationState:
				full = s.Outbox
			}
			if len(h.outbox.Windows) != len(full.Windows) || h.outbox.Windows[0] != full.Windows[0] || len(h.outbox.Late) != len(full.Late) {
				t.Errorf("outbox = %+v, the full decode has %+v", h.outbox, full)
			}
		})
	}
}

// TestMarksOnlyWhenClosedAdvances: the device relay passes a partition's
// closed watermark on to every station partition only from the metadata
// write that advanced it (after the closes it covers); the other metadata
// writes (source marks, idle advances) carry no mark.
func TestMarksOnlyWhenClosedAdvances(t *testing.T) {
	p := &publisher{topics: DefaultTopics(), stationCtrl: []string{"ctrl-0", "ctrl-1", "ctrl-2"}}
	translate := p.devices("turnstile-windows")
	for _, tc := range []struct {
		name  string
		meta  partitionMeta
		marks int
	}{
		{"closed advanced", partitionMeta{StreamTime: 100, HasTime: true, Closed: 90, HasClosed: true, Mark: true}, 3},
		{"watermark advanced", partitionMeta{StreamTime: 200, HasTime: true, Closed: 90, HasClosed: true}, 0},
		{"nothing closed yet", partitionMeta{StreamTime: 200, HasTime: true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outs, err := translate(&kgo.Record{Key: []byte("ctrl"), Partition: 4, Value: encodeMeta(&tc.meta)})
			if err != nil || len(outs) != tc.marks {
				t.Fatalf("got %d records, %v; want %d marks", len(outs), err, tc.marks)
			}
			for i, o := range outs {
				m, err := decodeMark(o.Value)
				if err != nil || o.Topic != p.topics.StationUpdates || string(o.Key) != p.stationCtrl[i] || *m != (markMsg{Source: 4, Time: 90, HasTime: true}) {
					t.Errorf("mark %d: %s %q %+v %v", i, o.Topic, o.Key, m, err)
				}
			}
		})
	}
}
