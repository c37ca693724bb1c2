package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/turnstile-streams/turnstile/clientconf"
)

// clientFlags are the flags of every command that is a Kafka or Schema
// Registry client, so the same binary runs against the embedded services or
// real ones.
type clientFlags struct {
	brokers          []string
	registryURL      string
	kafkaConfig      string
	registryUser     string
	registryPassword string
}

func (c *clientFlags) register(fs *pflag.FlagSet) {
	c.registerKafka(fs)
	fs.StringVar(&c.registryURL, "registry-url", "http://127.0.0.1:8081", "Schema Registry URL")
	fs.StringVar(&c.registryUser, "registry-user", "", "Schema Registry basic-auth user")
	fs.StringVar(&c.registryPassword, "registry-password", "", "Schema Registry basic-auth password")
}

// registerKafka registers only the Kafka flags, for commands that are
// Kafka clients but not registry clients (the registry server itself).
func (c *clientFlags) registerKafka(fs *pflag.FlagSet) {
	fs.StringSliceVar(&c.brokers, "brokers", []string{"127.0.0.1:9092"}, "Kafka bootstrap servers, comma-separated")
	fs.StringVar(&c.kafkaConfig, "kafka-config", "", "Kafka client properties file (bootstrap.servers, security.protocol, sasl.*, ssl.ca.location, schema.registry.url, basic.auth.user.info)")
}

// flagProperty maps our flags to the properties-file keys they override.
var flagProperty = map[string]string{
	"brokers":           "bootstrap.servers",
	"registry-url":      "schema.registry.url",
	"registry-user":     "basic.auth.user.info",
	"registry-password": "basic.auth.user.info",
}

// resolve merges flags, environment and the properties file.
func (c *clientFlags) resolve(a *app, cmd *cobra.Command) (clientconf.Config, error) {
	cfg := clientconf.Config{
		Brokers:          c.brokers,
		RegistryURL:      c.registryURL,
		RegistryUsername: c.registryUser,
		RegistryPassword: c.registryPassword,
	}
	if c.kafkaConfig != "" {
		explicit := map[string]bool{}
		for flag, key := range flagProperty {
			if cmd.Flags().Changed(flag) {
				explicit[key] = true
			}
		}
		unknown, err := cfg.LoadProperties(c.kafkaConfig, explicit)
		if err != nil {
			return cfg, fmt.Errorf("--kafka-config: %w", err)
		}
		if len(unknown) > 0 {
			a.log.Debug("properties not used by turnstile", "file", c.kafkaConfig, "keys", unknown)
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}
