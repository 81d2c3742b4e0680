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

// Points are the named places where one process may be made to die. The zero value and a nil *Points never crash
// (nothing is armed, and a zero value has no one to call), so lab code can call At unconditionally. Points are safe
// for concurrent use.
type Points struct {
	mu      sync.Mutex
	armed   map[string]int // point → hits left before it fires (1 = the next hit)
	hits    map[string]int
	onCrash func(point string)
	ask     func(point string) bool // set in a spawned process: the test decides whether a visit is fatal
	fired   chan struct{}
	didFire bool
}

// NewPoints returns Points that call die when an armed point is reached. die must make the process's connections
// vanish (the harness freezes and cuts its proxies); At then stops the calling goroutine.
func NewPoints(die func(point string)) *Points {
	return &Points{onCrash: die}
}

// AskingPoints returns Points whose visits are judged elsewhere: At counts the visit, then calls ask, and stops the
// calling goroutine if ask reports true. A service running in its own OS process gets these: ask is a call to the
// test, which keeps the armed points and, when one fires, kills the process while ask is still waiting.
func AskingPoints(ask func(point string) bool) *Points {
	return &Points{ask: ask}
}

// Arm makes the next visit of point crash the process.
func (p *Points) Arm(point string) { p.ArmNth(point, 1) }

// ArmNth makes the nth visit of point (counting from now, 1 = next) crash the process. On a nil *Points it does
// nothing.
func (p *Points) ArmNth(point string, n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.armed == nil {
		p.armed = map[string]int{}
	}
	p.armed[point] = n
}

// At is called by lab code at a named place. If the point is armed and due, the process dies here: its connections
// are frozen and cut (no ack reaches the broker, the open transaction rolls back) and the calling goroutine stops,
// running its deferred calls against connections that are already gone. Otherwise At returns at once.
func (p *Points) At(point string) {
	if p.Reached(point) {
		runtime.Goexit()
	}
}

// Reached counts a visit of point and reports whether the process dies there (its die function has then run). Unlike
// At it does not stop the caller: the harness uses it to judge the visits a spawned process reports.
func (p *Points) Reached(point string) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	if p.hits == nil {
		p.hits = map[string]int{}
	}
	p.hits[point]++
	fire := false
	if left, armed := p.armed[point]; armed {
		left--
		if left <= 0 {
			delete(p.armed, point)
			fire = true
		} else {
			p.armed[point] = left
		}
	}
	ask := p.ask
	p.mu.Unlock()
	if ask != nil {
		fire = ask(point)
	}
	if !fire {
		return false
	}
	p.fire(point)
	return true
}

// fire runs the die function once and marks the Points as crashed.
func (p *Points) fire(point string) {
	p.mu.Lock()
	first := !p.didFire
	p.didFire = true
	die := p.onCrash
	p.mu.Unlock()
	if !first {
		return
	}
	if die != nil {
		die(point)
	}
	close(p.crashed())
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

// Crashed is closed once the process has died at a point. For a nil *Points it is nil (never closed).
func (p *Points) Crashed() <-chan struct{} {
	if p == nil {
		return nil
	}
	return p.crashed()
}

func (p *Points) crashed() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fired == nil {
		p.fired = make(chan struct{})
	}
	return p.fired
}
