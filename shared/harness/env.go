// Package harness is what every lab test starts with: harness.New(t) gives the test its own names on the broker, its
// own PostgreSQL schema, processes whose connections run through a fault-injecting proxy, crash points, bounded waits,
// and failures told as stories ("LOST: order o-17 was never billed …") with the timeline of what crossed the wire.
//
// Nothing is connected until the test needs it: a test that uses neither the broker nor the database (lab 15's
// in-memory explorer) runs with both down. When a service is needed and cannot be used (unreachable, a refused
// login, a missing vhost or database), the test fails at once with an INFRA story that names the service, what it
// said, and the fix; a broker link that the broker side ends mid-run, unasked, turns the test's failure into INFRA
// too, since it is not the attendee's code.
//
// Everything an Env creates is removed in t.Cleanup, also when the test fails, so thirty attendees can share one
// broker and one database; every name is registered in the kit's database before it is created, so what a killed
// test binary leaves behind can be found and removed (package leftover).
package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/leftover"
	"msglabs/shared/story"
)

// Bounds on waiting. A wait returns as soon as its condition holds; these only cap how long a broken lab can hang.
const (
	// Patience caps a wait for something that should happen (a message billed, a queue drained).
	Patience = 5 * time.Second
	// setupTimeout caps connecting and declaring during setup and cleanup.
	setupTimeout = 10 * time.Second
	// contextLimit caps Env.Context, as a backstop against a lab that hangs past every other bound.
	contextLimit = 4 * Patience
)

// Env is one test's world. Create it with New at the top of the test; it is cleaned up with the test.
// An Env is safe for concurrent use by the test and the services it runs.
type Env struct {
	T        testing.TB
	Timeline *story.Timeline

	prefix string // "ml.3fa2c1.t5q0lm.l03.TestCrash.9b1e04": owner, creation time, lab, test, randomness

	schemaMu  sync.Mutex // held while the test's schema is being created
	mu        sync.Mutex
	names     map[string]bool // queues/exchanges to delete at cleanup (registered before they are handed out)
	processes map[string]int  // instances per process name
	schema    string
	schemas   []string // every schema created for this test, for the registry
	inspect   *amqp.Connection
	inspectMu sync.Mutex    // held while inspectCh is in use
	inspectCh *amqp.Channel // the inspector's channel for QueueDepth; guarded by inspectMu, not mu
	pool      *pgxpool.Pool // the test's own (testPool)
	procs     []*Process
	usedMQ    bool // the test resolved the broker: cleanup has queues and exchanges to delete
	verdict   verdict
	lost      []lostLink // links the far side ended that the test did not cut (INFRA)
	msgSeq    atomic.Int64
	unacked   atomic.Int64 // manual-ack deliveries not yet settled, across all recorded connections
	// delivered counts, per message id, how often the broker handed it to a recorded connection (see Deliveries).
	delivered map[string]int
	refusals  refusalLog // negative confirms per actor (see Refusals)
}

// verdict is the failure story a test told, for the event export.
type verdict struct {
	marker   story.Marker
	headline string
}

// New prepares a test's world. It connects to nothing: the broker and the database are looked up (and checked) the
// first time the test needs them.
func New(t testing.TB) *Env {
	t.Helper()
	e := &Env{
		T:         t,
		Timeline:  story.NewTimeline(),
		prefix:    makePrefix(leftover.Owner(), time.Now(), labOf(workDir()), t.Name()),
		names:     map[string]bool{},
		processes: map[string]int{},
	}
	t.Cleanup(e.cleanup)
	return e
}

// Lengths of the parts of a name.
const (
	maxTestPart = 40 // of the test's name in broker names
	randBytes   = 3  // 6 hex digits: names of two runs of one test in one second still differ
)

// makePrefix builds "ml.<owner>.<base36 unix time>.<lab>.<test>.<random>", e.g. "ml.3fa2c1.t5q0lm.l03.TestCrash.9b1e04".
func makePrefix(owner string, now time.Time, lab, test string) string {
	test = nameSafe.ReplaceAllString(test, "_")
	if len(test) > maxTestPart {
		test = test[:maxTestPart]
	}
	var b [randBytes]byte
	_, _ = rand.Read(b[:])
	return strings.Join([]string{"ml", owner, strconv.FormatInt(now.Unix(), 36), lab, test, hex.EncodeToString(b[:])}, ".")
}

var nameSafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// labOf names the lab of a package directory: "l05" for ".../labs/05-idempotent-consumer", "lab" elsewhere.
func labOf(dir string) string {
	base := filepath.Base(dir)
	if len(base) >= 2 && base[0] >= '0' && base[0] <= '9' && base[1] >= '0' && base[1] <= '9' {
		return "l" + base[:2]
	}
	return "lab"
}

func workDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	return wd
}

// Name returns a queue or exchange name unique to this test, e.g. Name("billing") →
// "ml.3fa2c1.t5q0lm.l03.TestCrash.9b1e04.billing", registered as the test's (see package leftover) before it is
// returned. Everything with the test's prefix is deleted at cleanup.
func (e *Env) Name(suffix string) string {
	e.T.Helper()
	n := e.prefix + "." + suffix
	e.mu.Lock()
	known := e.names[n]
	e.mu.Unlock()
	if !known {
		e.register(leftover.Broker, n)
		e.mu.Lock()
		e.names[n] = true
		e.mu.Unlock()
	}
	return n
}

// Short strips the test's prefix from a name, for readable stories.
func (e *Env) Short(name string) string {
	return strings.TrimPrefix(name, e.prefix+".")
}

