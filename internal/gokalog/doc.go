// Package gokalog is the one adapter from goka's Logger (Print, Println,
// Printf) to slog, used by the processors (goka.WithLogger) and the goka
// monitor of package httpapi (monitor.WithLogger). It imports nothing of the
// project, so any package may use it.
//
// Concurrency: a Logger is a value holding a *slog.Logger and is as safe for
// concurrent use as that logger (slog's are).
package gokalog
