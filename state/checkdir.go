package state

import (
	"fmt"
	"os"
)

// CheckDir makes sure dir can hold stores before anything depends on it:
// it creates dir (and its parents) and creates and removes a probe file in
// it. A member calls it before it joins a consumer group, so that a state
// directory it cannot write (a file, a read-only mount, another user's
// directory) stops it at once with the path and the cause, instead of
// failing in every partition it is assigned, rebalance after rebalance.
func CheckDir(dir string) error {
	if dir == "" {
		return fmt.Errorf("state: no state directory given")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("state: cannot use %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("state: cannot write in %s: %w", dir, err)
	}
	name := f.Name()
	werr := f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("state: cannot remove files in %s: %w", dir, err)
	}
	if werr != nil {
		return fmt.Errorf("state: cannot write in %s: %w", dir, werr)
	}
	return nil
}
