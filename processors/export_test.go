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
	MsgIdleStandby = msgIdleStandby // the log message of a member with no partition of a group
)
