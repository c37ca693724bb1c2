package processors_test

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riferrei/srclient"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/state"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestTopology checks the graph's one description for the default names
// and for custom ones: the derived lists against golden files
// (go test -run TestTopology -update rewrites them), and the rules every
// topology keeps: each topic a stage reads or writes is created exactly
// once, each stage's upstream comes before it and writes its input, the
// consumer groups cover every goka group and relay, and Config's
// TopicSpecs, ConsumerGroups and Stages are the topology's.
func TestTopology(t *testing.T) {
	custom := processors.Topics{
		Topics:   schemas.Topics{Input: "in", DeviceWindows: "dev-out", StationWindows: "st-out", DeadLetters: "dlq", Late: "late"},
		Readings: "by-station", Generations: "gens",
	}
	for _, tc := range []struct {
		name   string
		cfg    processors.Config
		golden string
	}{
		{"default names", processors.Config{}, "topology-default.golden"},
		{"custom names", processors.Config{Topics: custom, Groups: processors.Groups{Ingest: "a", Windows: "b"},
			Partitions: 12, MinCompactionLag: 30 * time.Minute}, "topology-custom.golden"},
		// An input of another partition count: the ingest stage re-keys.
		{"input partitions differ", processors.Config{InputPartitions: 4}, "topology-ingest.golden"},
		{"custom names, input partitions differ", processors.Config{Topics: custom, Groups: processors.Groups{Ingest: "a", Windows: "b"},
			Partitions: 12, InputPartitions: 3, MinCompactionLag: 30 * time.Minute}, "topology-custom-ingest.golden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Defaults()
			topo := cfg.Topology()
			golden(t, tc.golden, render(topo))
			checkTopology(t, cfg, topo)
			if tc.cfg.Topics != (processors.Topics{}) {
				// Nothing of the default names is left in a custom graph.
				got := render(topo)
				for _, d := range defaultNames() {
					for _, f := range strings.Fields(got) {
						if strings.Trim(f, ",:()") == d {
							t.Errorf("custom topology names the default %q", d)
						}
					}
				}
			}
		})
	}
}

func checkTopology(t *testing.T, cfg processors.Config, topo processors.Topology) {
	t.Helper()
	if got := cfg.TopicSpecs(); !reflect.DeepEqual(got, topo.Topics) {
		t.Errorf("TopicSpecs %v, topology's %v", got, topo.Topics)
	}
	if got := cfg.Stages(); !reflect.DeepEqual(got, topo.Stages) {
		t.Errorf("Stages %v, topology's %v", got, topo.Stages)
	}
	if got := cfg.ConsumerGroups(); !reflect.DeepEqual(got, topo.ConsumerGroups()) {
		t.Errorf("ConsumerGroups %v, topology's %v", got, topo.ConsumerGroups())
	}
	want := []string{processors.StageWindows}
	if !cfg.Direct() {
		want = []string{processors.StageIngest, processors.StageWindows}
	}
	if got := topo.StageNames(); !slices.Equal(got, want) {
		t.Errorf("stages %v, want %v", got, want)
	}

	specs := map[string]processors.TopicSpec{}
	for i, s := range topo.Topics {
		if _, dup := specs[s.Name]; dup || s.Name == "" {
			t.Errorf("topic %q listed twice or empty", s.Name)
		}
		if s.PartitionsOf != "" {
			if _, ok := specs[s.PartitionsOf]; !ok {
				t.Errorf("topic %d %s follows %s, which is not created before it", i, s.Name, s.PartitionsOf)
			}
		}
		specs[s.Name] = s
	}
	// Every configured topic is created.
	tp := cfg.Topics
	for _, name := range []string{tp.Input, tp.DeviceWindows, tp.StationWindows, tp.DeadLetters, tp.Late, tp.Readings, tp.Generations} {
		if _, ok := specs[name]; !ok {
			t.Errorf("topic %s of the config is not created", name)
		}
	}

	var owned []processors.TopicSpec
	touched := map[string]bool{tp.Generations: true}
	seen := map[string]int{}
	groups := map[string]bool{}
	for i, s := range topo.Stages {
		groups[s.Group] = true
		owned = append(owned, s.Topics...)
		// Every topic the stage reads or writes is created.
		for _, name := range append([]string{s.Input, s.Rekeyed, s.Loop, s.Table}, s.Outputs...) {
			if name == "" {
				continue
			}
			touched[name] = true
			if _, ok := specs[name]; !ok {
				t.Errorf("stage %s uses %s, which is not created", s.Name, name)
			}
		}
		if s.Loop == "" || (s.Table == "") != (s.Relay == "") {
			t.Errorf("stage %s: loop %q, table %q, relay %q", s.Name, s.Loop, s.Table, s.Relay)
		}
		if s.Relay != "" {
			groups[s.Relay] = true
		}
		if s.Table != "" && (specs[s.Table].Configs["cleanup.policy"] == nil || *specs[s.Table].Configs["cleanup.policy"] != "compact") {
			t.Errorf("table %s is not compacted", s.Table)
		}
		// The upstream stage comes first and writes the input; only the
		// first stage reads the pipeline's input: the windowed stage,
		// joined by partition with it and re-keying to itself what is not
		// in place (the direct layout), or the ingest stage, for an input
		// of any partition count (its loopback follows it).
		switch {
		case i == 0 && cfg.Direct():
			if s.Upstream != "" || s.Input != tp.Input || s.Rekeyed != tp.Readings || !slices.Contains(s.Outputs, tp.Readings) ||
				s.Table == "" || specs[s.Input].CoPartitioned || int(specs[s.Input].Partitions) != cfg.Partitions {
				t.Errorf("first stage %+v does not read the input %s in place and re-key to itself", s, tp.Input)
			}
		case i == 0:
			if s.Upstream != "" || s.Input != tp.Input || s.Rekeyed != "" || specs[s.Input].CoPartitioned || specs[s.Loop].PartitionsOf != s.Input {
				t.Errorf("first stage %+v does not read the input %s as the pipeline's input", s, tp.Input)
			}
		default:
			up, ok := seen[s.Upstream]
			if !ok || !slices.Contains(topo.Stages[up].Outputs, s.Input) {
				t.Errorf("stage %s: upstream %q does not come before it writing %s", s.Name, s.Upstream, s.Input)
			}
			for _, name := range []string{s.Input, s.Loop, s.Table} {
				if sp, ok := specs[name]; name != "" && ok && (!sp.CoPartitioned || int(sp.Partitions) != cfg.Partitions) {
					t.Errorf("stage %s: %s is not co-partitioned with %d partitions: %+v", s.Name, name, cfg.Partitions, sp)
				}
			}
		}
		seen[s.Name] = i
	}
	// The stages own every topic but the generations one, once.
	if want := append(owned, specs[tp.Generations]); !reflect.DeepEqual(topo.Topics, want) {
		t.Errorf("topics %v, want the stages' %v and the generations topic", topo.Topics, want)
	}
	for name := range specs {
		if !touched[name] {
			t.Errorf("topic %s is created but no stage uses it", name)
		}
	}
	// The consumer groups are every goka group and relay, on created topics.
	for _, g := range topo.ConsumerGroups() {
		if !groups[g.Group] {
			t.Errorf("consumer group %s is neither a stage's group nor its relay", g.Group)
		}
		delete(groups, g.Group)
		for _, name := range g.Topics {
			if _, ok := specs[name]; !ok {
				t.Errorf("group %s lags on %s, which is not created", g.Group, name)
			}
		}
	}
	if len(groups) > 0 {
		t.Errorf("groups without lag: %v", slices.Sorted(maps.Keys(groups)))
	}
}

