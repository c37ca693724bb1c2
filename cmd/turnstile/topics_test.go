package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestProduceOnAFreshStack: on a fresh stack (broker, registry, schemas
// register, then produce, before any process ran) produce creates the input
// topic as the pipeline would, instead of ending with
// UNKNOWN_TOPIC_OR_PARTITION; a user who may not create topics gets, within
// 10 s, the topic's name and the command to run, and that command (turnstile
// topics create, as an operator) makes produce work.
func TestProduceOnAFreshStack(t *testing.T) {
	input := processors.DefaultTopics().Input
	produceArgs := []string{"produce", "--limit", "200", "--speed=-1", "--start", "2024-01-06T00:00:00Z", "--progress", "off"}

	t.Run("creates the input topic", func(t *testing.T) {
		b := testenv.Broker(t, "")
		r := testenv.Registry(t, b.Addr())
		env := map[string]string{"TURNSTILE_BROKERS": b.Addr(), "TURNSTILE_REGISTRY_URL": r.URL()}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if out, _, err := runCLI(t, ctx, env, "schemas", "register"); err != nil {
			t.Fatalf("schemas register: %v\n%s", err, out)
		}
		out, errOut, err := runCLI(t, ctx, env, append(produceArgs, "--partitions", "3")...)
		if err != nil || !strings.Contains(out, "sent 200 records") {
			t.Fatalf("produce: %v\n%s\n%s", err, out, errOut)
		}
		if !strings.Contains(errOut, `msg="created topic" topic=`+input+` partitions=3`) {
			t.Errorf("produce did not log the topic it created:\n%s", errOut)
		}
		// --limit bounds the input: its end is declared for the pipeline.
		if !strings.Contains(errOut, `msg="producer: declared the end of the input" group=`+schemas.InputEndGroup) {
			t.Errorf("produce did not declare the end of its input:\n%s", errOut)
		}
		// The topic is the one process would have made; topics list agrees.
		out, _, err = runCLI(t, ctx, env, "topics", "list", "--partitions", "3")
		if err != nil {
			t.Fatal(err)
		}
		line := lineWith(out, input+" ")
		if !strings.Contains(line, " 3 ") || !strings.HasSuffix(line, " ok") {
			t.Errorf("topics list: %q\n%s", line, out)
		}
		if !strings.Contains(lineWith(out, "turnstile-windows-table"), "missing") {
			t.Errorf("topics list shows the changelog, which nothing created yet, as present:\n%s", out)
		}
	})

	t.Run("without permission to create it", func(t *testing.T) {
		// The registry keeps its schemas on a broker of its own; the
		// pipeline's cluster lets "producer" write but not create topics.
		plain := testenv.Broker(t, "")
		r := testenv.Registry(t, plain.Addr())
		acl := testenv.RestrictedBroker(t, "producer", "producer-pw", testenv.AllowTopics(kmsg.ACLOperationWrite))
		dir := t.TempDir()
		props := func(name, user, pass string) string {
			p := filepath.Join(dir, name)
			text := "bootstrap.servers=" + acl.Addr + "\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n" +
				"sasl.username=" + user + "\nsasl.password=" + pass + "\nschema.registry.url=" + r.URL() + "\n"
			if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
		producerProps, adminProps := props("producer.properties", "producer", "producer-pw"), props("admin.properties", testenv.AdminUser, testenv.AdminPassword)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if out, _, err := runCLI(t, ctx, nil, "schemas", "register", "--kafka-config", producerProps); err != nil {
			t.Fatalf("schemas register: %v\n%s", err, out)
		}

		start := time.Now()
		out, errOut, err := runCLI(t, ctx, nil, append(produceArgs, "--kafka-config", producerProps, "--rate", "50")...)
		took := time.Since(start)
		if err == nil {
			t.Fatalf("produce without permission to create the topic succeeded:\n%s", out)
		}
		msg := err.Error()
		for _, want := range []string{"topic " + input + " does not exist", "this user may not create topics",
			"turnstile topics create " + input + " --partitions 6 --replication 1", "TOPIC_AUTHORIZATION_FAILED"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error lacks %q:\n%s", want, msg)
			}
		}
		t.Logf("after %v:\nturnstile: %s", took.Round(time.Millisecond), msg)
		if took > 10*time.Second {
			t.Errorf("failed after %v, want within 10s", took)
		}
		if !strings.Contains(out, "sent 0 records") {
			t.Errorf("stdout: %s\nstderr: %s", out, errOut)
		}

		// The operator runs what it said; then the producer can produce.
		out, _, err = runCLI(t, ctx, nil, "topics", "create", input, "--kafka-config", adminProps)
		if err != nil || !strings.HasSuffix(lineWith(out, input+" "), " created") || !strings.Contains(out, "created 1 of 1 topics") {
			t.Fatalf("topics create: %v\n%s", err, out)
		}
		out, errOut, err = runCLI(t, ctx, nil, append(produceArgs, "--kafka-config", producerProps)...)
		if err != nil || !strings.Contains(out, "sent 200 records") {
			t.Fatalf("produce after topics create: %v\n%s\n%s", err, out, errOut)
		}
		// This user may not commit to the group where the end of the
		// input is declared: a warning, not a failed produce.
		if !strings.Contains(errOut, "could not declare the end of the input") {
			t.Errorf("produce without access to %s did not say so:\n%s", schemas.InputEndGroup, errOut)
		}
	})
}

// TestTopicsCreate: turnstile topics create makes every topic of the
// pipeline as process would (partitions, compacted changelogs, the
// one-partition generations topic), once; topics list then shows them ok.
func TestTopicsCreate(t *testing.T) {
	b := testenv.Broker(t, "")
	env := map[string]string{"TURNSTILE_BROKERS": b.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _, err := runCLI(t, ctx, env, "topics", "create", "--partitions", "4")
	if err != nil || !strings.Contains(out, "created 9 of 9 topics") {
		t.Fatalf("topics create: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, ctx, env, "topics", "create", "--partitions", "4")
	if err != nil || !strings.Contains(out, "created 0 of 9 topics") {
		t.Fatalf("topics create again: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, ctx, env, "topics", "list", "--partitions", "4")
	if err != nil || strings.Count(out, " ok\n") != 9 {
		t.Fatalf("topics list: %v\n%s", err, out)
	}
	if l := lineWith(out, "turnstile-windows-table"); !strings.Contains(l, "cleanup.policy=compact,min.compaction.lag.ms=3600000") {
		t.Errorf("changelog: %q", l)
	}
	// With another partition count the co-partitioned topics do not fit.
	out, _, err = runCLI(t, ctx, env, "topics", "list", "--partitions", "6")
	if err != nil || !strings.Contains(lineWith(out, "turnstile-readings"), "4 partitions, the pipeline needs 6") {
		t.Fatalf("topics list --partitions 6: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, ctx, env, "topics", "create", "--partitions", "6"); err == nil || !strings.Contains(err.Error(), "has 4 partitions, the pipeline needs 6") {
		t.Errorf("topics create over mis-sized topics: %v", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx, "turnstile-generations")
	if err != nil || len(td["turnstile-generations"].Partitions) != 1 {
		t.Errorf("generations topic: %v %v", td, err)
	}
}

// lineWith returns the first line of s containing sub, trimmed.
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
