package datalake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
)

// DefaultGroup is the lake-writer's default consumer group.
const DefaultGroup = "turnstile-lake"

// Defaults of the flush thresholds.
const (
	DefaultFlushInterval = time.Minute
	DefaultFlushRecords  = 100_000
	DefaultFlushBytes    = 64 << 20
)

// DeviceDecoder decodes a device window record (codecs.DeviceWindowCodec).
type DeviceDecoder interface {
	Unmarshal([]byte) (schemas.DeviceWindow, error)
}

// StationDecoder decodes a station window record (codecs.StationWindowCodec).
type StationDecoder interface {
	Unmarshal([]byte) (schemas.StationWindow, error)
}

// Config configures a Writer.
type Config struct {
	// KafkaOpts reach the cluster (seed brokers, TLS, SASL).
	KafkaOpts []kgo.Opt
	// Group is the consumer group (default DefaultGroup).
	Group string
	// DeviceTopic and StationTopic are the sink topics (default
	// schemas.DefaultDeviceWindowsTopic and DefaultStationWindowsTopic).
	DeviceTopic, StationTopic string
	// Registry builds the decoders when DeviceDecoder or StationDecoder is
	// nil, with the topics' value subjects.
	Registry srclient.ISchemaRegistryClient
	// DeviceDecoder and StationDecoder decode the topics' records. A decode
	// error for which codecs.IsRetryable holds (the registry is down) is
	// retried with backoff until it succeeds; any other error rejects the
	// record into <dataset>/_rejected/.
	DeviceDecoder  DeviceDecoder
	StationDecoder StationDecoder
	// Store is the lake. Required.
	Store *Store
	// TimeZone is the zone of the date partitions (dt=) and of the station
	// windows' DATE and TIME, their end's local date and clock (default
	// America/New_York, schemas.DefaultLocation: the pipeline's default for
	// the device windows' DATE and TIME, which are written as they come).
	TimeZone *time.Location
	// Format picks the files written; the zero value writes CSV.gz (with
	// the index column) and Parquet.
	Format Format
	// FlushInterval: a flush writes every buffered partition when the
	// oldest buffered record has waited this long (default 1m,
	// DefaultFlushInterval), or when FlushRecords or FlushBytes is reached.
	FlushInterval time.Duration
	// FlushRecords flushes when this many records are buffered (default
	// 100,000, DefaultFlushRecords).
	FlushRecords int
	// FlushBytes flushes when this many bytes of record keys and values
	// are buffered (default 64 MiB, DefaultFlushBytes).
	FlushBytes int64
	// FlushTimeout bounds the final flush after the context ends and a
	// flush on partition revocation (default 1m).
	FlushTimeout time.Duration
	// MaxPoll bounds the records handled per poll (default 10,000).
	MaxPoll int
	// Parallelism is how many partitions are written at once (default 4).
	Parallelism int
	// Pacer, if set, is waited on before every poll: it holds the writer
	// back while something more urgent shares the process (turnstile dev
	// holds it while its pipeline reads a backlog), at the cost of the
	// files' latency. Records stay in Kafka meanwhile, and nothing
	// buffered is lost or reordered.
	Pacer Pacer
	// OnFile, if set, is called for every file a flush published (made
	// visible under its final key, after the batch's checkpoint); from the
	// flushing goroutine.
	OnFile func(FileEvent)
	// Logger receives one info line per file written; default: discard.
	Logger *slog.Logger
}

// Pacer holds a Writer back (Config.Pacer).
type Pacer interface {
	// Wait returns when the writer may poll again, or when ctx ends. It
	// should hold the writer for a bounded time: a flush that falls due
	// meanwhile waits for it.
	Wait(ctx context.Context)
}

// FileEvent describes one file written by the Writer.
type FileEvent struct {
	Key         string // store key, e.g. device-windows/dt=2024-01-06/part-...parquet
	Rows        int
	Topic       string
	Partition   int32
	First, Last int64 // offsets of the batch
}

