package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/turnstile-streams/turnstile/registry"
)

// registryFlags configure the embedded Schema Registry server.
type registryFlags struct {
	addr         string
	topic        string
	authUser     string
	authPassword string
}

func (r *registryFlags) register(fs *pflag.FlagSet) {
	d := registryDefaults()
	fs.StringVar(&r.addr, "registry-addr", d.Addr, "address the embedded Schema Registry listens on")
	fs.StringVar(&r.topic, "schemas-topic", d.Topic, "compacted topic the registry keeps its schemas in")
	fs.StringVar(&r.authUser, "basic-auth-user", "", "require HTTP basic auth with this user on the registry")
	fs.StringVar(&r.authPassword, "basic-auth-password", "", "password for --basic-auth-user")
}

// registryDefaults are the embedded registry's defaults (a zero
// registry.Config's): where it listens, so also where clients look for it.
func registryDefaults() registry.Config {
	var d registry.Config
	d.Defaults()
	return d
}

func newRegistryCmd(a *app) *cobra.Command {
	var (
		cf clientFlags
		rf registryFlags
	)
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run the embedded Confluent-compatible Schema Registry",
		Long: `Runs a Schema Registry that speaks the Confluent REST API (the Confluent
serializers, srclient, franz-go sr, kafkajs and librdkafka-based clients work
unchanged), enforcing Avro compatibility, and keeps its schemas in a compacted
_schemas topic on the Kafka cluster given by --brokers, so a restarted
registry serves the same ids. Run one instance per cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := cf.resolve(a, cmd)
			if err != nil {
				return err
			}
			opts, err := cfg.KgoOpts()
			if err != nil {
				return err
			}
			srv, err := registry.Start(cmd.Context(), registry.Config{Addr: rf.addr, KafkaOpts: opts, Topic: rf.topic,
				Username: rf.authUser, Password: rf.authPassword, Logger: a.log})
			if err != nil {
				return err
			}
			a.log.Info("registry ready", "url", srv.URL(), "brokers", cfg.Brokers)
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Close(ctx)
		},
	}
	cf.register(cmd.Flags(), usesKafka|usesProduce)
	rf.register(cmd.Flags())
	return cmd
}
