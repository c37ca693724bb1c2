package systest

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/datalake"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/registry"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// This file is the environment every test of the package runs in: the
// switches it reads, the embedded broker and registry, the configuration
// of a pipeline member, members in this process and in child processes,
// and the log capture.

// The switches: every TURNSTILE_* variable the tests read from the
// environment they are started in, read here and nowhere else.
var (
	// TURNSTILE_CHAOS=1 (make chaos) runs the long campaigns: TestChaos
	// and TestMemberKilledMidStream. Unset (the default), they skip.
	chaosEnabled = os.Getenv("TURNSTILE_CHAOS") != ""
	// TURNSTILE_CHAOS_SEED=N replays TestChaos's schedule of kills and
	// restarts and the producer's injections from seed N (each run logs
	// its seed). Unset (the default): a seed from the clock.
	chaosSeedVar = os.Getenv("TURNSTILE_CHAOS_SEED")
	// TURNSTILE_CHAOS_SYNTHETIC=1 makes TestChaos produce its synthetic
	// stream even when the MTA week is there. Unset (the default): the
	// MTA week when present.
	chaosSynthetic = os.Getenv("TURNSTILE_CHAOS_SYNTHETIC") != ""
	// TURNSTILE_TEST_DEBUG=1 echoes every line a child process prints (by
	// default only lines with FAIL or panic) and, through testenv.Logger,
	// which reads it too, logs at debug level instead of warning. Unset by
	// default.
	debugEnabled = os.Getenv("TURNSTILE_TEST_DEBUG") != ""
	// TURNSTILE_TEST_DUMP=1 sends a child process SIGQUIT (a goroutine
	// dump on stderr) a second before each SIGKILL. Unset by default.
	dumpBeforeKill = os.Getenv("TURNSTILE_TEST_DUMP") != ""
)

// skipUnlessChaos skips the test unless TURNSTILE_CHAOS is set, saying why.
func skipUnlessChaos(t *testing.T, why string) {
	t.Helper()
	if !chaosEnabled {
		t.Skip("set TURNSTILE_CHAOS=1 (make chaos) " + why)
	}
}

// chaosSeed is TURNSTILE_CHAOS_SEED, or a seed from the clock.
func chaosSeed(t *testing.T) uint64 {
	t.Helper()
	if chaosSeedVar == "" {
		return uint64(time.Now().UnixNano())
	}
	seed, err := strconv.ParseUint(chaosSeedVar, 10, 64)
	if err != nil {
		t.Fatalf("TURNSTILE_CHAOS_SEED: %v", err)
	}
	return seed
}

// mtaDir holds the real MTA weeks, in the shared data directory beside the
// checkout (a bare clone has none, and the tests that need them skip).
const mtaDir = "../../shared/data/mta/"

// stack is the embedded broker and registry with the clients a test needs.
type stack struct {
	brokers     []string
	registryURL string
	registry    srclient.ISchemaRegistryClient
	// client partitions keys as goka does (schemas.Partitioner), so
	// records a test produces land where the processors look for them.
	client *kgo.Client
}

// newStack starts an in-memory broker and a registry for the test.
func newStack(t *testing.T) *stack {
	t.Helper()
	b := testenv.Broker(t, "")
	return stackOn(t, b.Addr(), testenv.Registry(t, b.Addr()).URL())
}

// stackOn is the stack of a broker and a registry the test started itself
// (to stop and restart them).
func stackOn(t *testing.T, brokerAddr, registryURL string) *stack {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr), kgo.RecordPartitioner(schemas.Partitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &stack{brokers: []string{brokerAddr}, registryURL: registryURL,
		registry: srclient.CreateSchemaRegistryClient(registryURL), client: cl}
}

// newChildStack is newStack for members in child processes: the
// pipeline's topics are created up front with the given partitions, and a
// failing test logs every group's members and assignments.
func newChildStack(t *testing.T, partitions int) *stack {
	t.Helper()
	s := newStack(t)
	describeOnFailure(t, s.brokers)
	createTopics(t, s.brokers[0], partitions)
	return s
}