// Stats are a Writer's running counters.
type Stats struct {
	Records  int64 // records consumed and buffered
	Rows     int64 // windows written (once per format)
	Rejected int64 // records written to _rejected
	Files    int64 // files published, rejected files and checkpoints excluded
	Batches  int64 // topic-partition batches committed
	Removed  int64 // files of uncommitted batches removed on assignment
	Restored int64 // staged files of committed batches published on assignment (a crash between checkpoint and publish)
	Skipped  int64 // records below their partition's checkpoint (already in the lake)
}

// hooks let package tests crash the writer at chosen points.
type hooks struct {
	afterData       func(topic string, partition int32) error             // files staged, checkpoint not yet
	beforePublish   func(topic string, partition int32, key string) error // checkpoint written, key not yet published
	afterCheckpoint func()                                                // batches published, Kafka offsets not committed yet
}

// Writer is one member of the lake-writer consumer group.
type Writer struct {
	cfg   Config
	log   *slog.Logger
	topic map[string]Dataset
	hooks hooks

	mu       sync.Mutex
	parts    map[tp]*partState
	buffered int
	bytes    int64
	oldest   time.Time // arrival of the oldest buffered record

	records, rows, rejectedN, files, batches, removed, restored, skipped atomic.Int64
}

type tp struct {
	topic     string
	partition int32
}

type partState struct {
	ds    Dataset
	next  int64 // first offset not in the lake; -1: unknown (start)
	epoch int32 // leader epoch of the last buffered record
	buf   batch
	// pending are files of a committed batch (below next) still staged
	// because publishing failed: the next flush publishes them first, and
	// the group offset waits for them.
	pending []writtenFile
	// acked is the group offset last committed for the partition (-1:
	// none by this member); a flush commits next when it is ahead.
	acked int64
}

// Defaults fills zero fields (and the flush thresholds, batch sizes and
// Parallelism when negative).
func (c *Config) Defaults() {
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.DeviceTopic == "" {
		c.DeviceTopic = schemas.DefaultDeviceWindowsTopic
	}
	if c.StationTopic == "" {
		c.StationTopic = schemas.DefaultStationWindowsTopic
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.FlushRecords <= 0 {
		c.FlushRecords = DefaultFlushRecords
	}
	if c.FlushBytes <= 0 {
		c.FlushBytes = DefaultFlushBytes
	}
	if c.FlushTimeout <= 0 {
		c.FlushTimeout = time.Minute
	}
	if c.MaxPoll <= 0 {
		c.MaxPoll = 10_000
	}
	if c.Parallelism <= 0 {
		c.Parallelism = 4
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.TimeZone == nil {
		c.TimeZone = schemas.DefaultLocation()
	}
}

// validate checks a Config whose defaults are filled.
func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("datalake: Config.Store is required")
	case c.Format.NoCSV && c.Format.NoParquet:
		return errors.New("datalake: both CSV and Parquet are switched off: nothing to write")
	case c.DeviceTopic == c.StationTopic:
		return fmt.Errorf("datalake: device and station topics are both %q", c.DeviceTopic)
	case (c.DeviceDecoder == nil || c.StationDecoder == nil) && c.Registry == nil:
		return errors.New("datalake: Config.Registry is required when a decoder is not given")
	}
	return nil
}

// New fills in cfg's defaults, validates it and builds the decoders it
// does not give.
func New(cfg Config) (*Writer, error) {
	cfg.Defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.DeviceDecoder == nil {
		c, err := codecs.NewDeviceWindowCodec(codecs.Config{Client: cfg.Registry, Subject: schemas.Subject(cfg.DeviceTopic)})
		if err != nil {
			return nil, fmt.Errorf("datalake: %w", err)
		}
		cfg.DeviceDecoder = c
	}
	if cfg.StationDecoder == nil {
		c, err := codecs.NewStationWindowCodec(codecs.Config{Client: cfg.Registry, Subject: schemas.Subject(cfg.StationTopic)})
		if err != nil {
			return nil, fmt.Errorf("datalake: %w", err)
		}
		cfg.StationDecoder = c
	}
	return &Writer{
		cfg:   cfg,
		log:   cfg.Logger.With("group", cfg.Group),
		topic: map[string]Dataset{cfg.DeviceTopic: DeviceWindows, cfg.StationTopic: StationWindows},
		parts: map[tp]*partState{},
	}, nil
}

