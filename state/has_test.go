package state

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble"

	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestStoreHas checks Has against Get and against where the answer comes
// from: a key in the value cache is answered from the cache (even when
// Pebble, written behind the store's back, no longer has it), any other key
// from Pebble, including recovery writes not yet committed.
func TestStoreHas(t *testing.T) {
	const key = "CA|UNIT|SCP"
	set := func(t *testing.T, st *Store, k string, v []byte) {
		t.Helper()
		if err := st.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	del := func(t *testing.T, st *Store, k string) {
		t.Helper()
		if err := st.Delete(k); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name      string
		cacheSize int64 // 0 default, negative disables the value cache
		// prep writes to the recovered store it is given and returns the
		// store to ask (the same one, or a reopened one).
		prep       func(t *testing.T, st *Store, reopen func() *Store) *Store
		want       bool
		wantValue  string
		wantCached bool // the key is in the value cache when Has is asked
		wantErr    error
	}{
		{
			name: "set, cached",
			prep: func(t *testing.T, st *Store, _ func() *Store) *Store {
				set(t, st, key, []byte("v1"))
				return st
			},
			want: true, wantValue: "v1", wantCached: true,
		},
		{
			// Only the cache still has the key: Has must answer from it
			// (as Get does) rather than from Pebble.
			name: "set, answered from the cache",
			prep: func(t *testing.T, st *Store, _ func() *Store) *Store {
				set(t, st, key, []byte("v1"))
				if err := st.db.Delete(dataKey(key), pebble.NoSync); err != nil {
					t.Fatal(err)
				}
				return st
			},
			want: true, wantValue: "v1", wantCached: true,
		},
		{
			name: "set, only in pebble after reopen",
			prep: func(t *testing.T, st *Store, reopen func() *Store) *Store {
				set(t, st, key, []byte("v1"))
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				return reopen()
			},
			want: true, wantValue: "v1",
		},
		{
			name:      "set, only in pebble with the cache disabled",
			cacheSize: -1,
			prep: func(t *testing.T, st *Store, _ func() *Store) *Store {
				set(t, st, key, []byte("v1"))
				return st
			},
			want: true, wantValue: "v1",
		},
		{
			// goka's LevelDB storage stores nil as empty: the key exists.
			name: "set to an empty value",
			prep: func(t *testing.T, st *Store, _ func() *Store) *Store {
				set(t, st, key, nil)
				return st
			},
			want: true, wantValue: "", wantCached: true,
		},
		{
			name: "recovery write not yet committed",
			prep: func(t *testing.T, st *Store, reopen func() *Store) *Store {
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				st = reopen()
				st.wmu.Lock()
				recovering := st.batch != nil
				st.wmu.Unlock()
				if !recovering {
					t.Fatal("reopened store is not recovering")
				}
				set(t, st, key, []byte("v1"))
				return st
			},
			want: true, wantValue: "v1",
		},
		{
			name: "deleted",
			prep: func(t *testing.T, st *Store, _ func() *Store) *Store {
				set(t, st, key, []byte("v1"))
				set(t, st, "other", []byte("v2"))
				del(t, st, key)
				return st
			},
		},
		{
			name:      "deleted with the cache disabled",
			cacheSize: -1,
			prep: func(t *testing.T, st *Store, _ func() *Store) *Store {
				set(t, st, key, []byte("v1"))
				del(t, st, key)
				return st
			},
		},
		{
			name: "deleted, then reopened",
			prep: func(t *testing.T, st *Store, reopen func() *Store) *Store {
				set(t, st, key, []byte("v1"))
				del(t, st, key)
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				return reopen()
			},
		},
		{
			name: "missing",
			prep: func(t *testing.T, st *Store, _ func() *Store) *Store {
				set(t, st, "other", []byte("v2"))
				return st
			},
		},
		{
			name: "closed store",
			prep: func(t *testing.T, st *Store, _ func() *Store) *Store {
				set(t, st, key, []byte("v1"))
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				return st
			},
			wantErr: ErrClosed,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Dir: t.TempDir(), ValueCacheSize: tc.cacheSize, Logger: testenv.Logger(t)}
			var opened []*Store
			t.Cleanup(func() {
				for _, st := range opened {
					_ = st.Close()
				}
			})
			open := func() *Store {
				t.Helper()
				st := openTestStore(t, opts)
				opened = append(opened, st)
				return st
			}
			st := open()
			if err := st.MarkRecovered(); err != nil {
				t.Fatal(err)
			}
			st = tc.prep(t, st, open)

			_, _, cached := st.cache.get(key)
			if cached != tc.wantCached {
				t.Fatalf("key in the value cache: %v, the case needs %v", cached, tc.wantCached)
			}
			has, err := st.Has(key)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Has = %v, %v; want error %v", has, err, tc.wantErr)
				}
				if _, err := st.Get(key); !errors.Is(err, tc.wantErr) {
					t.Fatalf("Get error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if has != tc.want {
				t.Fatalf("Has = %v, want %v", has, tc.want)
			}
			got, err := st.Get(key)
			if err != nil {
				t.Fatal(err)
			}
			if (got != nil) != has || string(got) != tc.wantValue {
				t.Fatalf("Get = %q (nil %v) disagrees with Has = %v / want %q", got, got == nil, has, tc.wantValue)
			}
			// Asking again (Get may have filled the cache) changes nothing.
			if again, err := st.Has(key); err != nil || again != has {
				t.Fatalf("second Has = %v, %v; first %v", again, err, has)
			}
		})
	}
}