// createTopics creates the pipeline's topics with the given partitions, as
// a member would.
func createTopics(t *testing.T, brokerAddr string, partitions int) {
	t.Helper()
	cfg := processors.Config{Partitions: partitions, Topics: processors.DefaultTopics(), Groups: processors.DefaultGroups(), MinCompactionLag: time.Hour}
	for _, spec := range cfg.TopicSpecs() {
		testenv.CreateTopic(t, brokerAddr, spec.Name, spec.Partitions, spec.Configs)
	}
}

func (s *stack) kafkaOpts() []kgo.Opt { return []kgo.Opt{kgo.SeedBrokers(s.brokers...)} }

// startBroker starts a persistent embedded broker on addr (host:port;
// port 0 picks one) and stops it when the test ends (closing twice is
// fine). Stop it with Close and start it again on its address and dir.
func startBroker(t *testing.T, addr, dir string) *broker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{Addr: addr, DataDir: dir, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatalf("start broker on %s: %v", addr, err)
	}
	t.Cleanup(b.Close)
	return b
}

// startRegistry starts the embedded registry on addr (host:port; port 0
// picks one) and closes it when the test ends (closing twice is fine).
func startRegistry(t *testing.T, addr, brokerAddr string) *registry.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := registry.Start(ctx, registry.Config{Addr: addr, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(brokerAddr)}, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatalf("start registry on %s: %v", addr, err)
	}
	t.Cleanup(func() { closeRegistry(t, r) })
	return r
}

func closeRegistry(t *testing.T, r *registry.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Errorf("close registry: %v", err)
	}
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// memberConfig is what every pipeline member of these tests runs with, in
// this process or in a child: 3 partitions, 5-minute tumbling windows of
// cumulative counters (refParams), 2 hours of retention, idle after 2 s,
// a tick every 200 ms, no future check, small Pebble buffers.
func memberConfig(brokers []string, reg srclient.ISchemaRegistryClient, stateDir string, log *slog.Logger) processors.Config {
	return processors.Config{
		Brokers: brokers, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(brokers...)}, Registry: reg,
		Partitions: 3, Window: 5 * time.Minute, Retention: 2 * time.Hour,
		IdleTimeout: 2 * time.Second, TickInterval: 200 * time.Millisecond,
		MaxFuture: -1, State: state.Options{Dir: stateDir, MemTableSize: 4 << 20, CacheSize: 8 << 20}, Logger: log,
	}
}

// config is memberConfig for a member in this process on the stack, with
// its own state directory and the test's logger.
func (s *stack) config(t *testing.T) processors.Config {
	return memberConfig(s.brokers, s.registry, t.TempDir(), testenv.Logger(t))
}

// inProcess is a pipeline member running in this process.
type inProcess struct {
	p       *processors.Pipeline
	metrics *processors.Metrics
	stop    func() // a clean shutdown: cancels Run and waits for it
}

// runMember runs a member with cfg and metrics (nil: its own) in this
// process until stop, ctx's end or the test's end. A Run error fails the
// test and calls cancel (the test's), so whatever the test waits for gives
// up at once.
func runMember(t *testing.T, ctx context.Context, cancel context.CancelFunc, cfg processors.Config, metrics *processors.Metrics) *inProcess {
	t.Helper()
	if metrics == nil {
		var err error
		if metrics, err = processors.NewMetrics(nil); err != nil {
			t.Fatal(err)
		}
	}
	p, err := processors.New(cfg, metrics)
	if err != nil {
		t.Fatal(err)
	}
	mctx, mcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Run(mctx); err != nil {
			t.Errorf("Run: %v", err)
			cancel()
		}
	}()
	var once sync.Once
	m := &inProcess{p: p, metrics: metrics}
	m.stop = func() {
		once.Do(func() {
			mcancel()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				t.Errorf("Run did not return within 60s of its context ending")
			}
		})
	}
	t.Cleanup(m.stop)
	return m
}

