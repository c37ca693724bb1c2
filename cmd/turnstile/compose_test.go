package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// TestComposeUsesRealFlags keeps docker-compose.yml honest: every service
// built from this repo runs a real subcommand, and every TURNSTILE_*
// variable it sets is the environment variable of a flag of that command.
func TestComposeUsesRealFlags(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Build       any               `yaml:"build"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{}, func(string) (string, bool) { return "", false })
	ours := 0
	for name, svc := range compose.Services {
		if svc.Build == nil {
			continue
		}
		ours++
		cmd, rest, err := root.Find(svc.Command)
		if err != nil || cmd == root || len(rest) > 0 {
			t.Errorf("service %s: command %v is not a turnstile subcommand", name, svc.Command)
			continue
		}
		known := map[string]bool{}
		for c := cmd; c != nil; c = c.Parent() {
			collect := func(c *cobra.Command) {
				c.LocalFlags().VisitAll(func(f *pflag.Flag) { known[envName(f.Name)] = true })
				c.PersistentFlags().VisitAll(func(f *pflag.Flag) { known[envName(f.Name)] = true })
			}
			collect(c)
		}
		for k := range svc.Environment {
			if !strings.HasPrefix(k, envPrefix) {
				continue
			}
			if !known[k] {
				t.Errorf("service %s (turnstile %s) sets %s, which no flag of that command reads", name, strings.Join(svc.Command, " "), k)
			}
		}
	}
	if ours < 4 {
		t.Fatalf("only %d services build this repo", ours)
	}
}
