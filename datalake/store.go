package datalake

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// URLs
	_ "gocloud.dev/blob/memblob"  // mem:// URLs (tests, dry runs)
	"gocloud.dev/gcerrors"
)

// Store is where a lake lives: a local directory or a gocloud.dev/blob
// bucket. Every file appears atomically: a local file is written under a
// hidden temporary name, fsynced, renamed into place and its directory
// fsynced; an object is committed by the blob writer's Close (S3
// PutObject or CompleteMultipartUpload, a GCS upload's finalization: an
// object store shows the whole object or none of it, and has no rename);
// for fileblob the temporary file is fsynced before that. A failed or
// cancelled write leaves no file under the final name.
//
// Moving a staged file to its final key (publish) is a rename on a
// directory and a server-side copy then a delete on a bucket; the copy,
// too, appears whole or not at all.
//
// A Store is safe for concurrent use.
type Store struct {
	b        backend
	location string
	owned    *blob.Bucket // closed by Close
}

// object is one listed file.
type object struct {
	Key  string
	Size int64
}

// backend is what the lake needs from a storage system. Keys use "/".
type backend interface {
	// put writes key atomically with what write produces.
	put(ctx context.Context, key string, write func(io.Writer) error) error
	// list returns every object whose key starts with prefix, recursively,
	// sorted by key; temporary files included.
	list(ctx context.Context, prefix string) ([]object, error)
	// read returns an object's content; errors wrap fs.ErrNotExist when it
	// does not exist.
	read(ctx context.Context, key string) ([]byte, error)
	// remove deletes key; a missing key is not an error.
	remove(ctx context.Context, key string) error
	// publish makes to appear atomically with from's content, then
	// deletes from. A crash in between can leave both (never neither).
	publish(ctx context.Context, from, to string) error
	// exists reports whether key exists.
	exists(ctx context.Context, key string) (bool, error)
}

// Open opens the lake at location:
//
//   - a plain path ("./lake", "/var/lake"): a local directory, created if
//     missing, written with fsync + rename;
//   - a gocloud.dev/blob URL: "file:///path" (fileblob; the query
//     parameters metadata=skip and no_tmp_dir=true are added unless given,
//     so no .attrs sidecar files appear and temporary files stay on the
//     lake's file system), "mem://" (memblob), "s3://bucket/prefix"
//     (s3blob: AWS credentials from the environment; endpoint=,
//     region= and use_path_style=true reach MinIO and other S3-compatible
//     stores) and "gs://bucket/prefix" (gcsblob: Google application
//     default credentials; STORAGE_EMULATOR_HOST reaches an emulator). A
//     path after the bucket becomes the key prefix.
func Open(ctx context.Context, location string) (*Store, error) {
	if location == "" {
		return nil, errors.New("datalake: empty lake location")
	}
	if !strings.Contains(location, "://") {
		dir, err := filepath.Abs(location)
		if err != nil {
			return nil, fmt.Errorf("datalake: %s: %w", location, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("datalake: %w", err)
		}
		return &Store{b: &localStore{dir: dir}, location: dir}, nil
	}
	u, err := url.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("datalake: lake URL %q: %w", location, err)
	}
	q := u.Query()
	var prefix string
	switch u.Scheme {
	case "file":
		for k, v := range map[string]string{"metadata": "skip", "no_tmp_dir": "true", "create_dir": "true"} {
			if !q.Has(k) {
				q.Set(k, v)
			}
		}
	default:
		prefix = strings.Trim(u.Path, "/")
		u.Path = ""
		if prefix != "" && q.Get("prefix") != "" {
			return nil, fmt.Errorf("datalake: lake URL %q has both a path and a prefix parameter", location)
		}
	}
	u.RawQuery = q.Encode()
	if !blob.DefaultURLMux().ValidBucketScheme(u.Scheme) {
		return nil, fmt.Errorf("datalake: %s: no %s:// driver (file://, mem://, s3:// and gs:// are known)", location, u.Scheme)
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("datalake: open %s: %w", location, err)
	}
	if prefix != "" {
		b = blob.PrefixedBucket(b, prefix+"/")
	}
	s := NewBucketStore(b)
	s.location, s.owned = location, b
	return s, nil
}

// NewBucketStore returns a Store over an open bucket. Closing the Store
// does not close the bucket.
func NewBucketStore(b *blob.Bucket) *Store {
	var fi os.FileInfo
	return &Store{b: &blobStore{b: b, fileblob: b.As(&fi)}, location: "bucket"}
}

// Location returns where the store is: the absolute directory or the URL.
func (s *Store) Location() string { return s.location }

// Close releases a bucket opened by Open.
func (s *Store) Close() error {
	if s.owned != nil {
		if err := s.owned.Close(); err != nil {
			return fmt.Errorf("datalake: close %s: %w", s.location, err)
		}
	}
	return nil
}

func (s *Store) put(ctx context.Context, key string, write func(io.Writer) error) error {
	if err := s.b.put(ctx, key, write); err != nil {
		return fmt.Errorf("datalake: write %s: %w", key, err)
	}
	return nil
}

