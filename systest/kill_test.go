package systest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/internal/reference"
	"github.com/turnstile-streams/turnstile/internal/testenv"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/state"
)

// TestHelperMember is not a test: run by the crash and scaling tests as a
// child process (TURNSTILE_HELPER=member), it runs one pipeline member
// until it is killed, or until SIGTERM, when it leaves its groups cleanly.
// TURNSTILE_PARTITIONS sets the partition count (default 3) and
// TURNSTILE_MEMBER the client id of its franz-go clients (the relays), so
// group descriptions show which process owns what.
func TestHelperMember(t *testing.T) {
	if os.Getenv("TURNSTILE_HELPER") != "member" {
		t.Skip("helper process")
	}
	brokers := strings.Split(os.Getenv("TURNSTILE_BROKERS"), ",")
	partitions := 3
	if v := os.Getenv("TURNSTILE_PARTITIONS"); v != "" {
		var err error
		if partitions, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	kopts := []kgo.Opt{kgo.SeedBrokers(brokers...)}
	if id := os.Getenv("TURNSTILE_MEMBER"); id != "" {
		kopts = append(kopts, kgo.ClientID(id))
	}
	cfg := processors.Config{
		Brokers: brokers, KafkaOpts: kopts,
		Registry:   srclient.CreateSchemaRegistryClient(os.Getenv("TURNSTILE_REGISTRY")),
		Partitions: partitions, Window: 5 * time.Minute, Retention: 24 * time.Hour,
		IdleTimeout: 2 * time.Second, TickInterval: 200 * time.Millisecond, MaxFuture: -1,
		SessionTimeout: 6 * time.Second, // the broker's minimum: a killed member's partitions move sooner
		State:          state.Options{Dir: os.Getenv("TURNSTILE_STATE"), MemTableSize: 4 << 20, CacheSize: 8 << 20},
		Logger:         testenv.Logger(t),
	}
	p, err := processors.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	fmt.Println("member running")
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Println("member stopped")
}

type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// startMember starts TestHelperMember in a child process on stateDir and
// waits until it runs. env adds TURNSTILE_PARTITIONS, TURNSTILE_MEMBER.
func startMember(t *testing.T, brokers []string, registryURL, stateDir string, env ...string) *child {
	t.Helper()
	env = append([]string{"TURNSTILE_HELPER=member", "TURNSTILE_BROKERS=" + strings.Join(brokers, ","),
		"TURNSTILE_REGISTRY=" + registryURL, "TURNSTILE_STATE=" + stateDir}, env...)
	return startChild(t, "TestHelperMember", "member", "member running", 30*time.Second, env)
}

// startChild runs the helper test in a child process (this test binary)
// with env added, and waits until it prints ready. Its output is echoed
// with TURNSTILE_TEST_DEBUG, and lines with FAIL or panic always are.
func startChild(t *testing.T, helper, name, ready string, timeout time.Duration, env []string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(c.kill)
	isReady := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		debug := os.Getenv("TURNSTILE_TEST_DEBUG") != ""
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, ready) {
				once.Do(func() { close(isReady) })
			}
			if debug || strings.Contains(line, "FAIL") || strings.Contains(line, "panic") {
				fmt.Fprintf(os.Stderr, "%s: %s\n", name, line)
			}
		}
		_ = cmd.Wait()
		close(c.done)
	}()
	select {
	case <-isReady:
	case <-c.done:
		t.Fatalf("%s exited before it was ready: %v", name, cmd.ProcessState)
	case <-time.After(timeout):
		t.Fatalf("%s did not start", name)
	}
	return c
}

