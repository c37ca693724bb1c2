package main

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestConnectionFlagsOnEveryClientCommand: every command that talks to
// Kafka or the registry accepts every connection flag (so one properties
// file or one set of TURNSTILE_* variables serves them all), and its help
// shows only those it acts on; no command's help lists a topic flag it
// does not read or write (produce listed every internal topic).
func TestConnectionFlagsOnEveryClientCommand(t *testing.T) {
	all := usesKafka | usesRegistry | usesProduce
	every := allTopicFlags
	type flagCase struct {
		path   string
		client bool // a Kafka or registry client: takes every connection flag
		uses   uses
		topics []string // topic flags in the help
		// listens: --brokers and --registry-url say where the command's
		// embedded services listen.
		listens bool
	}
	tests := []flagCase{
		{path: ""},
		{path: "broker"},
		// dev listens where --brokers and --registry-url point; it has
		// no client credentials or properties file.
		{path: "dev", uses: usesProduce, topics: every, listens: true},
		{path: "registry", client: true, uses: usesKafka | usesProduce},
		{path: "schemas", client: true, uses: usesRegistry},
		{path: "schemas register", client: true, uses: usesRegistry, topics: []string{flagInputTopic, flagDeviceTopic, flagStationTopic, flagLateTopic}},
		{path: "schemas check", client: true, uses: usesRegistry},
		{path: "schemas list", client: true, uses: usesRegistry},
		{path: "produce", client: true, uses: all, topics: []string{flagInputTopic}},
		{path: "process", client: true, uses: all, topics: every},
		{path: "replay", client: true, uses: usesKafka | usesProduce,
			topics: []string{flagInputTopic, flagReadingsTopic, flagGenerationsTopic}},
		{path: "status", client: true, uses: usesKafka, topics: []string{flagInputTopic, flagDeviceTopic, flagStationTopic,
			flagDLQTopic, flagLateTopic, flagReadingsTopic}},
		// The lake-writer's own --device-topic and --station-topic.
		{path: "lake", client: true, uses: usesKafka | usesRegistry, topics: []string{flagDeviceTopic, flagStationTopic}},
		{path: "lake compact"},
		{path: "topics", client: true, uses: usesKafka, topics: every},
		{path: "topics create", client: true, uses: usesKafka, topics: every},
		{path: "topics list", client: true, uses: usesKafka, topics: every},
	}

	// Every command is in the table, so a new one must say what it is.
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{}, func(string) (string, bool) { return "", false })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := strings.Join(strings.Fields(c.CommandPath())[1:], " ")
		if !slices.ContainsFunc(tests, func(tt flagCase) bool { return tt.path == path }) {
			t.Errorf("command %q is not in the table", path)
		}
		for _, sub := range c.Commands() {
			if sub.Name() != "help" && sub.Name() != "completion" {
				walk(sub)
			}
		}
	}
	walk(root)

	flagLine := regexp.MustCompile(`^\s+(?:-\w, )?--([a-z0-9-]+)`)
	for _, tt := range tests {
		t.Run("/"+tt.path, func(t *testing.T) {
			args := strings.Fields(tt.path)
			if tt.client {
				root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{}, func(string) (string, bool) { return "", false })
				c, _, err := root.Find(args)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.ParseFlags([]string{"--brokers=b:9092", "--kafka-config=/etc/client.properties", "--registry-url=http://r:8081",
					"--registry-user=u", "--registry-password=p", "--compression=gzip"}); err != nil {
					t.Errorf("turnstile %s does not take every connection flag: %v", tt.path, err)
				}
			}
			out, _, err := runCLI(t, context.Background(), nil, append(args, "--help")...)
			if err != nil {
				t.Fatal(err)
			}
			shown := map[string]bool{}
			for _, line := range strings.Split(out, "\n") {
				if m := flagLine.FindStringSubmatch(line); m != nil {
					shown[m[1]] = true
				}
			}
			for _, f := range connectionFlags {
				want := tt.client && (f.uses == 0 || tt.uses&f.uses != 0) || !tt.client && f.uses != 0 && tt.uses&f.uses != 0 ||
					tt.listens && (f.name == "brokers" || f.name == "registry-url")
				if shown[f.name] != want {
					t.Errorf("turnstile %s --help shows --%s: %v, want %v", tt.path, f.name, shown[f.name], want)
				}
			}
			for _, f := range allTopicFlags {
				if want := slices.Contains(tt.topics, f); shown[f] != want {
					t.Errorf("turnstile %s --help shows --%s: %v, want %v", tt.path, f, shown[f], want)
				}
			}
		})
	}
}
