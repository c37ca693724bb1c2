package processors

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/windows"
	"github.com/turnstile-streams/turnstile/wire"
)

// TestStage runs the windowed stage through the files in testdata/stage
// (testdata/stage/writebehind: the same with device writes held back,
// init writebehind=N): readings, marks, ticks, crashes, restarts and
// replays in, published rows out, without Kafka (see harness). A change to a close or correction rule
// shows as a diff of these files; rewrite them with
//
//	go test ./processors -run TestStage -rewrite
//
// Commands (times are HH:MM from 2024-01-06 00:00 UTC, hours may pass 24):
//
//	init [partitions=1] [sources=1] [window=5m] [slide=] [grace=5m] [retention=60m] [writebehind=N]
//	     [counters=cumulative] [emit=final] [idle=30s] [direct [drift=D]]
//	                                         drift: watermark alignment's (stage.align);
//	                                         the output then lists the input partitions paused
//	reading <STATION|LINE|CA|UNIT|SCP> t=HH:MM entries=N exits=N [id=] [desc=REGULAR] [division=IRT] [hold]
//	                                         a reading on the readings topic (re-keyed)
//	input <STATION|LINE|CA|UNIT|SCP> t=HH:MM entries=N exits=N [partition=P] [key=K] [...] [hold]
//	                                         a reading on the input topic (direct layout: the
//	                                         stage reads the input, each input partition a
//	                                         source sending its own marks); by default on its
//	                                         partition with its reading key: applied in place
//	mark source=S (t=HH:MM | idle) [hold]    a source's mark to every partition (direct layout:
//	                                         only idle, sent by the source after its kept marks)
//	tick wall=HH:MM [lagging=S,S] [lag=unknown] [caughtup] [quiet=D] [ends=(N,N)] [hold]
//	                                         a tick to every partition, measured and applied at
//	                                         wall: the sources in lagging have unconsumed input
//	                                         (default none; lag=unknown: the ticker could not tell);
//	                                         direct layout: caughtup, the tick says each input
//	                                         partition has no lag (a source may go idle), quiet,
//	                                         how long its log has not grown, ends, the offset
//	                                         where each input partition's declared input ends
//	... stop=P                               any command delivering records: goka stops
//	                                         partition P during its next callback (its context
//	                                         ends once the callback has begun); the callback ends
//	                                         uncommitted, goka's stop hook writes what P holds, and
//	                                         P is reopened on its store, its uncommitted records
//	                                         delivered again
//	crash partition=P [lose=N]               lose the last N unacknowledged changelog records
//	                                         (held by hold; default all), rebuild, redeliver;
//	                                         relays nothing yet
//	restart                                  reopen every partition with nothing in memory
//	replay generation=G                      every input again, as a new generation
//	check                                    the latest revisions against the reference
//	latest                                   the latest revision of every window
//
// Each command but check and latest prints the rows the relay published
// because of it (hold: none yet, the writes are not acknowledged) and the
// partitions' watermarks.
func TestStage(t *testing.T) {
	datadriven.Walk(t, "testdata/stage", func(t *testing.T, path string) {
		var h *harness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "init" && h == nil {
				d.Fatalf(t, "init first")
			}
			n := 0
			if h != nil {
				n = len(h.published)
			}
			if d.HasArg("stop") {
				h.stopDuring(int32(intArg(t, d, "stop", 0)))
			}
			switch d.Cmd {
			case "init":
				rules, parts, sources, idle := stageInit(t, d)
				held := ""
				if d.HasArg("writebehind") {
					held = fmt.Sprintf(", up to %d devices held back", intArg(t, d, "writebehind", 0))
				}
				if d.HasArg("direct") {
					h = newHarnessLayout(t, rules, parts, parts, idle, true)
					if d.HasArg("drift") {
						h.stage.drift, h.stage.pauser = durArg(t, d, "drift").Milliseconds(), h
					}
					h.holdBack(t, d)
					return fmt.Sprintf("%d partitions, the input's %d partitions its sources (direct layout)%s", parts, parts, held)
				}
				h = newHarness(t, rules, parts, sources, idle)
				h.holdBack(t, d)
				return fmt.Sprintf("%d partitions, %d sources%s", parts, sources, held)
			case "reading":
				h.reading(stageReading(t, d))
			case "input":
				r := stageReading(t, d)
				key := r.Key()
				if d.HasArg("key") {
					d.ScanArgs(t, "key", &key)
				}
				part := schemas.Partition(r.Key(), len(h.parts))
				if d.HasArg("partition") {
					part = int32(intArg(t, d, "partition", 0))
				}
				inPlace := counterValue(h.stage.metrics.inPlace)
				h.inputRecord(part, key, r)
				how := "re-keyed"
				if counterValue(h.stage.metrics.inPlace) > inPlace {
					how = "applied in place"
				}
				prefix := fmt.Sprintf("input p%d: %s\n", part, how)
				return prefix + h.commandOutput(d, n)
			case "mark":
				if h.stage.direct {
					// The stage's own sources send their marks; a test
					// can only say one is idle.
					if !d.HasArg("idle") {
						d.Fatalf(t, "mark: in the direct layout the sources mark their time themselves; only idle")
					}
					h.idleSource(int32(intArg(t, d, "source", 0)))
					return h.commandOutput(d, n)
				}
				m := wire.Mark{Source: int32(intArg(t, d, "source", 0))}
				if d.HasArg("idle") {
					m.Idle = true
				} else {
					m.Time, m.HasTime = timeArg(t, d, "t"), true
				}
				h.mark(m)
			case "tick":
				tk := wire.Tick{Wall: timeArg(t, d, "wall"), LagKnown: true}
				if d.HasArg("lag") {
					tk.LagKnown = false
				}
				tk.CaughtUp = d.HasArg("caughtup")
				if d.HasArg("quiet") {
					tk.QuietMs = durArg(t, d, "quiet").Milliseconds()
				}
				var ends []string
				if d.HasArg("ends") {
					// ends=(a,b,...): where each input partition's declared
					// input ends (Tick.EndsAt; 0: none).
					d.ScanArgs(t, "ends", &ends)
				}
				if d.HasArg("lagging") {
					var ss []string
					d.ScanArgs(t, "lagging", &ss)
					for _, v := range ss {
						n, err := strconv.Atoi(v)
						if err != nil {
							d.Fatalf(t, "lagging: %v", err)
						}
						tk.Lagging = append(tk.Lagging, int32(n))
					}
				}
				h.tick(tk, func(p int) int64 {
					if p >= len(ends) {
						return 0
					}
					n, err := strconv.ParseInt(ends[p], 10, 64)
					if err != nil {
						d.Fatalf(t, "ends: %v", err)
					}
					return n
				})
			case "crash":
				return h.crash(int32(intArg(t, d, "partition", 0)), intArg(t, d, "lose", -1))
			case "restart":
				h.restart()
			case "replay":
				h.replay(int32(intArg(t, d, "generation", 1)))
			case "check":
				h.flushHeld() // as the next tick would
				h.relay()
				return h.check()
			case "latest":
				h.flushHeld()
				h.relay()
				var lines []string
				for _, r := range h.latest {
					lines = append(lines, r.String())
				}
				return sortedLines(lines)
			default:
				d.Fatalf(t, "unknown command %s", d.Cmd)
			}
			return h.commandOutput(d, n)
		})
	})
}

