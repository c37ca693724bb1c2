package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/turnstile-streams/turnstile/clientconf"
)

// clientFlags are the connection flags of every command that is a Kafka or
// Schema Registry client, so the same binary runs against the embedded
// services or real ones. Every client command takes all of them, so one
// properties file or one set of TURNSTILE_* variables serves every
// command; the help shows only those that change what the command does.
type clientFlags struct {
	brokers          []string
	registryURL      string
	kafkaConfig      string
	registryUser     string
	registryPassword string
	compression      string
}

// uses says which connection settings a command acts on.
type uses uint8

const (
	usesKafka    uses = 1 << iota // --brokers
	usesRegistry                  // --registry-url, --registry-user, --registry-password
	usesProduce                   // --compression: the command produces records
)

// connectionFlags maps each connection flag to what makes it matter.
// --kafka-config always does (it may hold any of the settings).
var connectionFlags = []struct {
	name string
	uses uses
}{
	{"brokers", usesKafka},
	{"kafka-config", 0},
	{"registry-url", usesRegistry},
	{"registry-user", usesRegistry},
	{"registry-password", usesRegistry},
	{"compression", usesProduce},
}

// defaultKafkaAddr is where the embedded broker listens by default
// (--kafka-addr), so also where clients look for Kafka (--brokers).
const defaultKafkaAddr = "127.0.0.1:9092"

func (c *clientFlags) register(fs *pflag.FlagSet, u uses) {
	fs.StringSliceVar(&c.brokers, "brokers", []string{defaultKafkaAddr}, "Kafka bootstrap servers, comma-separated")
	fs.StringVar(&c.kafkaConfig, "kafka-config", "", "Kafka client properties file (bootstrap.servers, security.protocol, sasl.*, ssl.ca.location, schema.registry.url, basic.auth.user.info, compression.type)")
	fs.StringVar(&c.registryURL, "registry-url", "http://"+registryDefaults().Addr, "Schema Registry URL")
	fs.StringVar(&c.registryUser, "registry-user", "", "Schema Registry basic-auth user")
	fs.StringVar(&c.registryPassword, "registry-password", "", "Schema Registry basic-auth password")
	registerCompression(fs, &c.compression)
	for _, f := range connectionFlags {
		if f.uses != 0 && u&f.uses == 0 {
			_ = fs.MarkHidden(f.name)
		}
	}
}

// registerCompression registers --compression (also for dev, which has no
// other connection flags).
func registerCompression(fs *pflag.FlagSet, dst *string) {
	fs.StringVar(dst, "compression", clientconf.DefaultCompression,
		"codec of the record batches this command produces: "+strings.Join(clientconf.Compressions(), ", ")+
			" (none and gzip are the ones stock kafkajs reads; see the README)")
}

// flagProperty maps our flags to the properties-file keys they override.
var flagProperty = map[string]string{
	"brokers":           "bootstrap.servers",
	"registry-url":      "schema.registry.url",
	"registry-user":     "basic.auth.user.info",
	"registry-password": "basic.auth.user.info",
	"compression":       "compression.type",
}

// resolve merges flags, environment and the properties file.
func (c *clientFlags) resolve(a *app, cmd *cobra.Command) (clientconf.Config, error) {
	cfg := clientconf.Config{
		Brokers:          c.brokers,
		RegistryURL:      c.registryURL,
		RegistryUsername: c.registryUser,
		RegistryPassword: c.registryPassword,
		Compression:      c.compression,
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