// kill SIGKILLs the member (after a goroutine dump with
// TURNSTILE_TEST_DUMP=1) and waits for it to exit.
func (c *child) kill() {
	select {
	case <-c.done:
		return
	default:
	}
	if os.Getenv("TURNSTILE_TEST_DUMP") != "" {
		_ = c.cmd.Process.Signal(syscall.SIGQUIT) // goroutine dump on stderr
		time.Sleep(time.Second)
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// terminate asks the member to stop (SIGTERM: it leaves its groups) and
// waits up to timeout for it to exit.
func (c *child) terminate(t *testing.T, timeout time.Duration) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		if code := c.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("member exited with code %d after SIGTERM", code)
		}
	case <-time.After(timeout):
		t.Errorf("member did not stop within %v of SIGTERM", timeout)
		c.kill()
	}
}

// TestMemberKilledMidStream runs the pipeline member as a child process,
// SIGKILLs it twice while it processes, restarts it on the same local
// state, and checks that every device and station window converges to the
// reference and that no (key, revision) is ever published with two
// different contents. TestMemberKilledOnce is its shorter variant for make
// test.
func TestMemberKilledMidStream(t *testing.T) {
	if os.Getenv("TURNSTILE_CHAOS") == "" {
		t.Skip("set TURNSTILE_CHAOS=1 (make chaos) to kill members; make test runs TestMemberKilledOnce")
	}
	killMidStream(t, synthetic(3, 30, 120), 6, 2, 4)
}

// TestMemberKilledOnce is the make test variant of TestMemberKilledMidStream:
// fewer readings, one kill.
func TestMemberKilledOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts member processes")
	}
	killMidStream(t, synthetic(5, 12, 60), 4, 2)
}

// killMidStream produces readings in slices while one member runs in a
// child process; while it processes each of the kill slices, the member is
// SIGKILLed and restarted on the same local state.
func killMidStream(t *testing.T, readings []schemas.Reading, nslices int, kill ...int) {
	s, registryURL, inCodec := newChildStack(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	topics := processors.DefaultTopics()
	stateDir := t.TempDir()
	m := startMember(t, s.brokers, registryURL, stateDir)
	per := len(readings) / nslices
	for i := 0; i < nslices; i++ {
		end := (i + 1) * per
		if i == nslices-1 {
			end = len(readings)
		}
		if !slices.Contains(kill, i) {
			s.produce(t, ctx, topics.Input, inCodec, readings[i*per:end], nil)
			continue
		}
		// Kill the member while it processes a slice. waitStable may
		// still see the previous, killed member as the group's only
		// one, so this kill can also hit a member whose JoinGroup is
		// parked: the broker must expire both (third_party/kfake).
		waitStable(t, ctx, s.brokers)
		s.produce(t, ctx, topics.Input, inCodec, readings[i*per:end], nil)
		time.Sleep(300 * time.Millisecond)
		m.kill()
		t.Logf("killed the member while it processed slice %d", i)
		m = startMember(t, s.brokers, registryURL, stateDir)
	}
	convergeToReference(t, ctx, s, readings)
}

// newChildStack starts the broker and registry for members in child
// processes and creates the pipeline's topics with the given partitions.
// On failure it logs every group's members and assignments.
func newChildStack(t *testing.T, partitions int) (*stack, string, *codecs.ReadingCodec) {
	t.Helper()
	b := testenv.Broker(t, "")
	r := testenv.Registry(t, b.Addr())
	s := &stack{brokers: []string{b.Addr()}, registry: srclient.CreateSchemaRegistryClient(r.URL())}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	s.client = cl
	t.Cleanup(func() {
		if t.Failed() {
			describeGroups(t, s.brokers)
		}
	})
	topics := processors.DefaultTopics()
	for _, spec := range (&processors.Config{Partitions: partitions, Topics: topics, Groups: processors.DefaultGroups(), MinCompactionLag: time.Hour}).TopicSpecs() {
		testenv.CreateTopic(t, b.Addr(), spec.Name, spec.Partitions, spec.Configs)
	}
	inCodec, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: s.registry, Subject: schemas.Subject(topics.Input)}})
	if err != nil {
		t.Fatal(err)
	}
	return s, r.URL(), inCodec
}

