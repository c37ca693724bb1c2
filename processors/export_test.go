package processors

import "github.com/turnstile-streams/turnstile/wire"

// EncodeClose is a loopback close request as a windowed group's loop topic
// carries it, for tests that inject one.
func EncodeClose(through int64) []byte {
	b, err := wire.LoopCodec{}.Encode(wire.Close{Through: through})
	if err != nil {
		panic(err)
	}
	return b
}

// Names the external tests use; production code outside the package has
// no use for them.
const (
	OutcomeApplied   = outcomeApplied   // Snapshot.Outcomes key: a reading applied to its device
	OutcomeDuplicate = outcomeDuplicate // Snapshot.Outcomes key: a duplicate reading
	OutcomeLate      = outcomeLate      // Snapshot.Outcomes key: a too-late reading
	MsgIdleStandby   = msgIdleStandby   // the log message of a member with no partition of a group
)
