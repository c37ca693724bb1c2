package state_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/lovoo/goka/storage"

	"github.com/turnstile-streams/turnstile/state"
)

// The benchmarks run the same operations on our storage and goka's default
// LevelDB storage (goka's DefaultBuilder: default LevelDB options, unsynced
// writes) in one run:
//
//	go test -run '^$' -bench . ./state/
//
// and, for a table of ours/LevelDB throughput ratios (what `make bench`
// prints):
//
//	STATE_BENCH_COMPARE=1 go test -v -run '^TestBenchCompare$' ./state/
//
// (-v: go test shows a passing test's output only with it)

const (
	benchKeys     = 100_000
	benchValueLen = 100
)

type benchImpl struct {
	name string
	open func(b testing.TB, dir string) storage.Storage
}

var benchImpls = []benchImpl{
	{"pebble", func(b testing.TB, dir string) storage.Storage {
		st, err := state.Builder(state.Options{Dir: dir})("table", 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := st.Open(); err != nil {
			b.Fatal(err)
		}
		return st
	}},
	{"leveldb", func(b testing.TB, dir string) storage.Storage {
		st, err := storage.DefaultBuilder(dir)("table", 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := st.Open(); err != nil {
			b.Fatal(err)
		}
		return st
	}},
}

func benchKey(i int) string { return fmt.Sprintf("device-%08d", i) }

func benchValue(i int) []byte {
	v := []byte(strings.Repeat("v", benchValueLen))
	copy(v, fmt.Sprint(i))
	return v
}

// randomKeys is a fixed pseudo-random sequence of key indexes.
func randomKeys(n int) []int {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]int, n)
	for i := range out {
		out[i] = r.IntN(benchKeys)
	}
	return out
}

// loaded opens a recovered storage holding every benchmark key.
func loaded(b testing.TB, im benchImpl) storage.Storage {
	st := im.open(b, b.TempDir())
	for i := 0; i < benchKeys; i++ {
		if err := st.Set(benchKey(i), benchValue(i)); err != nil {
			b.Fatal(err)
		}
		if err := st.SetOffset(int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.MarkRecovered(); err != nil {
		b.Fatal(err)
	}
	return st
}

func closeBench(b testing.TB, st storage.Storage) {
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
}

// benchRecovery: a changelog replay as goka does it (Set then SetOffset per
// record), then MarkRecovered, into an empty store.
func benchRecovery(b *testing.B, im benchImpl) {
	keys := randomKeys(b.N)
	val := benchValue(0)
	st := im.open(b, b.TempDir())
	b.SetBytes(int64(len(benchKey(0)) + benchValueLen))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := st.Set(benchKey(keys[i]), val); err != nil {
			b.Fatal(err)
		}
		if err := st.SetOffset(int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.MarkRecovered(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	closeBench(b, st)
}

// benchSet: a running processor's table write (Set, then SetOffset as the
// changelog acknowledges it).
func benchSet(b *testing.B, im benchImpl) {
	keys := randomKeys(b.N)
	val := benchValue(0)
	st := im.open(b, b.TempDir())
	if err := st.MarkRecovered(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchKey(0)) + benchValueLen))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := st.Set(benchKey(keys[i]), val); err != nil {
			b.Fatal(err)
		}
		if err := st.SetOffset(int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
	closeBench(b, st)
}

// benchGet: random point reads of existing keys.
func benchGet(b *testing.B, im benchImpl) {
	st := loaded(b, im)
	keys := randomKeys(b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := st.Get(benchKey(keys[i]))
		if err != nil || v == nil {
			b.Fatalf("get: %q, %v", v, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	closeBench(b, st)
}

// benchIterate: full scans; one op is one key.
func benchIterate(b *testing.B, im benchImpl) {
	st := loaded(b, im)
	b.ResetTimer()
	n := 0
	for n < b.N {
		it, err := st.Iterator()
		if err != nil {
			b.Fatal(err)
		}
		for n < b.N && it.Next() {
			if _, err := it.Value(); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := it.Err(); err != nil {
			b.Fatal(err)
		}
		it.Release()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
	closeBench(b, st)
}

var benchmarks = []struct {
	name string
	fn   func(*testing.B, benchImpl)
}{
	{"Recovery", benchRecovery},
	{"Set", benchSet},
	{"Get", benchGet},
	{"Iterate", benchIterate},
}

func BenchmarkStorage(b *testing.B) {
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			for _, im := range benchImpls {
				b.Run(im.name, func(b *testing.B) { bm.fn(b, im) })
			}
		})
	}
}

// TestBenchCompare runs the benchmarks and prints ours/LevelDB throughput
// ratios. It runs only with STATE_BENCH_COMPARE=1, and fails when ours is
// not ahead on writes and recovery.
func TestBenchCompare(t *testing.T) {
	if os.Getenv("STATE_BENCH_COMPARE") == "" {
		t.Skip("set STATE_BENCH_COMPARE=1 to run the storage benchmarks")
	}
	fmt.Printf("%-10s %14s %14s %8s\n", "benchmark", "pebble op/s", "leveldb op/s", "ratio")
	for _, bm := range benchmarks {
		var ops [2]float64
		for i, im := range benchImpls {
			r := testing.Benchmark(func(b *testing.B) { bm.fn(b, im) })
			if r.N == 0 {
				t.Fatalf("%s/%s did not run", bm.name, im.name)
			}
			ops[i] = float64(r.N) / r.T.Seconds()
		}
		ratio := ops[0] / ops[1]
		fmt.Printf("%-10s %14.0f %14.0f %7.2fx\n", bm.name, ops[0], ops[1], ratio)
		if (bm.name == "Recovery" || bm.name == "Set") && ratio <= 1 {
			t.Errorf("%s: ours is not faster than LevelDB (%.2fx)", bm.name, ratio)
		}
	}
}
