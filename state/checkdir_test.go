package state_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnstile-streams/turnstile/state"
)

// TestCheckDir: a directory that can hold stores passes and is left as it
// was (created if missing, no probe file left); a path through a file, or a
// directory without write permission, fails with the path and the cause.
func TestCheckDir(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(base, "read-only")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		wantErr []string // substrings; none: no error
		skip    bool
	}{
		{name: "new nested directory", dir: filepath.Join(base, "data", "state")},
		{name: "existing directory", dir: base},
		{name: "a file", dir: file, wantErr: []string{file, "not a directory"}},
		{name: "under a file", dir: filepath.Join(file, "state"), wantErr: []string{filepath.Join(file, "state"), "not a directory"}},
		// root writes anywhere: the permission check is for everyone else.
		{name: "read-only directory", dir: filepath.Join(readOnly, "state"), wantErr: []string{readOnly, "permission denied"}, skip: os.Geteuid() == 0},
		{name: "empty", dir: "", wantErr: []string{"no state directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip {
				t.Skip("running as root: permissions do not apply")
			}
			err := state.CheckDir(tt.dir)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				entries, err := os.ReadDir(tt.dir)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					if strings.HasPrefix(e.Name(), ".probe") {
						t.Errorf("probe file %s left behind", e.Name())
					}
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckDir(%q) passed", tt.dir)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}
