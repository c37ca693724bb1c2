package registry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/registry"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// snapshot is everything a client can read from a registry, as raw
// answers keyed by path.
func snapshot(t *testing.T, base string) map[string]string {
	t.Helper()
	out := map[string]string{}
	get := func(path string) string {
		r := call(t, "GET", base+path, "")
		out[path] = fmt.Sprintf("%d %s", r.status, r.body)
		return string(r.body)
	}
	get("/config")
	get("/subjects")
	var subjects []string
	if err := json.Unmarshal([]byte(get("/subjects?deleted=true")), &subjects); err != nil {
		t.Fatal(err)
	}
	for _, s := range subjects {
		get("/config/" + s)
		get("/subjects/" + s + "/versions")
		var versions []int
		if err := json.Unmarshal([]byte(get("/subjects/"+s+"/versions?deleted=true")), &versions); err != nil {
			t.Fatal(err)
		}
		for _, v := range versions {
			get(fmt.Sprintf("/subjects/%s/versions/%d", s, v))
			get(fmt.Sprintf("/subjects/%s/versions/%d?deleted=true", s, v))
		}
	}
	for id := 1; id <= 12; id++ {
		get(fmt.Sprintf("/schemas/ids/%d", id))
		get(fmt.Sprintf("/schemas/ids/%d/versions?deleted=true", id))
	}
	return out
}

