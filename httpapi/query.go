package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/turnstile-streams/turnstile/processors"
)

// device answers a device query. A device's partition is its station's:
// with ?station= (and ?line=) the member reads that partition if it owns
// it and redirects (307) to the owner otherwise. Without them it searches
// the partitions it owns, then asks the owners of the others which one
// holds the device (?partitions=, answered from local partitions only)
// and redirects to it; 404 when no partition holds it, 503 while a
// partition cannot be read (recovery, rebalance).
func (s *Server) device(w http.ResponseWriter, r *http.Request) {
	p, ok := s.windowed(w)
	if !ok {
		return
	}
	group := p.Groups().Windows
	query := r.URL.Query()
	q := processors.DeviceQuery{CA: r.PathValue("ca"), Unit: r.PathValue("unit"), SCP: r.PathValue("scp"),
		Station: query.Get("station"), LineName: query.Get("line")}
	if list := query.Get("partitions"); list != "" {
		parts, err := parsePartitions(list)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, Error{Error: err.Error()})
			return
		}
		res, err := p.DeviceWindows(r.Context(), q, parts)
		if !s.localError(w, r, err) {
			writeJSON(w, http.StatusOK, res)
		}
		return
	}
	res, err := p.DeviceWindows(r.Context(), q, nil)
	if err != nil {
		s.queryError(w, r, err)
		return
	}
	if res.Found || q.Station != "" {
		code := http.StatusOK
		if !res.Found {
			code = http.StatusNotFound
		}
		writeJSON(w, code, res)
		return
	}
	// Not in a partition this member owns: find the owner that has it.
	var found string
	missing := s.fanOut(r.Context(), group, res.Partitions, func(ctx context.Context, owner string, parts []int32) ([]int32, error) {
		var sub processors.DeviceWindows
		if err := s.fetch(ctx, owner, r.URL.Path, url.Values{"partitions": {joinPartitions(parts)}}, &sub); err != nil {
			return nil, err
		}
		if sub.Found && found == "" {
			found = owner
		}
		return sub.Partitions, nil
	})
	switch {
	case found != "":
		loc := found + r.URL.RequestURI()
		w.Header().Set("Location", loc)
		writeJSON(w, http.StatusTemporaryRedirect, Error{Error: "device held by another member", Group: group, Owner: found})
	case len(missing) > 0:
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, Error{Error: fmt.Sprintf("partitions %v cannot be searched right now (rebalancing?)", missing), Group: group})
	default:
		writeJSON(w, http.StatusNotFound, res)
	}
}

// localError writes the answer of a member's sub-query that failed: never
// a redirect (the asking member decides), 421 for a partition not owned
// here. It reports whether err was an error.
func (s *Server) localError(w http.ResponseWriter, r *http.Request, err error) bool {
	var no *processors.NotOwnerError
	switch {
	case err == nil:
		return false
	case errors.As(err, &no):
		writeJSON(w, http.StatusMisdirectedRequest, Error{Error: err.Error(), Group: no.Group, Partition: &no.Partition, Owner: no.Owner})
	default:
		s.queryError(w, r, err)
	}
	return true
}

// fanOut asks the owner of every partition of group that is not in done
// (the partitions this member answered) with ask, concurrently; ask
// returns the partitions the owner answered. It returns the partitions
// nobody answered, sorted.
func (s *Server) fanOut(ctx context.Context, group string, done []int32, ask func(ctx context.Context, owner string, parts []int32) ([]int32, error)) []int32 {
	p := s.cfg.Pipeline
	n := p.TablePartitions(group)
	answered := map[int32]bool{}
	for _, part := range done {
		answered[part] = true
	}
	remote := map[string][]int32{}
	if len(answered) < n {
		owners, err := p.Owners(ctx, group)
		if err != nil {
			s.cfg.Logger.Debug("query: owners", "group", group, "err", err)
		}
		for part := int32(0); part < int32(n); part++ {
			if o := owners[part]; !answered[part] && o != "" && o != s.cfg.Self {
				remote[o] = append(remote[o], part)
			}
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for owner, parts := range remote {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := ask(ctx, owner, parts)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.cfg.Logger.Warn("query: member did not answer", "member", owner, "partitions", parts, "err", err)
				return
			}
			for _, part := range got {
				if slices.Contains(parts, part) {
					answered[part] = true
				}
			}
		}()
	}
	wg.Wait()
	var missing []int32
	for part := int32(0); part < int32(n); part++ {
		if !answered[part] {
			missing = append(missing, part)
		}
	}
	return missing
}

