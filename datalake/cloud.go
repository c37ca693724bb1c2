//go:build lakecloud

package datalake

// The s3:// and gs:// drivers, linked only with -tags lakecloud: they add
// about 45 MB and some 45 modules to the binary.
import (
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
)
