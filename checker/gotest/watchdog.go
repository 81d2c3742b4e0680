package gotest

import (
	"strings"
	"time"
)

// watchdog notices a test that makes no progress: it has gone limit without finishing, and without a subtest
// starting or finishing. With no test running (init, TestMain, between tests), the binary as a whole has limit to
// start the next one. Output is not progress: a test that only prints is stuck too. It is used from one goroutine.
type watchdog struct {
	limit  time.Duration
	active map[string]time.Time // running tests → their last progress
	idle   time.Time            // the last progress of any test
	timer  *time.Timer
	fired  bool
}

func newWatchdog(limit time.Duration, start time.Time) *watchdog {
	w := &watchdog{limit: limit, active: map[string]time.Time{}, idle: start}
	if limit > 0 {
		w.timer = time.NewTimer(limit)
	}
	return w
}

// C is the channel to wait on; nil (never ready) when the watchdog is off or has fired.
func (w *watchdog) C() <-chan time.Time {
	if w.timer == nil || w.fired {
		return nil
	}
	return w.timer.C
}

// observe takes one event: runs, continues, pauses and results are progress.
func (w *watchdog) observe(ev event, now time.Time) {
	switch ev.Action {
	case "run", "cont":
		if ev.Test != "" {
			w.active[ev.Test] = now
		}
	case "pause", "pass", "fail", "skip":
		delete(w.active, ev.Test)
	default:
		return
	}
	for name := ev.Test; strings.Contains(name, "/"); {
		name = name[:strings.LastIndex(name, "/")]
		if _, ok := w.active[name]; ok {
			w.active[name] = now
		}
	}
	w.idle = now
	if w.timer != nil && !w.fired {
		_, deadline := w.next()
		w.timer.Reset(deadline.Sub(now))
	}
}

// next returns the test whose deadline comes first (the deepest of equals; "" when none runs) and that deadline.
func (w *watchdog) next() (string, time.Time) {
	if len(w.active) == 0 {
		return "", w.idle.Add(w.limit)
	}
	var test string
	var last time.Time
	for name, t := range w.active {
		if test == "" || t.Before(last) || t.Equal(last) && strings.Count(name, "/") > strings.Count(test, "/") {
			test, last = name, t
		}
	}
	return test, last.Add(w.limit)
}

// fire is called when the timer went off; it reports the stuck test and how long it went without progress, or
// ok false when progress came in meanwhile (the timer is set again).
func (w *watchdog) fire(now time.Time) (test string, after time.Duration, ok bool) {
	test, deadline := w.next()
	if now.Before(deadline) {
		w.timer.Reset(deadline.Sub(now))
		return "", 0, false
	}
	w.fired = true
	return test, now.Sub(deadline.Add(-w.limit)).Round(100 * time.Millisecond), true
}
