// Command recordgen writes the code that the sink records' one Go
// declaration (schemas.DeviceWindow, schemas.StationWindow, with avro
// tags naming their Avro fields) implies elsewhere: the goavro native form
// and the field setters of the window codecs (codecs/window_gen.go), the
// JSON form the dashboard serves (dashboard/window_gen.go), and the lake's
// CSV columns and Parquet rows (datalake/window_gen.go). It first checks
// each declaration against its Avro schema (schemas/avro/*.avsc): every
// Avro field has a Go field of a compatible type and every Go field an
// Avro field.
//
// Run it with go generate in schemas (//go:generate in schemas/types.go),
// or from the repository root:
//
//	go run ./schemas/internal/recordgen -root .
//
// A test in this directory fails when the checked-in files differ from
// what it writes.
//
// Concurrency: a command that runs once, in one goroutine; generate and
// fieldsOf share nothing and may be called from tests in parallel.
package main
