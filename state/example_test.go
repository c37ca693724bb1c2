package state_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/state"
)

// A processor whose table lives in Pebble under /var/lib/app/state, and
// whose stores are checked against Kafka when they open.
func ExampleBuilder() {
	brokers := []string{"localhost:9092"}
	cl, err := state.NewKafkaChangelog(kgo.SeedBrokers(brokers...))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	g := goka.DefineGroup("counter",
		goka.Input("events", new(codec.String), func(ctx goka.Context, _ any) {
			var n int64
			if v := ctx.Value(); v != nil {
				n = v.(int64)
			}
			ctx.SetValue(n + 1)
		}),
		goka.Persist(new(codec.Int64)),
	)
	p, err := goka.NewProcessor(brokers, g, goka.WithStorageBuilder(state.Builder(state.Options{
		Dir:       "/var/lib/app/state",
		CacheSize: 128 << 20,
		Logger:    slog.Default(),
		Changelog: cl,
	})))
	if err != nil {
		panic(err)
	}
	_ = p.Run(context.Background())
}

// Using a store directly, as goka does: recover, mark recovered, serve.
func ExampleStores() {
	dir, err := os.MkdirTemp("", "state-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	stores, err := state.New(state.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	st, err := stores.Store("counter-table", 0)
	if err != nil {
		panic(err)
	}
	if err := st.Open(); err != nil {
		panic(err)
	}
	// Recovery: each changelog record, then its offset.
	for i, kv := range [][2]string{{"a", "1"}, {"b", "1"}, {"a", "2"}} {
		_ = st.Set(kv[0], []byte(kv[1]))
		_ = st.SetOffset(int64(i))
	}
	_ = st.MarkRecovered()

	v, _ := st.Get("a")
	missing, _ := st.Get("zzz")
	off, _ := st.GetOffset(-1)
	fmt.Printf("a=%s missing=%v offset=%d\n", v, missing == nil, off)

	it, _ := st.Iterator()
	for it.Next() {
		v, _ := it.Value()
		fmt.Printf("%s=%s\n", it.Key(), v)
	}
	it.Release()

	s := stores.Stats()[0]
	fmt.Println(s.Topic, s.Partition, s.Recovered, s.RecoveryWrites)
	_ = st.Close()
	// Output:
	// a=2 missing=true offset=2
	// a=2
	// b=1
	// counter-table 0 true 3
}
