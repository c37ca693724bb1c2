package main

import (
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/turnstile-streams/turnstile/schemas"
)

func newSchemasCmd(a *app) *cobra.Command {
	var (
		cf     clientFlags
		topics topicFlags
	)
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
			var (
				inc     *schemas.IncompatibleError
				invalid *schemas.SchemaError
				unknown *schemas.UnknownSubjectError
			)
			if errors.As(err, &invalid) {
				if invalid.Line > 0 {
					return fmt.Errorf("%s:%d:%d: %s", args[0], invalid.Line, invalid.Column, invalid.Msg)
				}
				return fmt.Errorf("%s: %s", args[0], invalid.Msg)
			}
			if errors.As(err, &unknown) {
				return &exitError{code: 2, err: fmt.Errorf("subject %s does not exist; did you mean %s? (%d subjects: turnstile schemas list; for a new subject add --new-subject)",
					subject, unknown.Closest, len(unknown.Subjects))}
			}
			if errors.As(err, &inc) {
				fmt.Fprintf(a.stdout, "INCOMPATIBLE with %s:\n", subject)
				for _, m := range inc.Messages {
					fmt.Fprintf(a.stdout, "  - %s\n", m)
				}
				return fmt.Errorf("schema %s is not compatible with %s", args[0], subject)
			}
			if err != nil {
				return err
			}
			if res.NewSubject {
				fmt.Fprintf(a.stdout, "compatible: %s has no versions yet; the schema would be its first\n", subject)
			} else {
				fmt.Fprintf(a.stdout, "compatible with the latest version of %s\n", subject)
			}
			return nil
		},
	}
	check.Flags().StringVar(&subject, "subject", "", "subject to check against, e.g. mta-turnstile-value")
	check.Flags().BoolVar(&newSubject, "new-subject", false, "the subject is meant to be new: a subject without versions is not an error (exit 2) even when others exist")
	_ = check.MarkFlagRequired("subject")

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
	cmd.AddCommand(register, check, list)
	return cmd
}
