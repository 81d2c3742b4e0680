package harness

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"msglabs/shared/story"
)

// labelHTTP is the goroutine label that ties an HTTP handler run by ServeHTTP to its actor.
const labelHTTP = "msglabs.http"

// ServeHTTP runs h for r as actor's HTTP handler (in the test's process), waits at most Patience for it to return,
// and returns what it answered. A handler that does not return in time fails the test, STALLED, saying where it is
// stuck ("clientui's handler for POST /orders never returned: stuck at clientui.go:42 in (*ClientUI).ServeHTTP").
// A panic in the handler is raised again in the test.
func (e *Env) ServeHTTP(actor string, h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	e.T.Helper()
	rec := httptest.NewRecorder()
	done := make(chan any, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Sprintf("%v\n\n%s", v, debug.Stack())
				return
			}
			done <- nil
		}()
		Labelled(actor, h).ServeHTTP(rec, r)
	}()
	t := time.NewTimer(Patience)
	defer t.Stop()
	select {
	case v := <-done:
		if v != nil {
			panic(v)
		}
		return rec
	case <-t.C:
	}
	e.Fail(story.Stalled, "%s's handler for %s %s never returned (waited %v)%s", actor, r.Method, r.URL.Path, Patience,
		stuckAt(goroutinesWith(labelHTTP, actor)))
	return nil
}

// Labelled returns h run under actor's label, for a test that calls an HTTP handler itself (with its own deadline,
// as a customer who gives up): when the handler hangs, StuckAt(actor) says where. Safe for concurrent requests.
func Labelled(actor string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pprof.Do(r.Context(), pprof.Labels(labelHTTP, actor), func(context.Context) { h.ServeHTTP(w, r) })
	})
}

// StuckAt says where the Labelled handlers of actor that have not returned yet are, in the lab's code: ": stuck at
// clientui.go:42 in (*ClientUI).ServeHTTP", or "" when none of them is in the lab's code (it waits in a library
// call the lab made, say, which the test's own story explains better) or none is running.
func StuckAt(actor string) string {
	gs := goroutinesWith(labelHTTP, actor)
	for _, g := range gs {
		if labDepth(g) > 0 {
			return stuckAt(gs)
		}
	}
	return ""
}
