package harness

import "time"

// Quiet is how long nothing may cross the wire before Settle calls the system idle. It only shortens the wait of a
// lab that is failing: a passing lab returns from Settle the moment its condition holds.
const Quiet = 100 * time.Millisecond

// Settle waits until done() holds, or until the system has gone quiet: every queue given is empty, no delivery is
// unacked, and no recorded connection has sent or received anything for Quiet. It returns done()'s final value.
// Tests call it before judging, so a failing lab fails in a fraction of a second instead of at a timeout, and a
// passing lab is never cut short (an unacked delivery or a waiting message keeps the wait going).
func (e *Env) Settle(done func() bool, queues ...string) bool {
	return e.SettleFor(Quiet, done, queues...)
}

// SettleFor is Settle with a quiet period of its own. Use it when a correct service may stay silent on the wire for
// longer than Quiet before its next step: an outbox relay, say, whose polling and claiming happen in the database,
// where the timeline does not look. Only a failing lab pays the longer quiet; a passing lab returns the moment done
// holds. Like Settle, it waits at most Patience and returns done()'s final value.
func (e *Env) SettleFor(quiet time.Duration, done func() bool, queues ...string) bool {
	var quietSince time.Time
	lastLen := -1
	e.Eventually(func() bool {
		if done() {
			return true
		}
		n := len(e.Timeline.Entries())
		idle := e.Unacked() == 0
		for _, q := range queues {
			depth, _, err := e.QueueDepth(q)
			idle = idle && (err != nil || depth == 0)
		}
		if !idle || n != lastLen {
			lastLen, quietSince = n, time.Now()
			return false
		}
		return time.Since(quietSince) >= quiet
	})
	return done()
}
