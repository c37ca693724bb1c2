package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/turnstile-streams/turnstile/schemas"
)

func newSchemasCmd(a *app) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "schemas",
		Short: "Register, check and list the pipeline's Avro schemas",
	}
	cf.register(cmd.PersistentFlags(), usesRegistry)
	registryConfig := func(cmd *cobra.Command) (schemas.RegistryConfig, error) {
		cfg, err := cf.resolve(a, cmd)
		if err != nil {
			return schemas.RegistryConfig{}, err
		}
		return schemas.RegistryConfig{URL: cfg.RegistryURL, HTTPClient: cfg.RegistryHTTPClient()}, nil
	}
	cmd.AddCommand(newSchemasRegisterCmd(a, registryConfig), newSchemasCheckCmd(a, registryConfig), newSchemasListCmd(a, registryConfig))
	return cmd
}

// registryConfigFunc is the registry settings of the schemas command's
// flags, resolved when a subcommand runs.
type registryConfigFunc func(*cobra.Command) (schemas.RegistryConfig, error)

func newSchemasRegisterCmd(a *app, registryConfig registryConfigFunc) *cobra.Command {
	var topics topicFlags
	register := &cobra.Command{
		Use:   "register",
		Short: "Register every schema under its topic's subject (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := registryConfig(cmd)
			if err != nil {
				return err
			}
			res, err := schemas.Register(cmd.Context(), schemas.RegisterConfig{Registry: reg, Topics: topics.schemaTopics()})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "SUBJECT\tSCHEMA\tVERSION\tID\tSTATUS")
			for _, r := range res {
				status := "already registered"
				switch {
				case r.Created:
					status = "registered"
				case r.Skipped:
					status = "skipped (a newer version is the subject's latest)"
				}
				fmt.Fprintf(w, "%s\t%s v%d\t%d\t%d\t%s\n", r.Subject, r.Name, r.Version, r.RegistryVersion, r.ID, status)
			}
			return w.Flush()
		},
	}
	// The topics with a schema, whose subjects register registers.
	topics.register(register.Flags(), flagInputTopic, flagDeviceTopic, flagStationTopic, flagLateTopic)
	return register
}

func newSchemasCheckCmd(a *app, registryConfig registryConfigFunc) *cobra.Command {
	var (
		subject    string
		newSubject bool
	)
	check := &cobra.Command{
		Use:   "check FILE --subject S",
		Short: "Check an .avsc file against a subject's latest version (run before deploying a new schema)",
		Long: `Checks that FILE is an Avro schema (a JSON syntax error is reported as
FILE:LINE:COLUMN, a bad field by its name), then asks the registry whether it
is compatible with the latest version of --subject under the subject's
compatibility level.

Exit codes: 0 compatible (or the first schema of a new subject); 1
incompatible (with the registry's reasons), an invalid schema, or any other
error; 2 --subject does not exist while the registry has other subjects
(most likely misspelt: the closest existing subject is named). To check the
first schema of a subject that is meant to be new, add --new-subject.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := registryConfig(cmd)
			if err != nil {
				return err
			}
			text, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			res, err := schemas.Check(cmd.Context(), schemas.CheckConfig{Registry: reg, Subject: subject, Schema: string(text), NewSubject: newSubject})
			return reportCheck(a.stdout, args[0], subject, res, err)
		},
	}
	check.Flags().StringVar(&subject, "subject", "", "subject to check against, e.g. mta-turnstile-value")
	check.Flags().BoolVar(&newSubject, "new-subject", false, "the subject is meant to be new: a subject without versions is not an error (exit 2) even when others exist")
	_ = check.MarkFlagRequired("subject")
	return check
}

// reportCheck says what schemas.Check found for file against subject:
// compatible on stdout; an invalid schema as file:line:column; an unknown
// subject as exit code 2 with the closest one; an incompatible schema with
// the registry's reasons on stdout.
func reportCheck(stdout io.Writer, file, subject string, res schemas.CheckResult, err error) error {
	var (
		inc     *schemas.IncompatibleError
		invalid *schemas.SchemaError
		unknown *schemas.UnknownSubjectError
	)
	if errors.As(err, &invalid) {
		if invalid.Line > 0 {
			return fmt.Errorf("%s:%d:%d: %s", file, invalid.Line, invalid.Column, invalid.Msg)
		}
		return fmt.Errorf("%s: %s", file, invalid.Msg)
	}
	if errors.As(err, &unknown) {
		return &exitError{code: 2, err: fmt.Errorf("subject %s does not exist; did you mean %s? (%d subjects: turnstile schemas list; for a new subject add --new-subject)",
			subject, unknown.Closest, len(unknown.Subjects))}
	}
	if errors.As(err, &inc) {
		fmt.Fprintf(stdout, "INCOMPATIBLE with %s:\n", subject)
		for _, m := range inc.Messages {
			fmt.Fprintf(stdout, "  - %s\n", m)
		}
		return fmt.Errorf("schema %s is not compatible with %s", file, subject)
	}
	if err != nil {
		return err
	}
	if res.NewSubject {
		fmt.Fprintf(stdout, "compatible: %s has no versions yet; the schema would be its first\n", subject)
	} else {
		fmt.Fprintf(stdout, "compatible with the latest version of %s\n", subject)
	}
	return nil
}

func newSchemasListCmd(a *app, registryConfig registryConfigFunc) *cobra.Command {
	var all bool
	list := &cobra.Command{
		Use:   "list [SUBJECT...]",
		Short: "List subjects with their latest (or, with --all, every) version",
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := registryConfig(cmd)
			if err != nil {
				return err
			}
			res, err := schemas.List(cmd.Context(), schemas.ListConfig{Registry: reg, Subjects: args, AllVersions: all})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "SUBJECT\tVERSION\tID\tSCHEMA")
			for _, r := range res {
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", r.Subject, r.Version, r.ID, r.Name)
			}
			return w.Flush()
		},
	}
	list.Flags().BoolVar(&all, "all", false, "every version, not just the latest")
	return list
}
