package processors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/windows"
	"github.com/turnstile-streams/turnstile/wire"
)

// Interactive queries read the windows of a key from this member's local
// table partitions. Only the member that owns a key's partition (goka's
// current assignment for the group, not a hot-standby replica) answers;
// the owners of other partitions are found from the consumer group: every
// member publishes its HTTP address in its group member metadata (the
// JoinGroup user data), and DescribeGroups returns it with the member's
// assignment.

// ErrUnavailable means the partition is owned here but its table is not
// readable yet (recovering or being handed over); retry shortly.
var ErrUnavailable = errors.New("processors: partition not readable yet (recovering or rebalancing)")

// NotOwnerError says which partition a key is in and, when known, the HTTP
// address of the member that owns it.
type NotOwnerError struct {
	Group     string
	Partition int32
	Owner     string // advertised HTTP base URL; "" if no member owns it now
}

func (e *NotOwnerError) Error() string {
	if e.Owner == "" {
		return fmt.Sprintf("processors: %s partition %d has no owner right now", e.Group, e.Partition)
	}
	return fmt.Sprintf("processors: %s partition %d is owned by %s", e.Group, e.Partition, e.Owner)
}

// memberMeta is what a member publishes in its consumer group metadata.
type memberMeta struct {
	HTTP string `json:"http,omitempty"` // base URL of the member's HTTP server
}

// queryState is what the pipeline tells the queries and the HTTP server:
// the goka processors running now, their assignments and table stores.
type queryState struct {
	mu         sync.Mutex
	advertise  string
	adm        *kadm.Client
	procs      map[string]*goka.Processor
	assigned   map[string]map[int32]bool
	trackers   map[string]*storageTracker
	partitions map[string]int // group -> partition count of its table
	groups     []string       // goka groups this member runs, in order
}

func newQueryState() *queryState {
	return &queryState{procs: map[string]*goka.Processor{}, assigned: map[string]map[int32]bool{},
		trackers: map[string]*storageTracker{}, partitions: map[string]int{}}
}

// AdvertiseHTTP sets the base URL (e.g. "http://10.0.0.5:8080") at which
// other members and clients reach this member's HTTP server. It travels in
// the consumer group member metadata; call it before Run.
func (p *Pipeline) AdvertiseHTTP(url string) {
	p.q.mu.Lock()
	p.q.advertise = strings.TrimRight(url, "/")
	p.q.mu.Unlock()
}

func (q *queryState) memberData() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	b, _ := json.Marshal(memberMeta{HTTP: q.advertise})
	return b
}

func (q *queryState) addGroup(group string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, g := range q.groups {
		if g == group {
			return
		}
	}
	q.groups = append(q.groups, group)
}

func (q *queryState) setProc(group string, proc *goka.Processor) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if proc == nil {
		delete(q.procs, group)
		delete(q.assigned, group)
		return
	}
	q.procs[group] = proc
}

func (q *queryState) onAssign(group string, m *Metrics) goka.RebalanceCallback {
	return func(a goka.Assignment) {
		parts := make(map[int32]bool, len(a))
		for p := range a {
			parts[p] = true
		}
		q.mu.Lock()
		q.assigned[group] = parts
		q.mu.Unlock()
		m.onAssign(group, parts)
	}
}

func (q *queryState) setTable(group string, tracker *storageTracker, partitions int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.trackers[group], q.partitions[group] = tracker, partitions
}

func (q *queryState) setAdmin(adm *kadm.Client) {
	q.mu.Lock()
	q.adm = adm
	q.mu.Unlock()
}

// Readiness says, per goka group this member runs, whether its processor
// is running with its tables recovered.
type Readiness struct {
	Ready  bool              `json:"ready"`
	Groups map[string]string `json:"groups"` // group -> "running", "starting", "recovering", ...
}

// Readiness reports whether every stage of the member is running.
func (p *Pipeline) Readiness() Readiness {
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	r := Readiness{Ready: len(q.groups) > 0, Groups: map[string]string{}}
	for _, g := range q.groups {
		proc := q.procs[g]
		switch {
		case proc == nil:
			r.Groups[g], r.Ready = "not started", false
		case proc.Recovered():
			r.Groups[g] = "running"
		default:
			r.Groups[g], r.Ready = procState(proc), false
		}
	}
	return r
}

func procState(proc *goka.Processor) string {
	switch {
	case proc.StateReader().IsState(goka.ProcStateSetup):
		return "recovering"
	case proc.StateReader().IsState(goka.ProcStateStopping), proc.StateReader().IsState(goka.ProcStateStopped):
		return "rebalancing"
	}
	return "starting"
}

