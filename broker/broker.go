package broker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config says how to run the embedded broker. The zero value is an in-memory
// broker on an ephemeral loopback port.
type Config struct {
	// Addr is the host:port to listen on, for example "127.0.0.1:9092".
	// Port 0 picks a free port (see Broker.Addr). The host is also the
	// address advertised to clients in metadata responses unless
	// AdvertisedHost is set.
	Addr string
	// AdvertisedHost, when set, is the host clients are told to connect to
	// (useful when listening on 0.0.0.0).
	AdvertisedHost string
	// DataDir persists the broker's state; empty keeps everything in memory
	// and loses it on Close.
	DataDir string
	// SyncWrites fsyncs every produced batch (slower, survives power loss).
	SyncWrites bool
	// AutoCreateTopics lets metadata requests create missing topics. Off by
	// default: the pipeline creates its topics with explicit partition
	// counts and configs, and a typo in a topic name should fail loudly.
	AutoCreateTopics bool
	// DefaultPartitions is used for auto-created topics and CreateTopics
	// requests with -1 partitions. Zero means 6.
	DefaultPartitions int
	// SASL users; enabling any turns SASL authentication on.
	Users []User
	// TLS, when non-nil, serves Kafka over TLS.
	TLS *tls.Config
	// GroupMinSessionTimeout is the shortest session timeout a consumer
	// group member may ask for (Kafka's group.min.session.timeout.ms).
	// Zero keeps the broker's default, Kafka's 6 s.
	GroupMinSessionTimeout time.Duration
	// Logger receives the broker's warnings and errors; nil discards them.
	Logger *slog.Logger
}

// Defaults fills zero fields (DefaultPartitions also when negative): an
// ephemeral loopback port, 6 partitions.
func (c *Config) Defaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.DefaultPartitions <= 0 {
		c.DefaultPartitions = 6
	}
}

// User is a SASL user of the embedded broker.
type User struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string
	Name      string
	Password  string
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	once    sync.Once
}

// Start starts the broker. It returns once the broker accepts connections.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	cfg.Defaults()
	addr := cfg.Addr
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen address %q: %w", addr, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(cfg.DefaultPartitions),
		// A fresh id per new data directory, like a real cluster: kfake
		// reloads the persisted id on restart, so it only changes when the
		// broker's data is wiped, which is how local state detects that its
		// changelog no longer exists.
		kfake.ClusterID("turnstile-" + rand.Text()),
		kfake.WithLogger(slogAdapter{cfg.Logger}),
		// kfake always asks to listen on 127.0.0.1:<port>; we listen where
		// the user asked instead.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, addr)
			if err != nil {
				return nil, err
			}
			if cfg.AdvertisedHost != "" {
				return advertised{ln, cfg.AdvertisedHost}, nil
			}
			return ln, nil
		}),
	}
	if cfg.GroupMinSessionTimeout > 0 {
		opts = append(opts, kfake.GroupMinSessionTimeout(cfg.GroupMinSessionTimeout))
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("broker: data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		if cfg.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	if cfg.AutoCreateTopics {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if len(cfg.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range cfg.Users {
			opts = append(opts, kfake.Superuser(u.Mechanism, u.Name, u.Password))
		}
	}
	if cfg.TLS != nil {
		opts = append(opts, kfake.TLS(cfg.TLS))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("broker: start on %s (data dir %q): %w", addr, cfg.DataDir, err)
	}
	addrs := c.ListenAddrs()
	b := &Broker{cluster: c, addr: addrs[0]}
	if cfg.AdvertisedHost == "" && host != "" {
		// Report the address clients should dial.
		_, port, _ := net.SplitHostPort(addrs[0])
		b.addr = net.JoinHostPort(host, port)
	}
	return b, nil
}

// Addr is the host:port clients bootstrap from.
func (b *Broker) Addr() string { return b.addr }

// Cluster exposes the underlying kfake cluster for tests (compaction on
// demand, fault injection).
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

// Close stops the broker and, with a data directory, flushes its state to
// disk. It is safe to call more than once.
func (b *Broker) Close() {
	b.once.Do(b.cluster.Close)
}

// DataDirFor returns the broker directory inside a turnstile data directory.
func DataDirFor(dataDir string) string { return filepath.Join(dataDir, "kafka") }

// advertised reports a different host in Addr, which kfake uses for the
// metadata it hands to clients.
type advertised struct {
	net.Listener
	host string
}

func (a advertised) Addr() net.Addr { return advertisedAddr{a.Listener.Addr(), a.host} }

type advertisedAddr struct {
	net.Addr
	host string
}

func (a advertisedAddr) String() string {
	_, port, _ := net.SplitHostPort(a.Addr.String())
	return net.JoinHostPort(a.host, port)
}

// slogAdapter routes kfake's log lines to slog.
type slogAdapter struct{ l *slog.Logger }

func (s slogAdapter) Logf(level kfake.LogLevel, format string, args ...any) {
	if s.l == nil || level == kfake.LogLevelNone {
		return
	}
	var lvl slog.Level
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	case kfake.LogLevelInfo:
		lvl = slog.LevelDebug // kfake logs every request at info
	default:
		lvl = slog.LevelDebug - 4
	}
	ctx := context.Background()
	if !s.l.Enabled(ctx, lvl) {
		return
	}
	s.l.Log(ctx, lvl, fmt.Sprintf(format, args...), "component", "broker")
}
