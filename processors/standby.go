package processors

import (
	"log/slog"

	"github.com/lovoo/goka"
)

// msgIdleStandby is logged (info level, with the group) each time a
// rebalance leaves this member without partitions of a group: there are
// more members than partitions, and this one waits to take over.
const msgIdleStandby = "idle standby: no partitions assigned in this group (more members than partitions); taking over when a member leaves"

// logStandby wraps a goka rebalance callback so that a generation without
// partitions is logged as idle standby; goka itself only mentions it in a
// debug line. goka calls it from the processor's Setup, one generation at a
// time.
func logStandby(log *slog.Logger, group string, next goka.RebalanceCallback) goka.RebalanceCallback {
	return func(a goka.Assignment) {
		if len(a) == 0 {
			log.Info(msgIdleStandby, "group", group)
		}
		if next != nil {
			next(a)
		}
	}
}
