package main

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/turnstile-streams/turnstile/broker"
)

// brokerFlags configure the embedded broker (turnstile broker, turnstile dev).
type brokerFlags struct {
	kafkaAddr      string
	advertisedHost string
	autoCreate     bool
	syncWrites     bool
	partitions     int
	saslUsers      []string
	tlsCert        string
	tlsKey         string
}

func (b *brokerFlags) register(fs *pflag.FlagSet) {
	var d broker.Config
	d.Defaults()
	fs.StringVar(&b.kafkaAddr, "kafka-addr", defaultKafkaAddr, "address the embedded Kafka broker listens on")
	fs.StringVar(&b.advertisedHost, "advertised-host", "", "host the broker tells clients to connect to (default: the --kafka-addr host)")
	fs.BoolVar(&b.autoCreate, "auto-create-topics", false, "let clients create topics implicitly (the pipeline never needs it)")
	fs.BoolVar(&b.syncWrites, "sync-writes", false, "fsync every produced batch (slower; survives power loss)")
	fs.IntVar(&b.partitions, "default-partitions", d.DefaultPartitions, "partitions of topics created without an explicit count")
	fs.StringSliceVar(&b.saslUsers, "sasl-user", nil, "enable SASL with a user MECHANISM:NAME:PASSWORD (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512); repeatable")
	fs.StringVar(&b.tlsCert, "tls-cert", "", "serve Kafka over TLS with this PEM certificate")
	fs.StringVar(&b.tlsKey, "tls-key", "", "PEM private key for --tls-cert")
}

func (b *brokerFlags) config(a *app, dataDir string) (broker.Config, error) {
	cfg := broker.Config{
		Addr:              b.kafkaAddr,
		AdvertisedHost:    b.advertisedHost,
		DataDir:           broker.DataDirFor(dataDir),
		SyncWrites:        b.syncWrites,
		AutoCreateTopics:  b.autoCreate,
		DefaultPartitions: b.partitions,
		Logger:            a.log,
	}
	for _, u := range b.saslUsers {
		mech, rest, ok1 := strings.Cut(u, ":")
		name, pass, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || name == "" {
			return cfg, fmt.Errorf("--sasl-user: want MECHANISM:NAME:PASSWORD, got %q", mech+":…")
		}
		cfg.Users = append(cfg.Users, broker.User{Mechanism: strings.ToUpper(mech), Name: name, Password: pass})
	}
	if (b.tlsCert == "") != (b.tlsKey == "") {
		return cfg, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if b.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(b.tlsCert, b.tlsKey)
		if err != nil {
			return cfg, fmt.Errorf("--tls-cert: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return cfg, nil
}

func newBrokerCmd(a *app) *cobra.Command {
	var (
		bf      brokerFlags
		dataDir string
	)
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker",
		Long: `Runs a single-node Kafka-protocol broker (franz-go kfake) that any Kafka client
can use. State (topics, records, committed offsets, groups) persists under
<data-dir>/kafka and survives restarts. Topics are not auto-created unless
--auto-create-topics is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := bf.config(a, dataDir)
			if err != nil {
				return err
			}
			b, err := broker.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer b.Close()
			a.log.Info("broker ready", "addr", b.Addr(), "data_dir", cfg.DataDir)
			<-cmd.Context().Done()
			a.log.Info("broker stopping: flushing state to disk")
			return nil
		},
	}
	bf.register(cmd.Flags())
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir, "data directory (broker files in <data-dir>/kafka)")
	return cmd
}