// Child processes. A test starts a part of the system in its own OS
// process by running this test binary (systest.test, os.Args[0]) again
// with -test.run=^TestHelperProcess$ and the variables below, which only
// startHelper sets. Every variable a role reads is always set, so the
// environment the tests were started in (the turnstile commands read
// TURNSTILE_<FLAG> too) cannot leak into a child.
const (
	envHelper     = "TURNSTILE_HELPER"     // the role: member, broker, registry or lake
	envBrokers    = "TURNSTILE_BROKERS"    // member, registry, lake: the broker addresses, comma-separated
	envRegistry   = "TURNSTILE_REGISTRY"   // member, lake: the registry's URL
	envState      = "TURNSTILE_STATE"      // member: its state directory
	envPartitions = "TURNSTILE_PARTITIONS" // member: the partition count
	envMember     = "TURNSTILE_MEMBER"     // member: the client id of its franz-go clients ("" none)
	envRetention  = "TURNSTILE_RETENTION"  // member: the retention, a Go duration
	envAddr       = "TURNSTILE_ADDR"       // broker, registry: the address to serve on
	envData       = "TURNSTILE_DATA"       // broker: its data directory; lake: the lake
)

// The lines a helper prints once it serves, and when it stopped cleanly.
const (
	helperReady   = "helper ready"
	helperStopped = "helper stopped"
)