// holdBack sets the stage's write-behind (init writebehind=N: up to N
// devices per partition; stage.writeBehind) with the harness's changelog.
func (h *harness) holdBack(t *testing.T, d *datadriven.TestData) {
	if !d.HasArg("writebehind") {
		return
	}
	h.stage.writeBehind = intArg(t, d, "writebehind", 0)
	h.stage.setOut(hchangelog{h})
	if h.stage.in != nil {
		h.stage.in.flush = h.stage.flushHeld
	}
}

func sortedLines(lines []string) string {
	if len(lines) == 0 {
		return "none"
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// durArg is the command's duration argument name.
func durArg(t *testing.T, d *datadriven.TestData, name string) time.Duration {
	var s string
	d.ScanArgs(t, name, &s)
	v, err := time.ParseDuration(s)
	if err != nil {
		d.Fatalf(t, "%s: %v", name, err)
	}
	return v
}

func stageInit(t *testing.T, d *datadriven.TestData) (*windows.Rules, int, int, time.Duration) {
	dur := func(name string, def time.Duration) time.Duration {
		if !d.HasArg(name) {
			return def
		}
		return durArg(t, d, name)
	}
	str := func(name, def string) string {
		if !d.HasArg(name) {
			return def
		}
		var s string
		d.ScanArgs(t, name, &s)
		return s
	}
	cfg := Config{Window: dur("window", 5*time.Minute), Slide: dur("slide", 0), Grace: dur("grace", 5*time.Minute),
		Retention: dur("retention", time.Hour), Counters: windows.CounterMode(str("counters", "cumulative")),
		Emit: windows.EmitMode(str("emit", "final"))}
	cfg.Defaults()
	rules, err := cfg.rules()
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	return rules, intArg(t, d, "partitions", 1), intArg(t, d, "sources", 1), dur("idle", 30*time.Second)
}

func stageReading(t *testing.T, d *datadriven.TestData) *wire.Reading {
	if len(d.CmdArgs) == 0 || d.CmdArgs[0].Key == "" {
		d.Fatalf(t, "reading: the key first")
	}
	key := d.CmdArgs[0].Key
	st, dev, ok := schemas.SplitReadingKey(key)
	if !ok {
		d.Fatalf(t, "reading: %q is not STATION|LINE|CA|UNIT|SCP", key)
	}
	r := &wire.Reading{T: timeArg(t, d, "t")}
	r.Station, r.LineName, _ = schemas.SplitStationKey(st)
	r.CA, r.Unit, r.SCP, _ = schemas.SplitDeviceKey(dev)
	r.Entries, r.Exits = int64(intArg(t, d, "entries", 0)), int64(intArg(t, d, "exits", 0))
	r.ID = fmt.Sprintf("%s@%s", key, hm(r.T))
	if d.HasArg("id") {
		d.ScanArgs(t, "id", &r.ID)
	}
	r.Desc, r.Division = "REGULAR", "IRT"
	if d.HasArg("desc") {
		d.ScanArgs(t, "desc", &r.Desc)
	}
	if d.HasArg("division") {
		d.ScanArgs(t, "division", &r.Division)
	}
	return r
}

func intArg(t *testing.T, d *datadriven.TestData, name string, def int) int {
	if !d.HasArg(name) {
		return def
	}
	var v int
	d.ScanArgs(t, name, &v)
	return v
}

// timeArg parses HH:MM (hours may pass 24) from 2024-01-06 00:00 UTC.
func timeArg(t *testing.T, d *datadriven.TestData, name string) int64 {
	var s string
	d.ScanArgs(t, name, &s)
	hh, mm, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil {
		d.Fatalf(t, "%s=%q is not HH:MM", name, s)
	}
	return hbase + int64(h*60+m)*minute
}

// commandOutput relays what the command wrote (unless hold) and prints the
// rows published since n and the watermarks.
func (h *harness) commandOutput(d *datadriven.TestData, n int) string {
	var b strings.Builder
	b.WriteString(h.reopenStopped())
	if !d.HasArg("hold") {
		h.relay()
	}
	for _, r := range h.published[n:] {
		b.WriteString(r.String() + "\n")
	}
	b.WriteString(h.pokedTickers())
	b.WriteString(h.watermarks())
	return b.String()
}

// pokedTickers says, when the intake poked the member's tickers since the
// last output, where each input partition's idle mark at its declared end
// went out (intake.sentEnd; 0: none): what the next tick counts as caught
// up.
func (h *harness) pokedTickers() string {
	if h.pokes == h.shown {
		return ""
	}
	h.shown = h.pokes
	var ends []string
	for p := range h.parts {
		ends = append(ends, fmt.Sprintf("p%d=%d", p, h.stage.in.sentEnd(int32(p))))
	}
	return "tickers poked: idle marks sent at declared ends " + strings.Join(ends, " ") + "\n"
}
