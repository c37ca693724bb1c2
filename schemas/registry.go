package schemas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// RegistryConfig says how to reach a Confluent-compatible Schema Registry.
type RegistryConfig struct {
	// URL of the registry, e.g. http://127.0.0.1:8081. Required.
	URL string
	// HTTPClient is optional; the default has a 10 s timeout per request.
	HTTPClient *http.Client
}

// Defaults fills zero fields but URL, which is required.
func (c *RegistryConfig) Defaults() {
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
}

// validate checks what Defaults cannot fill: the URL.
func (c *RegistryConfig) validate() error {
	if c.URL == "" {
		return errors.New("schemas: registry URL is required")
	}
	return nil
}

func (c RegistryConfig) client() (*sr.Client, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	c.Defaults()
	cl, err := sr.NewClient(sr.URLs(c.URL), sr.HTTPClient(c.HTTPClient), sr.UserAgent("turnstile"))
	if err != nil {
		return nil, fmt.Errorf("schemas: registry client: %w", err)
	}
	return cl, nil
}

// RegisterConfig configures [Register].
type RegisterConfig struct {
	Registry RegistryConfig
	// Topics whose subjects are registered; empty names take defaults.
	Topics Topics
}

// Registered is the outcome of one registration.
type Registered struct {
	Subject string
	Name    string // record full name
	Version int    // this project's schema version
	ID      int    // registry's global schema id (0 when Skipped)
	// RegistryVersion is the version number under Subject (0 when Skipped).
	RegistryVersion int
	// Created is true when this call registered the schema; false when it
	// was already registered (or Skipped).
	Created bool
	// Skipped is true for an older reading version that was not registered
	// because a newer one already is the subject's schema: registering it
	// now would make the older schema the subject's latest.
	Skipped bool
}

// Register registers every (subject, schema) pair of cfg.Topics (see
// [Topics.Registrations]). It is idempotent: a schema already under its
// subject is looked up, not registered again. An incompatible schema yields
// an *IncompatibleError; other registry failures are wrapped.
func Register(ctx context.Context, cfg RegisterConfig) ([]Registered, error) {
	cl, err := cfg.Registry.client()
	if err != nil {
		return nil, err
	}
	regs := cfg.Topics.Registrations()
	out := make([]Registered, len(regs))
	found := make([]bool, len(regs))
	// Look everything up first, so that an older version missing under a
	// subject that has a newer one can be skipped.
	for i, r := range regs {
		out[i] = Registered{Subject: r.Subject, Name: r.Schema.Name, Version: r.Schema.Version}
		ss, err := cl.LookupSchema(ctx, r.Subject, sr.Schema{Schema: r.Schema.Text})
		switch {
		case err == nil:
			found[i] = true
			out[i].ID, out[i].RegistryVersion = ss.ID, ss.Version
		case isCode(err, 40401, 40403):
		default:
			return nil, fmt.Errorf("schemas: look up %s v%d under %s: %w", r.Schema.Name, r.Schema.Version, r.Subject, err)
		}
	}
	for i, r := range regs {
		if found[i] {
			continue
		}
		for j := range regs {
			if found[j] && regs[j].Subject == r.Subject && regs[j].Schema.Name == r.Schema.Name && regs[j].Schema.Version > r.Schema.Version {
				out[i].Skipped = true
			}
		}
		if out[i].Skipped {
			continue
		}
		id, err := cl.RegisterSchema(ctx, r.Subject, sr.Schema{Schema: r.Schema.Text}, -1, -1)
		if err != nil {
			return out[:i], registryError(r.Subject, err)
		}
		out[i].ID, out[i].Created = id, true
		ss, err := cl.LookupSchema(ctx, r.Subject, sr.Schema{Schema: r.Schema.Text})
		if err != nil {
			return out[:i], fmt.Errorf("schemas: look up %s after registering: %w", r.Subject, err)
		}
		out[i].RegistryVersion = ss.Version
		found[i] = true
	}
	return out, nil
}

// CheckConfig configures [Check].
type CheckConfig struct {
	Registry RegistryConfig
	// Subject to check against, e.g. mta-turnstile-value. Required.
	Subject string
	// Schema is the candidate schema's JSON text (the CLI reads FILE).
	Schema string
	// NewSubject says Subject is meant to be new: without it, a subject
	// without versions in a registry that has other subjects is most
	// likely misspelt, and Check returns an *UnknownSubjectError.
	NewSubject bool
}

// validate checks that there is a subject and that the candidate parses
// as Avro (a *SchemaError when not); the registry's config is checked when
// its client is built.
func (c *CheckConfig) validate() error {
	if c.Subject == "" {
		return errors.New("schemas: check: subject is required")
	}
	return ParseSchema(c.Schema)
}

