package fault

import (
	"sync"
	"time"
)

// Barrier forces an interleaving: it holds the first n callers of Wait until all n have arrived, then lets them go
// together ("both read, then both write"). A limit bounds the hold, so code that cannot reach the barrier twice (a
// version that takes a lock first, say) is slowed down, never hung. A Barrier is safe for concurrent use.
type Barrier struct {
	n      int
	limit  time.Duration
	onOpen func()

	mu      sync.Mutex
	arrived int
	open    chan struct{}
}

// NewBarrier returns a barrier for n callers, holding each at most limit. onOpen, if not nil, is called once, by
// the nth caller, as the barrier opens (to write a timeline line, say).
func NewBarrier(n int, limit time.Duration, onOpen func()) *Barrier {
	return &Barrier{n: n, limit: limit, onOpen: onOpen, open: make(chan struct{})}
}

// Wait arrives at the barrier and blocks until all n have arrived (true) or the limit passes (false). Callers after
// the nth pass at once.
func (b *Barrier) Wait() bool {
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.open)
		if b.onOpen != nil {
			b.onOpen()
		}
	}
	b.mu.Unlock()
	select {
	case <-b.open:
		return true
	case <-time.After(b.limit):
		return false
	}
}

// Arrived reports how many callers have reached the barrier.
func (b *Barrier) Arrived() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.arrived
}

// Full reports whether all n have arrived.
func (b *Barrier) Full() bool { return b.Arrived() >= b.n }