// convergeToReference waits until the device and station sinks equal the
// reference over the accepted readings: a reading that reached its device
// after stream time minus retention is in the late topic instead (a crash
// can delay one upstream partition behind another), and must be there,
// exactly once, rather than counted. testenv.ReadSink also fails on a
// (key, revision) published with two different contents.
func convergeToReference(t *testing.T, ctx context.Context, s *stack, readings []schemas.Reading) {
	t.Helper()
	topics := processors.DefaultTopics()
	late := newLateSet(t, s, topics.Late)
	var want map[reference.DeviceKey]reference.Row
	waitDevices(t, ctx, s, func(m map[string]schemas.DeviceWindow) string {
		late.poll(t)
		want = reference.Devices(refParams, reference.FromSchemas(late.accepted(readings)))
		return matchesDevices(m, want)
	})
	t.Logf("%d readings, %d too late, %d device windows", len(readings), len(late.ids), len(want))
	accountInput(t, ctx, s, readings, late)

	stationOf := map[string][2]string{}
	for _, r := range readings {
		stationOf[r.DeviceKey()] = [2]string{r.Station, r.LineName}
	}
	wantSt := reference.Stations(want, func(d string) (string, string) { return stationOf[d][0], stationOf[d][1] })
	waitStations(t, ctx, s, func(m map[string]schemas.StationWindow) string { return matchesStations(m, wantSt) })
	t.Logf("%d station windows", len(wantSt))
}

// accountInput checks, from the topics, that every record the test put on the
// input topic is accounted for: the input topic holds exactly the readings
// (nothing extra, nothing lost before ingest), none was dead-lettered (they
// are all valid), and each too-late one is one of them. With the sinks equal
// to the reference over the rest, input = accepted + too late and accepted =
// applied hold exactly (the readings have no duplicates).
func accountInput(t *testing.T, ctx context.Context, s *stack, readings []schemas.Reading, late *lateSet) {
	t.Helper()
	topics := processors.DefaultTopics()
	if n := endOffset(t, ctx, s, topics.Input); n != int64(len(readings)) {
		t.Errorf("accounting: the input topic holds %d records, the test produced %d", n, len(readings))
	}
	if n := endOffset(t, ctx, s, topics.DeadLetters); n != 0 {
		t.Errorf("accounting: %d valid readings were dead-lettered", n)
	}
	ids := make(map[string]bool, len(readings))
	for _, r := range readings {
		ids[r.ID] = true
	}
	for id := range late.ids {
		if !ids[id] {
			t.Errorf("accounting: the too-late topic holds %s, which was never produced", id)
		}
	}
	t.Logf("accounting: %d records in = %d applied + %d too late + 0 dead-lettered", len(readings), len(readings)-len(late.ids), len(late.ids))
}

// waitStable waits until every consumer group is stable with one member:
// the member has joined everything and owns every partition.
func waitStable(t *testing.T, ctx context.Context, brokers []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		groups, err := adm.ListGroups(ctx)
		if err == nil && len(groups) >= 5 {
			described, err := adm.DescribeGroups(ctx, groups.Groups()...)
			stable := err == nil
			for _, g := range described {
				stable = stable && g.State == "Stable" && len(g.Members) == 1
			}
			if stable {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("groups did not settle")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// describeGroups logs every consumer group's members and assignments.
func describeGroups(t *testing.T, brokers []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Log(err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Logf("list groups: %v", err)
		return
	}
	described, err := adm.DescribeGroups(ctx, groups.Groups()...)
	if err != nil {
		t.Logf("describe groups: %v", err)
	}
	for _, g := range described.Sorted() {
		t.Logf("group %s state %s protocol %s: %d members", g.Group, g.State, g.Protocol, len(g.Members))
		for _, m := range g.Members {
			a, _ := m.Assigned.AsConsumer()
			var parts []string
			if a != nil {
				for _, tp := range a.Topics {
					parts = append(parts, fmt.Sprintf("%s%v", tp.Topic, tp.Partitions))
				}
			}
			t.Logf("  member %s client %s host %s: %s", m.MemberID, m.ClientID, m.ClientHost, strings.Join(parts, " "))
		}
	}
}
