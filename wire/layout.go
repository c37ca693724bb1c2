package wire

import (
	"errors"
	"fmt"
)

// ErrTwoStageLayout says a table value was written by the two-stage
// pipeline (a device stage keyed by CA|UNIT|SCP feeding a station stage
// through turnstile-station-updates): its keys and layouts are not this
// version's, and the two must not be mixed. A member refuses to start over
// such a table; turnstile replay rebuilds it as a new generation.
var ErrTwoStageLayout = errors.New("wire: the table holds the two-stage pipeline's layout")

// CheckLayout says whether value (a windowed-stage table record; nil for a
// tombstone) has a layout this version reads: nil, ErrTwoStageLayout for
// one written before one windowed stage (device values of layout 1,
// partition metadata of layouts 1 to 3, station values), or ErrCorrupt for
// anything else. It reads the tag and layout bytes only.
func CheckLayout(value []byte) error {
	if value == nil {
		return nil
	}
	if len(value) < 2 {
		return fmt.Errorf("wire: %w: %d-byte table value", ErrCorrupt, len(value))
	}
	tag, version := value[0], value[1]
	switch {
	case tag == TagDevice && version == deviceVersion, tag == TagPartition && version == metaVersion:
		return nil
	case tag == TagDevice && version == 1, tag == TagPartition && version >= 1 && version < metaVersion, tag == tagStation:
		return fmt.Errorf("%w (tag %d, layout %d)", ErrTwoStageLayout, tag, version)
	}
	return fmt.Errorf("wire: %w: table value tag %d layout %d", ErrCorrupt, tag, version)
}

// tagStation tagged the two-stage pipeline's station values; it is only
// recognised, never written.
const tagStation byte = 3
