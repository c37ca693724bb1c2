package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestSchemasCheckSaysWhere: turnstile schemas check reports a JSON syntax
// error as FILE:LINE:COLUMN, a bad field type by the field's name, and a
// subject that does not exist while others do with the closest existing
// one and exit code 2 (--new-subject accepts it); a fresh registry takes
// any first schema.
func TestSchemasCheckSaysWhere(t *testing.T) {
	b := testenv.Broker(t, "")
	reg := testenv.Registry(t, b.Addr())
	env := map[string]string{"TURNSTILE_REGISTRY_URL": reg.URL()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v2 := schemas.LatestReadingSchema().Text
	good := write("good.avsc", v2)

	// A fresh registry: the first schema of any subject is compatible.
	if out, _, err := runCLI(t, ctx, env, "schemas", "check", good, "--subject", "mta-turnstile-value"); err != nil || !strings.Contains(out, "no versions yet") {
		t.Fatalf("first schema on a fresh registry: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, ctx, env, "schemas", "register"); err != nil {
		t.Fatal(err)
	}
	broken := write("broken.avsc", "{\"type\": \"record\", \"name\": \"X\",\n \"fields\": [{\"name\": \"A\", \"type\": \"string\"},]}\n")
	badType := write("bad-type.avsc", strings.Replace(v2, `{"name": "ENTRIES", "type": "long"`, `{"name": "ENTRIES", "type": "lon"`, 1))
	tests := []struct {
		name string
		args []string
		code int // exit code; 0: success
		want []string
	}{
		{"compatible", []string{good, "--subject", "mta-turnstile-value"}, 0, []string{"compatible with the latest version of mta-turnstile-value"}},
		{"syntax error", []string{broken, "--subject", "mta-turnstile-value"}, 1, []string{broken + ":2:45: invalid character ']'"}},
		{"bad field type", []string{badType, "--subject", "mta-turnstile-value"}, 1, []string{badType + ":16:", "(ENTRIES)", `unknown type name: "lon"`}},
		{"misspelt subject", []string{good, "--subject", "mta-turnstle-value"}, 2,
			[]string{"subject mta-turnstle-value does not exist", "did you mean mta-turnstile-value?", "--new-subject"}},
		{"new subject said so", []string{good, "--subject", "brand-new-value", "--new-subject"}, 0, []string{"brand-new-value has no versions yet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCLI(t, ctx, env, append([]string{"schemas", "check"}, tt.args...)...)
			code := 0
			text := out
			if err != nil {
				code, text = exitCode(err), out+"turnstile: "+err.Error()
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d:\n%s", code, tt.code, text)
			}
			for _, want := range tt.want {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
			t.Logf("exit %d: %s", code, strings.TrimSpace(text))
		})
	}
}
