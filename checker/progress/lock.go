package progress

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Backoff of the lock wait: the first retry comes quickly, later ones less often.
const (
	lockFirstRetry = 2 * time.Millisecond
	lockMaxRetry   = 50 * time.Millisecond
)

// errLocked is returned by tryLock when another process holds the lock.
var errLocked = errors.New("locked by another process")

// lockFile takes an exclusive lock on the file at path (created if missing), waiting at most timeout for another
// holder, and returns the function that releases it. The operating system releases the lock when the process dies,
// so a killed checker never leaves a stale lock behind.
func lockFile(path string, timeout time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	deadline := time.Now().Add(timeout)
	wait := lockFirstRetry
	for {
		err := tryLock(f)
		if err == nil {
			return func() {
				_ = unlockFile(f)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, errLocked) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: another checker has held it for more than %s", path, timeout)
		}
		time.Sleep(wait)
		wait = min(2*wait, lockMaxRetry)
	}
}
