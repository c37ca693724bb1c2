package clientconf

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Security protocols, as Kafka names them.
const (
	Plaintext     = "PLAINTEXT"
	SSL           = "SSL"
	SASLPlaintext = "SASL_PLAINTEXT"
	SASLSSL       = "SASL_SSL"
)

// SASL mechanisms we support.
const (
	MechPlain       = "PLAIN"
	MechScramSHA256 = "SCRAM-SHA-256"
	MechScramSHA512 = "SCRAM-SHA-512"
)

// Config is how a client reaches Kafka and the Schema Registry.
type Config struct {
	Brokers          []string
	SecurityProtocol string // PLAINTEXT (default), SSL, SASL_PLAINTEXT, SASL_SSL
	SASLMechanism    string // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	SASLUsername     string
	SASLPassword     string
	SSLCALocation    string // PEM file with the CA(s) to trust; empty = system pool

	RegistryURL      string
	RegistryUsername string
	RegistryPassword string

	// Compression is the codec of every batch produced through KgoOpts and
	// ApplySarama: none, gzip, snappy, lz4 or zstd (the producer property
	// compression.type); empty means DefaultCompression. franz-go writes a
	// batch uncompressed when the codec would not make it smaller.
	Compression string
}

// Properties maps the keys we understand in a properties file to the field
// they set. Unknown keys are ignored (client.properties files carry many
// settings for other tools), but reported by Load so a typo is visible.
var propertyKeys = []string{
	"bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.mechanisms",
	"sasl.username", "sasl.password", "ssl.ca.location",
	"schema.registry.url", "basic.auth.user.info", "compression.type",
}

// ParseProperties reads a Java/librdkafka-style properties file: key=value
// or key: value lines, '#' and '!' comments, blank lines ignored.
func ParseProperties(r io.Reader) (map[string]string, error) {
	props := map[string]string{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("clientconf: properties line %d: want key=value", n)
		}
		props[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i+1:])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("clientconf: read properties: %w", err)
	}
	return props, nil
}

// LoadProperties reads a properties file and applies it to c. explicit names
// the settings that were set on the command line (by property key, e.g.
// "bootstrap.servers"); those keep their value. It returns the keys in the
// file it did not understand.
func (c *Config) LoadProperties(path string, explicit map[string]bool) (unknown []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("clientconf: %w", err)
	}
	defer f.Close()
	props, err := ParseProperties(f)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return c.ApplyProperties(props, explicit)
}

// ApplyProperties applies parsed properties to c, leaving explicit settings
// alone. It returns the keys it did not understand.
func (c *Config) ApplyProperties(props map[string]string, explicit map[string]bool) (unknown []string, err error) {
	set := func(key string, dst *string) {
		if v, ok := props[key]; ok && !explicit[key] {
			*dst = v
		}
	}
	if v, ok := props["bootstrap.servers"]; ok && !explicit["bootstrap.servers"] {
		c.Brokers = SplitList(v)
	}
	set("security.protocol", &c.SecurityProtocol)
	set("sasl.mechanisms", &c.SASLMechanism) // librdkafka spelling
	set("sasl.mechanism", &c.SASLMechanism)
	set("sasl.username", &c.SASLUsername)
	set("sasl.password", &c.SASLPassword)
	set("ssl.ca.location", &c.SSLCALocation)
	set("schema.registry.url", &c.RegistryURL)
	set("compression.type", &c.Compression)
	if v, ok := props["basic.auth.user.info"]; ok && !explicit["basic.auth.user.info"] {
		user, pass, found := strings.Cut(v, ":")
		if !found {
			return nil, errors.New("clientconf: basic.auth.user.info must be user:password")
		}
		c.RegistryUsername, c.RegistryPassword = user, pass
	}
	known := map[string]bool{}
	for _, k := range propertyKeys {
		known[k] = true
	}
	for k := range props {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	return unknown, c.Validate()
}

// SplitList splits a comma-separated list, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Validate checks that the settings are consistent.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("clientconf: no brokers (set --brokers or bootstrap.servers)")
	}
	if err := c.validateCompression(); err != nil {
		return err
	}
	switch strings.ToUpper(c.protocol()) {
	case Plaintext, SSL:
	case SASLPlaintext, SASLSSL:
		switch c.mechanism() {
		case MechPlain, MechScramSHA256, MechScramSHA512:
		default:
			return fmt.Errorf("clientconf: unsupported sasl.mechanism %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", c.SASLMechanism)
		}
		if c.SASLUsername == "" {
			return errors.New("clientconf: SASL needs sasl.username")
		}
	default:
		return fmt.Errorf("clientconf: unsupported security.protocol %q", c.SecurityProtocol)
	}
	return nil
}

