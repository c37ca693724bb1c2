package interop_test

import (
	"context"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

const (
	partitions    = 3  // of every topic the tests create
	clientCount   = 8  // readings each client produces (4 devices)
	producerCount = 12 // readings our producer writes for each client to read
)

// roundtripOut is what `roundtrip` prints.
type roundtripOut struct {
	Topic     string           `json:"topic"`
	Created   bool             `json:"created"`
	Subject   string           `json:"subject"`
	SchemaID  int              `json:"schema_id"`
	Produced  []jsonReading    `json:"produced"`
	Consumed  []consumedRecord `json:"consumed"`
	Foreign   int              `json:"foreign"`
	Group     string           `json:"group"`
	Committed map[string]int64 `json:"committed"`
}

// consumeOut is what `consume` prints.
type consumeOut struct {
	Consumed  []consumedRecord `json:"consumed"`
	Committed map[string]int64 `json:"committed"`
}

// evolveOut is what `evolve` prints.
type evolveOut struct {
	Subject    string `json:"subject"`
	Registered []struct {
		File    string `json:"file"`
		ID      int    `json:"id"`
		Version int    `json:"version"`
	} `json:"registered"`
	Compatibility string `json:"compatibility"`
	BadCompatible bool   `json:"bad_compatible"`
	Bad           struct {
		Rejected     bool   `json:"rejected"`
		ID           int    `json:"id"`
		Error        string `json:"error"`
		HTTPCode     *int   `json:"http_code"`
		Incompatible bool   `json:"incompatible"`
	} `json:"bad"`
	LatestVersion int `json:"latest_version"`
}

// ledger collects the subjects and versions registered while the clients
// ran, for the registry check at the end. Safe for concurrent use.
type ledger struct {
	mu       sync.Mutex
	versions map[string][]int
}

func (l *ledger) add(subject string, versions ...int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.versions == nil {
		l.versions = map[string][]int{}
	}
	l.versions[subject] = append(l.versions[subject], versions...)
}

func (l *ledger) snapshot() map[string][]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]int, len(l.versions))
	for s, v := range l.versions {
		out[s] = slices.Clone(v)
	}
	return out
}

// TestThirdPartyClients runs each third-party client through the same
// scenarios against one embedded broker and registry, then checks over
// plain HTTP that the registry lists what they registered.
func TestThirdPartyClients(t *testing.T) {
	s := newStack(t)
	var reg ledger
	clients := []struct {
		name  string
		setup func(*testing.T) client
	}{
		{"python", pythonClient},
		{"node", nodeClient},
	}
	t.Run("clients", func(t *testing.T) {
		for _, tc := range clients {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := tc.setup(t)
				common := []string{"--bootstrap", s.broker, "--registry", s.registry, "--timeout", "40"}
				t.Run("roundtrip", func(t *testing.T) { testRoundtrip(t, s, c, common, &reg) })
				t.Run("reads-our-producer", func(t *testing.T) { testReadsOurProducer(t, s, c, common, &reg) })
				t.Run("evolution", func(t *testing.T) { testEvolution(t, s, c, common, &reg) })
			})
		}
	})
	t.Run("registry-lists-them", func(t *testing.T) { testRegistryListing(t, s, reg.snapshot()) })
}

