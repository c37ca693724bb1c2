package systest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
)

// TestDeclaredEndClosesAtOnce: with an idle timeout of five minutes, input
// whose end its producer declared (the offsets after its records,
// committed to schemas.InputEndGroup, as turnstile produce does) has its
// last windows closed as soon as the member has read it, well inside the
// test's one minute; without the declaration they would wait the five.
func TestDeclaredEndClosesAtOnce(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := s.config(t)
	cfg.IdleTimeout = 5 * time.Minute
	runMember(t, ctx, cancel, cfg, nil)

	topics := processors.DefaultTopics()
	readings := synthetic(2, 12, 30)
	s.produce(t, ctx, topics.Input, inputCodec(t, s), readings, nil)
	adm := kadm.NewClient(s.client)
	ends, err := adm.ListEndOffsets(ctx, topics.Input)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	var offs kadm.Offsets
	ends.Each(func(o kadm.ListedOffset) {
		offs.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
	})
	if resp, err := adm.CommitOffsets(ctx, schemas.InputEndGroup, offs); err != nil || resp.Error() != nil {
		t.Fatal(err, resp.Error())
	}
	began := time.Now()
	checkSinks(t, ctx, s, reference.FromSchemas(readings))
	t.Logf("every window closed %v after the end was declared (idle timeout %v)", time.Since(began).Round(time.Millisecond), cfg.IdleTimeout)
}
