package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hamba/avro/v2"
)

// The record formats below are Confluent's, so a topic written by either
// registry can be read by the other: keys and values are JSON; a nil value
// is a tombstone.

const (
	keySchema        = "SCHEMA"
	keyConfig        = "CONFIG"
	keyDeleteSubject = "DELETE_SUBJECT"
	keyNoop          = "NOOP"
)

// recordKey is any key of the topic; fields not used by a key type are zero.
type recordKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Version int     `json:"version"`
}

// schemaValue is the value of a SCHEMA record.
type schemaValue struct {
	Subject    string `json:"subject"`
	Version    int    `json:"version"`
	ID         int    `json:"id"`
	SchemaType string `json:"schemaType,omitempty"`
	Schema     string `json:"schema"`
	Deleted    bool   `json:"deleted"`
}

// configValue is the value of a CONFIG record.
type configValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

// deleteSubjectValue is the value of a DELETE_SUBJECT record: every version
// up to Version is soft deleted.
type deleteSubjectValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Keys are built by hand to get Confluent's exact bytes (field order, null
// subject, no HTML escaping): compaction compares raw key bytes, so a key we
// write must equal the one Confluent would write for the same thing.

func schemaKeyBytes(subject string, version int) []byte {
	return []byte(`{"keytype":"SCHEMA","subject":` + jsonString(subject) + `,"version":` + fmt.Sprint(version) + `,"magic":1}`)
}

func configKeyBytes(subject string) []byte {
	s := "null"
	if subject != "" {
		s = jsonString(subject)
	}
	return []byte(`{"keytype":"CONFIG","subject":` + s + `,"magic":0}`)
}

func deleteSubjectKeyBytes(subject string) []byte {
	return []byte(`{"keytype":"DELETE_SUBJECT","subject":` + jsonString(subject) + `,"magic":0}`)
}

func noopKeyBytes() []byte { return []byte(`{"keytype":"NOOP","magic":0}`) }

// jsonString encodes s as a JSON string without HTML escaping.
func jsonString(s string) string {
	return string(marshalNoEscape(s))
}

func marshalNoEscape(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only called with strings, ints and plain structs.
		return []byte("null")
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// schemaEntry is one schema known by its global id.
type schemaEntry struct {
	id         int
	schema     string // as first registered
	schemaType string // "" for AVRO
	canon      string // identity: parsed, normalized form
	parsed     avro.Schema
	refs       int // subject versions (deleted or not) using this id
}

type versionEntry struct {
	version int
	id      int
	deleted bool
}

type subjectEntry struct {
	versions map[int]*versionEntry
}

// state is the registry's in-memory view of the topic. It is changed only
// by apply, both while replaying and after a write was acknowledged, so the
// state after a restart is the state before it.
type state struct {
	ids      map[int]*schemaEntry
	canon    map[string]int
	subjects map[string]*subjectEntry
	global   string            // "" = default (BACKWARD)
	config   map[string]string // per-subject compatibility
	maxID    int
}

func newState() *state {
	return &state{
		ids:      map[int]*schemaEntry{},
		canon:    map[string]int{},
		subjects: map[string]*subjectEntry{},
		config:   map[string]string{},
	}
}

var errSkip = errors.New("record ignored")

// apply changes the state by one record of the topic.
func (st *state) apply(key, value []byte) error {
	var k recordKey
	if err := json.Unmarshal(key, &k); err != nil {
		return fmt.Errorf("registry: malformed record key %q: %w", key, err)
	}
	switch k.KeyType {
	case keySchema:
		if k.Subject == nil {
			return fmt.Errorf("registry: SCHEMA key without subject: %q", key)
		}
		if value == nil {
			st.removeVersion(*k.Subject, k.Version)
			return nil
		}
		var v schemaValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("registry: malformed SCHEMA value for %q: %w", key, err)
		}
		return st.putVersion(*k.Subject, k.Version, v)
	case keyConfig:
		subject := ""
		if k.Subject != nil {
			subject = *k.Subject
		}
		if value == nil {
			st.setConfig(subject, "")
			return nil
		}
		var v configValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("registry: malformed CONFIG value for %q: %w", key, err)
		}
		lvl, ok := parseLevel(v.CompatibilityLevel)
		if !ok {
			return fmt.Errorf("registry: CONFIG record %q has unknown compatibility level %q", key, v.CompatibilityLevel)
		}
		st.setConfig(subject, lvl)
		return nil
	case keyDeleteSubject:
		if value == nil {
			return nil
		}
		var v deleteSubjectValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("registry: malformed DELETE_SUBJECT value for %q: %w", key, err)
		}
		subject := v.Subject
		if k.Subject != nil {
			subject = *k.Subject
		}
		if sub := st.subjects[subject]; sub != nil {
			for ver, e := range sub.versions {
				if ver <= v.Version {
					e.deleted = true
				}
			}
		}
		return nil
	default:
		// NOOP, MODE, CONTEXT, CLEAR_SUBJECT...: nothing we track.
		return errSkip
	}
}

