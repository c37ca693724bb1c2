package state

import (
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble"
)

// pebbleLogger routes Pebble's logging (which goes to the standard library's
// log package, and whose Fatalf calls os.Exit, by default) to slog.
type pebbleLogger struct {
	log *slog.Logger
	// fatal is called after a Fatalf was logged. Pebble calls Fatalf when it
	// cannot continue (a failed WAL or MANIFEST write); the default exits
	// the process. We poison the store instead so that every later call
	// fails and the next Open rebuilds it.
	fatal func(msg string)
}

var _ pebble.Logger = pebbleLogger{}

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Info(fmt.Sprintf(format, args...), "component", "pebble")
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error("state: pebble fatal error; the store is unusable and will be rebuilt on next open",
		"component", "pebble", "err", msg)
	if l.fatal != nil {
		l.fatal(msg)
	}
}

// eventListener logs the Pebble events an operator cares about: background
// errors (corruption found by a compaction), write stalls and slow disks.
func (s *Store) eventListener() *pebble.EventListener {
	log := s.log
	return &pebble.EventListener{
		BackgroundError: func(err error) {
			log.Error("state: pebble background error", "component", "pebble", "err", err.Error())
			s.noteErr(err)
		},
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
			log.Warn("state: pebble write stall", "component", "pebble", "reason", info.Reason)
		},
		WriteStallEnd: func() {
			log.Info("state: pebble write stall ended", "component", "pebble")
		},
		DiskSlow: func(info pebble.DiskSlowInfo) {
			log.Warn("state: slow disk", "component", "pebble", "info", info.String())
		},
	}
}
