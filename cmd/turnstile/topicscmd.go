package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/provision"
)

// topicTimeout bounds creating a topic before producing to it.
const topicTimeout = 10 * time.Second

func newTopicsCmd(a *app) *cobra.Command {
	var (
		cf     clientFlags
		topics topicFlags
		layout layoutFlags
	)
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Create or list the pipeline's topics (for operators who prepare them before deploying)",
		Long: `The pipeline's topics, as turnstile process creates them when they are missing:
--partitions partitions (the most members a group can use), --replication
replicas, compacted changelogs (min.compaction.lag.ms 1h), a one-partition
compacted generations topic. Run "topics create" as a user allowed to create
topics, then the members and producers need only read and write them.`,
	}
	pf := cmd.PersistentFlags()
	cf.register(pf, usesKafka)
	topics.register(pf)
	layout.register(pf)
	admin := func(cmd *cobra.Command) (*kadm.Client, func(), error) {
		cc, err := cf.resolve(a, cmd)
		if err != nil {
			return nil, nil, err
		}
		opts, err := cc.KgoOpts()
		if err != nil {
			return nil, nil, err
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("topics: %w", err)
		}
		return kadm.NewClient(cl), cl.Close, nil
	}

	create := &cobra.Command{
		Use:   "create [TOPIC...]",
		Short: "Create the pipeline's missing topics (all, or the named ones); existing ones are checked, not changed",
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, done, err := admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			// The topics of the layout an existing input topic makes.
			pipe, err := processors.ResolveLayout(cmd.Context(), adm, layout.pipeline(topics.t))
			if err != nil {
				return err
			}
			specs, err := provision.Select(pipe.TopicSpecs(), args...)
			if err != nil {
				return err
			}
			created, err := provision.Create(cmd.Context(), adm, specs, int16(pipe.Replication))
			if err != nil {
				return err
			}
			listed, err := provision.List(cmd.Context(), adm, specs)
			if err != nil {
				return err
			}
			if err := provision.WriteTable(a.stdout, listed, created...); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "created %d of %d topics\n", len(created), len(specs))
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the pipeline's topics: partitions, replication, the configs the pipeline sets, and what differs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, done, err := admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			pipe, err := processors.ResolveLayout(cmd.Context(), adm, layout.pipeline(topics.t))
			if err != nil {
				return err
			}
			listed, err := provision.List(cmd.Context(), adm, pipe.TopicSpecs())
			if err != nil {
				return err
			}
			return provision.WriteTable(a.stdout, listed)
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}

// ensureTopic creates topic (one of pipe's) if it is missing, within
// topicTimeout; when it cannot, the error says what to run instead.
func ensureTopic(ctx context.Context, a *app, cl *kgo.Client, pipe processors.Config, topic string) error {
	specs, err := provision.Select(pipe.TopicSpecs(), topic)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, topicTimeout)
	defer cancel()
	created, err := provision.Create(ctx, kadm.NewClient(cl), specs, int16(pipe.Replication))
	if len(created) > 0 {
		a.log.Info("created topic", "topic", topic, "partitions", pipe.Partitions, "replication", pipe.Replication)
	}
	var ce *provision.CreateError
	switch {
	case errors.As(err, &ce):
		who := "create it first"
		if ce.Denied() {
			who = "this user may not create topics; create it first with the connection settings of one who may"
		}
		return fmt.Errorf("%w\n  %s:\n    turnstile topics create %s --partitions %d --replication %d\n  or start the pipeline first (turnstile process creates every topic it needs)",
			err, who, topic, pipe.Partitions, pipe.Replication)
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("topic %s: no answer from Kafka within %v: %w", topic, topicTimeout, err)
	}
	return err
}
