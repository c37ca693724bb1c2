package registry

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Every write below holds the write lock from validation to commit, so the
// state it validated against is the state its records are applied to.
// Reading s.st under the write lock alone is safe: only commit changes it,
// and commit is only called with the write lock held.

// storeError answers a failed write to Kafka as Confluent does.
func storeError(what string, err error) *apiError {
	if errors.Is(err, context.DeadlineExceeded) {
		return errf(http.StatusInternalServerError, codeStoreTimeout, "Write to the Kafka store timed out while %s", what)
	}
	return errf(http.StatusInternalServerError, codeStore, "Error while %s in the backend Kafka store: %v", what, err)
}

// writeLock is the write lock, held by one write at a time.
type writeLock struct {
	s        *Server
	handedOn bool // write took the lock over
}

// lockWrites takes the write lock, giving up when ctx ends (a write may be
// settling in the background) or the server is closed.
func (s *Server) lockWrites(ctx context.Context) (*writeLock, *apiError) {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	select {
	case <-s.closed:
		return nil, errf(http.StatusInternalServerError, codeStore, "The registry is closed")
	default:
	}
	select {
	case s.sem <- struct{}{}:
		return &writeLock{s: s}, nil
	case <-s.closed:
		return nil, errf(http.StatusInternalServerError, codeStore, "The registry is closed")
	case <-ctx.Done():
		return nil, errf(http.StatusInternalServerError, codeStoreTimeout, "Timed out waiting for an earlier write to the Kafka store")
	}
}

// release gives the lock back unless write took it over.
func (w *writeLock) release() {
	if !w.handedOn {
		<-w.s.sem
	}
}

// write produces recs, applies the acknowledged ones to the in-memory state
// and releases the lock. It waits at most until ctx ends or writeTimeout
// passes; a write Kafka has not settled by then (kgo will not fail a record
// it may already have sent) goes on in the background, still holding the
// lock, so memory keeps following the topic in order.
func (w *writeLock) write(ctx context.Context, what string, recs ...*kgo.Record) *apiError {
	s := w.s
	w.handedOn = true
	res := make(chan error, 1)
	var gaveUp atomic.Bool
	go func() {
		defer func() { <-s.sem }()
		pctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		done, err := s.produce(pctx, recs...)
		s.commit(done)
		if err != nil {
			// A failed record may have been written all the same: never
			// hand its id to another schema.
			for _, r := range recs {
				var v schemaValue
				if r.Value != nil && json.Unmarshal(r.Value, &v) == nil {
					s.st.maxID = max(s.st.maxID, v.ID)
				}
			}
		}
		if gaveUp.Load() {
			s.log.Warn("registry: write settled after its request gave up", "while", what,
				"written", len(done), "of", len(recs), "err", err)
		}
		res <- err
	}()
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	var err error
	select {
	case err = <-res:
	case <-wctx.Done():
		gaveUp.Store(true)
		select {
		case err = <-res:
		default:
			s.log.Warn("registry: write to Kafka still pending; answering with a timeout", "while", what)
			return errf(http.StatusInternalServerError, codeStoreTimeout, "Write to the Kafka store timed out while %s", what)
		}
	}
	if err != nil {
		s.log.Warn("registry: write to Kafka failed", "while", what, "err", err)
		return storeError(what, err)
	}
	return nil
}