// CheckResult is the registry's verdict on a candidate schema.
type CheckResult struct {
	Subject    string
	Compatible bool
	// NewSubject is true when the subject has no versions yet: anything
	// valid is compatible.
	NewSubject bool
	// Messages are the registry's reasons when incompatible.
	Messages []string
}

// Check asks the registry whether cfg.Schema is compatible with the latest
// version of cfg.Subject, under the subject's compatibility level, with
// POST /compatibility/subjects/{subject}/versions/latest?verbose=true. When
// it is not, Check returns the result and an *IncompatibleError carrying the
// registry's reasons. Schema text that is not valid Avro returns an error
// wrapping [ErrInvalidSchema] without asking the registry.
func Check(ctx context.Context, cfg CheckConfig) (CheckResult, error) {
	res := CheckResult{Subject: cfg.Subject}
	if err := cfg.validate(); err != nil {
		return res, err
	}
	cl, err := cfg.Registry.client()
	if err != nil {
		return res, err
	}
	// Registries answer "compatible" for a subject without versions; say
	// so explicitly, and refuse a subject that is probably misspelt.
	if _, err := cl.SubjectVersions(ctx, cfg.Subject); isCode(err, 40401) {
		res.Compatible, res.NewSubject = true, true
		if cfg.NewSubject {
			return res, nil
		}
		subjects, err := cl.Subjects(ctx)
		if err != nil {
			return res, fmt.Errorf("schemas: list subjects: %w", err)
		}
		if len(subjects) > 0 {
			res.Compatible = false
			return res, &UnknownSubjectError{Subject: cfg.Subject, Closest: Closest(cfg.Subject, subjects), Subjects: subjects}
		}
		return res, nil
	} else if err != nil {
		return res, registryError(cfg.Subject, err)
	}
	r, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), cfg.Subject, -1, sr.Schema{Schema: cfg.Schema})
	switch {
	case err == nil:
	case isCode(err, 40401, 40402):
		res.Compatible, res.NewSubject = true, true
		return res, nil
	default:
		return res, registryError(cfg.Subject, err)
	}
	res.Compatible, res.Messages = r.Is, r.Messages
	if !r.Is {
		return res, &IncompatibleError{Subject: cfg.Subject, Messages: r.Messages}
	}
	return res, nil
}

// ListConfig configures [List].
type ListConfig struct {
	Registry RegistryConfig
	// Subjects limits the listing; empty lists every subject.
	Subjects []string
	// AllVersions lists every version instead of only the latest.
	AllVersions bool
}

// SubjectVersion is one schema version under one subject.
type SubjectVersion struct {
	Subject string
	Version int
	ID      int
	Name    string // record full name, when the schema is an Avro record
	Schema  string
}

// List returns the latest (or every) schema version of each subject, sorted
// by subject and version.
func List(ctx context.Context, cfg ListConfig) ([]SubjectVersion, error) {
	cl, err := cfg.Registry.client()
	if err != nil {
		return nil, err
	}
	subjects := cfg.Subjects
	if len(subjects) == 0 {
		if subjects, err = cl.Subjects(ctx); err != nil {
			return nil, fmt.Errorf("schemas: list subjects: %w", err)
		}
	}
	sort.Strings(subjects)
	var out []SubjectVersion
	for _, s := range subjects {
		var versions []sr.SubjectSchema
		if cfg.AllVersions {
			versions, err = cl.Schemas(ctx, s)
		} else {
			var ss sr.SubjectSchema
			ss, err = cl.SchemaByVersion(ctx, s, -1)
			versions = []sr.SubjectSchema{ss}
		}
		if err != nil {
			return nil, fmt.Errorf("schemas: list %s: %w", s, err)
		}
		for _, v := range versions {
			out = append(out, SubjectVersion{Subject: s, Version: v.Version, ID: v.ID, Name: recordName(v.Schema.Schema), Schema: v.Schema.Schema})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

// recordName returns the full name of an Avro schema, or "".
func recordName(text string) string {
	c, err := goavro.NewCodec(text)
	if err != nil {
		return ""
	}
	// The canonical form starts {"name":"<full name>",...} for named types.
	const prefix = `{"name":"`
	can := c.CanonicalSchema()
	if !strings.HasPrefix(can, prefix) {
		return ""
	}
	name, _, _ := strings.Cut(can[len(prefix):], `"`)
	return name
}

// isCode reports whether err is a registry response with one of the codes.
func isCode(err error, codes ...int) bool {
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	for _, c := range codes {
		if re.ErrorCode == c {
			return true
		}
	}
	return false
}

func registryError(subject string, err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.ErrorCode == 409 || re.StatusCode == http.StatusConflict:
			return &IncompatibleError{Subject: subject, Messages: []string{re.Message}}
		case re.ErrorCode == 42201:
			return fmt.Errorf("%w under %s: %s", ErrInvalidSchema, subject, re.Message)
		}
	}
	return fmt.Errorf("schemas: %s: %w", subject, err)
}