// Stats returns the counters so far.
func (w *Writer) Stats() Stats {
	return Stats{Records: w.records.Load(), Rows: w.rows.Load(), Rejected: w.rejectedN.Load(),
		Files: w.files.Load(), Batches: w.batches.Load(), Removed: w.removed.Load(), Restored: w.restored.Load(), Skipped: w.skipped.Load()}
}

// Run consumes until ctx ends, then flushes what is buffered, commits and
// leaves the group; it returns nil then. It returns an error when the lake
// cannot be written (after retries) or the client fails for good: nothing
// committed is lost, and a restart resumes from the lake's checkpoints.
func (w *Writer) Run(ctx context.Context) error {
	opts := append([]kgo.Opt{
		kgo.ConsumerGroup(w.cfg.Group),
		kgo.ConsumeTopics(w.cfg.DeviceTopic, w.cfg.StationTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(w.assigned),
		kgo.OnPartitionsRevoked(w.revoked),
		kgo.OnPartitionsLost(w.lost),
	}, w.cfg.KafkaOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("datalake: %w", err)
	}
	defer cl.Close()

	for {
		if w.cfg.Pacer != nil {
			w.cfg.Pacer.Wait(ctx)
		}
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if d, ok := w.untilFlush(); ok {
			pctx, cancel = context.WithTimeout(ctx, max(d, time.Millisecond))
		}
		fetches := cl.PollRecords(pctx, w.pollSize())
		cancel()
		if ctx.Err() != nil {
			return w.shutdown(ctx, cl)
		}
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			w.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		if err := w.buffer(ctx, fetches.Records()); err != nil {
			if ctx.Err() != nil {
				return w.shutdown(ctx, cl)
			}
			cl.AllowRebalance()
			return err
		}
		if w.due() {
			if err := w.flushRetrying(ctx, cl); err != nil {
				if ctx.Err() != nil {
					return w.shutdown(ctx, cl)
				}
				cl.AllowRebalance()
				return err
			}
		}
		cl.AllowRebalance()
	}
}

// shutdown flushes and commits after ctx ended, while rebalances are
// still blocked (so every partition flushed is still ours), then lets the
// group move on.
func (w *Writer) shutdown(ctx context.Context, cl *kgo.Client) error {
	defer cl.AllowRebalance()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.FlushTimeout)
	defer cancel()
	if err := w.flushAll(fctx, cl, nil); err != nil {
		return fmt.Errorf("datalake: final flush: %w", err)
	}
	w.log.Info("lake-writer stopped", "records", w.records.Load(), "files", w.files.Load(), "rejected", w.rejectedN.Load())
	return nil
}

// pollSize bounds a poll so that batches never exceed FlushRecords.
func (w *Writer) pollSize() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(1, min(w.cfg.MaxPoll, w.cfg.FlushRecords-w.buffered))
}

// untilFlush returns how long until the interval flush is due, if anything
// is buffered.
func (w *Writer) untilFlush() (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buffered == 0 {
		return 0, false
	}
	return time.Until(w.oldest.Add(w.cfg.FlushInterval)), true
}

func (w *Writer) due() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buffered > 0 && (w.buffered >= w.cfg.FlushRecords || w.bytes >= w.cfg.FlushBytes ||
		!time.Now().Before(w.oldest.Add(w.cfg.FlushInterval)))
}

