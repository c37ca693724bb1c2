package registry_test

import (
	"net/http"
	"strings"
	"testing"
)

// record builds a record schema named R with the given fields (JSON).
func record(fields ...string) string {
	return `{"type":"record","name":"R","fields":[` + strings.Join(fields, ",") + `]}`
}

const (
	fA         = `{"name":"a","type":"int"}`
	fALong     = `{"name":"a","type":"long"}`
	fB         = `{"name":"b","type":"string"}`
	fBDefault  = `{"name":"b","type":"string","default":"x"}`
	fBInt      = `{"name":"b","type":"int"}`
	fC         = `{"name":"c","type":"string"}`
	fCDefault  = `{"name":"c","type":"string","default":"x"}`
	allLevels  = "NONE BACKWARD BACKWARD_TRANSITIVE FORWARD FORWARD_TRANSITIVE FULL FULL_TRANSITIVE"
	backwardOK = "NONE BACKWARD BACKWARD_TRANSITIVE"
	forwardOK  = "NONE FORWARD FORWARD_TRANSITIVE"
)

// setLevel sets subject's compatibility level, failing the test otherwise.
func setLevel(t *testing.T, base, subject, level string) {
	t.Helper()
	r := call(t, "PUT", base+"/config/"+subject, `{"compatibility":"`+level+`"}`)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"compatibility":"`+level+`"`) {
		t.Fatalf("PUT /config/%s %s: %d %s", subject, level, r.status, r.body)
	}
}

// checkCompatible asks the compatibility endpoint about schema against all
// versions of subject.
func checkCompatible(t *testing.T, base, subject, schema string) (bool, []string) {
	t.Helper()
	r := call(t, "POST", base+"/compatibility/subjects/"+subject+"/versions?verbose=true", schemaBody(schema))
	if r.status != http.StatusOK {
		t.Fatalf("compatibility check: %d %s", r.status, r.body)
	}
	var out struct {
		IsCompatible *bool    `json:"is_compatible"`
		Messages     []string `json:"messages"`
	}
	r.json(t, &out)
	if out.IsCompatible == nil {
		t.Fatalf("no is_compatible in %s", r.body)
	}
	return *out.IsCompatible, out.Messages
}

// TestCompatibilityLevels registers one evolution of a two-field record
// under every level and checks that registration and the compatibility
// endpoint agree with the Avro rules: BACKWARD means the new schema reads
// old data, FORWARD that the old schema reads new data, FULL both.
func TestCompatibilityLevels(t *testing.T) {
	reg := newRegistry(t)
	base := reg.URL()
	v1 := record(fA, fB)
	evolutions := []struct {
		name     string
		schema   string
		accepted string // levels that accept it
		reason   string // part of the rejection message
	}{
		{"add field with default", record(fA, fB, fCDefault), allLevels, ""},
		{"add field without default", record(fA, fB, fC), forwardOK, "reader field c is missing in writer schema and has no default"},
		{"remove field without default", record(fA), backwardOK, "reader field b is missing in writer schema and has no default"},
		{"change type string to int", record(fA, fBInt), "NONE", "not compatible with writer schema"},
		{"promote int to long", record(fALong, fB), backwardOK, "reader schema int not compatible with writer schema long"},
	}
	for i, ev := range evolutions {
		for _, level := range strings.Fields(allLevels) {
			want := strings.Contains(" "+ev.accepted+" ", " "+level+" ")
			t.Run(ev.name+"/"+level, func(t *testing.T) {
				subject := "compat-" + level + "-" + string(rune('a'+i))
				setLevel(t, base, subject, level)
				register(t, base, subject, v1)

				ok, msgs := checkCompatible(t, base, subject, ev.schema)
				if ok != want {
					t.Fatalf("is_compatible = %v, want %v (messages %q)", ok, want, msgs)
				}
				if !ok && !strings.Contains(strings.Join(msgs, " "), ev.reason) {
					t.Errorf("messages %q do not name the reason %q", msgs, ev.reason)
				}

				r := call(t, "POST", base+"/subjects/"+subject+"/versions", schemaBody(ev.schema))
				if want {
					if r.status != http.StatusOK {
						t.Fatalf("register: %d %s, want 200", r.status, r.body)
					}
					return
				}
				if r.status != http.StatusConflict || r.errorCode(t) != 409 {
					t.Fatalf("register: %d %s, want 409/409", r.status, r.body)
				}
				if !strings.Contains(string(r.body), ev.reason) {
					t.Errorf("409 message %s does not name the reason %q", r.body, ev.reason)
				}
				// Nothing was written.
				var versions []int
				call(t, "GET", base+"/subjects/"+subject+"/versions", "").json(t, &versions)
				if len(versions) != 1 {
					t.Errorf("versions after rejection = %v", versions)
				}
			})
		}
	}
}

// TestTransitiveLevels uses three-version histories where checking against
// the latest version only and against all of them disagree.
func TestTransitiveLevels(t *testing.T) {
	reg := newRegistry(t)
	base := reg.URL()
	cases := []struct {
		level          string
		v1, v2, v3     string
		wantTransitive bool // whether the _TRANSITIVE level accepts v3
	}{
		// v3 drops b's default: it reads v2 data (which has b) but not
		// v1 data (which lacks it).
		{"BACKWARD", record(fA), record(fA, fBDefault), record(fA, fB), false},
		// v3 removes b: v2 reads v3 data with b's default, v1 has none.
		{"FORWARD", record(fA, fB), record(fA, fBDefault), record(fA), false},
		{"FULL", record(fA, fB), record(fA, fBDefault), record(fA), false},
	}
	for _, tc := range cases {
		for _, level := range []string{tc.level, tc.level + "_TRANSITIVE"} {
			t.Run(level, func(t *testing.T) {
				subject := "transitive-" + level
				setLevel(t, base, subject, level)
				register(t, base, subject, tc.v1)
				register(t, base, subject, tc.v2)
				transitive := strings.HasSuffix(level, "_TRANSITIVE")
				want := !transitive || tc.wantTransitive

				ok, msgs := checkCompatible(t, base, subject, tc.v3)
				if ok != want {
					t.Fatalf("is_compatible = %v, want %v (messages %q)", ok, want, msgs)
				}
				if !ok && !strings.Contains(strings.Join(msgs, " "), "version 1") {
					t.Errorf("messages %q do not name version 1", msgs)
				}
				// Against version 2 alone, v3 is fine whatever the level.
				r := call(t, "POST", base+"/compatibility/subjects/"+subject+"/versions/2", schemaBody(tc.v3))
				if r.status != http.StatusOK || !strings.Contains(string(r.body), `"is_compatible":true`) {
					t.Fatalf("check against version 2: %d %s", r.status, r.body)
				}
				r = call(t, "POST", base+"/subjects/"+subject+"/versions", schemaBody(tc.v3))
				if want != (r.status == http.StatusOK) {
					t.Fatalf("register v3: %d %s, want accepted=%v", r.status, r.body, want)
				}
				if want {
					return
				}
				if r.errorCode(t) != 409 {
					t.Fatalf("register v3: %s, want error_code 409", r.body)
				}
				// Transitive checks skip soft-deleted versions.
				if r := call(t, "DELETE", base+"/subjects/"+subject+"/versions/1", ""); r.status != http.StatusOK {
					t.Fatalf("delete v1: %d %s", r.status, r.body)
				}
				if r := call(t, "POST", base+"/subjects/"+subject+"/versions", schemaBody(tc.v3)); r.status != http.StatusOK {
					t.Fatalf("register v3 after deleting v1: %d %s", r.status, r.body)
				}
			})
		}
	}
}

// TestDefaultLevelIsBackward checks the level in force with no config.
func TestDefaultLevelIsBackward(t *testing.T) {
	reg := newRegistry(t)
	base := reg.URL()
	register(t, base, "plain", record(fA, fB))
	r := call(t, "POST", base+"/subjects/plain/versions", schemaBody(record(fA, fB, fC)))
	if r.status != http.StatusConflict || r.errorCode(t) != 409 {
		t.Fatalf("field without default under the default level: %d %s", r.status, r.body)
	}
	register(t, base, "plain", record(fA, fB, fCDefault))

	// A global level applies to subjects without their own.
	if r := call(t, "PUT", base+"/config", `{"compatibility":"NONE"}`); r.status != http.StatusOK {
		t.Fatalf("PUT /config: %d %s", r.status, r.body)
	}
	register(t, base, "plain", record(fBInt))
}