// TestHelperProcess is not a test: it is one part of the system in a child
// process, started by startHelper with TURNSTILE_HELPER set to its role,
// and skips otherwise. It prints "helper ready" once it serves and runs
// until SIGTERM (a clean stop: a member leaves its groups) or SIGKILL.
//   - member: one pipeline member, memberConfig with the partitions,
//     retention, client id and state directory of the variables and the
//     broker's minimum session timeout, so a killed member's partitions
//     move sooner;
//   - broker: the embedded broker, persistent;
//   - registry: the embedded registry;
//   - lake: the lake-writer, flushing every 500 ms.
func TestHelperProcess(t *testing.T) {
	role := os.Getenv(envHelper)
	if role == "" {
		t.Skip("helper process, started by the tests that need one")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	log := testenv.Logger(t)
	brokers := strings.Split(os.Getenv(envBrokers), ",")
	ready := func() { fmt.Println(helperReady) }
	switch role {
	case "member":
		cfg := memberConfig(brokers, srclient.CreateSchemaRegistryClient(os.Getenv(envRegistry)), os.Getenv(envState), log)
		var err error
		if cfg.Partitions, err = strconv.Atoi(os.Getenv(envPartitions)); err != nil {
			t.Fatal(err)
		}
		if cfg.Retention, err = time.ParseDuration(os.Getenv(envRetention)); err != nil {
			t.Fatal(err)
		}
		if id := os.Getenv(envMember); id != "" {
			cfg.KafkaOpts = append(cfg.KafkaOpts, kgo.ClientID(id))
		}
		cfg.SessionTimeout = 6 * time.Second
		p, err := processors.New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		ready()
		if err := p.Run(ctx); err != nil {
			t.Fatal(err)
		}
	case "broker":
		b := startBroker(t, os.Getenv(envAddr), os.Getenv(envData))
		ready()
		<-ctx.Done()
		b.Close()
	case "registry":
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		r, err := registry.Start(sctx, registry.Config{Addr: os.Getenv(envAddr), KafkaOpts: []kgo.Opt{kgo.SeedBrokers(brokers...)}, Logger: log})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		ready()
		<-ctx.Done()
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Close(cctx)
	case "lake":
		store, err := datalake.Open(ctx, os.Getenv(envData))
		if err != nil {
			t.Fatal(err)
		}
		w, err := datalake.New(datalake.Config{KafkaOpts: []kgo.Opt{kgo.SeedBrokers(brokers...)},
			Registry: srclient.CreateSchemaRegistryClient(os.Getenv(envRegistry)),
			Store:    store, FlushInterval: 500 * time.Millisecond, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		ready()
		if err := w.Run(ctx); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown helper role %q", role)
	}
	fmt.Println(helperStopped)
}

// helper is a part of the system to run in a child process: its role and
// the variables it reads.
type helper struct {
	role string
	env  []string
}

// memberHelper is a child-process member against the broker and registry
// at brokers and registryURL, on stateDir (kept across restarts),
// partitions partitions (0: 3), client id name ("" none) and retention
// (0: 24 hours).
func memberHelper(brokers []string, registryURL, stateDir string, partitions int, name string, retention time.Duration) helper {
	if partitions == 0 {
		partitions = 3
	}
	if retention == 0 {
		retention = 24 * time.Hour
	}
	return helper{role: "member", env: []string{envBrokers + "=" + strings.Join(brokers, ","), envRegistry + "=" + registryURL,
		envState + "=" + stateDir, envPartitions + "=" + strconv.Itoa(partitions), envMember + "=" + name,
		envRetention + "=" + retention.String()}}
}

// startMember starts a member on the stack in a child process (see
// memberHelper) and waits until it runs.
func startMember(t *testing.T, s *stack, stateDir string, partitions int, name string) *child {
	t.Helper()
	return startHelper(t, name, memberHelper(s.brokers, s.registryURL, stateDir, partitions, name, 0), 30*time.Second)
}

// child is a helper running in a child process.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// startHelper runs h in a child process, named name in the test's
// output, and waits up to timeout until it is ready. Its output is echoed
// with TURNSTILE_TEST_DEBUG, and lines with FAIL or panic always are. It
// is SIGKILLed when the test ends, if it still runs.
func startHelper(t *testing.T, name string, h helper, timeout time.Duration) *child {
	t.Helper()
	if name == "" {
		name = h.role
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Env = append(append(os.Environ(), envHelper+"="+h.role), h.env...)
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
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, helperReady) {
				once.Do(func() { close(isReady) })
			}
			if debugEnabled || strings.Contains(line, "FAIL") || strings.Contains(line, "panic") {
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

// kill SIGKILLs the process (after a goroutine dump with
// TURNSTILE_TEST_DUMP) and waits for it to exit.
func (c *child) kill() {
	select {
	case <-c.done:
		return
	default:
	}
	if dumpBeforeKill {
		_ = c.cmd.Process.Signal(syscall.SIGQUIT) // goroutine dump on stderr
		time.Sleep(time.Second)
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// terminate asks the process to stop (SIGTERM: a member leaves its
// groups) and waits up to timeout for it to exit.
func (c *child) terminate(t *testing.T, timeout time.Duration) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		if code := c.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("helper exited with code %d after SIGTERM", code)
		}
	case <-time.After(timeout):
		t.Errorf("helper did not stop within %v of SIGTERM", timeout)
		c.kill()
	}
}

// logCapture is a slog handler that keeps every record at or above warning
// level (message and attributes flattened to one line) and passes records
// on to the test's logger, so a test can assert what the pipeline logged:
// supervisor restarts, registry waits, secrets that must not appear.
type logCapture struct {
	next  slog.Handler
	attrs []slog.Attr
	mu    *sync.Mutex
	lines *[]string
}

func newLogCapture(t *testing.T) (*slog.Logger, *logCapture) {
	c := &logCapture{next: testenv.Logger(t).Handler(), mu: &sync.Mutex{}, lines: new([]string)}
	return slog.New(c), c
}

func (c *logCapture) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || c.next.Enabled(ctx, l)
}

func (c *logCapture) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
		for _, a := range c.attrs {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
		c.mu.Lock()
		*c.lines = append(*c.lines, b.String())
		c.mu.Unlock()
	}
	if c.next.Enabled(ctx, r.Level) {
		return c.next.Handle(ctx, r)
	}
	return nil
}

func (c *logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	n := *c
	n.next = c.next.WithAttrs(as)
	n.attrs = append(append([]slog.Attr(nil), c.attrs...), as...)
	return &n
}

func (c *logCapture) WithGroup(name string) slog.Handler {
	n := *c
	n.next = c.next.WithGroup(name)
	return &n
}

// matching returns the captured lines containing every one of subs.
func (c *logCapture) matching(subs ...string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return matchingLines(*c.lines, subs)
}

// lineLog keeps a member's whole log, every level, as text lines, for a
// test that looks for info or debug lines (logCapture keeps warnings).
type lineLog struct {
	mu    sync.Mutex
	lines []string
	part  string
}

// newLineLog is a logger at level into a new lineLog.
func newLineLog(level slog.Level) (*slog.Logger, *lineLog) {
	l := &lineLog{}
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: level})), l
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.part + string(p)
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, s[:i])
		s = s[i+1:]
	}
	l.part = s
	return len(p), nil
}

// len is the number of lines so far.
func (l *lineLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// matching returns the lines from index from on containing every one of
// subs.
func (l *lineLog) matching(from int, subs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return matchingLines(l.lines[from:], subs)
}

// String is the whole log.
func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + "\n" + l.part
}

func matchingLines(lines, subs []string) []string {
	var out []string
next:
	for _, l := range lines {
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}
