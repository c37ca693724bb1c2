package processors

// EncodeClose is a loopback close request as a windowed group's loop topic
// carries it, for tests that inject one.
func EncodeClose(through int64) []byte {
	b, err := LoopCodec{}.Encode(closeMsg{Through: through})
	if err != nil {
		panic(err)
	}
	return b
}
