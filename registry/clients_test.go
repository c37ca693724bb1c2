package registry_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/sr"
)

// TestSRClient drives the registry with riferrei/srclient, the client our
// Go services use.
func TestSRClient(t *testing.T) {
	reg := newRegistry(t)
	c := srclient.CreateSchemaRegistryClient(reg.URL())
	c.CachingEnabled(false) // every call must reach the server

	s1, err := c.CreateSchema("users-value", userV1, srclient.Avro)
	if err != nil {
		t.Fatalf("create v1: %v", err)
	}
	if s1.ID() <= 0 {
		t.Fatalf("v1 id = %d", s1.ID())
	}
	s2, err := c.CreateSchema("users-value", userV2, srclient.Avro)
	if err != nil {
		t.Fatalf("create v2: %v", err)
	}
	if s2.ID() == s1.ID() {
		t.Fatalf("v2 reused id %d", s1.ID())
	}
	// The same schema under another subject shares the id.
	o, err := c.CreateSchema("other-value", userV1, srclient.Avro)
	if err != nil {
		t.Fatal(err)
	}
	if o.ID() != s1.ID() {
		t.Fatalf("same schema in another subject: id %d, want %d", o.ID(), s1.ID())
	}

	latest, err := c.GetLatestSchema("users-value")
	if err != nil {
		t.Fatal(err)
	}
	if latest.Version() != 2 || latest.ID() != s2.ID() || latest.Schema() != userV2 {
		t.Fatalf("latest = v%d id %d %q", latest.Version(), latest.ID(), latest.Schema())
	}
	if st := latest.SchemaType(); st != nil && *st != srclient.Avro {
		t.Fatalf("schemaType = %v", *st)
	}
	byVersion, err := c.GetSchemaByVersion("users-value", 1)
	if err != nil {
		t.Fatal(err)
	}
	if byVersion.ID() != s1.ID() || byVersion.Schema() != userV1 {
		t.Fatalf("v1 = id %d %q", byVersion.ID(), byVersion.Schema())
	}
	byID, err := c.GetSchema(s2.ID())
	if err != nil {
		t.Fatal(err)
	}
	if byID.Schema() != userV2 {
		t.Fatalf("by id: %q", byID.Schema())
	}
	looked, err := c.LookupSchema("users-value", userV1, srclient.Avro)
	if err != nil {
		t.Fatal(err)
	}
	if looked.ID() != s1.ID() || looked.Version() != 1 {
		t.Fatalf("lookup = id %d v%d", looked.ID(), looked.Version())
	}
	if _, err := c.LookupSchema("users-value", orderV1, srclient.Avro); !isSRClientCode(err, 40403) {
		t.Fatalf("lookup of unknown schema: %v, want 40403", err)
	}

	subjects, err := c.GetSubjects()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(subjects)
	if !slices.Equal(subjects, []string{"other-value", "users-value"}) {
		t.Fatalf("subjects = %v", subjects)
	}
	versions, err := c.GetSchemaVersions("users-value")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("versions = %v", versions)
	}
	pairs, err := c.GetSubjectVersionsById(s1.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 2 {
		t.Fatalf("subject versions of id %d = %+v", s1.ID(), pairs)
	}

	ok, err := c.IsSchemaCompatible("users-value", userV3, "latest", srclient.Avro)
	if err != nil || !ok {
		t.Fatalf("compatible v3: %v %v", ok, err)
	}
	lvl, err := c.ChangeSubjectCompatibilityLevel("users-value", srclient.Full)
	if err != nil || *lvl != srclient.Full {
		t.Fatalf("set FULL: %v %v", lvl, err)
	}
	lvl, err = c.GetCompatibilityLevel("users-value", false)
	if err != nil || *lvl != srclient.Full {
		t.Fatalf("get subject level: %v %v", lvl, err)
	}
	lvl, err = c.DeleteSubjectCompatibilityLevel("users-value")
	if err != nil || *lvl != srclient.Full {
		t.Fatalf("delete subject level: %v %v", lvl, err)
	}
	lvl, err = c.GetCompatibilityLevel("users-value", true)
	if err != nil || *lvl != srclient.Backward {
		t.Fatalf("level after delete (default to global): %v %v", lvl, err)
	}
	lvl, err = c.GetGlobalCompatibilityLevel()
	if err != nil || *lvl != srclient.Backward {
		t.Fatalf("global level: %v %v", lvl, err)
	}

	if err := c.DeleteSubjectByVersion("users-value", 2, true); err != nil {
		t.Fatalf("delete version 2 permanently: %v", err)
	}
	versions, err = c.GetSchemaVersions("users-value")
	if err != nil || !slices.Equal(versions, []int{1}) {
		t.Fatalf("versions after delete = %v %v", versions, err)
	}
	if err := c.DeleteSubject("users-value", false); err != nil {
		t.Fatalf("soft delete subject: %v", err)
	}
	if _, err := c.GetSchemaVersions("users-value"); !isSRClientCode(err, 40401) {
		t.Fatalf("versions of deleted subject: %v, want 40401", err)
	}
	all, err := c.GetSubjectsIncludingDeleted()
	if err != nil || !slices.Contains(all, "users-value") {
		t.Fatalf("subjects including deleted = %v %v", all, err)
	}
	if err := c.DeleteSubject("users-value", true); err != nil {
		t.Fatalf("hard delete subject: %v", err)
	}
	all, err = c.GetSubjectsIncludingDeleted()
	if err != nil || slices.Contains(all, "users-value") {
		t.Fatalf("subjects after hard delete = %v %v", all, err)
	}
	// The id still serves the subject that keeps using it.
	if _, err := c.GetSchema(s1.ID()); err != nil {
		t.Fatalf("id %d after deleting one of its subjects: %v", s1.ID(), err)
	}
}