// buffer decodes records and adds them to their partitions' batches.
func (w *Writer) buffer(ctx context.Context, recs []*kgo.Record) error {
	for _, rec := range recs {
		ds, ok := w.topic[rec.Topic]
		if !ok {
			continue
		}
		var (
			dev schemas.DeviceWindow
			st  schemas.StationWindow
			rej *rejected
		)
		err := w.decodeRetrying(ctx, rec, func() error {
			var err error
			if ds == DeviceWindows {
				dev, err = w.cfg.DeviceDecoder.Unmarshal(rec.Value)
			} else {
				st, err = w.cfg.StationDecoder.Unmarshal(rec.Value)
			}
			return err
		}, func(err error) {
			reason := "undecodable"
			if re, ok := codecs.AsReject(err); ok {
				reason = string(re.Reason)
			}
			r := newRejected(rec.Topic, rec.Partition, rec.Offset, rec.Timestamp, rec.Key, rec.Value, reason, err)
			rej = &r
		})
		if err != nil {
			return err
		}
		w.mu.Lock()
		ps := w.parts[tp{rec.Topic, rec.Partition}]
		if ps == nil {
			w.mu.Unlock() // not ours any more
			continue
		}
		if ps.next >= 0 && rec.Offset < ps.next {
			// Already in the lake (the topic was recreated or
			// truncated below the checkpoint?): never write a record
			// twice.
			w.mu.Unlock()
			if w.skipped.Add(1) == 1 {
				w.log.Warn("skipping records below the lake's checkpoint", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "checkpoint", ps.next)
			}
			continue
		}
		if w.buffered == 0 {
			w.oldest = time.Now()
		}
		ps.buf.add(rec.Offset, len(rec.Key)+len(rec.Value))
		ps.epoch = rec.LeaderEpoch
		switch {
		case rej != nil:
			ps.buf.rejected = append(ps.buf.rejected, *rej)
		case ds == DeviceWindows:
			ps.buf.devices = append(ps.buf.devices, dev)
		default:
			ps.buf.stations = append(ps.buf.stations, st)
		}
		w.buffered++
		w.bytes += int64(len(rec.Key) + len(rec.Value))
		w.mu.Unlock()
		w.records.Add(1)
	}
	return nil
}

// decodeRetrying runs decode until it succeeds or fails for good; a
// retryable failure (schema registry unreachable) is retried with backoff.
func (w *Writer) decodeRetrying(ctx context.Context, rec *kgo.Record, decode func() error, reject func(error)) error {
	backoff := 100 * time.Millisecond
	for {
		err := decode()
		switch {
		case err == nil:
			return nil
		case codecs.IsRetryable(err):
			w.log.Warn("cannot decode yet: schema registry unavailable; retrying", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "err", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second)
		default:
			w.log.Warn("rejecting a record that can never decode", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "err", err)
			reject(err)
			return nil
		}
	}
}

