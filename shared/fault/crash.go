package fault

import (
	"runtime"
	"sync"
)

// Crash point names used across the labs. Lab code calls Points.At with one of these where a real process could die.
const (
	AfterReceive  = "after-receive"  // a message was received, nothing done yet
	BeforeAck     = "before-ack"     // the work is done, the ack not yet sent
	BeforeCommit  = "before-commit"  // inside the transaction, not yet committed
	AfterCommit   = "after-commit"   // the transaction committed, the message not yet acked
	AfterPublish  = "after-publish"  // a message was published (and confirmed), the follow-up not yet done
	BeforePublish = "before-publish" // about to publish
)

// Points are the named places where one process may be made to die. The zero value and a nil *Points never crash,
// so lab code can call At unconditionally. Points are safe for concurrent use.
type Points struct {
	mu      sync.Mutex
	armed   map[string]int // point → hits left before it fires (1 = the next hit)
	hits    map[string]int
	onCrash func(point string)
	fired   chan struct{}
	once    sync.Once
}

// NewPoints returns Points that call die when an armed point is reached. die must make the process's connections
// vanish (the harness cuts its proxies); At then stops the calling goroutine.
func NewPoints(die func(point string)) *Points {
	return &Points{armed: map[string]int{}, hits: map[string]int{}, onCrash: die, fired: make(chan struct{})}
}

// Arm makes the next visit of point crash the process.
func (p *Points) Arm(point string) { p.ArmNth(point, 1) }

// ArmNth makes the nth visit of point (counting from now, 1 = next) crash the process.
func (p *Points) ArmNth(point string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed[point] = n
}

// At is called by lab code at a named place. If the point is armed and due, the process dies here: its connections
// are cut (no ack reaches the broker, the open transaction rolls back) and the calling goroutine stops, running its
// deferred calls against connections that are already gone. Otherwise At returns at once.
func (p *Points) At(point string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.hits[point]++
	left, armed := p.armed[point]
	fire := false
	if armed {
		left--
		if left <= 0 {
			delete(p.armed, point)
			fire = true
		} else {
			p.armed[point] = left
		}
	}
	p.mu.Unlock()
	if !fire {
		return
	}
	p.once.Do(func() {
		if p.onCrash != nil {
			p.onCrash(point)
		}
		close(p.fired)
	})
	runtime.Goexit()
}

// Hits reports how often point has been visited.
func (p *Points) Hits(point string) int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[point]
}

// Crashed is closed once the process has died at a point.
func (p *Points) Crashed() <-chan struct{} { return p.fired }
