package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/windows"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"256MiB", 256 << 20, true},
		{"1GiB", 1 << 30, true},
		{"1.5 GiB", 3 << 29, true},
		{"512MB", 512e6, true},
		{"0", 0, true},
		{"4096", 4096, true},
		{"-1MiB", 0, false},
		{"lots", 0, false},
		{"", 0, false},
	} {
		got, err := parseBytes(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestTimeZoneAndAlignFlags: --time-zone and --window-align (or their
// TURNSTILE_ variables) reach the pipeline's configuration, with the
// defaults of a zero processors.Config and a clear error for a bad zone.
func TestTimeZoneAndAlignFlags(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		env       map[string]string
		zone      string
		align     windows.Alignment
		wantError string
	}{
		{"defaults", nil, nil, "America/New_York", windows.AlignEpoch, ""},
		{"flags", []string{"--time-zone=Europe/Paris", "--window-align=local"}, nil, "Europe/Paris", windows.AlignLocal, ""},
		{"environment", nil, map[string]string{"TURNSTILE_TIME_ZONE": "UTC", "TURNSTILE_WINDOW_ALIGN": "local"}, "UTC", windows.AlignLocal, ""},
		{"unknown zone", []string{"--time-zone=America/Gotham"}, nil, "", "", `--time-zone: schemas: unknown time zone "America/Gotham"`},
		{"empty zone", nil, map[string]string{"TURNSTILE_TIME_ZONE": ""}, "", "", "--time-zone: schemas: empty time zone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("process", pflag.ContinueOnError)
			var p pipelineFlags
			p.register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if err := bindEnv(fs, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }); err != nil {
				t.Fatal(err)
			}
			cfg, err := p.settings(processors.DefaultTopics(), t.TempDir())
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("error %v, want %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.TimeZone.String() != tc.zone || cfg.WindowAlign != tc.align {
				t.Fatalf("time zone %v, align %q; want %s, %q", cfg.TimeZone, cfg.WindowAlign, tc.zone, tc.align)
			}
		})
	}
}

// TestZeroOffFlags: --align-drift, --state-recover-on-open and
// --write-behind-keys reach the pipeline, their defaults are the
// pipeline's, and 0 turns them off (negative in the configuration, where
// zero means the default).
func TestZeroOffFlags(t *testing.T) {
	var st state.Options
	st.Defaults()
	drift := func(c processors.Config) time.Duration { return c.AlignDrift }
	recoverOnOpen := func(c processors.Config) time.Duration { return c.State.RecoverOnOpen }
	writeBehind := func(c processors.Config) time.Duration { return time.Duration(c.WriteBehindKeys) }
	for _, tc := range []struct {
		args []string
		get  func(processors.Config) time.Duration
		want time.Duration
	}{
		{nil, drift, processors.DefaultAlignDrift},
		{[]string{"--align-drift=2h"}, drift, 2 * time.Hour},
		{[]string{"--align-drift=0"}, drift, -1},
		{nil, recoverOnOpen, st.RecoverOnOpen},
		{[]string{"--state-recover-on-open=1m"}, recoverOnOpen, time.Minute},
		{[]string{"--state-recover-on-open=0"}, recoverOnOpen, -1},
		{nil, writeBehind, processors.DefaultWriteBehindKeys},
		{[]string{"--write-behind-keys=64"}, writeBehind, 64},
		{[]string{"--write-behind-keys=0"}, writeBehind, -1},
	} {
		fs := pflag.NewFlagSet("process", pflag.ContinueOnError)
		var p pipelineFlags
		p.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		cfg, err := p.settings(processors.DefaultTopics(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Defaults()
		cfg.State.Defaults()
		if got := tc.get(cfg); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.args, got, tc.want)
		}
	}
}