// Processors returns the goka processors running now (for goka's web
// monitor). A stage that restarts gets a new processor.
func (p *Pipeline) Processors() []*goka.Processor {
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*goka.Processor
	for _, g := range q.groups {
		if proc := q.procs[g]; proc != nil {
			out = append(out, proc)
		}
	}
	return out
}

// Owners returns, per partition of a goka group, the advertised HTTP
// address of the member that owns it, from the consumer group (only while
// the group is stable).
func (p *Pipeline) Owners(ctx context.Context, group string) (map[int32]string, error) {
	p.q.mu.Lock()
	adm := p.q.adm
	p.q.mu.Unlock()
	if adm == nil {
		return nil, errors.New("processors: not running")
	}
	return GroupOwners(ctx, adm, group)
}

// GroupOwners reads a group's members' metadata and assignments.
func GroupOwners(ctx context.Context, adm *kadm.Client, group string) (map[int32]string, error) {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("processors: describe group %s: %w", group, err)
	}
	d, ok := described[group]
	if !ok {
		return nil, fmt.Errorf("processors: group %s not described", group)
	}
	if d.Err != nil {
		return nil, fmt.Errorf("processors: describe group %s: %w", group, d.Err)
	}
	out := map[int32]string{}
	for _, m := range d.Members {
		var meta memberMeta
		if join, ok := m.Join.AsConsumer(); ok && len(join.UserData) > 0 {
			_ = json.Unmarshal(join.UserData, &meta)
		}
		as, ok := m.Assigned.AsConsumer()
		if !ok {
			continue
		}
		for _, t := range as.Topics {
			for _, part := range t.Partitions {
				out[part] = meta.HTTP
			}
		}
	}
	return out, nil
}

// WindowView is one window of a query answer.
type WindowView struct {
	LineName string    `json:"linename,omitempty"` // station windows
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Entries  int64     `json:"entries"`
	Exits    int64     `json:"exits"`
	Desc     string    `json:"desc,omitempty"`    // device windows
	Devices  int32     `json:"devices,omitempty"` // station windows
	// Closed windows are final until a late reading corrects them.
	Closed bool `json:"closed"`
	// Revision is the latest published revision (0: not published yet).
	Revision int32 `json:"revision"`
}

// DeviceWindows is the answer to a device query: the device's open and
// retained windows, oldest first.
type DeviceWindows struct {
	Device    string       `json:"device"` // CA|UNIT|SCP
	Found     bool         `json:"found"`
	Station   string       `json:"station,omitempty"`
	LineName  string       `json:"linename,omitempty"`
	Division  string       `json:"division,omitempty"`
	Partition int32        `json:"partition"`
	Readings  int          `json:"retained_readings"`
	Closed    *time.Time   `json:"closed_through,omitempty"` // windows with END+grace at or before are closed
	Windows   []WindowView `json:"windows"`
	// Partitions lists the partitions searched when the station was not
	// given (a device's partition is its station's).
	Partitions []int32 `json:"partitions,omitempty"`
}

// DeviceQuery names a device, and its station when the caller knows it.
type DeviceQuery struct {
	CA, Unit, SCP string
	// Station and LineName, when Station is set, place the device: its
	// partition is its station's (schemas.Partition), one key is read.
	// Without them the device is searched in the partitions asked for.
	Station, LineName string
}

// DeviceWindows answers a device query from the local table. With the
// station it reads the device's key, or says who owns its partition
// (*NotOwnerError) or that the partition is not readable yet
// (ErrUnavailable). Without it, it searches the given partitions (nil: the
// ones this member owns; a partition not owned here is *NotOwnerError)
// for a key of that device, scanning their keys (a device may have a key
// per station it reported under; the one with the newest reading wins).
func (p *Pipeline) DeviceWindows(ctx context.Context, q DeviceQuery, partitions []int32) (*DeviceWindows, error) {
	group := p.cfg.Groups.Windows
	dev := schemas.DeviceKey(q.CA, q.Unit, q.SCP)
	out := &DeviceWindows{Device: dev, Windows: []WindowView{}}
	if q.Station != "" {
		key := schemas.ReadingKey(q.Station, q.LineName, q.CA, q.Unit, q.SCP)
		st, part, err := p.ownedStore(ctx, group, key)
		if err != nil {
			return nil, err
		}
		out.Partition = part
		return out, p.readDevice(st, group, part, key, out)
	}
	if partitions == nil {
		partitions = p.OwnedPartitions(group)
	}
	out.Partitions = []int32{}
	var best *DeviceWindows
	for _, part := range partitions {
		st, err := p.partitionStore(ctx, group, part)
		if err != nil {
			return nil, err
		}
		keys, err := keysOfDevice(st, dev)
		if err != nil {
			return nil, err
		}
		for _, key := range keys {
			cand := &DeviceWindows{Device: dev, Partition: part, Windows: []WindowView{}}
			if err := p.readDevice(st, group, part, key, cand); err != nil {
				return nil, err
			}
			if best == nil || newest(cand) > newest(best) {
				best = cand
			}
		}
		out.Partitions = append(out.Partitions, part)
	}
	if best != nil {
		best.Partitions = out.Partitions
		return best, nil
	}
	return out, nil
}