// flushRetrying flushes, retrying a failed flush of the same batches with
// backoff (nothing is polled meanwhile, so a retry rewrites the same file
// names) before giving up.
func (w *Writer) flushRetrying(ctx context.Context, cl *kgo.Client) error {
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		err := w.flushAll(ctx, cl, nil)
		if err == nil || ctx.Err() != nil || attempt == 5 {
			return err
		}
		w.log.Warn("flush failed; retrying", "attempt", attempt, "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// flushAll writes the batches of the given partitions (nil: all), then
// commits their offsets to the group.
func (w *Writer) flushAll(ctx context.Context, cl *kgo.Client, only map[tp]bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	todo := w.toFlush(only)
	if len(todo) == 0 {
		w.commitProgress(ctx, cl, only)
		return nil
	}
	// The partitions are written Parallelism at a time; w.mu stays held,
	// and each goroutine touches only its own partition's state.
	results := make([]flushResult, len(todo))
	sem := make(chan struct{}, w.cfg.Parallelism)
	var wg sync.WaitGroup
	for i, k := range todo {
		ps := w.parts[k]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = w.flushPartition(ctx, k, ps)
		}()
	}
	wg.Wait()

	var (
		errs      []error
		published bool
	)
	for _, r := range results {
		published = w.settle(r) || published
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	if w.hooks.afterCheckpoint != nil && published {
		w.hooks.afterCheckpoint()
	}
	w.commitProgress(ctx, cl, only)
	return errors.Join(errs...)
}

// toFlush returns the partitions among only (nil: all) with a buffered
// batch or committed files left to publish, by topic and partition.
// Called with w.mu held.
func (w *Writer) toFlush(only map[tp]bool) []tp {
	var todo []tp
	for k, ps := range w.parts {
		if (!ps.buf.empty() || len(ps.pending) > 0) && (only == nil || only[k]) {
			todo = append(todo, k)
		}
	}
	sort.Slice(todo, func(i, j int) bool {
		if todo[i].topic != todo[j].topic {
			return todo[i].topic < todo[j].topic
		}
		return todo[i].partition < todo[j].partition
	})
	return todo
}

// flushResult is what flushing one partition did.
type flushResult struct {
	k         tp
	published []writtenFile // visible now
	committed bool          // the buffered batch's checkpoint is written
	pending   []writtenFile // committed, still staged
	err       error
}

// flushPartition publishes the partition's files left staged by an
// earlier flush, then writes its buffered batch. It reads the partition's
// state and changes none of it (settle does).
func (w *Writer) flushPartition(ctx context.Context, k tp, ps *partState) flushResult {
	r := flushResult{k: k}
	for j, f := range ps.pending {
		if _, err := publishStaged(ctx, w.cfg.Store, f.Key); err != nil {
			r.pending, r.err = ps.pending[j:], err
			return r
		}
		r.published = append(r.published, f)
	}
	if ps.buf.empty() {
		return r
	}
	sp := span{Topic: k.topic, Partition: k.partition, First: ps.buf.first, Last: ps.buf.last}
	var h batchHooks
	if w.hooks.afterData != nil {
		h.afterData = func() error { return w.hooks.afterData(k.topic, k.partition) }
	}
	if w.hooks.beforePublish != nil {
		h.beforePublish = func(key string) error { return w.hooks.beforePublish(k.topic, k.partition, key) }
	}
	f := w.cfg.Format
	f.zone = w.cfg.TimeZone
	files, committed, err := writeBatch(ctx, w.cfg.Store, ps.ds, sp, &ps.buf, f, h)
	r.committed, r.err = committed, err
	switch {
	case committed && err != nil:
		r.pending = files
	case committed:
		r.published = append(r.published, files...)
	}
	return r
}

// settle records what flushing a partition did: the files published
// (logged, OnFile, counted), a committed batch dropped from the buffer,
// what is left to publish. It reports whether anything was committed or
// published. Called with w.mu held.
func (w *Writer) settle(r flushResult) bool {
	ps := w.parts[r.k]
	for _, f := range r.published {
		w.log.Info("file written", "file", f.Key, "rows", f.Rows, "topic", r.k.topic, "partition", r.k.partition, "first_offset", f.First, "last_offset", f.Last)
		if w.cfg.OnFile != nil {
			w.cfg.OnFile(FileEvent{Key: f.Key, Rows: f.Rows, Topic: r.k.topic, Partition: r.k.partition, First: f.First, Last: f.Last})
		}
		if baseDir(f.Key) == rejectedDir {
			continue
		}
		w.files.Add(1)
		w.rows.Add(int64(f.Rows))
	}
	if r.committed {
		w.rejectedN.Add(int64(len(ps.buf.rejected)))
		w.batches.Add(1)
		ps.next = ps.buf.last + 1
		w.buffered -= ps.buf.records
		w.bytes -= ps.buf.bytes
		ps.buf.reset()
	}
	ps.pending = r.pending
	if r.err != nil && len(r.pending) > 0 {
		w.log.Warn("publishing a committed batch failed; the next flush, or recovery after a restart, publishes it from staging",
			"topic", r.k.topic, "partition", r.k.partition, "files", len(r.pending), "err", r.err)
	}
	return r.committed || len(r.published) > 0
}

// commitProgress commits to the group, for the given partitions (nil: all),
// the checkpoint of every partition that is ahead of its last commit and
// has nothing left to publish. The lake's checkpoints are the truth; the
// group offsets only show progress (lag), so a failed commit loses nothing
// and is retried by the next flush (the final one included). Called with
// w.mu held.
func (w *Writer) commitProgress(ctx context.Context, cl *kgo.Client, only map[tp]bool) {
	if cl == nil {
		return
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for k, ps := range w.parts {
		if (only != nil && !only[k]) || len(ps.pending) > 0 || ps.next < 0 || ps.next <= ps.acked {
			continue
		}
		if offsets[k.topic] == nil {
			offsets[k.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[k.topic][k.partition] = kgo.EpochOffset{Epoch: ps.epoch, Offset: ps.next}
	}
	if len(offsets) == 0 {
		return
	}
	if err := commit(ctx, cl, offsets); err != nil {
		w.log.Warn("committing group offsets failed; the lake's checkpoints still hold the progress", "err", err)
		return
	}
	for t, parts := range offsets {
		for p, o := range parts {
			w.parts[tp{t, p}].acked = o.Offset
		}
	}
}

func baseDir(key string) string {
	_, dir, _ := splitKey(key)
	return dir
}

func commit(ctx context.Context, cl *kgo.Client, offsets map[string]map[int32]kgo.EpochOffset) error {
	var rerr error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			rerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && rerr == nil {
					rerr = fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, err)
				}
			}
		}
	})
	return rerr
}

