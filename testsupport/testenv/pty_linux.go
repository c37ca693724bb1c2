//go:build linux

package testenv

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// PTY opens a pseudo-terminal pair of width×height cells, closed when the
// test ends: tty is the terminal side a program writes to (a terminal for
// term.IsTerminal, with that size), ptmx the side a terminal emulator
// reads. It skips the test where the system has no pseudo-terminals.
func PTY(t testing.TB, width, height int) (tty, ptmx *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("testenv: no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("testenv: unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("testenv: ptsname: %v", e)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("testenv: open the terminal side: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	ws := struct{ row, col, x, y uint16 }{uint16(height), uint16(width), 0, 0}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, tty.Fd(), syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws))); e != 0 {
		t.Fatalf("testenv: set the window size: %v", e)
	}
	return tty, ptmx
}
