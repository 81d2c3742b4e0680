package fault

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// Watch reads the links of one process for its armed Triggers and for the deliveries it holds. Give the process's
// broker proxy Options{Inspect: w.AMQP} and its database proxy Options{Inspect: w.Postgres}, and both the same Fuse:
// a firing trigger then freezes every link of the process at once. A Watch is safe for concurrent use.
type Watch struct {
	mu    sync.Mutex
	armed []*armed
	links map[*amqpLink]struct{}
	blind bool // a database link could not be followed (TLS)
}

type armed struct {
	t    Trigger
	seen int
}

// NewWatch returns a Watch with nothing armed.
func NewWatch() *Watch { return &Watch{links: map[*amqpLink]struct{}{}} }

// Arm makes t fire on the process's links (from now on: earlier traffic does not count toward its nth).
func (w *Watch) Arm(t Trigger) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = append(w.armed, &armed{t: t})
}

// event offers one wire event to the armed triggers of kind: each one that matches counts it, and the first that is
// due fires (it is disarmed, and the verdict says how to freeze).
func (w *Watch) event(kind triggerKind, matches func(Trigger) bool) Verdict {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, a := range w.armed {
		if a.t.kind != kind || !matches(a.t) {
			continue
		}
		a.seen++
		if a.seen < a.t.nth {
			continue
		}
		w.armed = slices.Delete(w.armed, i, i+1)
		action := ForwardAndFreeze
		if a.t.before() {
			action = DropAndFreeze
		}
		return Verdict{Action: action, Reason: fmt.Sprintf("CRASHED %s (injected on the wire: nothing it sends from "+
			"here on arrives)", a.t)}
	}
	return Verdict{}
}

// Held is a delivery a process received on a manual-ack consumer and has not acked, nacked or rejected yet.
type Held struct {
	MessageID string // "" when the message had no id
	Since     time.Time
}

// Holding returns the deliveries the process holds now, oldest first.
func (w *Watch) Holding() []Held {
	w.mu.Lock()
	links := make([]*amqpLink, 0, len(w.links))
	for l := range w.links {
		links = append(links, l)
	}
	w.mu.Unlock()
	var out []Held
	for _, l := range links {
		out = append(out, l.holding()...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

func (w *Watch) addLink(l *amqpLink) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.links[l] = struct{}{}
}

func (w *Watch) dropLink(l *amqpLink) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.links, l)
}