// testRoundtrip: the client creates a topic, registers the latest reading
// schema, produces readings keyed by device and consumes them back in a
// group; our codec decodes the same records and our registry lookup finds
// the client's schema.
func testRoundtrip(t *testing.T, s stack, c client, common []string, reg *ledger) {
	topic, group := "interop-"+c.name, "interop-"+c.name
	out := runJSON[roundtripOut](t, c, append(common, "roundtrip", "--topic", topic, "--group", group,
		"--partitions", strconv.Itoa(partitions), "--count", strconv.Itoa(clientCount))...)
	subject := schemas.Subject(topic)
	if !out.Created || out.Subject != subject || out.SchemaID <= 0 || len(out.Produced) != clientCount || out.Foreign != 0 {
		t.Fatalf("%s roundtrip: created %v, subject %q (want %q), schema id %d, %d produced (want %d), %d foreign records",
			c.name, out.Created, out.Subject, subject, out.SchemaID, len(out.Produced), clientCount, out.Foreign)
	}
	reg.add(subject, 1)
	produced := map[string]schemas.Reading{}
	for _, j := range out.Produced {
		produced[j.ID] = j.reading()
	}

	// The client read back what it wrote, each record once.
	seen := map[string]bool{}
	for _, rec := range out.Consumed {
		got := rec.Value.reading()
		if seen[got.ID] {
			t.Errorf("%s consumed %s twice", c.name, got.ID)
		}
		seen[got.ID] = true
		if want, ok := produced[got.ID]; !ok || got != want {
			t.Errorf("%s consumed %+v\nwant %+v", c.name, got, want)
		}
	}
	if len(seen) != len(produced) {
		t.Errorf("%s consumed %d of its %d readings", c.name, len(seen), len(produced))
	}
	wantCommitted := nextOffsets(out.Consumed, func(r consumedRecord) (int32, int64) { return r.Partition, r.Offset })
	checkCommitted(t, c.name, out.Committed, wantCommitted)
	if got := committedOffsets(t, s, group, topic); !maps.Equal(got, wantCommitted) {
		t.Errorf("broker has group %s at %v, want %v", group, got, wantCommitted)
	}

	// Our codec reads what the Confluent serializer wrote.
	recs := readTopic(t, s, topic, clientCount)
	for _, r := range recs {
		if r.SchemaID != out.SchemaID {
			t.Errorf("%s/%d@%d framed with schema id %d, the client registered %d", topic, r.Partition, r.Offset, r.SchemaID, out.SchemaID)
		}
		if want, ok := produced[r.Reading.ID]; !ok || r.Reading != want {
			t.Errorf("our codec decoded %+v\nthe client produced %+v", r.Reading, want)
		}
		if r.Key != r.Reading.DeviceKey() {
			t.Errorf("%s/%d@%d: key %q, want the device key %q", topic, r.Partition, r.Offset, r.Key, r.Reading.DeviceKey())
		}
		if want := saramaPartition(r.Key, partitions); r.Partition != want {
			t.Errorf("%s: key %q in partition %d; sarama (goka) looks in %d", c.name, r.Key, r.Partition, want)
		}
	}

	// The client registered its own rendering of the schema text; the
	// registry must see it as the same schema our codecs look up.
	codec, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{RegistryURL: s.registry, Subject: subject, LookupOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if id, err := codec.Prepare(ctx); err != nil || id != out.SchemaID {
		t.Errorf("our lookup of the embedded v%d schema under %s: id %d, %v; the client registered id %d",
			schemas.LatestReadingVersion, subject, id, err, out.SchemaID)
	}
}

// testReadsOurProducer: our producer writes synthetic readings; the client
// consumes them in a group and must see exactly what our codec decodes.
// A second round checks that the group resumes from its committed offsets.
func testReadsOurProducer(t *testing.T, s stack, c client, common []string, reg *ledger) {
	topic, group := "interop-"+c.name+"-from-go", "interop-"+c.name+"-from-go"
	testenv.CreateTopic(t, s.broker, topic, partitions, nil)
	reg.add(schemas.Subject(topic), 1)
	var all []record // every record in the topic, as our codec decodes them
	seen := map[string]bool{}
	for round, start := range []time.Time{
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 1, 8, 0, 0, 0, 0, time.UTC),
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		sum, err := producer.Run(ctx, producer.Config{
			Topic: topic, RegistryURL: s.registry, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(s.broker)},
			Speed: -1, Limit: producerCount, Seed: 7, Progress: producer.ProgressOff,
			Synthetic: producer.SyntheticConfig{MaxBooths: 3, Start: start},
		})
		cancel()
		if err != nil || sum.Sent != producerCount {
			t.Fatalf("round %d: our producer: %+v, %v", round, sum, err)
		}
		want := map[string]record{}
		for _, r := range readTopic(t, s, topic, len(all)+producerCount) {
			if !seen[r.Reading.ID] {
				seen[r.Reading.ID] = true
				want[r.Reading.ID] = r
				all = append(all, r)
			}
		}
		if len(want) != producerCount {
			t.Fatalf("round %d: our codec found %d new readings, want %d", round, len(want), producerCount)
		}

		out := runJSON[consumeOut](t, c, append(common, "consume", "--topic", topic, "--group", group,
			"--count", strconv.Itoa(producerCount))...)
		if len(out.Consumed) != producerCount {
			t.Fatalf("round %d: %s consumed %d records, want %d", round, c.name, len(out.Consumed), producerCount)
		}
		for _, rec := range out.Consumed {
			got := rec.Value.reading()
			w, ok := want[got.ID]
			switch {
			case !ok:
				t.Errorf("round %d: %s consumed a reading that is not among this round's (group offsets not resumed?): %d@%d %+v",
					round, c.name, rec.Partition, rec.Offset, got)
			case got != w.Reading:
				t.Errorf("round %d: %s decoded %+v\nour codec decoded %+v", round, c.name, got, w.Reading)
			case rec.Key == nil || *rec.Key != w.Key || rec.Partition != w.Partition || rec.Offset != w.Offset:
				t.Errorf("round %d: %s read %s at %d@%d key %v; we wrote it at %d@%d key %q",
					round, c.name, got.ID, rec.Partition, rec.Offset, rec.Key, w.Partition, w.Offset, w.Key)
			}
			delete(want, got.ID)
		}
		if len(want) != 0 {
			t.Errorf("round %d: %s missed %d of our readings", round, c.name, len(want))
		}
		wantCommitted := nextOffsets(all, func(r record) (int32, int64) { return r.Partition, r.Offset })
		checkCommitted(t, c.name, out.Committed, wantCommitted)
		if got := committedOffsets(t, s, group, topic); !maps.Equal(got, wantCommitted) {
			t.Errorf("round %d: broker has group %s at %v, want %v", round, group, got, wantCommitted)
		}
		if t.Failed() {
			return
		}
	}
}

