package registry

import (
	"testing"

	"github.com/hamba/avro/v2"
)

// TestKeyBytes pins Confluent's key layout, including characters Go's JSON
// encoder would escape for HTML and Jackson does not.
func TestKeyBytes(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{string(schemaKeyBytes("a<&>b", 3)), `{"keytype":"SCHEMA","subject":"a<&>b","version":3,"magic":1}`},
		{string(schemaKeyBytes(`q"uote`, 1)), `{"keytype":"SCHEMA","subject":"q\"uote","version":1,"magic":1}`},
		{string(configKeyBytes("")), `{"keytype":"CONFIG","subject":null,"magic":0}`},
		{string(configKeyBytes("s")), `{"keytype":"CONFIG","subject":"s","magic":0}`},
		{string(deleteSubjectKeyBytes("s")), `{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}`},
		{string(noopKeyBytes()), `{"keytype":"NOOP","magic":0}`},
	} {
		if tc.got != tc.want {
			t.Errorf("key %s, want %s", tc.got, tc.want)
		}
	}
}

// TestApplyRejectsBadRecords checks that records which would corrupt the
// state are refused, and the state left as it was.
func TestApplyRejectsBadRecords(t *testing.T) {
	st := newState()
	const a = `{"type":"record","name":"A","fields":[]}`
	const b = `{"type":"record","name":"B","fields":[]}`
	if err := st.apply(schemaKeyBytes("s", 1), []byte(`{"subject":"s","version":1,"id":5,"schema":`+jsonString(a)+`,"deleted":false}`)); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name       string
		key, value string
	}{
		{"same id, other schema", string(schemaKeyBytes("t", 1)), `{"subject":"t","version":1,"id":5,"schema":` + jsonString(b) + `}`},
		{"id zero", string(schemaKeyBytes("t", 1)), `{"subject":"t","version":1,"id":0,"schema":` + jsonString(b) + `}`},
		{"version zero", string(schemaKeyBytes("t", 0)), `{"subject":"t","version":0,"id":6,"schema":` + jsonString(b) + `}`},
		{"no subject", `{"keytype":"SCHEMA","version":1,"magic":1}`, `{}`},
		{"bad level", string(configKeyBytes("")), `{"compatibilityLevel":"SIDEWAYS"}`},
		{"bad key", `{`, `{}`},
		{"bad value", string(schemaKeyBytes("t", 1)), `[`},
	}
	for _, tc := range bad {
		if err := st.apply([]byte(tc.key), []byte(tc.value)); err == nil {
			t.Errorf("%s: applied", tc.name)
		}
	}
	if len(st.ids) != 1 || len(st.subjects) != 1 || st.global != "" || st.maxID != 5 {
		t.Fatalf("state changed: ids %d subjects %d global %q max %d", len(st.ids), len(st.subjects), st.global, st.maxID)
	}
}

// TestCanonicalKeepsDefaults guards the identity choice: the Parsing
// Canonical Form drops defaults, ours must not.
func TestCanonicalKeepsDefaults(t *testing.T) {
	with, err := parseAvro(`{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1}]}`)
	if err != nil {
		t.Fatal(err)
	}
	without, err := parseAvro(`{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	cw, _ := canonical(with)
	cwo, _ := canonical(without)
	if cw == cwo {
		t.Fatalf("defaults lost from identity: %s", cw)
	}
	if with.Fingerprint() != without.Fingerprint() {
		t.Log("hamba fingerprints now include defaults; the fresh-SchemaCompatibility-per-check workaround could be revisited")
	}
	// hamba's global cache would let this parse.
	avro.MustParse(`{"type":"record","name":"Defined","fields":[]}`)
	if _, err := parseAvro(`{"type":"record","name":"U","fields":[{"name":"d","type":"Defined"}]}`); err == nil {
		t.Fatal("a schema using a type it does not define parsed")
	}
}
