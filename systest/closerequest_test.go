package systest

import (
	"context"
	"encoding/binary"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
)

// TestCloseBeyondWatermarkIsClamped: a close request on the loopback topic
// that carries a watermark the receiving partition never reached (as one sent
// by a previous owner whose watermark write did not become durable) must not
// close the device's windows early. On the old rule the device closed through
// the request, pruned its readings, and its later readings passed the late
// check but were dropped as expired: its windows were never published and
// nothing went to the late topic. Since device partitions close inside their
// watermark writes, a device close request on the loopback (only the loopback
// design wrote them) changes nothing at all; this keeps that true.
func TestCloseBeyondWatermarkIsClamped(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cfg := s.config(t)
	log, logs := newLogCapture(t)
	cfg.Logger = log
	runMember(t, ctx, cancel, cfg, nil)

	codec := inputCodec(t, s)
	readings := synthetic(11, 12, 30)
	sort.SliceStable(readings, func(i, j int) bool { return readings[i].Timestamp < readings[j].Timestamp })
	first, rest := readings[:len(readings)/2], readings[len(readings)/2:]
	topics := processors.DefaultTopics()
	s.produce(t, ctx, topics.Input, codec, first, nil)
	waitDevices(t, ctx, s, func(m map[string]schemas.DeviceWindow) string {
		if len(m) < 20 {
			return "waiting for the first windows"
		}
		return ""
	})

	// A close for one device, ten hours past everything it will ever see.
	dev := first[0].DeviceKey()
	last, _ := readings[len(readings)-1].ParseEventTime()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	loop := processors.DefaultGroups().Windows + "-loop"
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: loop, Partition: schemas.Partition(dev, cfg.Partitions), Key: []byte(dev),
		Value: legacyClose(last.Add(10 * time.Hour).UnixMilli())}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	s.produce(t, ctx, topics.Input, codec, rest, nil)
	checkSinks(t, ctx, s, reference.FromSchemas(readings))
	if n := endOffset(t, ctx, s, topics.Late); n != 0 {
		t.Errorf("%d readings on the late topic; none is late", n)
	}
	if restarts := logs.matching("restarting"); len(restarts) > 0 {
		t.Errorf("a stage stopped on the close request (no longer readable?):\n%s", strings.Join(restarts, "\n"))
	}
}

// legacyClose is a close request as the loopback design wrote it to a
// windowed group's loop topic (wire.LoopCodec, layout 1): tag 20,
// the layout version, then the watermark it closes through, twice, as
// varints (the second was once the data time). One written by an older
// member may still wait on the topic after an upgrade, so members read it,
// and a device partition ignores it. It is built here, not by package
// wire, because it stands for what an older member wrote; a member
// that could no longer decode it would stop its stage on it, which the
// test sees as a restart.
func legacyClose(through int64) []byte {
	b := binary.AppendVarint([]byte{20, 1}, through)
	return binary.AppendVarint(b, through)
}
