package harness

import (
	"sync"
	"time"
)

// refusalLog remembers, per actor, when the broker refused one of its publishes. Its zero value is ready to use; it
// is safe for concurrent use.
type refusalLog struct {
	mu sync.Mutex
	at map[string][]time.Time
}

// add notes that the broker just refused n publishes by actor (one negative confirm may cover several).
func (l *refusalLog) add(actor string, n int) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.at == nil {
		l.at = map[string][]time.Time{}
	}
	for range n {
		l.at[actor] = append(l.at[actor], now)
	}
}

func (l *refusalLog) of(actor string) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.at[actor]...)
}

// Refusals returns when the broker refused a publish by actor (a process name, e.g. "sales"), oldest first: one
// entry per message it answered with a negative confirm (basic.nack), as seen on the wire. A queue with x-max-length
// and x-overflow reject-publish refuses what does not fit; a test uses Refusals to see that a publisher was refused,
// and how it paced its attempts, without relying on the publisher's own bookkeeping.
func (e *Env) Refusals(actor string) []time.Time { return e.refusals.of(actor) }
