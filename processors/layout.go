package processors

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/wire"
)

// LayoutError says the topics hold what an older version wrote in a
// layout this version cannot continue from (wire.ErrTwoStageLayout). A
// member refuses to start over them rather than mix the two; Error says
// the command that rebuilds them.
type LayoutError struct {
	Topic     string
	Partition int32
	Offset    int64
	Err       error
}

func (e *LayoutError) Error() string {
	return fmt.Sprintf("processors: %s partition %d offset %d holds the two-stage pipeline's state (%v): this version keeps a device "+
		"under its station (STATION|LINENAME|CA|UNIT|SCP) and cannot continue from it. Stop every member, then run "+
		"`turnstile replay --from earliest` (with --retention to cover the late data you want back) to rebuild the state as a new generation; "+
		"start the members again afterwards. Downstream, the new generation's windows supersede the old ones",
		e.Topic, e.Partition, e.Offset, e.Err)
}

func (e *LayoutError) Unwrap() error { return e.Err }

// layoutTail is how many of each partition's newest records checkLayout
// reads.
const layoutTail = 16

// checkLayout reads the newest records of every partition of the
// windowed stage's table, and the next records its group would consume
// from its re-keyed readings topic, and fails with a *LayoutError when one
// was written by the two-stage pipeline: a table value of its layouts, or
// a reading keyed by device alone (CA|UNIT|SCP). A store or a stage
// reading them would mix two key layouts. (turnstile replay recreates the
// table and moves the group past the old readings.)
func checkLayout(ctx context.Context, cl *kgo.Client, st Stage) error {
	readings := st.Input // the ingest layout; the direct one reads the input too
	if st.Rekeyed != "" {
		readings = st.Rekeyed
	}
	check := map[string]func(r *kgo.Record) error{
		st.Table: func(r *kgo.Record) error { return wire.CheckLayout(r.Value) },
		readings: func(r *kgo.Record) error {
			if _, _, ok := schemas.SplitReadingKey(string(r.Key)); ok || strings.HasPrefix(string(r.Key), controlKeyPrefix) {
				return nil
			}
			return fmt.Errorf("%w (a reading keyed %q, not STATION|LINENAME|CA|UNIT|SCP)", wire.ErrTwoStageLayout, r.Key)
		},
	}
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, st.Table, readings)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("processors: layout check: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, st.Table, readings)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("processors: layout check: %w", err)
	}
	committed, err := adm.FetchOffsets(ctx, st.Group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("processors: layout check: %w", err)
	}
	want := map[string]map[int32]kgo.Offset{}
	last := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		from, to := max(s.Offset, o.Offset-layoutTail), o.Offset // the table's newest records
		if o.Topic == readings {
			// The readings the group consumes next.
			from = s.Offset
			if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At >= 0 {
				from = max(from, c.At)
			}
			to = min(o.Offset, from+layoutTail)
		}
		if to <= from {
			return
		}
		if want[o.Topic] == nil {
			want[o.Topic], last[o.Topic] = map[int32]kgo.Offset{}, map[int32]int64{}
		}
		want[o.Topic][o.Partition] = kgo.NewOffset().At(from)
		last[o.Topic][o.Partition] = to - 1
	})
	if len(want) == 0 {
		return nil
	}
	limit := map[string]map[int32]int64{} // the last offset read, per partition
	for t, ps := range last {
		limit[t] = maps.Clone(ps)
	}
	cl.AddConsumePartitions(want)
	defer func() {
		rm := map[string][]int32{}
		for t, ps := range want {
			for p := range ps {
				rm[t] = append(rm[t], p)
			}
		}
		cl.RemoveConsumePartitions(rm)
	}()
	for len(last) > 0 {
		// A partition whose newest offset holds no record (a transaction
		// marker, compacted away) never delivers it: stop once nothing
		// more arrives.
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("processors: layout check: %w", err)
		}
		if pctx.Err() != nil && fs.NumRecords() == 0 {
			return nil
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = errors.Join(ferr, err)
			}
		})
		if ferr != nil {
			return fmt.Errorf("processors: layout check: %w", ferr)
		}
		var bad error
		fs.EachRecord(func(r *kgo.Record) {
			if bad != nil {
				return
			}
			if r.Offset > limit[r.Topic][r.Partition] {
				return // past what the check reads of this partition
			}
			if err := check[r.Topic](r); err != nil {
				bad = &LayoutError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Err: err}
			}
			if ps := last[r.Topic]; ps != nil && r.Offset >= ps[r.Partition] {
				delete(ps, r.Partition)
				if len(ps) == 0 {
					delete(last, r.Topic)
				}
			}
		})
		if bad != nil {
			return bad
		}
	}
	return nil
}

// TwoStageLeftovers are the topics and consumer groups the two-stage
// pipeline had beside this version's graph (its station stage, by their
// default names). Nothing of this version reads them; turnstile replay
// deletes them when it rebuilds the windowed stage.
func TwoStageLeftovers() (topics, groups []string) {
	return []string{"turnstile-station-updates", "station-windows-table", "station-windows-loop"},
		[]string{"station-windows", "station-windows-relay"}
}
