package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/status"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

func TestStatusCommand(t *testing.T) {
	b := testenv.Broker(t, "")
	testenv.CreateTopic(t, b.Addr(), "mta-turnstile", 2, nil)
	testenv.CreateTopic(t, b.Addr(), "mta-turnstile-dlq", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 5; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "mta-turnstile", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "mta-turnstile-dlq", Value: []byte("bad")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TURNSTILE_BROKERS": b.Addr()}

	// Nothing ran yet: every group is absent, so --wait returns at once.
	out, _, err := runCLI(t, ctx, env, "status", "--json", "--wait", "--interval", "100ms", "--timeout", "20s")
	if err != nil {
		t.Fatalf("status --wait with no groups: %v", err)
	}
	var rep status.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	g, ok := rep.Group("turnstile-ingest")
	if !ok || !g.Absent || g.Lag != 5 || rep.DeadLettered != 1 {
		t.Errorf("ingest %+v, dead-lettered %d", g, rep.DeadLettered)
	}
	if w := rep.Watermarks; w == nil || w.Sources == nil || len(w.Sources.Partitions) != 2 || w.Sources.Partitions[1].Unknown != "no owner" {
		t.Errorf("watermarks %+v", w)
	} else if len(w.Groups) != 1 || w.Groups[0].Group != "turnstile-windows" {
		t.Errorf("windowed groups %+v", w.Groups)
	}

	// The ingest group committed 2 records: it lags by 3, and --wait gives
	// up at the timeout.
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "mta-turnstile", Partition: 0, At: 0})
	offs.Add(kadm.Offset{Topic: "mta-turnstile", Partition: 1, At: 0})
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "mta-turnstile")
	if err != nil {
		t.Fatal(err)
	}
	left := int64(2)
	ends.Each(func(o kadm.ListedOffset) {
		at := min(o.Offset, left)
		left -= at
		offs.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: at})
	})
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, "turnstile-ingest", offs); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, ctx, env, "status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "lag 3") || !strings.Contains(out, "dead-lettered 1") {
		t.Errorf("text status:\n%s", out)
	}
	// Nobody owns the input partitions: their watermarks are unknown; the
	// windowed groups' inputs do not exist yet.
	if !strings.Contains(out, "turnstile-ingest  p0-p1 unknown (no owner)") || !strings.Contains(out, "WATERMARK ") {
		t.Errorf("text status has no watermarks:\n%s", out)
	}
	out, _, err = runCLI(t, ctx, env, "status", "--watermarks=false")
	if err != nil || strings.Contains(out, "WATERMARK") {
		t.Errorf("status --watermarks=false: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, ctx, env, "status", "--wait", "--interval", "100ms", "--timeout", "1s"); err == nil {
		t.Error("status --wait returned while the ingest group lagged")
	}
}
