package schemas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

func TestRegisterCheckList(t *testing.T) {
	b := testenv.Broker(t, "")
	reg := testenv.Registry(t, b.Addr())
	rc := schemas.RegistryConfig{URL: reg.URL()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	first, err := schemas.Register(ctx, schemas.RegisterConfig{Registry: rc})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 6 {
		t.Fatalf("%d registrations", len(first))
	}
	ids := map[string]int{}
	for _, r := range first {
		if !r.Created || r.Skipped || r.ID <= 0 || r.RegistryVersion <= 0 {
			t.Fatalf("first run: %+v", r)
		}
		key := r.Name + string(rune('0'+r.Version))
		if id, ok := ids[key]; ok && id != r.ID {
			t.Fatalf("same schema, different ids: %+v", r)
		}
		ids[key] = r.ID
	}
	if first[1].RegistryVersion != 2 || first[1].Subject != "mta-turnstile-value" {
		t.Fatalf("v2 should be version 2 of the input subject: %+v", first[1])
	}

	// Idempotent: the second run registers nothing and reports the same ids.
	second, err := schemas.Register(ctx, schemas.RegisterConfig{Registry: rc})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range second {
		if r.Created || r.ID != first[i].ID || r.RegistryVersion != first[i].RegistryVersion {
			t.Fatalf("second run: %+v, first %+v", r, first[i])
		}
	}

	list, err := schemas.List(ctx, schemas.ListConfig{Registry: rc})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sv := range list {
		got = append(got, sv.Subject+" "+sv.Name)
	}
	want := []string{
		"mta-station-windows-value nyc.mta.turnstile.StationWindow",
		"mta-turnstile-late-value nyc.mta.turnstile.TurnstileReading",
		"mta-turnstile-value nyc.mta.turnstile.TurnstileReading",
		"mta-turnstile-windows-value nyc.mta.turnstile.TurnstileWindow",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("list:\n%s", strings.Join(got, "\n"))
	}
	all, err := schemas.List(ctx, schemas.ListConfig{Registry: rc, Subjects: []string{"mta-turnstile-value"}, AllVersions: true})
	if err != nil || len(all) != 2 || all[0].Version != 1 || all[1].Version != 2 {
		t.Fatalf("all versions: %+v, %v", all, err)
	}

	v2 := schemas.LatestReadingSchema().Text
	tests := []struct {
		name       string
		subject    string
		schema     string
		compatible bool
		newSubject bool
		invalid    bool
		flagNew    bool   // CheckConfig.NewSubject
		closest    string // an *UnknownSubjectError naming it
	}{
		{"latest against itself", "mta-turnstile-value", v2, true, false, false, false, ""},
		{"new optional field", "mta-turnstile-value",
			strings.Replace(v2, `{"name": "SOURCE"`, `{"name": "LANE", "type": ["null","int"], "default": null}, {"name": "SOURCE"`, 1), true, false, false, false, ""},
		{"new required field", "mta-turnstile-value",
			strings.Replace(v2, `{"name": "SOURCE"`, `{"name": "LANE", "type": "int"}, {"name": "SOURCE"`, 1), false, false, false, false, ""},
		{"counter becomes a string", "mta-turnstile-value",
			strings.Replace(v2, `{"name": "ENTRIES", "type": "long"`, `{"name": "ENTRIES", "type": "string"`, 1), false, false, false, false, ""},
		{"new subject", "brand-new-value", v2, true, true, false, true, ""},
		{"new subject, not said so", "brand-new-value", v2, false, true, false, false, "mta-turnstile-value"},
		{"misspelt subject", "mta-turnstle-value", v2, false, true, false, false, "mta-turnstile-value"},
		{"not avro", "mta-turnstile-value", `{"type":"record"}`, false, false, true, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := schemas.Check(ctx, schemas.CheckConfig{Registry: rc, Subject: tt.subject, Schema: tt.schema, NewSubject: tt.flagNew})
			var (
				ie *schemas.IncompatibleError
				ue *schemas.UnknownSubjectError
			)
			switch {
			case tt.closest != "":
				if !errors.As(err, &ue) || ue.Closest != tt.closest || res.Compatible || !res.NewSubject || len(ue.Subjects) != 4 {
					t.Fatalf("got %+v, %v; want an unknown subject near %s", res, err, tt.closest)
				}
				t.Logf("%v", err)
			case tt.invalid:
				if !errors.Is(err, schemas.ErrInvalidSchema) {
					t.Fatalf("got %v", err)
				}
			case tt.compatible:
				if err != nil || !res.Compatible || res.NewSubject != tt.newSubject {
					t.Fatalf("got %+v, %v", res, err)
				}
			default:
				if !errors.As(err, &ie) || res.Compatible || len(ie.Messages) == 0 || ie.Subject != tt.subject {
					t.Fatalf("got %+v, %v", res, err)
				}
				t.Logf("registry says: %v", err)
			}
		})
	}
}

func TestRegisterSkipsOlderVersion(t *testing.T) {
	b := testenv.Broker(t, "")
	reg := testenv.Registry(t, b.Addr())
	rc := schemas.RegistryConfig{URL: reg.URL()}
	ctx := context.Background()
	// Someone registered only v2 under the input subject: registering v1
	// now would make v1 the subject's latest, so Register skips it.
	body, _ := json.Marshal(map[string]string{"schema": schemas.LatestReadingSchema().Text})
	resp, err := http.Post(reg.URL()+"/subjects/custom-value/versions", "application/vnd.schemaregistry.v1+json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("register v2: %s", resp.Status)
	}
	res, err := schemas.Register(ctx, schemas.RegisterConfig{Registry: rc, Topics: schemas.Topics{Input: "custom"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Subject != "custom-value" || r.Version != 1 || !r.Skipped || r.Created {
		t.Fatalf("v1: %+v", r)
	}
	if r := res[1]; r.Subject != "custom-value" || r.Version != 2 || r.Skipped || r.Created || r.RegistryVersion != 1 {
		t.Fatalf("v2: %+v", r)
	}
	latest, err := schemas.List(ctx, schemas.ListConfig{Registry: rc, Subjects: []string{"custom-value"}})
	if err != nil || len(latest) != 1 || latest[0].Version != 1 || !strings.Contains(latest[0].Schema, "EVENT_TIME") {
		t.Fatalf("latest %+v, %v", latest, err)
	}
}

func TestRegistryUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc := schemas.RegistryConfig{URL: "http://127.0.0.1:1"}
	if _, err := schemas.Register(ctx, schemas.RegisterConfig{Registry: rc}); err == nil {
		t.Fatal("register against nothing succeeded")
	}
	if _, err := schemas.List(ctx, schemas.ListConfig{Registry: rc}); err == nil {
		t.Fatal("list against nothing succeeded")
	}
	if _, err := schemas.Register(ctx, schemas.RegisterConfig{}); err == nil {
		t.Fatal("no URL accepted")
	}
}
