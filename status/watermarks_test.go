package status_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/status"
	"github.com/turnstile-streams/turnstile/testsupport/membertest"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestPipelineWatermarks runs one member of the whole pipeline with its
// HTTP server, as turnstile process does, feeds it readings, and checks
// that the report has, once the data went through, a watermark for every
// partition of both windowed groups and a source watermark for every
// input partition, found through the member's advertised address.
func TestPipelineWatermarks(t *testing.T) {
	brokers, sr, cl := testenv.Stack(t)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := membertest.Config(t, brokers, sr, 2)
	cfg.TickInterval = 100 * time.Millisecond
	self := membertest.Start(t, ctx, cfg, membertest.Options{}).URL

	// Readings of 4 devices at two stations, every 4 minutes.
	codec, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: sr,
		Subject: schemas.Subject(schemas.DefaultInputTopic)}, WriterVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	var newest time.Time
	for i := 0; i < 6; i++ {
		for d := 0; d < 4; d++ {
			r := schemas.Reading{CA: fmt.Sprintf("A%03d", d%2), Unit: fmt.Sprintf("R%03d", d%2), SCP: fmt.Sprintf("02-00-%02d", d),
				Station: fmt.Sprintf("STATION %d", d%2), LineName: "NQR", Division: "BMT", Desc: "REGULAR",
				Entries: int64(1000*d + 17*i), Exits: int64(500*d + 5*i), ID: fmt.Sprintf("id-%d-%d", d, i)}
			at := base.Add(time.Duration(i) * 4 * time.Minute)
			newest = at
			r.SetTimes(at)
			b, err := codec.EncodeReading(&r)
			if err != nil {
				t.Fatal(err)
			}
			cl.Produce(ctx, &kgo.Record{Topic: schemas.DefaultInputTopic, Key: []byte(r.ID), Value: b}, nil)
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	scfg := status.ForPipeline(cfg, "")
	groups := processors.DefaultGroups()
	var (
		rep  *status.Report
		last string
	)
	for ctx.Err() == nil {
		if last = func() string {
			var err error
			if rep, err = status.Collect(ctx, adm, scfg); err != nil {
				return err.Error()
			}
			if rep.Watermarks, err = status.CollectWatermarks(ctx, adm, scfg, 0); err != nil {
				return err.Error()
			}
			for _, g := range []string{groups.Windows} {
				gw, ok := rep.Watermarks.Group(g)
				if !ok || len(gw.Partitions) != cfg.Partitions {
					return fmt.Sprintf("%s: %+v", g, gw)
				}
				for _, p := range gw.Partitions {
					if p.Unknown != "" || p.Watermark == nil || p.Owner != self {
						return fmt.Sprintf("%s: %+v", g, p)
					}
					if p.Watermark.Before(base) || p.Watermark.After(time.Now()) {
						return fmt.Sprintf("%s p%d: watermark %v, the readings are from %v to %v", g, p.Partition, p.Watermark, base, newest)
					}
				}
				if _, ok := gw.Least(); !ok {
					return g + ": no least partition"
				}
			}
			src := rep.Watermarks.Sources
			if src == nil || len(src.Partitions) != cfg.Partitions {
				return fmt.Sprintf("sources: %+v", src)
			}
			for _, p := range src.Partitions {
				if p.Unknown != "" || p.Watermark == nil || p.Watermark.After(newest) || p.Watermark.Before(base) {
					return fmt.Sprintf("source %+v", p)
				}
			}
			return ""
		}(); last == "" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if last != "" {
		t.Fatalf("no watermarks: %s", last)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", text.String())
	if n := strings.Count(text.String(), "<- least"); n < 2 {
		t.Errorf("%d partitions marked least, want one per windowed group:\n%s", n, text.String())
	}
}