func (st *state) setConfig(subject, level string) {
	if subject == "" {
		st.global = level
		return
	}
	if level == "" {
		delete(st.config, subject)
		return
	}
	st.config[subject] = level
}

// putVersion records subject/version -> id, adding the schema under its id
// when it is new.
func (st *state) putVersion(subject string, version int, v schemaValue) error {
	if version <= 0 || v.ID <= 0 {
		return fmt.Errorf("registry: SCHEMA record %s/%d has invalid version or id %d", subject, version, v.ID)
	}
	schemaType := normalizeType(v.SchemaType)
	canon, parsed := canonicalStored(schemaType, v.Schema)
	e := st.ids[v.ID]
	if e == nil {
		e = &schemaEntry{id: v.ID, schema: v.Schema, schemaType: schemaType, canon: canon, parsed: parsed}
		st.ids[v.ID] = e
		if _, ok := st.canon[canon]; !ok {
			st.canon[canon] = v.ID
		}
	} else if e.canon != canon {
		// Confluent refuses the same: one id, one schema.
		return fmt.Errorf("registry: SCHEMA record %s/%d reuses id %d for a different schema; ignored", subject, version, v.ID)
	}
	st.maxID = max(st.maxID, v.ID)

	sub := st.subjects[subject]
	if sub == nil {
		sub = &subjectEntry{versions: map[int]*versionEntry{}}
		st.subjects[subject] = sub
	}
	old := sub.versions[version]
	switch {
	case old == nil:
		e.refs++
	case old.id != v.ID:
		st.unref(old.id)
		e.refs++
	}
	sub.versions[version] = &versionEntry{version: version, id: v.ID, deleted: v.Deleted}
	return nil
}

func (st *state) removeVersion(subject string, version int) {
	sub := st.subjects[subject]
	if sub == nil {
		return
	}
	old := sub.versions[version]
	if old == nil {
		return
	}
	delete(sub.versions, version)
	st.unref(old.id)
	if len(sub.versions) == 0 {
		delete(st.subjects, subject)
	}
}

// unref drops one use of an id; an id no subject version uses any more is
// forgotten, as it would be after a restart once compaction removed it.
func (st *state) unref(id int) {
	e := st.ids[id]
	if e == nil {
		return
	}
	e.refs--
	if e.refs > 0 {
		return
	}
	delete(st.ids, id)
	if st.canon[e.canon] == id {
		delete(st.canon, e.canon)
		// Another id may hold the same schema (written by another
		// registry); let lookups find the lowest one.
		best := 0
		for oid, o := range st.ids {
			if o.canon == e.canon && (best == 0 || oid < best) {
				best = oid
			}
		}
		if best != 0 {
			st.canon[e.canon] = best
		}
	}
}

// versions returns the subject's versions in ascending order, soft-deleted
// ones only when deleted is true.
func (st *state) versions(subject string, deleted bool) []*versionEntry {
	sub := st.subjects[subject]
	if sub == nil {
		return nil
	}
	out := make([]*versionEntry, 0, len(sub.versions))
	for _, v := range sub.versions {
		if deleted || !v.deleted {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out
}

// subjectNames lists subjects with a live version (or any version, when
// deleted is true), sorted.
func (st *state) subjectNames(deleted bool, prefix string) []string {
	out := []string{}
	for name, sub := range st.subjects {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		for _, v := range sub.versions {
			if deleted || !v.deleted {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// level is the compatibility level in force for subject.
func (st *state) level(subject string) string {
	if l, ok := st.config[subject]; ok {
		return l
	}
	return st.globalLevel()
}

func (st *state) globalLevel() string {
	if st.global != "" {
		return st.global
	}
	return defaultLevel
}

// maxVersion is the highest version of subject, deleted or not; new
// versions follow it, as in Confluent.
func (st *state) maxVersion(subject string) int {
	m := 0
	if sub := st.subjects[subject]; sub != nil {
		for v := range sub.versions {
			m = max(m, v)
		}
	}
	return m
}
