package gokalog_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/turnstile-streams/turnstile/internal/gokalog"
)

func TestLogger(t *testing.T) {
	for _, tt := range []struct {
		name string
		log  func(gokalog.Logger)
		want string
	}{
		{"Print", func(l gokalog.Logger) { l.Print("a", 1, 2) }, `msg="a1 2"`},
		{"Println", func(l gokalog.Logger) { l.Println("b") }, "msg=b "},
		{"Printf", func(l gokalog.Logger) { l.Printf("partition %d: %s", 3, "recovered") }, `msg="partition 3: recovered"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(gokalog.New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), "goka"))
			got := buf.String()
			if !strings.Contains(got, tt.want) || !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "component=goka") {
				t.Errorf("logged %q, want %s at debug with component=goka", got, tt.want)
			}
		})
	}
	gokalog.New(nil, "goka").Printf("discarded %d", 1) // must not panic
}
