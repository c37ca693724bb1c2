package interop_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

const (
	// childTimeout bounds every run of a client script.
	childTimeout = 60 * time.Second
	// requireEnv turns a missing runtime from a skip into a failure.
	requireEnv = "TURNSTILE_INTEROP_REQUIRE"
	// systemPython is Debian's interpreter, the one python3-confluent-kafka
	// and python3-avro install into (a pyenv python3 on PATH lacks them).
	systemPython = "/usr/bin/python3"
)

// stack is one embedded broker and schema registry.
type stack struct {
	broker   string // host:port
	registry string // base URL
}

func newStack(t *testing.T) stack {
	t.Helper()
	b := testenv.Broker(t, "")
	r := testenv.Registry(t, b.Addr())
	return stack{broker: b.Addr(), registry: r.URL()}
}

// client is a third-party client script run as a child process.
type client struct {
	name string
	argv []string // interpreter and script
}

// missing skips the test for a missing runtime, or fails it when
// TURNSTILE_INTEROP_REQUIRE is set.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(requireEnv) != "" {
		t.Fatalf("%s (%s is set, so this fails instead of skipping)", msg, requireEnv)
	}
	t.Skip(msg)
}

// pythonClient returns the Python client, skipping when Debian's python3
// cannot import confluent_kafka's legacy Avro serializer (avro, requests).
func pythonClient(t *testing.T) client {
	t.Helper()
	// confluent_kafka.avro needs requests, which python3-confluent-kafka
	// only suggests.
	const hint = "apt-get install python3-confluent-kafka python3-avro python3-requests"
	if _, err := os.Stat(systemPython); err != nil {
		missing(t, "interop: no %s (%s): %v", systemPython, hint, err)
	}
	out, err := exec.Command(systemPython, "-c",
		"import confluent_kafka, confluent_kafka.avro, avro, requests; print('confluent_kafka', confluent_kafka.version()[0], 'librdkafka', confluent_kafka.libversion()[0])").CombinedOutput()
	if err != nil {
		missing(t, "interop: %s cannot import confluent_kafka.avro (%s): %v: %s", systemPython, hint, err, bytes.TrimSpace(out))
	}
	t.Logf("python: %s", bytes.TrimSpace(out))
	script, err := filepath.Abs(filepath.Join("python", "interop.py"))
	if err != nil {
		t.Fatal(err)
	}
	return client{name: "python", argv: []string{systemPython, script}}
}

// nodeClient returns the Node client, skipping when node or npm is missing.
// It installs node/package-lock.json's packages with npm ci unless they
// are already installed from the same lock file.
func nodeClient(t *testing.T) client {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "interop: no node on PATH (apt-get install nodejs): %v", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		missing(t, "interop: no npm on PATH (apt-get install npm): %v", err)
	}
	dir, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	version, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("interop: node --version: %v", err)
	}
	npmCI(t, npm, dir, strings.TrimSpace(string(version)))
	return client{name: "node", argv: []string{node, filepath.Join(dir, "interop.js")}}
}

// npmCI runs npm ci in dir unless node_modules holds a stamp of the same
// package-lock.json and node version. Concurrent test processes in the same
// checkout serialize on a lock file, so one does not delete node_modules
// under another.
func npmCI(t *testing.T, npm, dir, nodeVersion string) {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatalf("interop: %v", err)
	}
	sum := sha256.Sum256(append(lock, nodeVersion...))
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join(dir, "node_modules", ".turnstile-interop-stamp")

	dirSum := sha256.Sum256([]byte(dir))
	lf, err := os.OpenFile(filepath.Join(os.TempDir(), "turnstile-interop-npm-"+hex.EncodeToString(dirSum[:8])+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("interop: npm lock file: %v", err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("interop: lock %s: %v", lf.Name(), err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) // closing the file releases it too

	if got, err := os.ReadFile(stamp); err == nil && string(got) == want {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("interop: npm ci in %s: %v after %v\n%s", dir, err, time.Since(start).Round(time.Millisecond), out)
	}
	t.Logf("npm ci in %s: %v", dir, time.Since(start).Round(time.Millisecond))
	if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
		t.Fatalf("interop: npm stamp: %v", err)
	}
}

// run runs the script with args and returns its stdout. It fails the test
// with the child's stderr when the child fails or outlives childTimeout;
// otherwise the stderr is logged (shown with -v and on later failures).
func (c client) run(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), childTimeout)
	defer cancel()
	argv := append(slices.Clone(c.argv), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1", "KAFKAJS_NO_PARTITIONER_WARNING=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Don't wait for grandchildren holding the pipes past the kill.
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start).Round(time.Millisecond)
	line := strings.Join(argv, " ")
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (killed after the %v timeout)", err, childTimeout)
		}
		t.Fatalf("interop: %s: %v after %v\n--- stderr ---\n%s\n--- stdout ---\n%s", line, err, elapsed, stderr.Bytes(), stdout.Bytes())
	}
	t.Logf("%s: ok in %v\n--- stderr ---\n%s\n--- stdout ---\n%s", line, elapsed, stderr.Bytes(), stdout.Bytes())
	return stdout.Bytes()
}

// runJSON runs the script and decodes its stdout into a T.
func runJSON[T any](t *testing.T, c client, args ...string) T {
	t.Helper()
	out := c.run(t, args...)
	var v T
	dec := json.NewDecoder(bytes.NewReader(out))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("interop: %s %s: stdout is not the expected JSON: %v\n%s", c.name, args, err, out)
	}
	return v
}

