//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package progress

import "os"

// tryLock is a no-op where the kit has no file lock (plan9, wasm, solaris …): a lone checker still works there.
func tryLock(*os.File) error { return nil }

func unlockFile(*os.File) error { return nil }
