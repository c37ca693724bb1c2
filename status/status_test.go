package status_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/status"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

func commit(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string, at map[int32]int64) {
	t.Helper()
	var offs kadm.Offsets
	for p, o := range at {
		offs.Add(kadm.Offset{Topic: topic, Partition: p, At: o})
	}
	resp, err := adm.CommitOffsets(ctx, group, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestCollectAndWait checks lag, counts and Wait against the embedded
// broker: records are spread over partitions, one group commits in steps,
// and Wait returns only once it has committed everything.
func TestCollectAndWait(t *testing.T) {
	b := testenv.Broker(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topics := schemas.DefaultTopics()
	for _, tp := range []string{topics.Input, topics.DeadLetters, topics.Late} {
		testenv.CreateTopic(t, b.Addr(), tp, 2, nil)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	produce := func(topic string, p int32, n int) {
		for i := 0; i < n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(topics.Input, 0, 6)
	produce(topics.Input, 1, 4)
	produce(topics.DeadLetters, 1, 3)
	produce(topics.Late, 0, 1)

	cfg := status.Config{Groups: []processors.ConsumerGroup{{Group: "g", Topics: []string{topics.Input}}, {Group: "never", Topics: []string{topics.Input}}},
		Topics: topics}
	tests := []struct {
		name     string
		commit   map[int32]int64
		wantLag  int64
		caughtUp bool
	}{
		{"partly committed, partition 1 never", map[int32]int64{0: 2}, 4 + 4, false},
		{"both partitions", map[int32]int64{0: 6, 1: 1}, 3, false},
		{"everything", map[int32]int64{1: 4}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			commit(t, ctx, adm, "g", topics.Input, tt.commit)
			rep, err := status.Collect(ctx, adm, cfg)
			if err != nil {
				t.Fatal(err)
			}
			g, _ := rep.Group("g")
			never, _ := rep.Group("never")
			if g.Lag != tt.wantLag || g.Absent || rep.CaughtUp() != tt.caughtUp {
				t.Errorf("lag %d absent %v caught up %v, want %d false %v", g.Lag, g.Absent, rep.CaughtUp(), tt.wantLag, tt.caughtUp)
			}
			if !never.Absent || never.Lag != 10 {
				t.Errorf("never-run group: %+v", never)
			}
			if rep.DeadLettered != 3 || rep.Late != 1 {
				t.Errorf("dead-lettered %d, late %d; want 3, 1", rep.DeadLettered, rep.Late)
			}
			var text bytes.Buffer
			if err := rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "dead-lettered 3") || !strings.Contains(text.String(), "never ran") {
				t.Errorf("text report:\n%s", text.String())
			}
		})
	}

	t.Run("wait", func(t *testing.T) {
		produce(topics.Input, 0, 5) // g is behind again
		var progress bytes.Buffer
		done := make(chan *status.Report, 1)
		seen := make(chan struct{}, 1)
		go func() {
			rep, err := status.Wait(ctx, adm, status.WaitConfig{Config: cfg, Interval: 100 * time.Millisecond, Progress: &progress,
				OnReport: func(*status.Report) {
					select {
					case seen <- struct{}{}:
					default:
					}
				}})
			if err != nil {
				t.Error(err)
			}
			done <- rep
		}()
		<-seen
		select {
		case <-done:
			t.Fatal("Wait returned while the group lagged")
		case <-time.After(500 * time.Millisecond):
		}
		commit(t, ctx, adm, "g", topics.Input, map[int32]int64{0: 11})
		rep := <-done
		if rep == nil || !rep.CaughtUp() {
			t.Fatalf("Wait returned %+v", rep)
		}
		if !strings.Contains(progress.String(), "caught up") {
			t.Errorf("progress: %q", progress.String())
		}
	})
}

func TestLiveFormat(t *testing.T) {
	topics := processors.DefaultTopics()
	snap := func(in, rejected, first, corr float64) processors.Snapshot {
		return processors.Snapshot{In: map[string]float64{processors.StageIngest: in}, Rejected: rejected,
			Published: map[string]map[string]float64{topics.DeviceWindows: {"first": first, "correction": corr}},
			OpenKeys:  map[string]float64{"turnstile-windows": 7}}
	}
	l := &status.Live{Config: status.Config{Topics: topics.Topics}}
	rep := &status.Report{Groups: []status.Group{{Group: "turnstile-ingest", Lag: 12}, {Group: "turnstile-lake", Absent: true}}}
	at := time.Date(2024, 1, 6, 12, 0, 5, 0, time.UTC)
	tests := []struct {
		name      string
		rep       *status.Report
		lakeFiles int64
		want      []string
		notWant   []string
	}{
		{"with lake and kafka", rep, 4, []string{"12:00:05", "ingest 50", "readings 49", "device windows 2",
			"turnstile-ingest 12", "turnstile-lake -", "turnstile-windows 7", "device 30 (+2 corrected)", "dead-lettered 20", "lake files 4"}, nil},
		{"no lake, kafka down", nil, -1, []string{"lag  unavailable"}, []string{"lake files"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := l.Format(snap(100, 10, 15, 1), snap(600, 20, 30, 2), 10*time.Second, tt.rep, tt.lakeFiles, at)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("unexpected %q in:\n%s", w, got)
				}
			}
		})
	}
}

// TestLiveShow: with Show set, Live hands it a first block at once and
// then every Interval's block, and writes nothing to Out.
func TestLiveShow(t *testing.T) {
	var out bytes.Buffer
	blocks := make(chan string, 16)
	l := &status.Live{Out: &out, Interval: 20 * time.Millisecond, Show: func(b string) { blocks <- b },
		Metrics: func() processors.Snapshot { return processors.Snapshot{} }, LakeFiles: func() int64 { return 3 }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var got []string
	for len(got) < 3 {
		select {
		case b := <-blocks:
			got = append(got, b)
		case <-time.After(5 * time.Second):
			t.Fatalf("blocks shown: %q", got)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got[0], "starting: the first rates in 20ms") {
		t.Errorf("first block %q", got[0])
	}
	for _, b := range got[1:] {
		if !strings.Contains(b, "in/s") || !strings.Contains(b, "lake files 3") {
			t.Errorf("block %q", b)
		}
	}
	if out.Len() > 0 {
		t.Errorf("wrote to Out: %q", out.String())
	}
}

// TestCaughtUpNeedsKnownLag: a partition whose lag is unknown (its offsets
// could not be listed) keeps its group from being caught up, even at lag 0.
func TestCaughtUpNeedsKnownLag(t *testing.T) {
	for _, tt := range []struct {
		name string
		g    status.Group
		want bool
	}{
		{"lag 0, all known", status.Group{Group: "g"}, true},
		{"lag 0, a partition unknown", status.Group{Group: "g", Unknown: 1}, false},
		{"absent, a partition unknown", status.Group{Group: "g", Unknown: 1, Absent: true}, true},
		{"lagging", status.Group{Group: "g", Lag: 1}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &status.Report{Groups: []status.Group{tt.g}}
			if got := r.CaughtUp(); got != tt.want {
				t.Errorf("caught up %v, want %v", got, tt.want)
			}
		})
	}
}
