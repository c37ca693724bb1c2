package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/turnstile-streams/turnstile/processors"
)

// CreateError reports a topic that is missing and could not be created.
type CreateError struct {
	Topic string
	Err   error
}

func (e *CreateError) Error() string {
	return fmt.Sprintf("provision: topic %s does not exist and could not be created: %v", e.Topic, e.Err)
}

func (e *CreateError) Unwrap() error { return e.Err }

// Denied reports whether the cluster refused the creation for lack of
// permission (an ACL), as opposed to an outage or a policy.
func (e *CreateError) Denied() bool {
	return errors.Is(e.Err, kerr.TopicAuthorizationFailed) || errors.Is(e.Err, kerr.ClusterAuthorizationFailed)
}

// Select returns the specs with the given names, in the specs' order (a
// topic whose partition count follows another comes after it). No names
// selects every spec. An unknown name is an error listing the known ones.
func Select(specs []processors.TopicSpec, names ...string) ([]processors.TopicSpec, error) {
	if len(names) == 0 {
		return specs, nil
	}
	known := map[string]bool{}
	for _, s := range specs {
		known[s.Name] = true
	}
	for _, n := range names {
		if !known[n] {
			all := make([]string, len(specs))
			for i, s := range specs {
				all[i] = s.Name
			}
			return nil, fmt.Errorf("provision: %s is not a topic of the pipeline (its topics: %s)", n, strings.Join(all, ", "))
		}
	}
	var out []processors.TopicSpec
	for _, s := range specs {
		if slices.Contains(names, s.Name) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Create creates the topics of specs that are missing, with their
// partitions and configs and the given replication, through
// processors.EnsureTopics, after checking that existing co-partitioned
// topics have the pipeline's partition count. It returns the topics it
// created. A topic it could not create is a *CreateError.
func Create(ctx context.Context, adm *kadm.Client, specs []processors.TopicSpec, replication int16) ([]string, error) {
	ctx = fresh(ctx)
	// Only metadata: a producer may describe topics without being allowed
	// to describe their configs.
	topics, err := list(ctx, adm, specs, false)
	if err != nil {
		return nil, err
	}
	for _, t := range topics {
		if t.Exists && t.CoPartitioned && int32(t.Partitions) != t.WantPartitions {
			return nil, fmt.Errorf("provision: topic %s has %d partitions, the pipeline needs %d (all co-partitioned topics must match --partitions)",
				t.Name, t.Partitions, t.WantPartitions)
		}
	}
	created, partitions, err := processors.EnsureTopics(ctx, adm, specs, replication)
	if err == nil {
		return created, nil
	}
	if partitions != nil {
		// EnsureTopics goes through specs in order and records every topic
		// it found or created: past the check above, the first one it has
		// not recorded is the one it failed to create.
		for _, s := range specs {
			if _, ok := partitions[s.Name]; !ok {
				return created, &CreateError{Topic: s.Name, Err: createCause(err)}
			}
		}
	}
	return created, fmt.Errorf("provision: %w", err)
}

// createCause is the cluster's answer inside an EnsureTopics error.
func createCause(err error) error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke
	}
	return err
}

// Topic is one topic of the pipeline as the cluster has it, beside what the
// pipeline wants.
type Topic struct {
	Name string `json:"name"`
	// WantPartitions is the pipeline's count (for a topic that follows
	// another, that one's count when it exists).
	WantPartitions int32 `json:"want_partitions"`
	// CoPartitioned topics must have exactly WantPartitions; the others
	// (the input and the sinks) may have any count.
	CoPartitioned bool              `json:"co_partitioned"`
	WantConfigs   map[string]string `json:"want_configs,omitempty"`

	Exists      bool `json:"exists"`
	Partitions  int  `json:"partitions,omitempty"`
	Replication int  `json:"replication,omitempty"`
	// Configs are the topic's values of the WantConfigs keys.
	Configs map[string]string `json:"configs,omitempty"`
	// Err is why the topic could not be described (not "does not exist").
	Err string `json:"error,omitempty"`
}

