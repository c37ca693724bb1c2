package systest

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/replay"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
	"github.com/turnstile-streams/turnstile/wire"
)

// TestTwoStageLayoutRefused is the upgrade from the two-stage pipeline
// (a device stage keyed by CA|UNIT|SCP feeding a station stage): a member
// started over its topics (its table values, a re-keyed reading it left
// unconsumed) refuses within seconds, naming the command to run, instead
// of mixing the two key layouts; after that command (turnstile replay
// --from earliest) a member rebuilds everything from the input as
// generation 1, exact, and the two-stage topics are gone.
func TestTwoStageLayoutRefused(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cfg := s.config(t)
	cfg.Defaults()
	adm := kadm.NewClient(s.client)
	if _, _, err := processors.EnsureTopics(ctx, adm, cfg.TopicSpecs(), 1); err != nil {
		t.Fatal(err)
	}
	leftTopics, _ := processors.TwoStageLeftovers()
	for _, topic := range leftTopics {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	// The two-stage pipeline's table values, as its encoders wrote them,
	// on the windowed stage's table; readings it had keyed by device.
	windows, _ := cfg.Topology().Stage(processors.StageWindows)
	for _, v := range twoStageValues(t) {
		if err := s.client.ProduceSync(ctx, &kgo.Record{Topic: windows.Table, Key: []byte("A002|R051|02-00-00"), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	old := &wire.Reading{T: time.Date(2024, 1, 6, 0, 1, 0, 0, time.UTC).UnixMilli()}
	old.CA, old.Unit, old.SCP, old.Station, old.LineName, old.ID = "A002", "R051", "02-00-00", "59 ST", "NQR456W", "old-1"
	if err := s.client.ProduceSync(ctx, &kgo.Record{Topic: cfg.Topics.Readings, Key: []byte(old.DeviceKey()),
		Value: wire.EncodeReading(old, nil)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	readings := synthetic(6, 9, 30)
	s.produce(t, ctx, cfg.Topics.Input, inputCodec(t, s), readings, nil)

	p, err := processors.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	err = p.Run(rctx)
	rcancel()
	var layout *processors.LayoutError
	if !errors.As(err, &layout) || !errors.Is(err, wire.ErrTwoStageLayout) || !strings.Contains(err.Error(), "turnstile replay --from earliest") {
		t.Fatalf("a member over the two-stage state: %v, want a LayoutError naming turnstile replay", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the member took %v to refuse", d)
	}
	t.Logf("refused in %v: %v", time.Since(start).Round(time.Millisecond), err)

	plan, err := replay.Prepare(ctx, replay.Config{KafkaOpts: cfg.KafkaOpts, Pipeline: cfg, From: replay.Earliest})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.LeftoverTopics) != len(leftTopics) {
		t.Errorf("leftovers found: %v, want %v", plan.LeftoverTopics, leftTopics)
	}
	if err := plan.Execute(ctx); err != nil {
		t.Fatal(err)
	}
	details, err := adm.ListTopics(ctx, leftTopics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range leftTopics {
		if d, ok := details[topic]; ok && d.Err == nil {
			t.Errorf("two-stage topic %s still exists after the replay", topic)
		}
	}

	runMember(t, ctx, cancel, cfg, nil)
	checkSinks(t, ctx, s, reference.FromSchemas(readings))
	waitDevices(t, ctx, s, func(m map[string]schemas.DeviceWindow) string {
		for k, w := range m {
			if w.Generation != 1 {
				return k + " is not of generation 1"
			}
		}
		return ""
	})
}

// twoStageValues are the table values of wire/testdata/two-stage-layout.txt.
func twoStageValues(t *testing.T) [][]byte {
	t.Helper()
	f, err := os.Open("../wire/testdata/two-stage-layout.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		b, err := hex.DecodeString(fields[len(fields)-1])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestTwoStageReadingRefused: a re-keyed reading the two-stage pipeline
// left on the readings topic (keyed CA|UNIT|SCP) is refused too, even
// when the table is empty: the stage would apply it under a key of the
// old layout.
func TestTwoStageReadingRefused(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := s.config(t)
	cfg.Defaults()
	if _, _, err := processors.EnsureTopics(ctx, kadm.NewClient(s.client), cfg.TopicSpecs(), 1); err != nil {
		t.Fatal(err)
	}
	old := &wire.Reading{T: time.Date(2024, 1, 6, 0, 1, 0, 0, time.UTC).UnixMilli()}
	old.CA, old.Unit, old.SCP, old.Station, old.LineName, old.ID = "A002", "R051", "02-00-00", "59 ST", "NQR456W", "old-1"
	if err := s.client.ProduceSync(ctx, &kgo.Record{Topic: cfg.Topics.Readings, Key: []byte(old.DeviceKey()),
		Value: wire.EncodeReading(old, nil)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p, err := processors.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var layout *processors.LayoutError
	if err := p.Run(ctx); !errors.As(err, &layout) || layout.Topic != cfg.Topics.Readings {
		t.Fatalf("a member over a two-stage reading: %v, want a LayoutError on %s", err, cfg.Topics.Readings)
	}
}