func (s *Server) queryError(w http.ResponseWriter, r *http.Request, err error) {
	var no *processors.NotOwnerError
	switch {
	case errors.As(err, &no) && no.Owner != "" && no.Owner != s.cfg.Self:
		loc := no.Owner + r.URL.RequestURI()
		w.Header().Set("Location", loc)
		writeJSON(w, http.StatusTemporaryRedirect, Error{Error: "partition owned by another member", Group: no.Group,
			Partition: &no.Partition, Owner: no.Owner})
	case errors.As(err, &no):
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, Error{Error: "no member owns the partition right now (rebalancing?)",
			Group: no.Group, Partition: &no.Partition})
	case errors.Is(err, processors.ErrUnavailable):
		w.Header().Set("Retry-After", "2")
		writeJSON(w, http.StatusServiceUnavailable, Error{Error: err.Error()})
	default:
		s.cfg.Logger.Error("query failed", "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, Error{Error: err.Error()})
	}
}

// StationAnswer is the body of a station query: the windows of every
// line of the station, each read by the member that owns the line's
// partition.
type StationAnswer struct {
	Station string                  `json:"station"`
	Windows []processors.WindowView `json:"windows"`
	// ServedBy maps each member's base URL to the partitions it read.
	ServedBy map[string][]int32 `json:"served_by"`
	// Missing partitions could not be read (no owner, owner unreachable,
	// recovering): the answer is then 503 and incomplete.
	Missing []int32 `json:"missing_partitions,omitempty"`
}

// station answers a station query. Every device of a station line is on
// the line's partition, where its windows are computed. With ?line= that
// is one partition: the member answers it if it owns it and redirects
// (307) to the owner otherwise. Without it, the lines of a station name
// may be on any partition, so the member reads the partitions it owns and
// asks each owner for the others (?partitions=, answered from local
// partitions only).
func (s *Server) station(w http.ResponseWriter, r *http.Request) {
	p, ok := s.windowed(w)
	if !ok {
		return
	}
	group := p.Groups().Windows
	station, line := r.PathValue("station"), r.URL.Query().Get("line")
	if list := r.URL.Query().Get("partitions"); list != "" {
		parts, err := parsePartitions(list)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, Error{Error: err.Error()})
			return
		}
		res, err := p.StationWindows(r.Context(), station, line, parts)
		if !s.localError(w, r, err) {
			writeJSON(w, http.StatusOK, res)
		}
		return
	}
	ctx := r.Context()
	ans := StationAnswer{Station: station, Windows: []processors.WindowView{}, ServedBy: map[string][]int32{}}
	var parts []int32
	if line != "" {
		part, _ := p.StationPartition(station, line)
		parts = []int32{part}
		res, err := p.StationWindows(ctx, station, line, parts)
		if err != nil {
			s.queryError(w, r, err)
			return
		}
		ans.Windows, ans.ServedBy[s.cfg.Self] = res.Windows, res.Partitions
		processors.SortWindows(ans.Windows)
		writeJSON(w, http.StatusOK, ans)
		return
	}
	var done []int32
	if owned := p.OwnedPartitions(group); len(owned) > 0 {
		local, err := p.StationWindows(ctx, station, "", owned)
		if err == nil {
			ans.Windows = append(ans.Windows, local.Windows...)
			ans.ServedBy[s.cfg.Self] = local.Partitions
			done = local.Partitions
		} else {
			s.cfg.Logger.Debug("station query: local partitions", "err", err)
		}
	}
	var mu sync.Mutex
	ans.Missing = s.fanOut(ctx, group, done, func(ctx context.Context, owner string, parts []int32) ([]int32, error) {
		var res processors.StationWindows
		if err := s.fetch(ctx, owner, "/stations/"+url.PathEscape(station)+"/windows", url.Values{"partitions": {joinPartitions(parts)}}, &res); err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		ans.Windows = append(ans.Windows, res.Windows...)
		ans.ServedBy[owner] = res.Partitions
		return res.Partitions, nil
	})
	processors.SortWindows(ans.Windows)
	code := http.StatusOK
	if len(ans.Missing) > 0 {
		w.Header().Set("Retry-After", "5")
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, ans)
}

func parsePartitions(list string) ([]int32, error) {
	var parts []int32
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad partition %q", f)
		}
		parts = append(parts, int32(n))
	}
	return parts, nil
}

func joinPartitions(parts []int32) string {
	ps := make([]string, len(parts))
	for i, p := range parts {
		ps[i] = strconv.Itoa(int(p))
	}
	return strings.Join(ps, ",")
}

// fetch GETs path?q from another member's HTTP server into out.
func (s *Server) fetch(ctx context.Context, owner, path string, q url.Values, out any) error {
	u := owner + path + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s: %s %s", u, resp.Status, e.Error)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	return nil
}

// windowed is the member's pipeline when it runs the windowed stage;
// otherwise it answers 404 and reports false.
func (s *Server) windowed(w http.ResponseWriter) (*processors.Pipeline, bool) {
	p := s.cfg.Pipeline
	if p == nil || p.TablePartitions(p.Groups().Windows) == 0 {
		writeJSON(w, http.StatusNotFound, Error{Error: "this member does not run the windowed stage"})
		return nil, false
	}
	return p, true
}