func (s *Store) list(ctx context.Context, prefix string) ([]object, error) {
	objs, err := s.b.list(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("datalake: list %s: %w", prefix, err)
	}
	return objs, nil
}

func (s *Store) read(ctx context.Context, key string) ([]byte, error) {
	b, err := s.b.read(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("datalake: read %s: %w", key, err)
	}
	return b, nil
}

func (s *Store) remove(ctx context.Context, key string) error {
	if err := s.b.remove(ctx, key); err != nil {
		return fmt.Errorf("datalake: delete %s: %w", key, err)
	}
	return nil
}

func (s *Store) publish(ctx context.Context, from, to string) error {
	if err := s.b.publish(ctx, from, to); err != nil {
		return fmt.Errorf("datalake: publish %s as %s: %w", from, to, err)
	}
	return nil
}

func (s *Store) exists(ctx context.Context, key string) (bool, error) {
	ok, err := s.b.exists(ctx, key)
	if err != nil {
		return false, fmt.Errorf("datalake: stat %s: %w", key, err)
	}
	return ok, nil
}

// fileBuffers keeps the write buffers of local files between files: a
// flush writes dozens of files, each a few tens of kilobytes.
var fileBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 256<<10) }}

// localStore keeps the lake in a directory.
type localStore struct{ dir string }

func (l *localStore) path(key string) string { return filepath.Join(l.dir, filepath.FromSlash(key)) }

func (l *localStore) put(ctx context.Context, key string, write func(io.Writer) error) (err error) {
	final := l.path(key)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+filepath.Base(final)+tempSuffix+"-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	bw := fileBuffers.Get().(*bufio.Writer)
	bw.Reset(f)
	defer func() { bw.Reset(nil); fileBuffers.Put(bw) }()
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

func (l *localStore) list(ctx context.Context, prefix string) ([]object, error) {
	// Walk from the deepest directory the prefix names.
	root := l.dir
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		root = l.path(prefix[:i])
	}
	var out []object
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(l.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if p != root && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted while we walked
			}
			return err
		}
		out = append(out, object{Key: key, Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (l *localStore) read(_ context.Context, key string) ([]byte, error) {
	return os.ReadFile(l.path(key))
}

func (l *localStore) remove(_ context.Context, key string) error {
	p := l.path(key)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(p))
}

func (l *localStore) publish(_ context.Context, from, to string) error {
	dst := l.path(to)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Rename(l.path(from), dst); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return err
	}
	return syncDir(filepath.Dir(l.path(from)))
}

func (l *localStore) exists(_ context.Context, key string) (bool, error) {
	_, err := os.Stat(l.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// blobStore keeps the lake in a gocloud.dev/blob bucket.
type blobStore struct {
	b        *blob.Bucket
	fileblob bool // a file:// bucket: publish rewrites instead of copying
}

func (s *blobStore) put(ctx context.Context, key string, write func(io.Writer) error) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var file *os.File // fileblob's temporary file, to fsync before the rename
	w, err := s.b.NewWriter(wctx, key, &blob.WriterOptions{
		ContentType: contentType(key),
		BeforeWrite: func(as func(any) bool) error {
			as(&file)
			return nil
		},
	})
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	if err := write(bw); err != nil {
		cancel() // aborts the upload: nothing appears under key
		_ = w.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		cancel()
		_ = w.Close()
		return err
	}
	if file != nil {
		if err := file.Sync(); err != nil {
			cancel()
			_ = w.Close()
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if file != nil {
		// fileblob renamed the temporary file next to the final one
		// (no_tmp_dir); make the rename durable.
		return syncDir(filepath.Dir(file.Name()))
	}
	return nil
}

func contentType(key string) string {
	switch {
	case strings.HasSuffix(key, ExtCSV):
		return "application/gzip"
	case strings.HasSuffix(key, extJSON):
		return "application/json"
	case strings.HasSuffix(key, extRejected):
		return "application/x-ndjson"
	default:
		return "application/octet-stream"
	}
}

func (s *blobStore) list(ctx context.Context, prefix string) ([]object, error) {
	it := s.b.List(&blob.ListOptions{Prefix: prefix})
	var out []object
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if o.IsDir {
			continue
		}
		out = append(out, object{Key: o.Key, Size: o.Size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (s *blobStore) read(ctx context.Context, key string) ([]byte, error) {
	b, err := s.b.ReadAll(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return b, err
}

func (s *blobStore) remove(ctx context.Context, key string) error {
	err := s.b.Delete(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil
	}
	return err
}

// publish copies server-side (S3 CopyObject, a GCS rewrite; the copy
// appears whole or not at all), then deletes the source. fileblob's Copy
// does not fsync, so a file:// bucket rewrites the content through put,
// which does.
func (s *blobStore) publish(ctx context.Context, from, to string) error {
	if s.fileblob {
		data, err := s.read(ctx, from)
		if err != nil {
			return err
		}
		if err := s.put(ctx, to, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
			return err
		}
	} else if err := s.b.Copy(ctx, to, from, nil); err != nil {
		return err
	}
	return s.remove(ctx, from)
}

func (s *blobStore) exists(ctx context.Context, key string) (bool, error) {
	return s.b.Exists(ctx, key)
}
