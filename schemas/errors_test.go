package schemas_test

import (
	"context"
	"strings"
	"testing"

	"github.com/turnstile-streams/turnstile/schemas"
)

// TestErrorMessagesNameThePackage: every error the package returns starts
// with "schemas: " once, whether it is a sentinel or wraps one.
func TestErrorMessagesNameThePackage(t *testing.T) {
	_, unknown := schemas.ReadingSchema(3)
	_, noURL := schemas.List(context.Background(), schemas.ListConfig{})
	_, noSubject := schemas.Check(context.Background(), schemas.CheckConfig{Schema: `"string"`})
	_, notAvro := schemas.Check(context.Background(), schemas.CheckConfig{Subject: "s-value", Schema: `{"type": "record"}`})
	for _, tc := range []struct {
		name string
		err  error
		want string // the message's start
	}{
		{"ErrUnknownSchema", schemas.ErrUnknownSchema, "schemas: unknown schema"},
		{"ErrInvalidSchema", schemas.ErrInvalidSchema, "schemas: invalid schema"},
		{"no such version", unknown, "schemas: unknown schema nyc.mta.turnstile.TurnstileReading version 3"},
		{"no registry URL", noURL, "schemas: registry URL is required"},
		{"no subject", noSubject, "schemas: check: subject is required"},
		{"not Avro", notAvro, "schemas: invalid schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error")
			}
			msg := tc.err.Error()
			if !strings.HasPrefix(msg, tc.want) || strings.Count(msg, "schemas: ") != 1 {
				t.Fatalf("%q, want it to start with %q and name the package once", msg, tc.want)
			}
		})
	}
}
