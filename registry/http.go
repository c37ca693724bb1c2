package registry

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const contentType = "application/vnd.schemaregistry.v1+json"

// maxBody bounds request bodies; schemas are small.
const maxBody = 8 << 20

// apiError is an error answered the way Confluent does:
// {"error_code":..,"message":..} with an HTTP status.
type apiError struct {
	status int
	code   int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errf(status, code int, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// Confluent's error codes.
const (
	codeSubjectNotFound          = 40401
	codeVersionNotFound          = 40402
	codeSchemaNotFound           = 40403
	codeSubjectSoftDeleted       = 40404
	codeSubjectNotSoftDeleted    = 40405
	codeVersionSoftDeleted       = 40406
	codeVersionNotSoftDeleted    = 40407
	codeSubjectLevelCompatNotSet = 40408
	codeIncompatible             = 409
	codeInvalidSchema            = 42201
	codeInvalidVersion           = 42202
	codeInvalidCompatibility     = 42203
	codeModeNotAllowed           = 42205
	codeStore                    = 50001
	codeStoreTimeout             = 50002
)

func errSubjectNotFound(s string) *apiError {
	return errf(http.StatusNotFound, codeSubjectNotFound, "Subject '%s' not found.", s)
}

func errVersionNotFound(v string) *apiError {
	return errf(http.StatusNotFound, codeVersionNotFound, "Version %s not found.", v)
}

func errSchemaNotFound() *apiError {
	return errf(http.StatusNotFound, codeSchemaNotFound, "Schema not found")
}

func errInvalidVersion(v string) *apiError {
	return errf(http.StatusUnprocessableEntity, codeInvalidVersion,
		"The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
}

func errInvalidLevel() *apiError {
	return errf(http.StatusUnprocessableEntity, codeInvalidCompatibility,
		"Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
}

var (
	errNotFound         = errf(http.StatusNotFound, http.StatusNotFound, "HTTP 404 Not Found")
	errMethodNotAllowed = errf(http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "HTTP 405 Method Not Allowed")
	errUnsupportedMedia = errf(http.StatusUnsupportedMediaType, http.StatusUnsupportedMediaType, "HTTP 415 Unsupported Media Type")
	errUnauthorized     = errf(http.StatusUnauthorized, http.StatusUnauthorized, "Unauthorized")
)

// acceptedTypes are the request content types Confluent accepts; a request
// without one is accepted too.
var acceptedTypes = map[string]bool{
	"application/vnd.schemaregistry.v1+json": true,
	"application/vnd.schemaregistry+json":    true,
	"application/json":                       true,
	"*/*":                                    true,
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(marshalNoEscape(v))
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="schema-registry"`)
	}
	writeJSON(w, e.status, struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}{e.code, e.msg})
}

// ServeHTTP implements the REST API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.authOn && !s.authorized(r) {
		writeError(w, errUnauthorized)
		return
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || !acceptedTypes[strings.ToLower(mt)] {
				writeError(w, errUnsupportedMedia)
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	}
	segs, ok := splitPath(r.URL.EscapedPath())
	if !ok {
		writeError(w, errNotFound)
		return
	}
	v, status, err := s.route(r, segs)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = errf(http.StatusInternalServerError, 500, "%v", err)
		}
		writeError(w, ae)
		return
	}
	if raw, ok := v.(rawBody); ok {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, string(raw))
		return
	}
	writeJSON(w, status, v)
}

// rawBody is a response written as is (a schema's text).
type rawBody string

// authorized checks basic-auth credentials in constant time (on digests, so
// lengths do not leak either).
func (s *Server) authorized(r *http.Request) bool {
	user, pw, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u := sha256.Sum256([]byte(user))
	p := sha256.Sum256([]byte(pw))
	uok := subtle.ConstantTimeCompare(u[:], s.userSum[:])
	pok := subtle.ConstantTimeCompare(p[:], s.pwSum[:])
	return uok&pok == 1
}

// splitPath splits the escaped path into unescaped segments, so a subject
// sent as "a%2Fb" stays one segment "a/b". A trailing slash is ignored.
func splitPath(p string) ([]string, bool) {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil, true
	}
	parts := strings.Split(p, "/")
	for i, part := range parts {
		u, err := url.PathUnescape(part)
		if err != nil {
			return nil, false
		}
		parts[i] = u
	}
	return parts, true
}

// route dispatches to the handler for the path and method. It returns the
// response body and status, or an error.
func (s *Server) route(r *http.Request, segs []string) (any, int, error) {
	m := r.Method
	n := len(segs)
	is := func(want string) bool { return m == want || (want == http.MethodGet && m == http.MethodHead) }
	if n == 0 {
		if is(http.MethodGet) {
			return struct{}{}, http.StatusOK, nil
		}
		return nil, 0, errMethodNotAllowed
	}
	switch segs[0] {
	case "subjects":
		switch {
		case n == 1 && is(http.MethodGet):
			return s.listSubjects(r)
		case n == 2 && m == http.MethodPost:
			return s.lookup(r, segs[1])
		case n == 2 && m == http.MethodDelete:
			return s.deleteSubject(r, segs[1])
		case n == 3 && segs[2] == "versions" && is(http.MethodGet):
			return s.listVersions(r, segs[1])
		case n == 3 && segs[2] == "versions" && m == http.MethodPost:
			return s.register(r, segs[1])
		case n == 4 && segs[2] == "versions" && is(http.MethodGet):
			return s.getVersion(r, segs[1], segs[3], false)
		case n == 4 && segs[2] == "versions" && m == http.MethodDelete:
			return s.deleteVersion(r, segs[1], segs[3])
		case n == 5 && segs[2] == "versions" && segs[4] == "schema" && is(http.MethodGet):
			return s.getVersion(r, segs[1], segs[3], true)
		case n == 5 && segs[2] == "versions" && segs[4] == "referencedby" && is(http.MethodGet):
			return s.referencedBy(r, segs[1], segs[3])
		case n <= 2 || (segs[2] == "versions" && (n <= 4 || (n == 5 && (segs[4] == "schema" || segs[4] == "referencedby")))):
			return nil, 0, errMethodNotAllowed
		}
	case "schemas":
		switch {
		case n == 1 && is(http.MethodGet):
			return s.listSchemas(r)
		case n == 2 && segs[1] == "types" && is(http.MethodGet):
			return []string{typeAvro}, http.StatusOK, nil
		case n >= 3 && n <= 4 && segs[1] == "ids" && is(http.MethodGet):
			what := ""
			if n == 4 {
				what = segs[3]
			}
			return s.getByID(r, segs[2], what)
		case n <= 4 && (n == 1 || segs[1] == "types" || segs[1] == "ids"):
			return nil, 0, errMethodNotAllowed
		}
	case "config":
		if n > 2 {
			break
		}
		subject := ""
		if n == 2 {
			subject = segs[1]
		}
		switch m {
		case http.MethodGet, http.MethodHead:
			return s.getConfig(r, subject)
		case http.MethodPut:
			return s.putConfig(r, subject)
		case http.MethodDelete:
			return s.deleteConfig(r, subject)
		}
		return nil, 0, errMethodNotAllowed
	case "mode":
		if n > 2 {
			break
		}
		switch m {
		case http.MethodGet, http.MethodHead:
			return map[string]string{"mode": "READWRITE"}, http.StatusOK, nil
		case http.MethodPut:
			return nil, 0, errf(http.StatusUnprocessableEntity, codeModeNotAllowed,
				"Mode changes are not allowed: this registry is always READWRITE")
		}
		return nil, 0, errMethodNotAllowed
	case "compatibility":
		if n >= 4 && n <= 5 && segs[1] == "subjects" && segs[3] == "versions" {
			if m != http.MethodPost {
				return nil, 0, errMethodNotAllowed
			}
			version := ""
			if n == 5 {
				version = segs[4]
			}
			return s.checkCompatibility(r, segs[2], version)
		}
	}
	return nil, 0, errNotFound
}

// versionRef is a parsed version path segment: a number, or latest.
type versionRef struct {
	latest bool
	n      int
}

func parseVersion(v string) (versionRef, *apiError) {
	if v == "latest" || v == "-1" {
		return versionRef{latest: true}, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > math.MaxInt32 {
		return versionRef{}, errInvalidVersion(v)
	}
	return versionRef{n: n}, nil
}

func queryBool(r *http.Request, name string) bool {
	b, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return b
}

// schemaRequest is the body of register, lookup and compatibility checks.
// references, metadata and ruleSet are accepted and ignored.
type schemaRequest struct {
	Schema     *string         `json:"schema"`
	SchemaType string          `json:"schemaType"`
	References json.RawMessage `json:"references"`
	Metadata   json.RawMessage `json:"metadata"`
	RuleSet    json.RawMessage `json:"ruleSet"`
}

// decodeBody decodes a JSON request body, answering malformed JSON as
// Confluent does.
func decodeBody(r *http.Request, into any) *apiError {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errf(http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge, "Request body larger than %d bytes", mbe.Limit)
		}
		return errf(http.StatusBadRequest, http.StatusBadRequest, "Reading the request body: %v", err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return errf(http.StatusUnprocessableEntity, http.StatusUnprocessableEntity, "Unprocessable request body: %v", err)
		}
		return errf(http.StatusBadRequest, http.StatusBadRequest, "Malformed JSON request body: %v", err)
	}
	return nil
}

// parsedRequest is a schema request that parsed.
type parsedRequest struct {
	schema string
	entry  *schemaEntry // id 0: not registered yet
}

// parseSchemaRequest decodes and parses the schema of a request body.
func parseSchemaRequest(r *http.Request) (*parsedRequest, *apiError) {
	var req schemaRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if t := normalizeType(req.SchemaType); t != "" {
		return nil, errf(http.StatusUnprocessableEntity, codeInvalidSchema,
			"Unsupported schema type %q: this registry supports only AVRO", req.SchemaType)
	}
	if req.Schema == nil || strings.TrimSpace(*req.Schema) == "" {
		return nil, errf(http.StatusUnprocessableEntity, codeInvalidSchema, "Empty schema")
	}
	parsed, err := parseAvro(*req.Schema)
	if err != nil {
		return nil, errf(http.StatusUnprocessableEntity, codeInvalidSchema, "Invalid schema: %v", err)
	}
	c, err := canonical(parsed)
	if err != nil {
		return nil, errf(http.StatusUnprocessableEntity, codeInvalidSchema, "Invalid schema: %v", err)
	}
	return &parsedRequest{
		schema: *req.Schema,
		entry:  &schemaEntry{schema: *req.Schema, canon: c, parsed: parsed},
	}, nil
}

// subjectSchema is a schema as served under a subject.
type subjectSchema struct {
	Subject    string `json:"subject"`
	Version    int    `json:"version"`
	ID         int    `json:"id"`
	SchemaType string `json:"schemaType,omitempty"`
	Schema     string `json:"schema"`
}

func (st *state) subjectSchema(subject string, v *versionEntry) subjectSchema {
	e := st.ids[v.id]
	out := subjectSchema{Subject: subject, Version: v.version, ID: v.id}
	if e != nil {
		out.SchemaType = e.schemaType
		out.Schema = e.schema
	}
	return out
}

// resolve finds a version of subject; deleted says whether soft-deleted
// versions count.
func (st *state) resolve(subject string, ref versionRef, deleted bool) (*versionEntry, *apiError) {
	vs := st.versions(subject, deleted)
	if len(vs) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	if ref.latest {
		return vs[len(vs)-1], nil
	}
	for _, v := range vs {
		if v.version == ref.n {
			return v, nil
		}
	}
	return nil, errVersionNotFound(strconv.Itoa(ref.n))
}

func (s *Server) listSubjects(r *http.Request) (any, int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.subjectNames(queryBool(r, "deleted"), r.URL.Query().Get("subjectPrefix")), http.StatusOK, nil
}

func (s *Server) listVersions(r *http.Request, subject string) (any, int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	vs := s.st.versions(subject, queryBool(r, "deleted"))
	if len(vs) == 0 {
		return nil, 0, errSubjectNotFound(subject)
	}
	out := make([]int, len(vs))
	for i, v := range vs {
		out[i] = v.version
	}
	return out, http.StatusOK, nil
}

func (s *Server) getVersion(r *http.Request, subject, version string, raw bool) (any, int, error) {
	ref, aerr := parseVersion(version)
	if aerr != nil {
		return nil, 0, aerr
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, aerr := s.st.resolve(subject, ref, queryBool(r, "deleted"))
	if aerr != nil {
		return nil, 0, aerr
	}
	ss := s.st.subjectSchema(subject, v)
	if raw {
		return rawBody(ss.Schema), http.StatusOK, nil
	}
	return ss, http.StatusOK, nil
}

func (s *Server) referencedBy(r *http.Request, subject, version string) (any, int, error) {
	ref, aerr := parseVersion(version)
	if aerr != nil {
		return nil, 0, aerr
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, aerr := s.st.resolve(subject, ref, queryBool(r, "deleted")); aerr != nil {
		return nil, 0, aerr
	}
	// References are not supported, so nothing refers to anything.
	return []int{}, http.StatusOK, nil
}

func (s *Server) lookup(r *http.Request, subject string) (any, int, error) {
	req, aerr := parseSchemaRequest(r)
	if aerr != nil {
		return nil, 0, aerr
	}
	deleted := queryBool(r, "deleted")
	s.mu.RLock()
	defer s.mu.RUnlock()
	vs := s.st.versions(subject, deleted)
	if len(vs) == 0 {
		return nil, 0, errSubjectNotFound(subject)
	}
	id, ok := s.st.canon[req.entry.canon]
	if ok {
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].id == id {
				return s.st.subjectSchema(subject, vs[i]), http.StatusOK, nil
			}
		}
	}
	return nil, 0, errSchemaNotFound()
}

func (s *Server) getByID(r *http.Request, idStr, what string) (any, int, error) {
	id, err := strconv.Atoi(idStr)
	if err != nil {
		return nil, 0, errSchemaNotFound()
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.st.ids[id]
	if e == nil {
		return nil, 0, errf(http.StatusNotFound, codeSchemaNotFound, "Schema %d not found", id)
	}
	switch what {
	case "":
		return struct {
			SchemaType string `json:"schemaType,omitempty"`
			Schema     string `json:"schema"`
		}{e.schemaType, e.schema}, http.StatusOK, nil
	case "schema":
		return rawBody(e.schema), http.StatusOK, nil
	case "versions", "subjects":
		deleted := queryBool(r, "deleted")
		type sv struct {
			Subject string `json:"subject"`
			Version int    `json:"version"`
		}
		versions := []sv{}
		subjects := []string{}
		for _, name := range s.st.subjectNames(true, "") {
			seen := false
			for _, v := range s.st.versions(name, deleted) {
				if v.id == id {
					versions = append(versions, sv{name, v.version})
					if !seen {
						subjects = append(subjects, name)
						seen = true
					}
				}
			}
		}
		if what == "versions" {
			return versions, http.StatusOK, nil
		}
		return subjects, http.StatusOK, nil
	}
	return nil, 0, errNotFound
}

func (s *Server) listSchemas(r *http.Request) (any, int, error) {
	deleted := queryBool(r, "deleted")
	latestOnly := queryBool(r, "latestOnly")
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []subjectSchema{}
	for _, name := range s.st.subjectNames(deleted, r.URL.Query().Get("subjectPrefix")) {
		vs := s.st.versions(name, deleted)
		if latestOnly && len(vs) > 0 {
			vs = vs[len(vs)-1:]
		}
		for _, v := range vs {
			out = append(out, s.st.subjectSchema(name, v))
		}
	}
	return out, http.StatusOK, nil
}

func (s *Server) getConfig(r *http.Request, subject string) (any, int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	lvl := s.st.globalLevel()
	if subject != "" {
		l, ok := s.st.config[subject]
		switch {
		case ok:
			lvl = l
		case !queryBool(r, "defaultToGlobal"):
			return nil, 0, errf(http.StatusNotFound, codeSubjectLevelCompatNotSet,
				"Subject '%s' does not have subject-level compatibility configured", subject)
		}
	}
	return map[string]string{"compatibilityLevel": lvl}, http.StatusOK, nil
}

// checkCompatibility answers POST /compatibility/subjects/{s}/versions and
// .../versions/{v}. Without a version it checks what registering would:
// the subject's level against its live versions (all of them for the
// _TRANSITIVE levels). With a version, as Confluent, it checks against that
// one version only, in the level's direction(s); "latest" on a subject
// without versions is compatible.
func (s *Server) checkCompatibility(r *http.Request, subject, version string) (any, int, error) {
	var ref *versionRef
	if version != "" {
		v, aerr := parseVersion(version)
		if aerr != nil {
			return nil, 0, aerr
		}
		ref = &v
	}
	req, aerr := parseSchemaRequest(r)
	if aerr != nil {
		return nil, 0, aerr
	}
	s.mu.RLock()
	level := s.st.level(subject)
	live := s.st.versions(subject, false)
	var priors []prior
	switch {
	case ref == nil:
		for _, v := range live {
			priors = append(priors, prior{v.version, s.st.ids[v.id]})
		}
	case len(live) == 0 && ref.latest:
		// Nothing to be incompatible with, as in Confluent.
	default:
		v, aerr := s.st.resolve(subject, *ref, false)
		if aerr != nil {
			s.mu.RUnlock()
			return nil, 0, aerr
		}
		// A single version: the level's direction applies, transitive or
		// not.
		level = strings.TrimSuffix(level, "_TRANSITIVE")
		priors = []prior{{v.version, s.st.ids[v.id]}}
	}
	s.mu.RUnlock()
	msgs := checkCompat(level, req.entry.parsed, priors)
	resp := struct {
		IsCompatible bool      `json:"is_compatible"`
		Messages     *[]string `json:"messages,omitempty"`
	}{IsCompatible: len(msgs) == 0}
	if queryBool(r, "verbose") {
		if msgs == nil {
			msgs = []string{}
		}
		resp.Messages = &msgs
	}
	return resp, http.StatusOK, nil
}