func (s *Server) register(r *http.Request, subject string) (any, int, error) {
	req, aerr := parseSchemaRequest(r)
	if aerr != nil {
		return nil, 0, aerr
	}
	// Already registered: answer from memory without waiting for the
	// write lock, so serializers that register at start-up keep working
	// while Kafka is slow or down.
	if id, ok := s.registeredID(subject, req.entry.canon); ok {
		return map[string]int{"id": id}, http.StatusOK, nil
	}
	w, aerr := s.lockWrites(r.Context())
	if aerr != nil {
		return nil, 0, aerr
	}
	defer w.release()
	st := s.st

	id, known := st.canon[req.entry.canon]
	live := st.versions(subject, false)
	if known {
		for _, v := range live {
			if v.id == id {
				return map[string]int{"id": id}, http.StatusOK, nil
			}
		}
	}
	level := st.level(subject)
	priors := make([]prior, 0, len(live))
	for _, v := range live {
		priors = append(priors, prior{v.version, st.ids[v.id]})
	}
	if msgs := checkCompat(level, req.entry.parsed, priors); len(msgs) > 0 {
		return nil, 0, errf(http.StatusConflict, codeIncompatible,
			"Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]",
			subject, strings.Join(msgs, "; "))
	}

	text := req.schema
	if known {
		// The same schema under another subject keeps its id and text.
		text = st.ids[id].schema
	} else {
		id = st.maxID + 1
	}
	version := st.maxVersion(subject) + 1
	rec := &kgo.Record{
		Key: schemaKeyBytes(subject, version),
		Value: marshalNoEscape(schemaValue{
			Subject: subject, Version: version, ID: id, Schema: text,
		}),
	}
	if aerr := w.write(r.Context(), "registering the schema", rec); aerr != nil {
		return nil, 0, aerr
	}
	s.log.Info("registry: schema registered", "subject", subject, "version", version, "id", id, "compatibility", level)
	return map[string]int{"id": id}, http.StatusOK, nil
}

// registeredID is the id of the schema with identity canon when it is a
// live version of subject.
func (s *Server) registeredID(subject, canon string) (int, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.st.canon[canon]
	if !ok {
		return 0, false
	}
	for _, v := range s.st.versions(subject, false) {
		if v.id == id {
			return id, true
		}
	}
	return 0, false
}

