package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Machine describes where the figures were measured.
type Machine struct {
	CPU        string  `json:"cpu"`
	Cores      int     `json:"cores"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	MemoryMiB  float64 `json:"memory_mib"`
	GoVersion  string  `json:"go_version"`
	OS         string  `json:"os"`
	Arch       string  `json:"arch"`
	// LoadAvg is the 1-minute load average when the run started: other
	// work on the machine makes absolute figures noisy.
	LoadAvg float64 `json:"load_avg_at_start"`
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, CPU: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if kb, ok := procStatusField("/proc/meminfo", "MemTotal"); ok {
		m.MemoryMiB = float64(kb) / 1024
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			m.LoadAvg, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	return m
}

// usage is the process's CPU time and the bytes its Go heap allocated so
// far.
type usage struct {
	cpu   time.Duration
	alloc uint64
}

func processUsage() usage {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	var alloc uint64
	if s[0].Value.Kind() == metrics.KindUint64 {
		alloc = s[0].Value.Uint64()
	}
	return usage{cpu: cpuTime(), alloc: alloc}
}

// cpuTime is the process's user+system CPU time so far (every goroutine,
// the in-process broker included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) time.Duration {
		return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

// procStatusField reads a "Name: <n> kB" line of a /proc file.
func procStatusField(path, name string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		return n, err == nil
	}
	return 0, false
}

// rssMiB is the resident set size now.
func rssMiB() float64 { return procRSSMiB("/proc/self") }

// procRSSMiB is the resident set size of the process at proc (/proc/<pid>).
func procRSSMiB(proc string) float64 {
	kb, _ := procStatusField(proc+"/status", "VmRSS")
	return float64(kb) / 1024
}

// rssPeak tracks the peak RSS of one phase: it resets the kernel's
// high-water mark (VmHWM, where supported) and also samples VmRSS, since a
// reset is not possible everywhere.
type rssPeak struct {
	proc  string // /proc/self or /proc/<pid>
	reset bool
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	max   float64
	// heap is the peak of the Go heap (live and not yet swept objects),
	// sampled alongside: what of RSS is the Go heap rather than Pebble's
	// manually managed memory, stacks and the runtime.
	heap float64
}

// goHeapMiB is the Go heap's objects, live and garbage not yet swept.
func goHeapMiB() float64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return float64(s[0].Value.Uint64()) / (1 << 20)
}

func startRSSPeak() *rssPeak { return startRSSPeakOf("/proc/self") }

// startRSSPeakOf tracks the process at proc (/proc/<pid>); the Go heap is
// sampled only for this process.
func startRSSPeakOf(proc string) *rssPeak {
	self := proc == "/proc/self"
	heap := func() float64 {
		if self {
			return goHeapMiB()
		}
		return 0
	}
	// "5" resets the peak RSS (Linux 4.0+); ignore failure.
	reset := os.WriteFile(proc+"/clear_refs", []byte("5"), 0) == nil
	p := &rssPeak{proc: proc, reset: reset, stop: make(chan struct{}), max: procRSSMiB(proc), heap: heap()}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				r, h := procRSSMiB(proc), heap()
				p.mu.Lock()
				p.max, p.heap = max(p.max, r), max(p.heap, h)
				p.mu.Unlock()
			}
		}
	}()
	return p
}

// done stops sampling and returns the phase's peak in MiB (heapPeak then
// has the Go heap's).
func (p *rssPeak) done() float64 {
	close(p.stop)
	p.wg.Wait()
	peak := p.max
	if kb, ok := procStatusField(p.proc+"/status", "VmHWM"); ok && p.reset {
		peak = max(peak, float64(kb)/1024)
	}
	return peak
}

// heapPeak is the Go heap's peak in MiB, after done.
func (p *rssPeak) heapPeak() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.heap
}

// procCPU is the user+system CPU time of the process at proc (/proc/<pid>)
// so far, from its stat file (in USER_HZ ticks, 10 ms on Linux); 0 when it
// cannot be read.
func procCPU(proc string) time.Duration {
	b, err := os.ReadFile(proc + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields count from after its closing one, which is field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0
	}
	const userHZ = 100
	return time.Duration(utime+stime) * time.Second / userHZ
}

// settle writes the page cache's dirty pages to disk (sync(2)) before a
// measured phase. The phases before it wrote gigabytes (the input, the
// changelog, Pebble's files, the restore's copies), which the kernel would
// otherwise write back while the next phase runs, on its cores and disks:
// before the latency phase 1.1 GB were dirty, and its p99 measured
// 636/237 ms without and 179/149 ms with this (docs/benchmarks.md).
func settle(phase string, say func(string, ...any)) {
	t := time.Now()
	syscall.Sync()
	if d := time.Since(t); d >= 100*time.Millisecond {
		say("%s: the earlier phases' writes synced to disk first (%.1fs)", phase, d.Seconds())
	}
}
