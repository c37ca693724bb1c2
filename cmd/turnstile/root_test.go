package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runCLI runs the turnstile command tree in-process with the given
// environment.
func runCLI(t *testing.T, ctx context.Context, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

func TestHelpOnEveryCommand(t *testing.T) {
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{}, func(string) (string, bool) { return "", false })
	var walk func(c *cobra.Command)
	var paths [][]string
	walk = func(c *cobra.Command) {
		paths = append(paths, strings.Fields(c.CommandPath())[1:])
		for _, sub := range c.Commands() {
			if sub.Name() != "help" && sub.Name() != "completion" {
				walk(sub)
			}
		}
	}
	walk(root)
	if len(paths) < 3 {
		t.Fatalf("only %d commands", len(paths))
	}
	for _, p := range paths {
		out, _, err := runCLI(t, context.Background(), nil, append(p, "--help")...)
		if err != nil {
			t.Fatalf("%v --help: %v", p, err)
		}
		if !strings.Contains(out, "Usage:") {
			t.Fatalf("%v --help printed no usage:\n%s", p, out)
		}
		// Every flag documents its environment variable.
		inFlags := false
		for _, line := range strings.Split(out, "\n") {
			switch {
			case strings.HasSuffix(line, "Flags:"):
				inFlags = true
			case line == "" || !strings.HasPrefix(line, " "):
				inFlags = false
			case inFlags && strings.HasPrefix(strings.TrimSpace(line), "-") && !strings.Contains(line, "--help") &&
				!strings.Contains(line, "[$TURNSTILE_"):
				t.Errorf("%v: flag without env var: %s", p, line)
			}
		}
	}
}

func TestBindEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    map[string]string
		wantErr string
	}{
		{"env sets unset flag", nil, map[string]string{"TURNSTILE_REGISTRY_URL": "http://r:1", "TURNSTILE_BROKERS": "a:1,b:2"},
			map[string]string{"registry-url": "http://r:1", "brokers": "[a:1,b:2]"}, ""},
		{"command line wins", []string{"--registry-url=http://flag"}, map[string]string{"TURNSTILE_REGISTRY_URL": "http://env"},
			map[string]string{"registry-url": "http://flag"}, ""},
		{"dashes become underscores", nil, map[string]string{"TURNSTILE_KAFKA_CONFIG": "/x.properties"},
			map[string]string{"kafka-config": "/x.properties"}, ""},
		{"bad value names the variable", nil, map[string]string{"TURNSTILE_COUNT": "many"}, nil, "TURNSTILE_COUNT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
			var cf clientFlags
			cf.register(fs, usesKafka|usesRegistry|usesProduce)
			fs.Int("count", 1, "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := bindEnv(fs, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.want {
				if got := fs.Lookup(name).Value.String(); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}