func isSRClientCode(err error, code int) bool {
	var e srclient.Error
	return errors.As(err, &e) && e.Code == code
}

// TestFranzSR drives the registry with franz-go's sr client.
func TestFranzSR(t *testing.T) {
	reg := newRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}

	types, err := c.SupportedTypes(ctx)
	if err != nil || !slices.Equal(types, []sr.SchemaType{sr.TypeAvro}) {
		t.Fatalf("types = %v %v", types, err)
	}
	ss1, err := c.CreateSchema(ctx, "orders-value", sr.Schema{Schema: orderV1})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if ss1.Subject != "orders-value" || ss1.Version != 1 || ss1.ID <= 0 || ss1.Schema.Schema != orderV1 {
		t.Fatalf("created %+v", ss1)
	}
	// References, metadata and a rule set are accepted (and ignored).
	ss2, err := c.CreateSchema(ctx, "users-value", sr.Schema{
		Schema:         userV1,
		References:     []sr.SchemaReference{},
		SchemaMetadata: &sr.SchemaMetadata{Properties: map[string]string{"owner": "team-a"}},
		SchemaRuleSet:  &sr.SchemaRuleSet{DomainRules: []sr.SchemaRule{{Name: "r", Kind: sr.SchemaRuleKindCondition, Mode: sr.SchemaRuleModeWrite, Type: "CEL", Expr: "true"}}},
	})
	if err != nil {
		t.Fatalf("create with metadata: %v", err)
	}
	id, err := c.RegisterSchema(ctx, "users-value", sr.Schema{Schema: userV1}, -1, -1)
	if err != nil || id != ss2.ID {
		t.Fatalf("re-register: id %d (want %d) %v", id, ss2.ID, err)
	}

	byID, err := c.SchemaByID(ctx, ss1.ID)
	if err != nil || byID.Schema != orderV1 || byID.Type != sr.TypeAvro {
		t.Fatalf("by id: %+v %v", byID, err)
	}
	text, err := c.SchemaTextByID(ctx, ss1.ID)
	if err != nil || text != orderV1 {
		t.Fatalf("text by id: %q %v", text, err)
	}
	latest, err := c.SchemaByVersion(ctx, "orders-value", -1)
	if err != nil || latest.ID != ss1.ID || latest.Version != 1 {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	text, err = c.SchemaTextByVersion(ctx, "users-value", 1)
	if err != nil || text != userV1 {
		t.Fatalf("text by version: %q %v", text, err)
	}
	looked, err := c.LookupSchema(ctx, "users-value", sr.Schema{Schema: userV1})
	if err != nil || looked.ID != ss2.ID || looked.Version != 1 {
		t.Fatalf("lookup: %+v %v", looked, err)
	}
	subjects, err := c.Subjects(ctx)
	if err != nil || !slices.Equal(subjects, []string{"orders-value", "users-value"}) {
		t.Fatalf("subjects = %v %v", subjects, err)
	}
	versions, err := c.SubjectVersions(ctx, "users-value")
	if err != nil || !slices.Equal(versions, []int{1}) {
		t.Fatalf("versions = %v %v", versions, err)
	}
	svs, err := c.SchemaVersionsByID(ctx, ss2.ID)
	if err != nil || len(svs) != 1 || svs[0] != (sr.SubjectVersion{Subject: "users-value", Version: 1}) {
		t.Fatalf("versions by id = %+v %v", svs, err)
	}

	res, err := c.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "users-value", -1, sr.Schema{Schema: userV2})
	if err != nil || !res.Is {
		t.Fatalf("check v2: %+v %v", res, err)
	}
	bad := `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"email","type":"string"}]}`
	res, err = c.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "users-value", -2, sr.Schema{Schema: bad})
	if err != nil || res.Is || len(res.Messages) == 0 {
		t.Fatalf("check field without default: %+v %v", res, err)
	}
	_, err = c.CreateSchema(ctx, "users-value", sr.Schema{Schema: bad})
	var re *sr.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 409 || re.ErrorCode != 409 {
		t.Fatalf("register incompatible: %v, want 409", err)
	}

	set := c.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, "users-value")
	if set[0].Err != nil || set[0].Level != sr.CompatFull {
		t.Fatalf("set FULL: %+v", set[0])
	}
	got := c.Compatibility(ctx, "users-value")
	if got[0].Err != nil || got[0].Level != sr.CompatFull {
		t.Fatalf("get level: %+v", got[0])
	}
	reset := c.ResetCompatibility(ctx, "users-value")
	if reset[0].Err != nil || reset[0].Level != sr.CompatFull {
		t.Fatalf("reset: %+v", reset[0])
	}
	got = c.Compatibility(ctx, "users-value")
	if !errors.As(got[0].Err, &re) || re.ErrorCode != 40408 {
		t.Fatalf("level after reset: %+v, want 40408", got[0])
	}
	got = c.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), "users-value")
	if got[0].Err != nil || got[0].Level != sr.CompatBackward {
		t.Fatalf("level defaulting to global: %+v", got[0])
	}
	modes := c.Mode(ctx)
	if modes[0].Err != nil || modes[0].Mode != sr.ModeReadWrite {
		t.Fatalf("mode: %+v", modes[0])
	}

	if err := c.DeleteSchema(ctx, "orders-value", 1, sr.HardDelete); !errors.As(err, &re) || re.ErrorCode != 40407 {
		t.Fatalf("hard delete before soft: %v, want 40407", err)
	}
	if err := c.DeleteSchema(ctx, "orders-value", 1, sr.SoftDelete); err != nil {
		t.Fatalf("soft delete version: %v", err)
	}
	if err := c.DeleteSchema(ctx, "orders-value", 1, sr.HardDelete); err != nil {
		t.Fatalf("hard delete version: %v", err)
	}
	deleted, err := c.DeleteSubject(ctx, "users-value", sr.SoftDelete)
	if err != nil || !slices.Equal(deleted, []int{1}) {
		t.Fatalf("soft delete subject: %v %v", deleted, err)
	}
	if _, err := c.DeleteSubject(ctx, "users-value", sr.SoftDelete); !errors.As(err, &re) || re.ErrorCode != 40404 {
		t.Fatalf("second soft delete: %v, want 40404", err)
	}
	deleted, err = c.DeleteSubject(ctx, "users-value", sr.HardDelete)
	if err != nil || !slices.Equal(deleted, []int{1}) {
		t.Fatalf("hard delete subject: %v %v", deleted, err)
	}
	subjects, err = c.Subjects(sr.WithParams(ctx, sr.ShowDeleted))
	if err != nil || len(subjects) != 0 {
		t.Fatalf("subjects after deleting all = %v %v", subjects, err)
	}
	if _, err := c.SchemaByID(ctx, ss1.ID); !errors.As(err, &re) || re.ErrorCode != 40403 {
		t.Fatalf("id of a permanently deleted schema: %v, want 40403", err)
	}
}
