package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/turnstile-streams/turnstile/processors"
)

// device answers from the local table when this member owns the device's
// partition, redirects (307) to the owner otherwise, and answers 503 while
// nobody can (recovery, rebalance).
func (s *Server) device(w http.ResponseWriter, r *http.Request) {
	p := s.cfg.Pipeline
	if p == nil || p.TablePartitions(p.Groups().Windows) == 0 {
		writeJSON(w, http.StatusNotFound, Error{Error: "this member does not run the device windows stage"})
		return
	}
	res, err := p.DeviceWindows(r.Context(), r.PathValue("ca"), r.PathValue("unit"), r.PathValue("scp"))
	if err != nil {
		s.queryError(w, r, err)
		return
	}
	code := http.StatusOK
	if !res.Found {
		code = http.StatusNotFound
	}
	writeJSON(w, code, res)
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
// partition, each read by the member that owns it.
type StationAnswer struct {
	Station string                  `json:"station"`
	Windows []processors.WindowView `json:"windows"`
	// ServedBy maps each member's base URL to the partitions it read.
	ServedBy map[string][]int32 `json:"served_by"`
	// Missing partitions could not be read (no owner, owner unreachable,
	// recovering): the answer is then 503 and incomplete.
	Missing []int32 `json:"missing_partitions,omitempty"`
}

// station answers a station query. A station's windows are spread over
// every partition of the station table (one key per window), so the
// member asked reads the partitions it owns and asks each owner for the
// others (?partitions=, answered from local partitions only).
func (s *Server) station(w http.ResponseWriter, r *http.Request) {
	p := s.cfg.Pipeline
	group := ""
	if p != nil {
		group = p.Groups().Stations
	}
	if p == nil || p.TablePartitions(group) == 0 {
		writeJSON(w, http.StatusNotFound, Error{Error: "this member does not run the station windows stage"})
		return
	}
	station, line := r.PathValue("station"), r.URL.Query().Get("line")
	if q := r.URL.Query().Get("partitions"); q != "" {
		s.stationLocal(w, r, station, line, q)
		return
	}
	ctx := r.Context()
	ans := StationAnswer{Station: station, Windows: []processors.WindowView{}, ServedBy: map[string][]int32{}}
	n := p.TablePartitions(group)
	done := map[int32]bool{}
	if owned := p.OwnedPartitions(group); len(owned) > 0 {
		local, err := p.StationWindows(ctx, station, owned)
		if err == nil {
			ans.Windows = append(ans.Windows, local.Windows...)
			ans.ServedBy[s.cfg.Self] = local.Partitions
			for _, part := range local.Partitions {
				done[part] = true
			}
		} else {
			s.cfg.Logger.Debug("station query: local partitions", "err", err)
		}
	}
	remote := map[string][]int32{}
	if len(done) < n {
		owners, err := p.Owners(ctx, group)
		if err != nil {
			s.cfg.Logger.Debug("station query: owners", "err", err)
		}
		for part := int32(0); part < int32(n); part++ {
			if o := owners[part]; !done[part] && o != "" && o != s.cfg.Self {
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
			res, err := s.fetchStation(ctx, owner, station, line, parts)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.cfg.Logger.Warn("station query: member did not answer", "member", owner, "partitions", parts, "err", err)
				return
			}
			ans.Windows = append(ans.Windows, res.Windows...)
			ans.ServedBy[owner] = res.Partitions
			for _, part := range res.Partitions {
				done[part] = true
			}
		}()
	}
	wg.Wait()
	for part := int32(0); part < int32(n); part++ {
		if !done[part] {
			ans.Missing = append(ans.Missing, part)
		}
	}
	ans.Windows = filterLine(ans.Windows, line)
	processors.SortWindows(ans.Windows)
	code := http.StatusOK
	if len(ans.Missing) > 0 {
		w.Header().Set("Retry-After", "5")
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, ans)
}

// stationLocal answers for the listed partitions from local tables only.
func (s *Server) stationLocal(w http.ResponseWriter, r *http.Request, station, line, list string) {
	var parts []int32
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, Error{Error: fmt.Sprintf("bad partition %q", f)})
			return
		}
		parts = append(parts, int32(n))
	}
	res, err := s.cfg.Pipeline.StationWindows(r.Context(), station, parts)
	var no *processors.NotOwnerError
	switch {
	case errors.As(err, &no):
		// Never redirect a member's sub-query: the asking member decides.
		writeJSON(w, http.StatusMisdirectedRequest, Error{Error: err.Error(), Group: no.Group, Partition: &no.Partition, Owner: no.Owner})
		return
	case err != nil:
		s.queryError(w, r, err)
		return
	}
	res.Windows = filterLine(res.Windows, line)
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) fetchStation(ctx context.Context, owner, station, line string, parts []int32) (*processors.StationWindows, error) {
	ps := make([]string, len(parts))
	for i, p := range parts {
		ps[i] = strconv.Itoa(int(p))
	}
	q := url.Values{"partitions": {strings.Join(ps, ",")}}
	if line != "" {
		q.Set("line", line)
	}
	u := owner + "/stations/" + url.PathEscape(station) + "/windows?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return nil, fmt.Errorf("%s: %s %s", u, resp.Status, e.Error)
	}
	var res processors.StationWindows
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	// Only count partitions that were asked for.
	res.Partitions = slices.DeleteFunc(res.Partitions, func(p int32) bool { return !slices.Contains(parts, p) })
	sort.Slice(res.Partitions, func(i, j int) bool { return res.Partitions[i] < res.Partitions[j] })
	return &res, nil
}

func filterLine(ws []processors.WindowView, line string) []processors.WindowView {
	if line == "" {
		return ws
	}
	return slices.DeleteFunc(ws, func(w processors.WindowView) bool { return w.LineName != line })
}
