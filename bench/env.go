package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/clientconf"
	"github.com/turnstile-streams/turnstile/registry"
	"github.com/turnstile-streams/turnstile/schemas"
)

// env is one embedded broker (persisted in a directory, so the logs live in
// the page cache rather than in the process's heap) with a schema registry
// and the clients the harness needs; or, from connectEnv, the clients of a
// broker and registry another process runs.
type env struct {
	dir    string
	broker *broker.Broker
	reg    *registry.Server
	seeds  []string
	opts   []kgo.Opt // defaultKafkaOpts(seeds)
	sr     srclient.ISchemaRegistryClient
	// cl produces with goka's partitioner (keys land where goka looks).
	cl  *kgo.Client
	adm *kadm.Client
	log *slog.Logger
}

func startEnv(ctx context.Context, dir string, log *slog.Logger) (e *env, err error) {
	e = &env{dir: dir, log: log}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.broker, err = broker.Start(ctx, broker.Config{DataDir: filepath.Join(dir, "kafka"), Logger: log}); err != nil {
		return nil, err
	}
	if err = e.setSeeds([]string{e.broker.Addr()}); err != nil {
		return nil, err
	}
	if e.reg, err = registry.Start(ctx, registry.Config{Addr: "127.0.0.1:0", KafkaOpts: e.kafkaOpts(), Logger: log}); err != nil {
		return nil, err
	}
	if _, err = schemas.Register(ctx, schemas.RegisterConfig{Registry: schemas.RegistryConfig{URL: e.reg.URL()}}); err != nil {
		return nil, err
	}
	return e, e.clients(e.reg.URL())
}

// connectEnv is an env of the broker at seeds and the registry at
// registryURL that another process runs (turnstile dev): clients only.
func connectEnv(seeds []string, registryURL string, log *slog.Logger) (*env, error) {
	e := &env{log: log}
	if err := e.setSeeds(seeds); err != nil {
		return nil, err
	}
	if err := e.clients(registryURL); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *env) clients(registryURL string) (err error) {
	e.sr = srclient.CreateSchemaRegistryClient(registryURL)
	if e.cl, err = kgo.NewClient(append(e.kafkaOpts(), kgo.RecordPartitioner(schemas.Partitioner()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100_000))...); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	e.adm = kadm.NewClient(e.cl)
	return nil
}

func (e *env) setSeeds(seeds []string) (err error) {
	e.seeds = seeds
	e.opts, err = defaultKafkaOpts(seeds)
	return err
}

// kafkaOpts are the env's franz-go options (defaultKafkaOpts), a copy the
// caller may append to.
func (e *env) kafkaOpts() []kgo.Opt { return slices.Clone(e.opts) }

// defaultKafkaOpts are what turnstile's commands give franz-go for seeds
// when no other setting is made (clientconf: uncompressed batches among
// them). Every client of the harness uses them, the pipelines under test
// included, so the input, the changelog and the sinks are written as a
// default deployment writes them.
func defaultKafkaOpts(seeds []string) ([]kgo.Opt, error) {
	opts, err := clientconf.Config{Brokers: seeds}.KgoOpts()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return opts, nil
}

func (e *env) brokers() []string { return e.seeds }

func (e *env) close() {
	if e.cl != nil {
		e.cl.Close()
	}
	if e.reg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = e.reg.Close(ctx)
		cancel()
	}
	if e.broker != nil {
		e.broker.Close()
	}
}

// createTopic creates a topic (replication 1) unless it exists.
func (e *env) createTopic(ctx context.Context, topic string, partitions int32, configs map[string]*string) error {
	resp, err := e.adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("bench: create topic %s: %w", topic, err)
	}
	return nil
}

// endOffsets is the sum of the high watermarks of each topic (records ever
// written, as nothing is deleted during a run).
// partitionEnds is a topic's end offset per partition.
func (e *env) partitionEnds(ctx context.Context, topic string) (map[int32]int64, error) {
	ends, err := e.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("bench: end offsets: %w", err)
	}
	out := map[int32]int64{}
	var ferr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			ferr = fmt.Errorf("bench: end offset of %s/%d: %w", o.Topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out, ferr
}

func (e *env) endOffsets(ctx context.Context, topics ...string) (map[string]int64, error) {
	ends, err := e.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("bench: end offsets: %w", err)
	}
	out := map[string]int64{}
	var ferr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && !errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
			ferr = o.Err
		}
		out[o.Topic] += o.Offset
	})
	return out, ferr
}

// waitEnds polls until every topic's summed high watermark reaches its
// target, returning when that was first seen.
func (e *env) waitEnds(ctx context.Context, want map[string]int64, every time.Duration) (time.Time, error) {
	topics := make([]string, 0, len(want))
	for t := range want {
		topics = append(topics, t)
	}
	for {
		got, err := e.endOffsets(ctx, topics...)
		now := time.Now()
		if err == nil {
			done := true
			for t, n := range want {
				if got[t] < n {
					done = false
				}
			}
			if done {
				return now, nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("bench: waiting for %v (have %v): %w", want, got, ctx.Err())
		case <-time.After(every):
		}
	}
}

// consumeAll reads every record of the topics up to their current high
// watermarks, calling fn for each.
func (e *env) consumeAll(ctx context.Context, fn func(*kgo.Record) error, topics ...string) error {
	ends, err := e.endOffsets(ctx, topics...)
	if err != nil {
		return err
	}
	var total int64
	for _, n := range ends {
		total += n
	}
	if total == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(e.kafkaOpts(), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))...)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer cl.Close()
	var n int64
	for n < total {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("bench: reading %v: %d of %d records: %w", topics, n, total, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return fmt.Errorf("bench: reading %v: %w", topics, ferr)
		}
		for it := fs.RecordIter(); !it.Done(); {
			if err := fn(it.Next()); err != nil {
				return err
			}
			n++
		}
	}
	return nil
}