func diffSnapshots(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("%s: GET %s = %s, want %s", what, k, got[k], want[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d paths, want %d", what, len(got), len(want))
	}
}

// TestPersistsAcrossRestart closes the registry and restarts the broker on
// the same data dir: a new registry must serve the same ids, versions,
// deletions and config, and hand out the next id.
func TestPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	b1 := testenv.Broker(t, dir)
	reg1 := testenv.Registry(t, b1.Addr())
	base := reg1.URL()

	idV1 := register(t, base, "users-value", userV1)
	idV2 := register(t, base, "users-value", userV2)
	idV3 := register(t, base, "users-value", userV3)
	idOrder := register(t, base, "orders-value", orderV1)
	if got := register(t, base, "copy-value", userV2); got != idV2 {
		t.Fatalf("shared id %d, want %d", got, idV2)
	}
	register(t, base, "gone-value", record(fA))
	register(t, base, "purged-value", record(fA, fB))
	setLevel(t, base, "orders-value", "NONE")
	setLevel(t, base, "users-value", "FULL")
	if r := call(t, "PUT", base+"/config", `{"compatibility":"FORWARD"}`); r.status != http.StatusOK {
		t.Fatalf("PUT /config: %d %s", r.status, r.body)
	}
	for _, del := range []string{
		"/subjects/users-value/versions/2",
		"/subjects/gone-value",
		"/subjects/purged-value",
		"/subjects/purged-value?permanent=true",
	} {
		if r := call(t, "DELETE", base+del, ""); r.status != http.StatusOK {
			t.Fatalf("DELETE %s: %d %s", del, r.status, r.body)
		}
	}
	before := snapshot(t, base)
	if !strings.HasPrefix(before["/subjects/users-value/versions?deleted=true"], "200 [1,2,3]") ||
		!strings.HasPrefix(before["/config"], `200 {"compatibilityLevel":"FORWARD"}`) {
		t.Fatalf("unexpected state before restart: %v", before)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := reg1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b1.Close()

	b2 := testenv.Broker(t, dir)
	reg2 := testenv.Registry(t, b2.Addr())
	diffSnapshots(t, "after restart", before, snapshot(t, reg2.URL()))

	// Compaction must not change what a replay rebuilds.
	b2.Cluster().Compact()
	if err := reg2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	reg3 := testenv.Registry(t, b2.Addr())
	diffSnapshots(t, "after compaction", before, snapshot(t, reg3.URL()))

	maxID := max(idV1, idV2, idV3, idOrder)
	// gone-value's and purged-value's schemas took ids too.
	for id := maxID + 1; id <= 12; id++ {
		if r := call(t, "GET", fmt.Sprintf("%s/schemas/ids/%d/versions?deleted=true", reg3.URL(), id), ""); r.status == http.StatusOK {
			maxID = id
		}
	}
	next := register(t, reg3.URL(), "orders-value", `{"type":"record","name":"Order2","fields":[]}`)
	if next <= maxID {
		t.Fatalf("new schema after restart got id %d, want > %d", next, maxID)
	}
	var v struct{ Version int }
	call(t, "GET", reg3.URL()+"/subjects/orders-value/versions/latest", "").json(t, &v)
	if v.Version != 2 {
		t.Fatalf("orders-value latest version %d, want 2", v.Version)
	}
}

// topicRecords reads every record of topic.
func topicRecords(t *testing.T, addr, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	var out []*kgo.Record
	for len(out) == 0 || out[len(out)-1].Offset < end.Offset-1 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// TestConfluentRecordFormat checks the topic's settings and the records a
// registry writes, byte for byte where Confluent's compaction depends on it.
func TestConfluentRecordFormat(t *testing.T) {
	b := testenv.Broker(t, "")
	reg := testenv.Registry(t, b.Addr())
	base := reg.URL()
	id := register(t, base, "s", orderV1)
	setLevel(t, base, "s", "FULL")
	if r := call(t, "PUT", base+"/config", `{"compatibility":"NONE"}`); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	call(t, "DELETE", base+"/subjects/s", "")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopics(ctx, "_schemas")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(details["_schemas"].Partitions); n != 1 {
		t.Fatalf("_schemas has %d partitions", n)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, "_schemas")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := cfgs.On("_schemas", nil)
	policy := ""
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			policy = *c.Value
		}
	}
	if policy != "compact" {
		t.Fatalf("cleanup.policy = %q", policy)
	}

	var got []string
	for _, r := range topicRecords(t, b.Addr(), "_schemas") {
		v := "null"
		if r.Value != nil {
			v = string(r.Value)
		}
		got = append(got, string(r.Key)+" => "+v)
	}
	want := []string{
		`{"keytype":"NOOP","magic":0} => null`,
		`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1} => {"subject":"s","version":1,"id":` + itoa(id) + `,"schema":` + jsonQuote(orderV1) + `,"deleted":false}`,
		`{"keytype":"CONFIG","subject":"s","magic":0} => {"compatibilityLevel":"FULL"}`,
		`{"keytype":"CONFIG","subject":null,"magic":0} => {"compatibilityLevel":"NONE"}`,
		`{"keytype":"DELETE_SUBJECT","subject":"s","magic":0} => {"subject":"s","version":1}`,
		`{"keytype":"CONFIG","subject":"s","magic":0} => null`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestReadsConfluentTopic starts on a topic as Confluent's registry leaves
// it: records we never write (MODE, NOOP, unknown fields) and soft deletes
// by DELETE_SUBJECT.
func TestReadsConfluentTopic(t *testing.T) {
	b := testenv.Broker(t, "")
	testenv.CreateTopic(t, b.Addr(), "_schemas", 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
	schemaVal := func(subject string, version, id int, schema string, deleted bool) string {
		return fmt.Sprintf(`{"subject":%q,"version":%d,"id":%d,"md5":"x","schema":%s,"deleted":%t,"metadata":null}`,
			subject, version, id, jsonQuote(schema), deleted)
	}
	recs := [][2]string{
		{`{"keytype":"NOOP","magic":0}`, ""},
		{`{"keytype":"CONFIG","subject":null,"magic":0}`, `{"compatibilityLevel":"FULL","alias":null}`},
		{`{"keytype":"SCHEMA","subject":"a","version":1,"magic":1}`, schemaVal("a", 1, 21, userV1, false)},
		{`{"keytype":"SCHEMA","subject":"a","version":2,"magic":1}`, schemaVal("a", 2, 22, userV2, false)},
		{`{"keytype":"SCHEMA","subject":"b","version":1,"magic":1}`, schemaVal("b", 1, 21, userV1, false)},
		{`{"keytype":"MODE","subject":"a","magic":0}`, `{"mode":"READWRITE"}`},
		{`{"keytype":"DELETE_SUBJECT","subject":"b","magic":0}`, `{"subject":"b","version":1}`},
		{`{"keytype":"CONFIG","subject":"a","magic":0}`, `{"compatibilityLevel":"NONE"}`},
		{`{"keytype":"SCHEMA","subject":"c","version":1,"magic":1}`, schemaVal("c", 1, 30, orderV1, false)},
		{`{"keytype":"SCHEMA","subject":"c","version":1,"magic":1}`, ""},
		{`{"keytype":"SOMETHING_NEW","magic":0}`, `{}`},
		{`not json`, `{}`},
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, kv := range recs {
		r := &kgo.Record{Topic: "_schemas", Key: []byte(kv[0])}
		if kv[1] != "" {
			r.Value = []byte(kv[1])
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()

	base := testenv.Registry(t, b.Addr()).URL()
	for path, want := range map[string]string{
		"/config":                           `{"compatibilityLevel":"FULL"}`,
		"/config/a":                         `{"compatibilityLevel":"NONE"}`,
		"/subjects":                         `["a"]`,
		"/subjects?deleted=true":            `["a","b"]`,
		"/subjects/a/versions":              `[1,2]`,
		"/subjects/b/versions?deleted=true": `[1]`,
		"/schemas/ids/21/versions":          `[{"subject":"a","version":1}]`,
		"/schemas/ids/22/schema":            userV2,
	} {
		if r := call(t, "GET", base+path, ""); string(r.body) != want {
			t.Errorf("GET %s = %d %s, want %s", path, r.status, r.body, want)
		}
	}
	if r := call(t, "GET", base+"/schemas/ids/30", ""); r.errorCode(t) != 40403 {
		t.Errorf("tombstoned id: %s", r.body)
	}
	// The next id follows the highest one seen, tombstoned ones included.
	if id := register(t, base, "d", orderV1); id != 31 {
		t.Errorf("next id = %d, want 31", id)
	}
}

// TestRefusesBadTopic checks that Start refuses a topic that would lose
// order or data.
func TestRefusesBadTopic(t *testing.T) {
	b := testenv.Broker(t, "")
	testenv.CreateTopic(t, b.Addr(), "multi", 3, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
	testenv.CreateTopic(t, b.Addr(), "deleting", 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")})
	for topic, want := range map[string]string{"multi": "3 partitions", "deleting": "cleanup.policy=delete"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := registry.Start(ctx, registry.Config{
			Addr:      "127.0.0.1:0",
			KafkaOpts: []kgo.Opt{kgo.SeedBrokers(b.Addr())},
			Topic:     topic,
		})
		cancel()
		if err == nil || !strings.HasPrefix(err.Error(), "registry: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("Start on topic %s: %v, want an error about %q", topic, err, want)
		}
	}
}