// assigned is the AdjustFetchOffsetsFn: for each newly assigned partition it
// cleans up after a crashed batch and starts consuming at the lake's
// checkpoint, whatever offset the group committed.
func (w *Writer) assigned(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	for topic, parts := range offsets {
		ds, ok := w.topic[topic]
		if !ok {
			continue
		}
		ps := make([]int32, 0, len(parts))
		for p := range parts {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		var res map[int32]resume
		backoff := time.Second
		for {
			var err error
			res, err = recoverPartitions(ctx, w.cfg.Store, ds, topic, ps, w.log)
			if err == nil {
				break
			}
			w.log.Error("cannot read the lake's checkpoints; retrying", "topic", topic, "err", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("datalake: assigning %s: %w", topic, err)
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
		w.mu.Lock()
		for _, p := range ps {
			r := res[p]
			w.removed.Add(int64(len(r.removed)))
			w.restored.Add(int64(len(r.published)))
			old := w.parts[tp{topic, p}]
			if old != nil {
				w.buffered -= old.buf.records
				w.bytes -= old.buf.bytes
			}
			w.parts[tp{topic, p}] = &partState{ds: ds, next: r.next, epoch: -1, acked: -1}
			if r.next >= 0 {
				parts[p] = kgo.NewOffset().At(r.next).WithEpoch(-1)
			} else {
				parts[p] = kgo.NewOffset().AtStart()
			}
			w.log.Info("partition assigned", "topic", topic, "partition", p, "resume_offset", r.next, "removed_files", len(r.removed), "published_files", len(r.published))
		}
		w.mu.Unlock()
	}
	return offsets, nil
}

// revoked flushes and commits the revoked partitions, so their new owner
// starts where this member stopped. If that fails the batches are dropped:
// the new owner re-reads them from the lake's checkpoint.
func (w *Writer) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	only := map[tp]bool{}
	for t, ps := range revoked {
		for _, p := range ps {
			only[tp{t, p}] = true
		}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.FlushTimeout)
	defer cancel()
	if err := w.flushAll(fctx, cl, only); err != nil {
		w.log.Warn("flush on revocation failed; the next owner re-reads from the checkpoint", "err", err)
	}
	w.drop(only)
}

// lost drops the lost partitions' batches without writing them: another
// member may own them already.
func (w *Writer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	only := map[tp]bool{}
	for t, ps := range lost {
		for _, p := range ps {
			only[tp{t, p}] = true
		}
	}
	w.drop(only)
}

func (w *Writer) drop(only map[tp]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := range only {
		if ps := w.parts[k]; ps != nil {
			w.buffered -= ps.buf.records
			w.bytes -= ps.buf.bytes
			delete(w.parts, k)
		}
	}
}
