package processors

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/wire"
)

// TestMarksOnlyWhenClosedAdvances: the device relay passes a partition's
// closed watermark on to every station partition only from the metadata
// write that advanced it (after the closes it covers); the other metadata
// writes (source marks, idle advances) carry no mark.
func TestMarksOnlyWhenClosedAdvances(t *testing.T) {
	p := &publisher{topics: DefaultTopics(), stationCtrl: []string{"ctrl-0", "ctrl-1", "ctrl-2"}}
	translate := p.devices("turnstile-windows")
	for _, tc := range []struct {
		name  string
		meta  wire.PartitionMeta
		marks int
	}{
		{"closed advanced", wire.PartitionMeta{StreamTime: 100, HasTime: true, Closed: 90, HasClosed: true, Mark: true}, 3},
		{"watermark advanced", wire.PartitionMeta{StreamTime: 200, HasTime: true, Closed: 90, HasClosed: true}, 0},
		{"nothing closed yet", wire.PartitionMeta{StreamTime: 200, HasTime: true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outs, err := translate(&kgo.Record{Key: []byte("ctrl"), Partition: 4, Value: wire.EncodeMeta(&tc.meta)})
			if err != nil || len(outs) != tc.marks {
				t.Fatalf("got %d records, %v; want %d marks", len(outs), err, tc.marks)
			}
			for i, o := range outs {
				m, err := wire.DecodeMark(o.Value)
				if err != nil || o.Topic != p.topics.StationUpdates || string(o.Key) != p.stationCtrl[i] || *m != (wire.Mark{Source: 4, Time: 90, HasTime: true}) {
					t.Errorf("mark %d: %s %q %+v %v", i, o.Topic, o.Key, m, err)
				}
			}
		})
	}
}
