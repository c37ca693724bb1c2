package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envPrefix prefixes the environment variable of every flag:
// --registry-url is also TURNSTILE_REGISTRY_URL.
const envPrefix = "TURNSTILE_"

// app is what every command shares: output streams, the environment and the
// logger built from the global flags.
type app struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)

	logLevel  string
	logFormat string
	log       *slog.Logger
}

func newRootCmd(stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr, lookupEnv: lookupEnv}
	root := &cobra.Command{
		Use:   "turnstile",
		Short: "Stateful stream processing of NYC subway turnstile readings",
		Long: `turnstile reads Avro turnstile readings from Kafka, keeps event-time windows in
goka tables (Pebble + changelog topics), emits closed windows to a sink topic
and writes them to a data lake.

Every flag can also be set with an environment variable TURNSTILE_<FLAG>
(upper case, dashes as underscores), e.g. TURNSTILE_BROKERS.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd.Flags(), a.lookupEnv); err != nil {
				return err
			}
			return a.setupLogger()
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&a.logFormat, "log-format", "text", "log format: text or json")

	root.AddCommand(
		newBrokerCmd(a),
		newRegistryCmd(a),
		newDevCmd(a),
		newSchemasCmd(a),
		newProduceCmd(a),
		newProcessCmd(a),
		newReplayCmd(a),
		newLakeCmd(a),
		newStatusCmd(a),
		newTopicsCmd(a),
	)
	documentEnv(root)
	return root
}

func (a *app) setupLogger() error {
	h, err := a.logHandler(a.stderr)
	if err != nil {
		return err
	}
	a.log = slog.New(h)
	return nil
}

// logHandler is the handler --log-level and --log-format ask for, writing
// to w.
func (a *app) logHandler(w io.Writer) (slog.Handler, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(a.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch a.logFormat {
	case "text":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, fmt.Errorf("--log-format: want text or json, got %q", a.logFormat)
}

// envName is the environment variable for a flag.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// bindEnv sets every flag not given on the command line from its
// environment variable. Such a flag then counts as set explicitly, so the
// precedence is: command line, environment, --kafka-config file, default.
func bindEnv(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		v, ok := lookupEnv(envName(f.Name))
		if !ok {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = fmt.Errorf("%s: %w", envName(f.Name), serr)
		}
	})
	return err
}

// documentEnv appends each flag's environment variable to its help text.
func documentEnv(cmd *cobra.Command) {
	add := func(f *pflag.Flag) {
		suffix := " [$" + envName(f.Name) + "]"
		if !strings.HasSuffix(f.Usage, suffix) {
			f.Usage += suffix
		}
	}
	cmd.LocalFlags().VisitAll(add)
	cmd.PersistentFlags().VisitAll(add)
	for _, c := range cmd.Commands() {
		documentEnv(c)
	}
}