// testEvolution: the client registers v1 then v2 of the reading schema under
// one subject with BACKWARD compatibility; an incompatible schema is
// rejected with 409 and the client reports it.
func testEvolution(t *testing.T, s stack, c client, common []string, reg *ledger) {
	subject := "interop-evolution-" + c.name + "-value"
	out := runJSON[evolveOut](t, c, append(common, "evolve", "--subject", subject)...)
	if len(out.Registered) != 2 {
		t.Fatalf("%s registered %d schemas, want v1 and v2: %+v", c.name, len(out.Registered), out)
	}
	reg.add(subject, 1, 2)
	v1, v2 := out.Registered[0], out.Registered[1]
	if v1.Version != 1 || v2.Version != 2 || v1.ID <= 0 || v2.ID <= 0 || v1.ID == v2.ID {
		t.Errorf("%s: v1 id %d version %d, v2 id %d version %d; want versions 1 and 2 with distinct ids", c.name, v1.ID, v1.Version, v2.ID, v2.Version)
	}
	if out.Compatibility != "BACKWARD" {
		t.Errorf("%s: subject compatibility %q, want BACKWARD", c.name, out.Compatibility)
	}
	if out.BadCompatible {
		t.Errorf("%s: the registry called ENTRIES as string compatible", c.name)
	}
	if !out.Bad.Rejected {
		t.Fatalf("%s: the incompatible schema was accepted as id %d", c.name, out.Bad.ID)
	}
	if !out.Bad.Incompatible || !strings.Contains(out.Bad.Error, "409") && (out.Bad.HTTPCode == nil || *out.Bad.HTTPCode != 409) {
		t.Errorf("%s surfaced %q (http code %v), want a 409 incompatibility", c.name, out.Bad.Error, out.Bad.HTTPCode)
	}
	if out.LatestVersion != 2 {
		t.Errorf("%s: latest version %d after the rejection, want 2", c.name, out.LatestVersion)
	}

	// The same rejection over plain HTTP, with Confluent's error body.
	bad, err := incompatibleReading()
	if err != nil {
		t.Fatal(err)
	}
	var apiErr struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	status := httpJSON(t, "POST", s.registry+"/subjects/"+url.PathEscape(subject)+"/versions", map[string]string{"schema": bad}, &apiErr)
	if status != 409 || apiErr.Code != 409 {
		t.Errorf("POST the incompatible schema: status %d, %+v; want 409 with error_code 409", status, apiErr)
	}

	// Our codecs find the client's registrations of both versions.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for i, want := range []int{v1.ID, v2.ID} {
		codec, err := codecs.NewReadingCodec(codecs.ReadingConfig{WriterVersion: i + 1,
			Config: codecs.Config{RegistryURL: s.registry, Subject: subject, LookupOnly: true}})
		if err != nil {
			t.Fatal(err)
		}
		if id, err := codec.Prepare(ctx); err != nil || id != want {
			t.Errorf("our lookup of v%d under %s: id %d, %v; the client registered id %d", i+1, subject, id, err, want)
		}
	}
}

// testRegistryListing checks, like `curl /subjects` would, that the
// registry lists exactly the subjects registered while the clients ran,
// with their versions.
func testRegistryListing(t *testing.T, s stack, want map[string][]int) {
	if len(want) == 0 {
		t.Skip("no client ran")
	}
	var subjects []string
	if status := httpJSON(t, "GET", s.registry+"/subjects", nil, &subjects); status != 200 {
		t.Fatalf("GET /subjects: status %d", status)
	}
	wantSubjects := make([]string, 0, len(want))
	for subject := range want {
		wantSubjects = append(wantSubjects, subject)
	}
	slices.Sort(wantSubjects)
	slices.Sort(subjects)
	if !slices.Equal(subjects, wantSubjects) {
		t.Errorf("GET /subjects = %q, want %q", subjects, wantSubjects)
	}
	for _, subject := range wantSubjects {
		var versions []int
		u := s.registry + "/subjects/" + url.PathEscape(subject) + "/versions"
		if status := httpJSON(t, "GET", u, nil, &versions); status != 200 {
			t.Errorf("GET %s: status %d", u, status)
			continue
		}
		if !slices.Equal(versions, want[subject]) {
			t.Errorf("GET %s = %v, want %v", u, versions, want[subject])
		}
	}
}

// checkCommitted compares the offsets a client says it committed (JSON
// object keys are partition numbers) with want.
func checkCommitted(t *testing.T, name string, got map[string]int64, want map[int32]int64) {
	t.Helper()
	parsed := map[int32]int64{}
	for k, v := range got {
		p, err := strconv.ParseInt(k, 10, 32)
		if err != nil {
			t.Errorf("%s reported committed offsets for partition %q", name, k)
			continue
		}
		parsed[int32(p)] = v
	}
	if !maps.Equal(parsed, want) {
		t.Errorf("%s reports committed offsets %v, want %v", name, parsed, want)
	}
}