func (s *Server) deleteVersion(r *http.Request, subject, version string) (any, int, error) {
	ref, aerr := parseVersion(version)
	if aerr != nil {
		return nil, 0, aerr
	}
	permanent := queryBool(r, "permanent")
	w, aerr := s.lockWrites(r.Context())
	if aerr != nil {
		return nil, 0, aerr
	}
	defer w.release()
	st := s.st

	if len(st.versions(subject, true)) == 0 {
		return nil, 0, errSubjectNotFound(subject)
	}
	// Soft deletes address live versions; permanent ones soft-deleted ones.
	v, aerr := st.resolve(subject, ref, permanent || !ref.latest)
	if aerr != nil {
		if aerr.code == codeSubjectNotFound {
			aerr = errVersionNotFound(version)
		}
		return nil, 0, aerr
	}
	switch {
	case !permanent && v.deleted:
		return nil, 0, errf(http.StatusNotFound, codeVersionSoftDeleted,
			"Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, v.version)
	case permanent && !v.deleted:
		return nil, 0, errf(http.StatusNotFound, codeVersionNotSoftDeleted,
			"Subject '%s' Version %d was not deleted first before being permanently deleted", subject, v.version)
	}

	var recs []*kgo.Record
	if permanent {
		recs = append(recs, &kgo.Record{Key: schemaKeyBytes(subject, v.version)})
	} else {
		e := st.ids[v.id]
		recs = append(recs, &kgo.Record{
			Key: schemaKeyBytes(subject, v.version),
			Value: marshalNoEscape(schemaValue{
				Subject: subject, Version: v.version, ID: v.id,
				SchemaType: e.schemaType, Schema: e.schema, Deleted: true,
			}),
		})
		// Like Confluent, a subject whose last live version goes loses
		// its own compatibility setting.
		if _, ok := st.config[subject]; ok && len(st.versions(subject, false)) == 1 {
			recs = append(recs, &kgo.Record{Key: configKeyBytes(subject)})
		}
	}
	if aerr := w.write(r.Context(), "deleting the schema version", recs...); aerr != nil {
		return nil, 0, aerr
	}
	s.log.Info("registry: schema version deleted", "subject", subject, "version", v.version, "id", v.id, "permanent", permanent)
	return v.version, http.StatusOK, nil
}

func (s *Server) deleteSubject(r *http.Request, subject string) (any, int, error) {
	permanent := queryBool(r, "permanent")
	w, aerr := s.lockWrites(r.Context())
	if aerr != nil {
		return nil, 0, aerr
	}
	defer w.release()
	st := s.st

	all := st.versions(subject, true)
	if len(all) == 0 {
		return nil, 0, errSubjectNotFound(subject)
	}
	live := st.versions(subject, false)
	var recs []*kgo.Record
	deleted := []int{}
	if permanent {
		if len(live) > 0 {
			return nil, 0, errf(http.StatusNotFound, codeSubjectNotSoftDeleted,
				"Subject '%s' was not deleted first before being permanently deleted", subject)
		}
		for _, v := range all {
			recs = append(recs, &kgo.Record{Key: schemaKeyBytes(subject, v.version)})
			deleted = append(deleted, v.version)
		}
	} else {
		if len(live) == 0 {
			return nil, 0, errf(http.StatusNotFound, codeSubjectSoftDeleted,
				"Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject)
		}
		for _, v := range live {
			deleted = append(deleted, v.version)
		}
		recs = append(recs, &kgo.Record{
			Key:   deleteSubjectKeyBytes(subject),
			Value: marshalNoEscape(deleteSubjectValue{Subject: subject, Version: live[len(live)-1].version}),
		})
		if _, ok := st.config[subject]; ok {
			recs = append(recs, &kgo.Record{Key: configKeyBytes(subject)})
		}
	}
	if aerr := w.write(r.Context(), "deleting the subject", recs...); aerr != nil {
		return nil, 0, aerr
	}
	s.log.Info("registry: subject deleted", "subject", subject, "versions", deleted, "permanent", permanent)
	return deleted, http.StatusOK, nil
}

func (s *Server) putConfig(r *http.Request, subject string) (any, int, error) {
	var body struct {
		Compatibility      string `json:"compatibility"`
		CompatibilityLevel string `json:"compatibilityLevel"`
	}
	if aerr := decodeBody(r, &body); aerr != nil {
		return nil, 0, aerr
	}
	raw := body.Compatibility
	if raw == "" {
		raw = body.CompatibilityLevel
	}
	level, ok := parseLevel(raw)
	if !ok {
		return nil, 0, errInvalidLevel()
	}
	w, aerr := s.lockWrites(r.Context())
	if aerr != nil {
		return nil, 0, aerr
	}
	defer w.release()
	rec := &kgo.Record{Key: configKeyBytes(subject), Value: marshalNoEscape(configValue{level})}
	if aerr := w.write(r.Context(), "updating the compatibility level", rec); aerr != nil {
		return nil, 0, aerr
	}
	s.log.Info("registry: compatibility set", "subject", subjectForLog(subject), "compatibility", level)
	return map[string]string{"compatibility": level}, http.StatusOK, nil
}

// deleteConfig drops the subject's own level (or resets the global one to
// BACKWARD) and answers the level it had. The answer carries the level under
// both "compatibility" (what the srclient and franz-go clients decode) and
// "compatibilityLevel" (what Confluent's own Config entity uses).
func (s *Server) deleteConfig(r *http.Request, subject string) (any, int, error) {
	w, aerr := s.lockWrites(r.Context())
	if aerr != nil {
		return nil, 0, aerr
	}
	defer w.release()
	st := s.st
	var prev string
	if subject == "" {
		prev = st.globalLevel()
		if st.global == "" {
			return configAnswer(prev), http.StatusOK, nil
		}
	} else {
		l, ok := st.config[subject]
		if !ok {
			if len(st.versions(subject, true)) == 0 {
				return nil, 0, errSubjectNotFound(subject)
			}
			return nil, 0, errf(http.StatusNotFound, codeSubjectLevelCompatNotSet,
				"Subject '%s' does not have subject-level compatibility configured", subject)
		}
		prev = l
	}
	if aerr := w.write(r.Context(), "deleting the compatibility level", &kgo.Record{Key: configKeyBytes(subject)}); aerr != nil {
		return nil, 0, aerr
	}
	s.log.Info("registry: compatibility reset", "subject", subjectForLog(subject), "was", prev)
	return configAnswer(prev), http.StatusOK, nil
}

func configAnswer(level string) map[string]string {
	return map[string]string{"compatibility": level, "compatibilityLevel": level}
}

func subjectForLog(subject string) string {
	if subject == "" {
		return "(global)"
	}
	return subject
}
