package state_test

import (
	"bytes"
	"context"
	"errors"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestKafkaChangelog checks the kadm-based ChangelogInfo against the
// embedded broker: ids are reported, the end offset follows the records,
// a recreated topic gets a new id, and a missing topic is ErrTopicNotFound.
func TestKafkaChangelog(t *testing.T) {
	b := testenv.Broker(t, "")
	testenv.CreateTopic(t, b.Addr(), "tbl", 2, nil)
	cl, err := state.NewKafkaChangelog(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	first, err := cl.Describe(ctx, "tbl", 1)
	if err != nil {
		t.Fatal(err)
	}
	if first.ClusterID == "" || first.TopicID == "" || first.EndOffset != 0 {
		t.Fatalf("fresh topic: %+v", first)
	}
	produce(t, b.Addr(), "tbl", 0, 10, 1) // one key: one partition gets all
	var total int64
	for p := int32(0); p < 2; p++ {
		s, err := cl.Describe(ctx, "tbl", p)
		if err != nil {
			t.Fatal(err)
		}
		if s.ClusterID != first.ClusterID || s.TopicID != first.TopicID {
			t.Fatalf("partition %d: %+v, want ids of %+v", p, s, first)
		}
		total += s.EndOffset
	}
	if total != 10 {
		t.Fatalf("end offsets sum to %d, want 10", total)
	}

	for _, tc := range []struct {
		topic string
		part  int32
	}{{"missing", 0}, {"tbl", 7}} {
		if _, err := cl.Describe(ctx, tc.topic, tc.part); !errors.Is(err, state.ErrTopicNotFound) {
			t.Fatalf("%s/%d: %v, want ErrTopicNotFound", tc.topic, tc.part, err)
		}
	}

	adm := newAdmin(t, b.Addr())
	if _, err := adm.DeleteTopic(ctx, "tbl"); err != nil {
		t.Fatal(err)
	}
	testenv.CreateTopic(t, b.Addr(), "tbl", 2, nil)
	again, err := cl.Describe(ctx, "tbl", 0)
	if err != nil {
		t.Fatal(err)
	}
	if again.TopicID == first.TopicID || again.EndOffset != 0 {
		t.Fatalf("recreated topic: %+v, was %+v", again, first)
	}
}

// TestPebbleLogsGoToSlog replays a WAL (Pebble logs that) and checks the
// line reached our logger and nothing reached the standard log package,
// Pebble's default.
func TestPebbleLogsGoToSlog(t *testing.T) {
	var std bytes.Buffer
	prev := log.Writer()
	log.SetOutput(&std)
	defer log.SetOutput(prev)

	logger, logs := newInfoRecorder(t)
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		st := openStore(t, state.Options{Dir: dir, Logger: logger}, "t", 0)
		if err := st.MarkRecovered(); err != nil {
			t.Fatal(err)
		}
		if err := st.Set("k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if std.Len() != 0 {
		t.Fatalf("pebble wrote to the standard logger: %q", std.String())
	}
	if !strings.Contains(logs(), "replayed") {
		t.Fatalf("pebble's WAL replay line did not reach slog; got:\n%s", logs())
	}
}