func newest(d *DeviceWindows) int64 {
	if len(d.Windows) == 0 {
		return 0
	}
	return d.Windows[len(d.Windows)-1].Start.UnixMilli()
}

// keysOfDevice lists a partition's reading keys of device (CA|UNIT|SCP).
func keysOfDevice(st *state.Store, dev string) ([]string, error) {
	it, err := st.Iterator()
	if err != nil {
		return nil, readErr(err)
	}
	defer it.Release()
	var out []string
	for it.Next() {
		if _, d, ok := schemas.SplitReadingKey(string(it.Key())); ok && d == dev {
			out = append(out, string(it.Key()))
		}
	}
	if err := it.Err(); err != nil {
		return nil, readErr(err)
	}
	return out, nil
}

// partitionWatermark is a partition's durable watermark, from its
// metadata.
func (p *Pipeline) partitionWatermark(st *state.Store, group string, part int32) (int64, bool, error) {
	n := p.TablePartitions(group)
	if int(part) >= n {
		return 0, false, nil
	}
	b, err := st.Get(controlKeys(n)[part])
	if err != nil || b == nil {
		return 0, false, readErr(err)
	}
	meta, err := wire.DecodeMeta(b)
	if err != nil {
		return 0, false, err
	}
	return meta.StreamTime, meta.HasTime, nil
}

// device reads a device's value, caught up to its partition's watermark as
// the partition's own readers do (closes are in the metadata writes).
func (p *Pipeline) device(st *state.Store, group string, part int32, key string) (*windows.Device, error) {
	b, err := st.Get(key)
	if err != nil {
		return nil, readErr(err)
	}
	if b == nil {
		return nil, nil
	}
	d, err := wire.DecodeDevice(b)
	if err != nil {
		return nil, fmt.Errorf("processors: key %q: %w", key, err)
	}
	if wm, ok, err := p.partitionWatermark(st, group, part); err != nil {
		return nil, err
	} else if ok {
		d.CatchUp(p.sem, wm)
	}
	return d, nil
}

func (p *Pipeline) readDevice(st *state.Store, group string, part int32, key string, out *DeviceWindows) error {
	d, err := p.device(st, group, part, key)
	if err != nil || d == nil {
		return err
	}
	station, _, _ := schemas.SplitReadingKey(key)
	out.Station, out.LineName, _ = schemas.SplitStationKey(station)
	out.Found, out.Division, out.Readings = true, d.Division, len(d.Readings)
	if d.HasClosed {
		t := time.UnixMilli(d.ClosedThrough).UTC()
		out.Closed = &t
	}
	d.EachLiveWindow(p.sem, func(start int64) bool {
		tot := d.Totals(p.sem, start)
		out.Windows = append(out.Windows, WindowView{Start: time.UnixMilli(start).UTC(), End: time.UnixMilli(p.sem.Windows.End(start)).UTC(),
			Entries: tot.Entries, Exits: tot.Exits, Desc: tot.Desc, Closed: d.Closed(p.sem, start), Revision: d.Emitted.Rev(start)})
		return true
	})
	return nil
}

// StationWindows is (part of) the answer to a station query.
type StationWindows struct {
	Station string `json:"station"`
	// Partitions lists the partitions read (each line of a station is on
	// one partition, its station key's).
	Partitions []int32      `json:"partitions"`
	Windows    []WindowView `json:"windows"`
}

// StationPartition is the partition of a station line.
func (p *Pipeline) StationPartition(station, line string) (int32, bool) {
	n := p.TablePartitions(p.cfg.Groups.Windows)
	if n == 0 {
		return 0, false
	}
	return schemas.Partition(schemas.StationKey(station, line), n), true
}

// StationWindows reads the station's windows (every line of it found, or
// only line when it is not empty) from the given partitions (nil: every
// partition this member owns). A station window is computed from its
// devices, all on the line's partition. Partitions it does not own fail
// with *NotOwnerError (the first one found).
func (p *Pipeline) StationWindows(ctx context.Context, station, line string, partitions []int32) (*StationWindows, error) {
	group := p.cfg.Groups.Windows
	if partitions == nil {
		partitions = p.OwnedPartitions(group)
	}
	out := &StationWindows{Station: station, Partitions: []int32{}, Windows: []WindowView{}}
	prefix := []byte(station + schemas.KeySeparator)
	if line != "" {
		prefix = []byte(schemas.StationKey(station, line) + schemas.KeySeparator)
	}
	for _, part := range partitions {
		st, err := p.partitionStore(ctx, group, part)
		if err != nil {
			return nil, err
		}
		byLine, err := p.stationDevices(st, group, part, prefix)
		if err != nil {
			return nil, err
		}
		for l, devs := range byLine {
			out.Windows = append(out.Windows, stationViews(p.sem, l, devs)...)
		}
		out.Partitions = append(out.Partitions, part)
	}
	SortWindows(out.Windows)
	return out, nil
}

