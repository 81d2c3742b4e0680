//go:build windows

package progress

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockBytes is the range locked: the whole (empty) lock file, as Windows locks byte ranges.
const lockBytes = 1

// tryLock takes a non-blocking exclusive LockFileEx on f.
func tryLock(f *os.File) error {
	ol := new(windows.Overlapped)
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, lockBytes, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errLocked
	}
	return err
}

func unlockFile(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, lockBytes, 0, new(windows.Overlapped))
}
