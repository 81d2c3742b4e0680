// Package harness is what every lab test starts with: harness.New(t) gives the test its own names on the broker, its
// own PostgreSQL schema, processes whose connections run through a fault-injecting proxy, crash points, bounded waits,
// and failures told as stories ("LOST: order o-17 was never billed …") with the timeline of what crossed the wire.
//
// Everything an Env creates is removed in t.Cleanup, also when the test fails, so thirty attendees can share one
// broker and one database.
package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/infra"
	"msglabs/shared/story"
)

// Bounds on waiting. A wait returns as soon as its condition holds; these only cap how long a broken lab can hang.
const (
	// Patience caps a wait for something that should happen (a message billed, a queue drained).
	Patience = 5 * time.Second
	// setupTimeout caps connecting and declaring during setup and cleanup.
	setupTimeout = 10 * time.Second
)

// Env is one test's world. Create it with New at the top of the test; it is cleaned up with the test.
// An Env is safe for concurrent use by the test and the services it runs.
type Env struct {
	T        testing.TB
	Timeline *story.Timeline

	prefix    string // "ml.l03.TestCrash.3fa2c1"
	endpoints infra.Endpoints

	mu        sync.Mutex
	names     map[string]bool // queues/exchanges to delete at cleanup
	processes map[string]int  // instances per process name
	schema    string
	inspect   *amqp.Connection
	pool      *pgxpool.Pool
	pools     []*pgxpool.Pool
	procs     []*Process
	msgSeq    atomic.Int64
	unacked   atomic.Int64 // manual-ack deliveries not yet settled, across all recorded connections
	// delivered counts, per message id, how often the broker handed it to a recorded connection (see Deliveries).
	delivered map[string]int
	refusals  refusalLog // negative confirms per actor (see Refusals)
}

// New prepares a test's world. When RabbitMQ or PostgreSQL cannot be found it fails the test at once with an
// INFRA message that names the fix, never with a timeout.
func New(t testing.TB) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	eps, err := infra.Resolve(ctx)
	if err != nil {
		t.Fatalf("%s: %s", story.Infra, infraProblem(err))
	}
	e := &Env{
		T:         t,
		Timeline:  story.NewTimeline(),
		prefix:    makePrefix(t.Name()),
		endpoints: eps,
		names:     map[string]bool{},
		processes: map[string]int{},
	}
	t.Cleanup(e.cleanup)
	return e
}

// infraProblem words a resolution error for a person: one clause per unreachable service, without the sentinel.
func infraProblem(err error) string {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, infra.ErrUnreachable.Error()+": ")
	}
	return strings.Join(lines, "; ")
}

// makePrefix builds "ml.l03.TestName.a1b2c3": the lab (from the package directory), the test, and randomness.
func makePrefix(test string) string {
	lab := "lab"
	if wd, err := os.Getwd(); err == nil {
		base := filepath.Base(wd)
		if len(base) >= 2 && base[0] >= '0' && base[0] <= '9' {
			lab = "l" + base[:2]
		}
	}
	test = nameSafe.ReplaceAllString(test, "_")
	if len(test) > 40 {
		test = test[:40]
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("ml.%s.%s.%s", lab, test, hex.EncodeToString(b[:]))
}

var nameSafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// Name returns a queue or exchange name unique to this test, e.g. Name("billing") → "ml.l03.TestCrash.3fa2c1.billing".
// Everything with the test's prefix is deleted at cleanup.
func (e *Env) Name(suffix string) string {
	n := e.prefix + "." + suffix
	e.mu.Lock()
	e.names[n] = true
	e.mu.Unlock()
	return n
}

// Short strips the test's prefix from a name, for readable stories.
func (e *Env) Short(name string) string {
	return strings.TrimPrefix(name, e.prefix+".")
}

// owns reports whether a broker name belongs to this test.
func (e *Env) owns(name string) bool { return strings.HasPrefix(name, e.prefix+".") }

// remember records a name declared through a recorded connection, so cleanup removes it too.
func (e *Env) remember(name string) {
	if !e.owns(name) {
		return
	}
	e.mu.Lock()
	e.names[name] = true
	e.mu.Unlock()
}

// AMQPURL is the broker's real URL (tests normally use a Process instead, so crashes and cuts work).
func (e *Env) AMQPURL() string { return e.endpoints.AMQP.URL }

// DatabaseURL is the database server's real URL.
func (e *Env) DatabaseURL() string { return e.endpoints.Database.URL }

// NextMessageID returns a readable id unique within the test: "m-1", "m-2", …
func (e *Env) NextMessageID() string { return fmt.Sprintf("m-%d", e.msgSeq.Add(1)) }

// Log adds a line to the timeline as actor.
func (e *Env) Log(actor, format string, args ...any) { e.Timeline.Add(actor, format, args...) }

// Fail stops the test with a story: the marker, the headline, optional details, and the timeline.
func (e *Env) Fail(m story.Marker, format string, args ...any) {
	e.T.Helper()
	e.T.Fatal(story.Tell(m, fmt.Sprintf(format, args...), nil, e.Timeline))
}

// FailWith is Fail with detail lines printed under the headline.
func (e *Env) FailWith(m story.Marker, details []string, format string, args ...any) {
	e.T.Helper()
	e.T.Fatal(story.Tell(m, fmt.Sprintf(format, args...), details, e.Timeline))
}

// ExactlyOnce fails the test unless every id in want appears exactly once in got and got holds nothing else.
// The first finding (LOST before DUPLICATE before GHOST) is the headline; the others follow it.
func (e *Env) ExactlyOnce(x story.Expect, want, got []string, details ...string) {
	e.T.Helper()
	findings := story.ExactlyOnce(x, want, got)
	if len(findings) == 0 {
		return
	}
	for _, f := range findings[1:] {
		details = append(details, fmt.Sprintf("also %s: %s", f.Marker, f.Headline))
	}
	e.T.Fatal(story.Tell(findings[0].Marker, findings[0].Headline, details, e.Timeline))
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

// Context returns a context cancelled when the test ends (or after Patience*4 as a backstop against hangs).
func (e *Env) Context() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*Patience)
	e.T.Cleanup(cancel)
	return ctx
}

// Unacked is how many deliveries to manually-acking consumers are out and not yet acked, nacked or rejected.
func (e *Env) Unacked() int { return int(e.unacked.Load()) }

// cleanup runs last: processes first (so nothing holds locks), then pools, the schema, and the broker names.
func (e *Env) cleanup() {
	e.mu.Lock()
	procs, pools, schema := e.procs, e.pools, e.schema
	e.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].shutdown()
	}
	for _, p := range pools {
		p.Close()
	}
	if schema != "" {
		e.dropSchema(schema)
	}
	e.cleanupBroker()
}
