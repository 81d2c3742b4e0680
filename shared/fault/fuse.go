package fault

import "sync"

// Fuse is shared by all the proxies of one process (its broker link and its database link). While it holds, bytes
// cross; once it blows, nothing crosses any of them again, in either direction: the process is frozen, as if it and
// its network died at that instant. Blowing waits for a forward in progress to finish, so every message is either
// wholly before the freeze or not forwarded at all. A Fuse is safe for concurrent use; a nil *Fuse never blows.
type Fuse struct {
	mu     sync.RWMutex
	blown  bool
	reason string
	onBlow func(reason string)
	done   chan struct{}
}

// NewFuse returns an intact fuse. onBlow, if not nil, is called once, by whoever blew it, just after it blew (the
// harness kills the process there).
func NewFuse(onBlow func(reason string)) *Fuse {
	return &Fuse{onBlow: onBlow, done: make(chan struct{})}
}

// Blow freezes every link through the fuse and reports whether this call blew it (false: it had already blown).
func (f *Fuse) Blow(reason string) bool {
	blew, _ := f.passThenBlow(func() error { return nil }, reason)
	return blew
}

// Blown reports whether the fuse has blown.
func (f *Fuse) Blown() bool {
	if f == nil {
		return false
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.blown
}

// Reason is what the fuse was blown for ("" while it holds).
func (f *Fuse) Reason() string {
	if f == nil {
		return ""
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.reason
}

// Done is closed when the fuse blows (a nil Fuse's never is).
func (f *Fuse) Done() <-chan struct{} {
	if f == nil {
		return nil
	}
	return f.done
}

// pass runs forward (one write of a link) unless the fuse has blown, and reports whether it ran.
func (f *Fuse) pass(forward func() error) (bool, error) {
	if f == nil {
		return true, forward()
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.blown {
		return false, nil
	}
	return true, forward()
}

// passThenBlow runs forward and blows the fuse with nothing else crossing in between; it does nothing if the fuse
// has already blown. It reports whether it blew the fuse.
func (f *Fuse) passThenBlow(forward func() error, reason string) (bool, error) {
	if f == nil {
		return false, forward()
	}
	f.mu.Lock()
	if f.blown {
		f.mu.Unlock()
		return false, nil
	}
	err := forward()
	f.blown, f.reason = true, reason
	close(f.done)
	f.mu.Unlock()
	if f.onBlow != nil {
		f.onBlow(reason)
	}
	return true, err
}
