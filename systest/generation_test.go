package systest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestGenerationGraceOverridesFlag records a generation on the generations
// topic before a member starts and checks, on the device sink, which grace
// the running member closes windows with: a window is published once
// stream time reaches its END plus the grace in force, and not before. The
// flag's grace is 1 minute; the recorded generation's 20 minutes. The
// recorded grace applies only to the generation it was recorded for.
func TestGenerationGraceOverridesFlag(t *testing.T) {
	const flagGrace, recordedGrace = time.Minute, 20 * time.Minute
	cases := []struct {
		name string
		// record, if set, is written to the generations topic before the
		// member starts; generation is the member's configured one.
		record     *processors.Generation
		generation int32
		wantGrace  time.Duration
		wantGen    int32
	}{
		{name: "no generation recorded: the flag", wantGrace: flagGrace},
		{name: "recorded grace", record: &processors.Generation{Number: 1, From: "earliest", GraceMs: recordedGrace.Milliseconds()},
			wantGrace: recordedGrace, wantGen: 1},
		{name: "recorded for an older generation: the flag", record: &processors.Generation{Number: 1, From: "earliest", GraceMs: recordedGrace.Milliseconds()},
			generation: 2, wantGrace: flagGrace, wantGen: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cfg := s.config(t)
			cfg.Grace = flagGrace
			cfg.Generation = tc.generation
			// Stream time moves only with the readings: no idle advance
			// to the wall clock, which would close every window.
			cfg.IdleTimeout = 0
			topics := processors.DefaultTopics()
			// One input partition: the readings reach their device in the
			// order produced (Run keeps a topic that exists).
			testenv.CreateTopic(t, s.brokers[0], topics.Input, 1, nil)
			if tc.record != nil {
				recordGeneration(t, ctx, s, cfg, *tc.record)
			}
			runMember(t, ctx, cancel, cfg, nil)

			inCodec := inputCodec(t, s)
			devCodec, err := codecs.NewDeviceWindowCodec(codecs.Config{Client: s.registry, Subject: schemas.Subject(topics.DeviceWindows)})
			if err != nil {
				t.Fatal(err)
			}
			// One device (one partition, one stream time). Windows start
			// at 08:00, 08:15 and 08:25; stream time goes to 08:15, then
			// to 08:26. With 1 minute of grace the 08:00 window closes at
			// 08:06 and the 08:15 one at 08:21; with 20 minutes at 08:25
			// and 08:40.
			base := time.Date(2024, 1, 6, 8, 0, 0, 0, time.UTC)
			reading := func(i int, at time.Duration, entries int64) schemas.Reading {
				r := schemas.Reading{CA: "G001", Unit: "R001", SCP: "00-00-01", Station: "GRACE", LineName: "7", Division: "IRT",
					Desc: "REGULAR", Entries: entries, Exits: entries / 2, ID: fmt.Sprintf("grace-%d", i)}
				r.SetTimes(base.Add(at))
				return r
			}
			var produced []schemas.Reading
			for _, step := range []struct {
				readings []schemas.Reading
			}{
				{[]schemas.Reading{reading(0, 30*time.Second, 1000), reading(1, 3*time.Minute, 1040), reading(2, 15*time.Minute, 1100)}},
				{[]schemas.Reading{reading(3, 26*time.Minute, 1190)}},
			} {
				s.produce(t, ctx, topics.Input, inCodec, step.readings, nil)
				produced = append(produced, step.readings...)
				streamTime := step.readings[len(step.readings)-1]
				st, err := streamTime.ParseEventTime()
				if err != nil {
					t.Fatal(err)
				}
				// The windows the reference has whose END + grace stream
				// time has reached: exactly those are published.
				want := map[reference.DeviceKey]reference.Row{}
				for k, row := range reference.Devices(refParams, reference.FromSchemas(produced)) {
					if end := time.UnixMilli(k.Start).Add(cfg.Window); !end.Add(tc.wantGrace).After(st) {
						want[k] = row
					}
				}
				// Everything produced has gone through ingest, the windows
				// group and its relay before the sink is read, so what is
				// not on it by then was not closed.
				waitCaughtUp(t, ctx, kadm.NewClient(s.client))
				// ReadN fails the test if more than the expected windows
				// are published within 2 s.
				got := map[string]schemas.DeviceWindow{}
				for _, r := range testenv.ReadN(t, ctx, s.brokers, topics.DeviceWindows, len(want), 2*time.Second) {
					w, err := devCodec.Unmarshal(r.Value)
					if err != nil {
						t.Fatal(err)
					}
					if w.Generation != tc.wantGen {
						t.Errorf("%s published by generation %d, want %d", r.Key, w.Generation, tc.wantGen)
					}
					got[string(r.Key)] = w
				}
				if d := reference.DiffDevices(got, want) + extraDevices(got, want); d != "" {
					t.Fatalf("stream time %s, grace %v:\n%s", st.Format("15:04:05"), tc.wantGrace, d)
				}
				if t.Failed() {
					t.FailNow()
				}
				t.Logf("stream time %s: %d windows published", st.Format("15:04:05"), len(got))
			}
		})
	}
}

// recordGeneration creates the pipeline's topics and writes g to the
// generations topic, as turnstile replay does.
func recordGeneration(t *testing.T, ctx context.Context, s *stack, cfg processors.Config, g processors.Generation) {
	t.Helper()
	cfg.Defaults()
	if _, _, err := processors.EnsureTopics(ctx, kadm.NewClient(s.client), cfg.TopicSpecs(), 1); err != nil {
		t.Fatal(err)
	}
	g.StartedAt = time.Now().UTC()
	v, err := processors.EncodeGeneration(g)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client.ProduceSync(ctx, &kgo.Record{Topic: cfg.Topics.Generations, Key: []byte(processors.GenerationKey), Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
