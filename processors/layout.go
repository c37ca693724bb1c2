package processors

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	ranges, err := layoutRanges(ctx, kadm.NewClient(cl), st.Group, st.Table, readings)
	if err != nil {
		return fmt.Errorf("processors: layout check: %w", err)
	}
	if err := checkRanges(ctx, cl, ranges, check); err != nil {
		var le *LayoutError
		if errors.As(err, &le) {
			return err
		}
		return fmt.Errorf("processors: layout check: %w", err)
	}
	return nil
}

// offsetRange is the offsets [from, to) of one partition that checkLayout
// reads.
type offsetRange struct{ from, to int64 }

// layoutRanges returns what checkLayout reads: the newest layoutTail
// records of each partition of table, and the next layoutTail records
// group consumes from each partition of readings.
func layoutRanges(ctx context.Context, adm *kadm.Client, group, table, readings string) (map[string]map[int32]offsetRange, error) {
	starts, err := adm.ListStartOffsets(ctx, table, readings)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, table, readings)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, err
	}
	ranges := map[string]map[int32]offsetRange{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		r := offsetRange{from: max(s.Offset, o.Offset-layoutTail), to: o.Offset} // the table's newest records
		if o.Topic == readings {
			// The readings the group consumes next.
			r.from = s.Offset
			if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At >= 0 {
				r.from = max(r.from, c.At)
			}
			r.to = min(o.Offset, r.from+layoutTail)
		}
		if r.to <= r.from {
			return
		}
		if ranges[o.Topic] == nil {
			ranges[o.Topic] = map[int32]offsetRange{}
		}
		ranges[o.Topic][o.Partition] = r
	})
	return ranges, nil
}

// checkRanges consumes ranges with cl and runs each topic's check on every
// record in them; it returns the first failure as a *LayoutError.
func checkRanges(ctx context.Context, cl *kgo.Client, ranges map[string]map[int32]offsetRange, check map[string]func(*kgo.Record) error) error {
	if len(ranges) == 0 {
		return nil
	}
	want := map[string]map[int32]kgo.Offset{}
	pending := map[string]map[int32]int64{} // the last offset still to read, per partition
	for t, ps := range ranges {
		want[t], pending[t] = map[int32]kgo.Offset{}, map[int32]int64{}
		for p, r := range ps {
			want[t][p] = kgo.NewOffset().At(r.from)
			pending[t][p] = r.to - 1
		}
	}
	cl.AddConsumePartitions(want)
	defer func() {
		rm := map[string][]int32{}
		for t, ps := range want {
			rm[t] = slices.Collect(maps.Keys(ps))
		}
		cl.RemoveConsumePartitions(rm)
	}()
	for len(pending) > 0 {
		// A partition whose newest offset holds no record (a transaction
		// marker, compacted away) never delivers it: stop once nothing
		// more arrives.
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
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
			return ferr
		}
		var bad error
		fs.EachRecord(func(r *kgo.Record) {
			if bad != nil || r.Offset >= ranges[r.Topic][r.Partition].to {
				return // past what the check reads of this partition
			}
			if err := check[r.Topic](r); err != nil {
				bad = &LayoutError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Err: err}
			}
			if ps := pending[r.Topic]; ps != nil && r.Offset >= ps[r.Partition] {
				delete(ps, r.Partition)
				if len(ps) == 0 {
					delete(pending, r.Topic)
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