// Problems says what differs from what the pipeline wants; none when the
// topic is as the pipeline would create it.
func (t Topic) Problems() []string {
	switch {
	case t.Err != "":
		return []string{t.Err}
	case !t.Exists:
		return []string{"missing"}
	}
	var out []string
	if t.CoPartitioned && int32(t.Partitions) != t.WantPartitions {
		out = append(out, fmt.Sprintf("%d partitions, the pipeline needs %d", t.Partitions, t.WantPartitions))
	}
	for _, k := range slices.Sorted(maps.Keys(t.WantConfigs)) {
		if got := t.Configs[k]; got != t.WantConfigs[k] {
			out = append(out, fmt.Sprintf("%s=%s, the pipeline wants %s", k, got, t.WantConfigs[k]))
		}
	}
	return out
}

// List describes the topics of specs, their configs included.
func List(ctx context.Context, adm *kadm.Client, specs []processors.TopicSpec) ([]Topic, error) {
	return list(ctx, adm, specs, true)
}

// fresh makes kadm's metadata requests under ctx go to the cluster:
// otherwise ListTopics answers from franz-go's metadata cache (up to
// MetadataMinAge, 5s), which does not see topics created or deleted
// meanwhile. (The authorized operations it then also asks for are unused.)
func fresh(ctx context.Context) context.Context { return kadm.WithAuthorizedOps(ctx) }

func list(ctx context.Context, adm *kadm.Client, specs []processors.TopicSpec, withConfigs bool) ([]Topic, error) {
	ctx = fresh(ctx)
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("provision: list topics: %w", err)
	}
	var existing []string
	for _, n := range names {
		if d, ok := details[n]; ok && d.Err == nil {
			existing = append(existing, n)
		}
	}
	var configs kadm.ResourceConfigs
	if withConfigs && len(existing) > 0 {
		if configs, err = adm.DescribeTopicConfigs(ctx, existing...); err != nil {
			return nil, fmt.Errorf("provision: describe topic configs: %w", err)
		}
	}
	out := make([]Topic, 0, len(specs))
	for _, s := range specs {
		t := Topic{Name: s.Name, WantPartitions: s.Partitions, CoPartitioned: s.CoPartitioned, WantConfigs: map[string]string{}}
		if s.PartitionsOf != "" {
			t.CoPartitioned = true
			if d, ok := details[s.PartitionsOf]; ok && d.Err == nil {
				t.WantPartitions = int32(len(d.Partitions))
			}
		}
		for k, v := range s.Configs {
			if v != nil {
				t.WantConfigs[k] = *v
			}
		}
		d, ok := details[s.Name]
		switch {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
		case d.Err != nil:
			t.Err = d.Err.Error()
		default:
			t.Exists, t.Partitions = true, len(d.Partitions)
			for _, p := range d.Partitions {
				t.Replication = max(t.Replication, len(p.Replicas))
			}
			t.Configs = map[string]string{}
			if rc, err := configs.On(s.Name, nil); err == nil {
				for _, c := range rc.Configs {
					if _, want := t.WantConfigs[c.Key]; want && c.Value != nil {
						t.Configs[c.Key] = *c.Value
					}
				}
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// WriteTable prints topics as a table: name, partitions (and the
// pipeline's count when they differ), replication, the configs the
// pipeline sets, and what is wrong (or "ok"). created marks topics just
// created.
func WriteTable(w io.Writer, topics []Topic, created ...string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tREPLICATION\tCONFIGS\tSTATUS")
	for _, t := range topics {
		parts, repl := "-", "-"
		if t.Exists {
			parts, repl = fmt.Sprint(t.Partitions), fmt.Sprint(t.Replication)
		}
		if !t.Exists || t.CoPartitioned && int32(t.Partitions) != t.WantPartitions {
			parts += fmt.Sprintf(" (want %d)", t.WantPartitions)
		}
		var cfg []string
		for _, k := range slices.Sorted(maps.Keys(t.WantConfigs)) {
			cfg = append(cfg, k+"="+t.WantConfigs[k])
		}
		if len(cfg) == 0 {
			cfg = []string{"-"}
		}
		st := "ok"
		if p := t.Problems(); len(p) > 0 {
			st = strings.Join(p, "; ")
		} else if slices.Contains(created, t.Name) {
			st = "created"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, parts, repl, strings.Join(cfg, ","), st)
	}
	return tw.Flush()
}
