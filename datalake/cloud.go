package datalake

// The s3:// and gs:// drivers are always linked: the binary that writes the
// lake can write it to a bucket. They add about 29 MB (stripped) and 46
// modules to cmd/turnstile; see doc.go.
import (
	_ "gocloud.dev/blob/gcsblob" // gs:// URLs (STORAGE_EMULATOR_HOST for an emulator)
	_ "gocloud.dev/blob/s3blob"  // s3:// URLs (endpoint=, use_path_style= for MinIO and other S3-compatible stores)
)
