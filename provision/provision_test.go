package provision_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/turnstile-streams/turnstile/clientconf"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/provision"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

func admin(t *testing.T, cc clientconf.Config) *kadm.Client {
	t.Helper()
	opts, err := cc.KgoOpts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func pipelineSpecs(partitions int) []processors.TopicSpec {
	cfg := processors.Config{Partitions: partitions}
	cfg.Defaults()
	return cfg.TopicSpecs()
}

// TestCreateAndList: Create makes every topic the pipeline needs as a
// member would, once; List then reports each as wanted, and reports a
// topic that does not fit.
func TestCreateAndList(t *testing.T) {
	b := testenv.Broker(t, "")
	adm := admin(t, clientconf.Config{Brokers: []string{b.Addr()}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	specs := pipelineSpecs(4)
	// An operator made the readings topic by hand with the wrong count.
	testenv.CreateTopic(t, b.Addr(), processors.DefaultTopics().Readings, 2, nil)

	created, err := provision.Create(ctx, adm, specs, 1)
	var ce *provision.CreateError
	if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "has 2 partitions, the pipeline needs 4") {
		t.Fatalf("Create over a mis-sized co-partitioned topic: created %v, err %v", created, err)
	}
	topics, err := provision.List(ctx, adm, specs)
	if err != nil {
		t.Fatal(err)
	}
	problems := map[string][]string{}
	for _, tp := range topics {
		if p := tp.Problems(); len(p) > 0 {
			problems[tp.Name] = p
		}
	}
	if got := problems[processors.DefaultTopics().Readings]; len(got) != 1 || got[0] != "2 partitions, the pipeline needs 4" {
		t.Errorf("readings topic problems %v", got)
	}

	// Recreate it right; then everything is created once.
	if resp, err := adm.DeleteTopic(ctx, processors.DefaultTopics().Readings); err != nil || resp.Err != nil {
		t.Fatalf("delete: %v %v", err, resp.Err)
	}
	if _, err := provision.Create(ctx, adm, specs, 1); err != nil {
		t.Fatal(err)
	}
	again, err := provision.Create(ctx, adm, specs, 1)
	if err != nil || len(again) > 0 {
		t.Fatalf("second Create: created %v, err %v", again, err)
	}
	topics, err = provision.List(ctx, adm, specs)
	if err != nil {
		t.Fatal(err)
	}
	if len(topics) != len(specs) {
		t.Fatalf("%d topics listed for %d specs", len(topics), len(specs))
	}
	for i, tp := range topics {
		if tp.Name != specs[i].Name || !tp.Exists || len(tp.Problems()) > 0 || tp.Replication != 1 {
			t.Errorf("%+v: problems %v", tp, tp.Problems())
		}
		if tp.Name == "turnstile-windows-table" && tp.Configs["cleanup.policy"] != "compact" {
			t.Errorf("changelog configs %v", tp.Configs)
		}
	}
	var buf bytes.Buffer
	if err := provision.WriteTable(&buf, topics); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "turnstile-generations") || strings.Count(buf.String(), " ok\n") != len(specs) {
		t.Errorf("table:\n%s", buf.String())
	}
}

// TestCreateDenied: a user who may write but not create topics gets a
// CreateError naming the missing topic, at once, with Denied set; topics
// that exist are fine.
func TestCreateDenied(t *testing.T) {
	r := testenv.RestrictedBroker(t, "producer", "producer-password",
		testenv.AllowTopics(kmsg.ACLOperationWrite), testenv.AllowTopics(kmsg.ACLOperationDescribeConfigs))
	user := clientconf.Config{Brokers: []string{r.Addr}, SecurityProtocol: clientconf.SASLPlaintext, SASLMechanism: clientconf.MechPlain,
		SASLUsername: "producer", SASLPassword: "producer-password"}
	op := user
	op.SASLUsername, op.SASLPassword = testenv.AdminUser, testenv.AdminPassword
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	input := processors.DefaultTopics().Input
	specs, err := provision.Select(pipelineSpecs(3), input)
	if err != nil || len(specs) != 1 {
		t.Fatalf("Select: %v %v", specs, err)
	}

	start := time.Now()
	_, err = provision.Create(ctx, admin(t, user), specs, 1)
	var ce *provision.CreateError
	if !errors.As(err, &ce) || ce.Topic != input || !ce.Denied() || !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("Create as a user without CREATE: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	if !strings.Contains(err.Error(), "topic "+input+" does not exist and could not be created") {
		t.Errorf("message: %v", err)
	}

	// The operator creates it; then the user's Create finds it.
	if created, err := provision.Create(ctx, admin(t, op), specs, 1); err != nil || !slices.Equal(created, []string{input}) {
		t.Fatalf("Create as the superuser: %v %v", created, err)
	}
	if created, err := provision.Create(ctx, admin(t, user), specs, 1); err != nil || len(created) > 0 {
		t.Fatalf("Create as the user over the existing topic: %v %v", created, err)
	}
}

func TestSelect(t *testing.T) {
	specs := pipelineSpecs(6)
	tests := []struct {
		name    string
		names   []string
		want    []string
		wantErr string
	}{
		{"none is all", nil, nil, ""},
		{"in the specs' order", []string{"turnstile-windows-loop", "mta-turnstile"}, []string{"mta-turnstile", "turnstile-windows-loop"}, ""},
		{"unknown", []string{"mta-turnstyle"}, nil, "mta-turnstyle is not a topic of the pipeline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := provision.Select(specs, tt.names...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range got {
				names = append(names, s.Name)
			}
			if tt.want == nil {
				if len(got) != len(specs) {
					t.Fatalf("%d of %d", len(got), len(specs))
				}
				return
			}
			if !slices.Equal(names, tt.want) {
				t.Fatalf("got %v, want %v", names, tt.want)
			}
		})
	}
}