// stationDevices reads a partition's devices whose keys start with
// prefix, by line, caught up to the partition's watermark.
func (p *Pipeline) stationDevices(st *state.Store, group string, part int32, prefix []byte) (map[string]windows.PeerList, error) {
	wm, has, err := p.partitionWatermark(st, group, part)
	if err != nil {
		return nil, err
	}
	it, err := st.IteratorWithRange(prefix, nil)
	if err != nil {
		return nil, readErr(err)
	}
	defer it.Release()
	out := map[string]windows.PeerList{}
	for it.Next() {
		stKey, _, ok := schemas.SplitReadingKey(string(it.Key()))
		if !ok {
			continue
		}
		b, err := it.Value()
		if err != nil {
			return nil, readErr(err)
		}
		d, err := wire.DecodeDevice(b)
		if err != nil {
			return nil, fmt.Errorf("processors: key %q: %w", it.Key(), err)
		}
		if has {
			d.CatchUp(p.sem, wm)
		}
		_, line, _ := schemas.SplitStationKey(stKey)
		out[line] = append(out[line], d)
	}
	if err := it.Err(); err != nil {
		return nil, readErr(err)
	}
	return out, nil
}

// stationViews are a station line's windows computed from its devices.
func stationViews(rules *windows.Rules, line string, devs windows.PeerList) []WindowView {
	starts := map[int64]bool{}
	closed := map[int64]bool{}
	for _, d := range devs {
		d.EachLiveWindow(rules, func(start int64) bool {
			starts[start] = true
			closed[start] = d.Closed(rules, start)
			return true
		})
	}
	var out []WindowView
	for start := range starts {
		tot, rev := windows.StationWindow(rules, devs, start)
		out = append(out, WindowView{LineName: line, Start: time.UnixMilli(start).UTC(), End: time.UnixMilli(rules.Windows.End(start)).UTC(),
			Entries: tot.Entries, Exits: tot.Exits, Devices: tot.Devices, Closed: closed[start], Revision: rev})
	}
	return out
}

// SortWindows orders windows by line, then start.
func SortWindows(ws []WindowView) {
	sort.Slice(ws, func(i, j int) bool {
		if ws[i].LineName != ws[j].LineName {
			return ws[i].LineName < ws[j].LineName
		}
		return ws[i].Start.Before(ws[j].Start)
	})
}

// TablePartitions is the partition count of a goka group's table (0 if
// this member does not run the group).
func (p *Pipeline) TablePartitions(group string) int {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	return p.q.partitions[group]
}

// OwnedPartitions lists the partitions of a goka group this member owns
// now (its active assignment), sorted.
func (p *Pipeline) OwnedPartitions(group string) []int32 {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	out := []int32{}
	for part := range p.q.assigned[group] {
		out = append(out, part)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Groups returns the stage groups of this pipeline's configuration.
func (p *Pipeline) Groups() Groups { return p.cfg.Groups }

// ownedStore finds a key's partition and its local store.
func (p *Pipeline) ownedStore(ctx context.Context, group, key string) (*state.Store, int32, error) {
	n := p.TablePartitions(group)
	if n == 0 {
		return nil, 0, fmt.Errorf("processors: this member does not run %s", group)
	}
	part := schemas.Partition(key, n)
	st, err := p.partitionStore(ctx, group, part)
	return st, part, err
}

// partitionStore returns the local store of a partition this member owns,
// recovered; otherwise *NotOwnerError (with the owner if it can be found)
// or ErrUnavailable.
func (p *Pipeline) partitionStore(ctx context.Context, group string, part int32) (*state.Store, error) {
	q := p.q
	q.mu.Lock()
	owned := q.assigned[group][part]
	tracker := q.trackers[group]
	q.mu.Unlock()
	if tracker == nil {
		return nil, fmt.Errorf("processors: this member does not run %s", group)
	}
	if !owned {
		nerr := &NotOwnerError{Group: group, Partition: part}
		if owners, err := p.Owners(ctx, group); err == nil {
			nerr.Owner = owners[part]
		}
		return nil, nerr
	}
	st, ok := tracker.current(part).st.(*state.Store)
	if !ok || !st.Stats().Recovered {
		return nil, ErrUnavailable
	}
	return st, nil
}

func readErr(err error) error {
	if errors.Is(err, state.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return fmt.Errorf("processors: read table: %w", err)
}