func (c Config) protocol() string {
	if c.SecurityProtocol == "" {
		return Plaintext
	}
	return strings.ToUpper(c.SecurityProtocol)
}

func (c Config) mechanism() string {
	if c.SASLMechanism == "" {
		return MechPlain
	}
	return strings.ToUpper(c.SASLMechanism)
}

func (c Config) usesTLS() bool {
	p := c.protocol()
	return p == SSL || p == SASLSSL
}

func (c Config) usesSASL() bool {
	p := c.protocol()
	return p == SASLPlaintext || p == SASLSSL
}

// TLSConfig returns the TLS settings, or nil when the protocol has no TLS.
func (c Config) TLSConfig() (*tls.Config, error) {
	if !c.usesTLS() {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.SSLCALocation != "" {
		pem, err := os.ReadFile(c.SSLCALocation)
		if err != nil {
			return nil, fmt.Errorf("clientconf: ssl.ca.location: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("clientconf: ssl.ca.location %s: no PEM certificates", c.SSLCALocation)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// KgoOpts returns franz-go options for the brokers, TLS, SASL and the
// compression of produced batches (franz-go's own default would be snappy).
func (c Config) KgoOpts() ([]kgo.Opt, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	comp, err := c.kgoCompressor()
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), comp}
	tc, err := c.TLSConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.usesSASL() {
		switch c.mechanism() {
		case MechPlain:
			opts = append(opts, kgo.SASL(plain.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsMechanism()))
		case MechScramSHA256:
			opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha256Mechanism()))
		case MechScramSHA512:
			opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha512Mechanism()))
		}
	}
	return opts, nil
}

// ApplySarama sets TLS, SASL and the producer's compression on a sarama
// config (goka's client). Brokers are passed to goka separately
// (Config.Brokers).
func (c Config) ApplySarama(sc *sarama.Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	sc.Producer.Compression = c.saramaCompression()
	tc, err := c.TLSConfig()
	if err != nil {
		return err
	}
	if tc != nil {
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tc
	}
	if c.usesSASL() {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Handshake = true
		sc.Net.SASL.User = c.SASLUsername
		sc.Net.SASL.Password = c.SASLPassword
		switch c.mechanism() {
		case MechPlain:
			sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case MechScramSHA256:
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newScramClient(scram256) }
		case MechScramSHA512:
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newScramClient(scram512) }
		}
	}
	return nil
}

// String describes the settings without secrets.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "brokers=%s protocol=%s", strings.Join(c.Brokers, ","), c.protocol())
	if c.usesSASL() {
		fmt.Fprintf(&b, " sasl=%s user=%s password=%s", c.mechanism(), c.SASLUsername, redact(c.SASLPassword))
	}
	fmt.Fprintf(&b, " compression=%s registry=%s", c.compression(), redactURL(c.RegistryURL))
	if c.RegistryUsername != "" {
		fmt.Fprintf(&b, " registry-user=%s registry-password=%s", c.RegistryUsername, redact(c.RegistryPassword))
	}
	return b.String()
}

// redactURL hides the password of a URL with user info
// (https://user:password@host), which HTTP clients turn into basic auth.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return "[unparsable URL redacted]"
		}
		return s
	}
	return u.Redacted()
}

func redact(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}