// render is the topology as the golden files have it.
func render(topo processors.Topology) string {
	var b strings.Builder
	for _, s := range topo.Stages {
		fmt.Fprintf(&b, "stage %s\n", s.Name)
		line := func(k, v string) {
			if v != "" {
				fmt.Fprintf(&b, "  %-9s %s\n", k, v)
			}
		}
		line("group", s.Group)
		line("upstream", s.Upstream)
		line("input", s.Input)
		line("rekeyed", s.Rekeyed)
		line("loop", s.Loop)
		line("table", s.Table)
		line("relay", s.Relay)
		line("outputs", strings.Join(s.Outputs, ", "))
		var owned []string
		for _, t := range s.Topics {
			owned = append(owned, t.Name)
		}
		line("owns", strings.Join(owned, ", "))
	}
	b.WriteString("consumer groups\n")
	for _, g := range topo.ConsumerGroups() {
		fmt.Fprintf(&b, "  %s: %s\n", g.Group, strings.Join(g.Topics, ", "))
	}
	b.WriteString("topics\n")
	for _, t := range topo.Topics {
		fmt.Fprintf(&b, "  %s: partitions %d", t.Name, t.Partitions)
		if t.PartitionsOf != "" {
			fmt.Fprintf(&b, " (as many as %s)", t.PartitionsOf)
		}
		if t.CoPartitioned {
			b.WriteString(", co-partitioned")
		}
		for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
			fmt.Fprintf(&b, ", %s=%s", k, *t.Configs[k])
		}
		b.WriteString("\n")
	}
	return b.String()
}

func defaultNames() []string {
	var c processors.Config
	c.Defaults()
	var out []string
	for _, s := range c.Topology().Stages {
		out = append(out, s.Group, s.Relay)
	}
	for _, t := range c.TopicSpecs() {
		out = append(out, t.Name)
	}
	return slices.DeleteFunc(out, func(s string) bool { return s == "" })
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run TestTopology -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -run TestTopology -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestNewRejectsUnknownStage: a member told to run a stage the topology
// does not have fails at once, naming the stages it has, instead of
// running nothing.
func TestNewRejectsUnknownStage(t *testing.T) {
	cfg := processors.Config{Brokers: []string{"127.0.0.1:1"}, Registry: srclient.CreateMockSchemaRegistryClient("mock://"),
		State: state.Options{Dir: t.TempDir()}, Run: []string{processors.StageWindows, "window"}}
	_, err := processors.New(cfg, nil)
	if err == nil || !strings.Contains(err.Error(), `unknown stage "window"`) || !strings.Contains(err.Error(), "ingest, windows") {
		t.Fatalf("New with Run %v: %v", cfg.Run, err)
	}
	cfg.Run = []string{processors.StageWindows}
	if _, err := processors.New(cfg, nil); err != nil {
		t.Fatalf("New with a known stage: %v", err)
	}
}

func TestCause(t *testing.T) {
	inner := errors.New("mkdir /data/state: permission denied")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{inner, inner.Error()},
		{fmt.Errorf("goka: error setting up partition 3: %w", fmt.Errorf("building storage:\n  %w", inner)), inner.Error()},
		{errors.Join(fmt.Errorf("a: %w", inner), errors.New("b")), inner.Error()},
		{errors.New("two\nlines"), "two lines"},
	} {
		if got := processors.Cause(tc.err); got != tc.want {
			t.Errorf("Cause(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