// jsonReading is a TurnstileReading as the scripts print it: Avro field
// names, EVENT_TIME in epoch milliseconds, null for absent optional fields.
type jsonReading struct {
	CA        string  `json:"CA"`
	Unit      string  `json:"UNIT"`
	SCP       string  `json:"SCP"`
	Station   string  `json:"STATION"`
	LineName  string  `json:"LINENAME"`
	Division  string  `json:"DIVISION"`
	Date      string  `json:"DATE"`
	Time      string  `json:"TIME"`
	Desc      string  `json:"DESC"`
	Entries   int64   `json:"ENTRIES"`
	Exits     int64   `json:"EXITS"`
	ID        string  `json:"ID"`
	Timestamp string  `json:"TIMESTAMP"`
	EventTime *int64  `json:"EVENT_TIME"`
	Source    *string `json:"SOURCE"`
}

func (j jsonReading) reading() schemas.Reading {
	r := schemas.Reading{CA: j.CA, Unit: j.Unit, SCP: j.SCP, Station: j.Station, LineName: j.LineName,
		Division: j.Division, Date: j.Date, Time: j.Time, Desc: j.Desc, Entries: j.Entries, Exits: j.Exits,
		ID: j.ID, Timestamp: j.Timestamp}
	if j.EventTime != nil {
		r.EventTime = time.UnixMilli(*j.EventTime)
	}
	if j.Source != nil {
		r.Source = *j.Source
	}
	return normalize(r)
}

// normalize makes readings comparable with ==: event time in UTC
// milliseconds, as on the wire.
func normalize(r schemas.Reading) schemas.Reading {
	if !r.EventTime.IsZero() {
		r.EventTime = time.UnixMilli(r.EventTime.UnixMilli()).UTC()
	}
	return r
}

// consumedRecord is one record a script consumed.
type consumedRecord struct {
	Partition int32       `json:"partition"`
	Offset    int64       `json:"offset"`
	Key       *string     `json:"key"`
	Value     jsonReading `json:"value"`
}

// record is one record read back in Go and decoded with our codec.
type record struct {
	Partition int32
	Offset    int64
	Key       string
	SchemaID  int
	Reading   schemas.Reading
}

// readTopic reads the first n records of topic from the start and decodes
// them with our reading codec (domain validation on), failing on any record
// it cannot decode.
func readTopic(t *testing.T, s stack, topic string, n int) []record {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatalf("interop: kafka client: %v", err)
	}
	defer cl.Close()
	codec, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{RegistryURL: s.registry, Subject: schemas.Subject(topic)}})
	if err != nil {
		t.Fatalf("interop: reading codec: %v", err)
	}
	var out []record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("interop: read %s: %d of %d records: %v", topic, len(out), n, ctx.Err())
		}
		if err := fs.Err(); err != nil {
			t.Fatalf("interop: read %s: %v", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			id, _ := codecs.SchemaID(r.Value)
			reading, err := codec.DecodeReading(r.Value)
			if err != nil {
				t.Errorf("interop: %s partition %d offset %d (schema id %d): our codec cannot decode it: %v", topic, r.Partition, r.Offset, id, err)
				return
			}
			out = append(out, record{Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), SchemaID: id, Reading: normalize(reading)})
		})
		if t.Failed() {
			t.FailNow()
		}
	}
	return out
}

// committedOffsets returns the group's committed offsets for topic, by
// partition, as the broker reports them.
func committedOffsets(t *testing.T, s stack, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker))
	if err != nil {
		t.Fatalf("interop: kafka client: %v", err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("interop: fetch offsets of group %s: %v", group, err)
	}
	out := map[int32]int64{}
	for _, o := range resp.Sorted() {
		if o.Topic != topic {
			continue
		}
		if o.Err != nil {
			t.Fatalf("interop: offset of group %s in %s/%d: %v", group, topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.At
	}
	return out
}

// nextOffsets returns, by partition, the offset after the last of records:
// what a consumer that read them all commits.
func nextOffsets[R any](records []R, at func(R) (int32, int64)) map[int32]int64 {
	out := map[int32]int64{}
	for _, r := range records {
		p, o := at(r)
		out[p] = max(out[p], o+1)
	}
	return out
}

// saramaPartition is where sarama's hash partitioner (and so goka, and our
// producer) puts key among n partitions: FNV-1a, as an int32, modulo n,
// negated when negative.
func saramaPartition(key string, n int32) int32 {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	p := int32(h) % n
	if p < 0 {
		p = -p
	}
	return p
}

// httpJSON sends a request to the registry like curl would and decodes the
// JSON answer into v (when non-nil), returning the status.
func httpJSON(t *testing.T, method, url string, body, v any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("interop: %s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("interop: %s %s: read body: %v", method, url, err)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("interop: %s %s: status %d, body %q: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// incompatibleReading is the latest reading schema with ENTRIES turned from
// long into string, which BACKWARD compatibility must reject.
func incompatibleReading() (string, error) {
	var s map[string]any
	if err := json.Unmarshal([]byte(schemas.LatestReadingSchema().Text), &s); err != nil {
		return "", fmt.Errorf("parse reading schema: %w", err)
	}
	fields, _ := s["fields"].([]any)
	for _, f := range fields {
		if m, ok := f.(map[string]any); ok && m["name"] == "ENTRIES" {
			m["type"] = "string"
			b, err := json.Marshal(s)
			return string(b), err
		}
	}
	return "", errors.New("reading schema has no ENTRIES field")
}