// owns reports whether a broker name belongs to this test.
func (e *Env) owns(name string) bool { return strings.HasPrefix(name, e.prefix+".") }

// remember records a name declared through a recorded connection (it is called before the declare reaches the
// broker), registering it so that cleanup, or a later sweep, removes it too.
func (e *Env) remember(name string) {
	if !e.owns(name) {
		return
	}
	e.mu.Lock()
	known := e.names[name]
	e.names[name] = true
	e.mu.Unlock()
	if !known {
		e.registerQuietly(leftover.Broker, name)
	}
}

// NextMessageID returns a readable id unique within the test: "m-1", "m-2", …
func (e *Env) NextMessageID() string { return fmt.Sprintf("m-%d", e.msgSeq.Add(1)) }

// Log adds a line to the timeline as actor.
func (e *Env) Log(actor, format string, args ...any) { e.Timeline.Add(actor, format, args...) }

// Event adds a structured entry to the timeline: a process crashed, was killed, lost a link, exited. Its kind and
// fields reach the event export (the checker's diagrams) as they are; Text is the line the timeline prints.
func (e *Env) Event(entry story.Entry) { e.Timeline.Record(entry) }

// ShowSetUp keeps the declares, binds and consumers whole in the failure's timeline (they are summarised in one
// line otherwise): for a failure that is about the topology itself.
func (e *Env) ShowSetUp() { e.Timeline.ShowSetUp() }

// Fail stops the test with a story: the marker, the headline, optional details, and the timeline.
func (e *Env) Fail(m story.Marker, format string, args ...any) {
	e.T.Helper()
	e.fail(m, fmt.Sprintf(format, args...), nil)
}

// FailWith is Fail with detail lines printed under the headline.
func (e *Env) FailWith(m story.Marker, details []string, format string, args ...any) {
	e.T.Helper()
	e.fail(m, fmt.Sprintf(format, args...), details)
}

// ExactlyOnce fails the test unless every id in want appears exactly once in got and got holds nothing else.
// The first finding (LOST before DUPLICATE before GHOST) is the headline, ending with x.Cause when it is set (see
// story.Expect.Because); the others follow it as details.
func (e *Env) ExactlyOnce(x story.Expect, want, got []string, details ...string) {
	e.T.Helper()
	findings := story.ExactlyOnce(x, want, got)
	if len(findings) == 0 {
		return
	}
	for _, f := range findings[1:] {
		details = append(details, fmt.Sprintf("also %s: %s", f.Marker, f.Headline))
	}
	e.fail(findings[0].Marker, findings[0].Headline, details)
}

// fail is where every failure story ends: it notes the verdict for the event export, turns it into INFRA when a
// service link was lost under the test, and stops the test.
func (e *Env) fail(m story.Marker, headline string, details []string) {
	e.T.Helper()
	if lost, ok := e.lostLinkStory(m, headline, details); ok {
		e.T.Fatal(lost)
	}
	m, headline, details = e.stuckStory(m, headline, details) // a live service stuck in a handler is the story
	msg := story.Tell(m, headline, details, e.Timeline)
	e.setVerdict(m, headline)
	e.T.Fatal(msg)
}

func (e *Env) setVerdict(m story.Marker, headline string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.verdict.marker == "" || m == story.Infra {
		e.verdict = verdict{marker: m, headline: headline}
	}
	e.Timeline.Record(story.Entry{Actor: story.TestActor, Kind: story.Failure, Text: string(m) + ": " + headline})
}

// Eventually polls cond until it holds (true) or Patience runs out (false). It returns as soon as cond holds.
func (e *Env) Eventually(cond func() bool) bool { return e.EventuallyWithin(Patience, cond) }

// EventuallyWithin is Eventually with its own bound.
func (e *Env) EventuallyWithin(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	pause := time.Millisecond
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(pause*2, 25*time.Millisecond)
	}
}

// Context returns a context cancelled when the test ends (it derives from t.Context), or after 4×Patience as a
// backstop against hangs.
func (e *Env) Context() context.Context {
	ctx, cancel := context.WithTimeout(e.T.Context(), contextLimit)
	e.T.Cleanup(cancel)
	return ctx
}

// setupCtx bounds one setup step (connect, declare, query) within the test's lifetime. Called from a cleanup
// function (the test's context is cancelled by then), it is cleanupCtx.
func (e *Env) setupCtx() (context.Context, context.CancelFunc) {
	if e.T.Context().Err() != nil {
		return e.cleanupCtx()
	}
	return context.WithTimeout(e.T.Context(), setupTimeout)
}

// cleanupCtx bounds one cleanup step. The test's context is already cancelled when cleanup runs, so it keeps the
// test's values but not its cancellation.
func (e *Env) cleanupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(e.T.Context()), setupTimeout)
}

// Unacked is how many deliveries to manually-acking consumers are out and not yet acked, nacked or rejected.
func (e *Env) Unacked() int { return int(e.unacked.Load()) }

// cleanup runs last: processes first (so nothing holds locks), then the schemas and the test's pool, the broker
// names, their records in the registry, the INFRA note of a lost link, and the event export.
func (e *Env) cleanup() {
	e.mu.Lock()
	procs := e.procs
	e.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].shutdown()
	}
	removed := e.dropSchemas()
	e.mu.Lock()
	pool := e.pool
	e.mu.Unlock()
	if pool != nil {
		pool.Close()
	}
	removed = append(removed, e.cleanupBroker()...)
	e.forget(removed)
	e.reportLostLinks()
	e.exportEvents()
}
